"""Can one kind of shift reproduce another's images? (Cherepkov et al. Sec. 4.3, Eq. 5; App. 6.4, Fig. 16.)

The paper fits a latent shift h (in Z, W or W+) so that G_theta(z + h) matches G_{theta + xi}(z) and
finds it cannot. The other way round asks whether a shift of one layer's weights can reproduce a
*latent* edit (a direction in W, or the same direction applied to a range of W+ rows only). Both are
one problem: a shift p shared by every code, fitted by Adam on ``fit`` codes to

    min_p mean_z || render(z, p) - target(z) ||^2,

then judged per held-out sample against doing nothing (p = 0):

- ``fit_shift(render, shape, targets)``: the fitted p (``render(idx, p)``: the images of codes ``idx``);
- ``mimic_scores(mimic, target, untouched)``: per sample the squared pixel error (mean over pixels) and
  the ST-LPIPS distance of the mimic and of doing nothing to the target, with
  `steerlab.metrics.stats.paired_change` of do-nothing -> mimic (``asked_way``: the fraction of samples
  the fit brings closer).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from steerlab.metrics.perceptual import perceptual_distance
from steerlab.metrics.stats import paired_change

__all__ = ["fit_shift", "mimic_scores"]

Render = Callable[[Tensor, Tensor], Tensor]


def fit_shift(render: Render, shape: tuple[int, ...], targets: Tensor, *, steps: int = 150,
              lr: float = 0.05, batch_size: int = 16, seed: int = 0) -> tuple[Tensor, list[float]]:
    """Adam on one shift p (``shape``) shared by all codes, against the mean squared pixel error.

    Args:
        render: ``render(idx (B,) long, p) -> images (B, C, H, W)`` of the codes ``idx`` (of the N the fit
            sees) under the shift p, differentiable in p.
        targets: (N, C, H, W) in [0, 1], the images to reproduce, one per code.
        steps, lr, batch_size: Adam steps, learning rate (in p's units) and codes per step (drawn from
            the N, seeded; the whole set when N <= batch_size).

    Returns:
        ``(p, losses)``: the fitted shift (detached) and the loss of every step.
    """
    if steps < 1 or not lr > 0:
        raise ValueError(f"need steps >= 1 and lr > 0, got steps={steps}, lr={lr}")
    p = torch.zeros(shape, device=targets.device, requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr)
    g = torch.Generator().manual_seed(seed)
    n, losses = targets.shape[0], []
    for _ in range(steps):
        idx = torch.randperm(n, generator=g)[:batch_size] if n > batch_size else torch.arange(n)
        loss = (render(idx, p) - targets[idx]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return p.detach(), losses


@torch.no_grad()
def mimic_scores(mimic: Tensor, target: Tensor, untouched: Tensor, *, net: str = "alex") -> dict:
    """How close the mimic gets to the target, per sample, beside doing nothing.

    Args:
        mimic, target, untouched: (N, C, H, W) in [0, 1]: the fitted shift's images, the images to
            reproduce, and the unshifted model's images of the same codes.

    Returns:
        ``{"l2": {...}, "stlpips": {...}}``, each ``{"mimic": [N floats], "do_nothing": [N floats],
        "median_mimic", "mean_mimic", "median_do_nothing", "mean_do_nothing", "ratio"`` (mean mimic / mean
        do-nothing: 0 = perfect, 1 = no help) ``, "paired": paired_change(do_nothing, mimic, sign=-1)}``.
    """
    out = {}
    errors = {"l2": lambda a, b: (a - b).pow(2).flatten(1).mean(1),
              "stlpips": lambda a, b: perceptual_distance(a, b, net).flatten()}
    for name, err in errors.items():
        m, d = err(mimic, target).cpu(), err(untouched, target).cpu()
        out[name] = {"mimic": m.tolist(), "do_nothing": d.tolist(), "median_mimic": float(m.median()),
                     "mean_mimic": float(m.mean()), "median_do_nothing": float(d.median()),
                     "mean_do_nothing": float(d.mean()), "ratio": float(m.mean() / d.mean().clamp_min(1e-20)),
                     "paired": paired_change(d, m, sign=-1)}
    return out
