"""Control a factor with the encoding model: set its value, or its distribution (Sec. 2.2).

With t = g(<u, z>) (`encoding.py`), a sample is moved to the factor value t by replacing its
coordinate along u:

    z' = z - <z, u> u + g^-1(t) u

and latents whose factor follows a chosen distribution phi are drawn by (Eq. 10-11)

    z' = z - <z, u> u + g^-1(F_phi^-1(Psi(<z, u>))) u,

Psi the standard normal CDF and F_phi^-1 phi's quantile function (h_phi = g^-1 o F_phi^-1,
since h_phi^-1(x) = integral of phi(g(s)) g'(s) ds = F_phi(g(x))).

The result is a `Direction` of kind ``"trajectory"``: tensors ``u`` (d,), ``knots_x``,
``knots_y`` (K,), and ``alpha`` *is the target factor value t*, in the units of the edit's
dt (alpha_g of the edit; for shifts the fraction of the width), relative to the factor at
<u, z> = 0, calibrated to the range g([-3, 3]). So `apply`, reports and the UI drive it like
any walk; unlike a walk, alpha = 0 does not leave a sample unchanged: it moves it to t = 0.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from steerlab.directions import KINDS, AlphaSpec, Direction
from steerlab.directions.ops import move_to  # the "trajectory" kind's move, shared with its render
from steerlab.edits import Edit, get_edit
from steerlab.methods.trajectories.encoding import (
    EncodingFit,
    fit_encoding_model,
    piecewise_linear,
    piecewise_linear_inverse,
)
from steerlab.methods.trajectories.recursive import Trajectories, recursive_trajectories
from steerlab.models.base import Generator

__all__ = ["KIND", "move_to", "steer_trajectory", "trajectory_direction", "learn_trajectory_direction",
           "controlled_latents", "parse_distribution", "S_RANGE"]

KIND = "trajectory"
S_RANGE = 3.0  # calibrated range: t in g([-3, 3]), as App. E's alpha in [-3, 3]


def _tensors(d: Direction, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    t = d.tensors
    return t["u"].to(like), t["knots_x"].to(like), t["knots_y"].to(like)


def steer_trajectory(d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor,
                     classes: Tensor | None) -> Tensor:
    """Render latents moved to the factor values alpha_g[:, 0] (`steerlab.directions.kinds.Trajectory`)."""
    return KINDS[KIND].render(d, G, latent, alpha_g, classes)


def trajectory_direction(G: Generator, fit: EncodingFit, edit: Edit, *, config: dict | None = None,
                         metrics: dict | None = None) -> Direction:
    """Wrap a fitted encoding model as a ``"trajectory"`` Direction (alpha = factor value t)."""
    lo, hi = fit.g(torch.tensor([-S_RANGE, S_RANGE])).tolist()
    unit = (f"factor t in {edit.name} units ({edit.unit})" if edit.mapping == "linear" and edit.scale == 1
            else f"factor t in {edit.name} alpha_g units ({'log ' if edit.mapping == 'log' else ''}"
                 f"{edit.unit}{'' if edit.scale == 1 else f' / {edit.scale:g}'})")
    alpha = AlphaSpec(unit=unit + ", 0 at <u,z> = 0", alpha_range=(lo, hi), identity=0.0)
    cfg = {"method": KIND, "name": f"trajectory {edit.name}", "edit": edit.name, **(config or {})}
    return Direction(kind=KIND, space="z", tensors={"u": fit.u.clone(), "knots_x": fit.knots_x.clone(),
                                                     "knots_y": fit.knots_y.clone()},
                     model=G.name, fingerprint=G.fingerprint, alpha=alpha, edit=None, config=cfg,
                     metrics={"fit_mse": fit.mse, "fit_r2": fit.r2, **(metrics or {})})


def learn_trajectory_direction(G: Generator, edit: str | Edit, *, n_trajectories: int = 64,
                               T: float | None = None, n_steps: int = 10, steps_per_target: int = 100,
                               lr: float = 0.1, loss: str = "blurred", sigma: float = 3.0,
                               discard: float = 0.1, fit_steps: int = 500, n_knots: int = 21,
                               seed: int = 0, progress: bool = True,
                               checkpoint=None) -> tuple[Direction, Trajectories, EncodingFit]:
    """The whole method: trajectories (Algorithm 1, Eq. 5), then the encoding model (Eq. 9).

    Args: as `recursive_trajectories` (``checkpoint`` included) and `fit_encoding_model`.

    Returns:
        ``(direction, trajectories, fit)``: the ``"trajectory"`` Direction, the dataset
        (all rows, ``kept`` marking those fitted) and the encoding fit.
    """
    edit = get_edit(edit) if isinstance(edit, str) else edit
    data = recursive_trajectories(G, edit, n_trajectories=n_trajectories, T=T, n_steps=n_steps,
                                  steps_per_target=steps_per_target, lr=lr, loss=loss, sigma=sigma,
                                  discard=discard, seed=seed, progress=progress, checkpoint=checkpoint)
    kept = data.selected()
    fit = fit_encoding_model(kept.z0, kept.z, kept.dt, n_knots=n_knots, steps=fit_steps)
    cfg = {k: data.meta[k] for k in ("T", "n_steps", "n_trajectories", "steps_per_target", "lr", "loss",
                                     "sigma", "discard", "seed")}
    d = trajectory_direction(G, fit, edit, config={**cfg, "fit_steps": fit_steps, "n_knots": n_knots},
                             metrics={"rows_kept": len(kept), "rows": len(data),
                                      "error_kept_mean": kept.error.mean().item()})
    return d, data, fit


# --------------------------------------------------------------------------- distributions
def parse_distribution(spec: str) -> Callable[[Tensor], Tensor]:
    """A quantile function F^-1 from ``"uniform:LO,HI"`` or ``"normal:MEAN,STD"``.

    Raises:
        ValueError: any other spec, or bad parameters.
    """
    name, _, args = spec.partition(":")
    try:
        a, b = (float(v) for v in args.split(","))
    except ValueError:
        raise ValueError(f"bad distribution {spec!r}; use uniform:LO,HI or normal:MEAN,STD") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"bad distribution {spec!r}: parameters must be finite")
    if name == "uniform" and a < b:
        return lambda p: a + (b - a) * p
    if name == "normal" and b > 0:
        return lambda p: a + b * math.sqrt(2.0) * torch.erfinv(2 * p - 1)
    raise ValueError(f"bad distribution {spec!r}; use uniform:LO,HI (LO < HI) or normal:MEAN,STD (STD > 0)")


def controlled_latents(d: Direction, z: Tensor, quantile: Callable[[Tensor], Tensor] | str) -> Tensor:
    """Eq. 10-11: move latents z (N, d) so their factor t follows the target distribution.

    Args:
        d: a ``"trajectory"`` direction.
        z: (N, d) draws from N(0, I) (the transform is a per-sample monotone map of <z, u>).
        quantile: the target's quantile function F^-1 on (0, 1), e.g. ``parse_distribution``'s,
            a frozen scipy distribution's ``ppf``, or a spec string.

    Returns:
        (N, d) latents with t = g(<z', u>) = F^-1(Psi(<z, u>)).
    """
    if d.kind != KIND:
        raise ValueError(f"controlled_latents needs a '{KIND}' direction, got '{d.kind}'")
    q = parse_distribution(quantile) if isinstance(quantile, str) else quantile
    u, kx, ky = _tensors(d, z)
    p = 0.5 * (1 + torch.erf((z @ u).double() / math.sqrt(2.0)))
    p = p.clamp(1e-7, 1 - 1e-7)
    t = torch.as_tensor(q(p), dtype=z.dtype, device=z.device)
    return move_to(z, u, piecewise_linear_inverse(t, kx, ky))


def factor_of(d: Direction, z: Tensor) -> Tensor:
    """The modelled factor t = g(<u, z>) of latents z (N, d)."""
    u, kx, ky = _tensors(d, z)
    return piecewise_linear(z @ u, kx, ky)
