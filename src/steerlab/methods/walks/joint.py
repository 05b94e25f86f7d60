"""One linear walk for zoom and shift together (Jahanian et al. App. B.6, Fig. 27):

    W* = argmin_W  E_{z, alpha} [ L( G(z + sum_k alpha_g[k] W[k]),  zoom_shift(G(z), alpha_t) ) ]

with one alpha per edit, drawn independently (each uniform in its own alpha_g), and the target
the image zoomed *and* shifted at once (`steerlab.edits.zoom_shift`, one warp, exact mask). So
every vector W[k] is learned while the others move too - unlike walks learned one edit at a time
and added afterwards (Fig. 27's third row). The result is one "linear" `Direction` per edit, in
that edit's own units; `steerlab.directions.combine.steer` adds linear offsets, so
``steer(G, [(zoom_d, 2.0), (shift_d, 0.25)], z)`` renders the joint walk at that alpha pair.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from steerlab.directions import Direction, alpha_spec
from steerlab.directions.ops import linear_shift
from steerlab.edits import get_edit, zoom_shift
from steerlab.methods.walks.loop import final_loss, train_walk
from steerlab.metrics.losses import get_loss
from steerlab.models.base import Generator

__all__ = ["JOINT_EDITS", "learn_joint_walk", "composite_alpha"]

JOINT_EDITS = ("zoom", "shift_x", "shift_y")  # the columns of zoom_shift's (f, dx, dy)


def composite_alpha(edits: Sequence[str], alpha_t: Tensor) -> Tensor:
    """(N, k) alphas of ``edits`` (user units) -> (N, 3) ``(f, dx, dy)`` for `zoom_shift`, the
    edits not named at their identity."""
    out = torch.tensor([1.0, 0.0, 0.0], dtype=alpha_t.dtype, device=alpha_t.device).repeat(alpha_t.shape[0], 1)
    for k, name in enumerate(edits):
        out[:, JOINT_EDITS.index(name)] = alpha_t[:, k]
    return out


def learn_joint_walk(G: Generator, edits: Sequence[str] = ("zoom", "shift_x"), *, space: str = "z",
                     steps: int = 1000, batch_size: int = 16, lr: float = 0.01, loss: str = "l2", seed: int = 0,
                     progress: bool = True, checkpoint=None) -> list[Direction]:
    """Learn one linear walk for several of zoom / shift_x / shift_y at once.

    Args:
        G: any steerlab generator (frozen; only the walk is learned).
        edits: 2 or 3 distinct names from ``JOINT_EDITS``; alpha k drives edit k.
        space, steps, batch_size, lr, loss, seed, checkpoint: as `learn_linear_walk`.

    Returns:
        One "linear" `Direction` per edit (tensor ``w`` (1, *latent_shape)), in that edit's
        units; ``config["joint"]`` names all of them and ``metrics["loss_curve"]`` is shared.

    Raises:
        ValueError: an edit outside ``JOINT_EDITS``, a repeated one, or fewer than two.
    """
    edits = tuple(edits)
    if len(edits) < 2 or len(set(edits)) != len(edits) or any(e not in JOINT_EDITS for e in edits):
        raise ValueError(f"a joint walk takes 2 or 3 distinct edits of {', '.join(JOINT_EDITS)}, got {list(edits)}")
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"steps and batch_size must be >= 1 and lr > 0 (got {steps}, {batch_size}, {lr})")
    parts = [get_edit(e) for e in edits]
    loss_fn = get_loss(loss)
    G.check_space(space)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        probe = G.sample_latent(1, generator=torch.Generator().manual_seed(seed), space=space,
                                classes=G.sample_classes(1))
    w = torch.zeros(len(edits), *probe.shape[1:], device=probe.device, requires_grad=True)

    def step() -> Tensor:
        z = G.sample_z(batch_size, generator=g)
        classes = G.sample_classes(batch_size, generator=g)
        alpha_t = torch.stack([e.sample(batch_size, generator=g) for e in parts], 1).to(z.device)  # (N, k)
        alpha_g = torch.stack([e.to_g(alpha_t[:, k]) for k, e in enumerate(parts)], 1)
        with torch.no_grad():
            latent = G.to_space(z, space, classes)
            target, mask = zoom_shift(G.synthesize(latent, space=space, classes=classes),
                                      composite_alpha(edits, alpha_t))
        out = G.synthesize(latent + linear_shift(w, alpha_g), space=space, classes=classes)
        return loss_fn(out, target, mask).mean()

    curve = train_walk([w], step, steps=steps, lr=lr, desc=f"joint walk {'+'.join(edits)}", progress=progress,
                       checkpoint=checkpoint, rngs=(g,))
    config = {"method": "joint-linear", "joint": list(edits), "space": space, "steps": steps,
              "batch_size": batch_size, "lr": lr, "loss": loss, "seed": seed}
    metrics = {"final_loss": final_loss(curve), "loss_curve": curve}
    return [Direction(kind="linear", space=space, tensors={"w": w.detach()[k:k + 1].clone()}, model=G.name,
                      fingerprint=G.fingerprint, alpha=alpha_spec(e), edit=e.name,
                      config={**config, "component": k}, metrics=metrics) for k, e in enumerate(parts)]
