"""Shift ranges at matched perceptual change (how the weight-space methods size their knobs).

A weight direction xi is unit-norm, so its range T is a Frobenius norm, meaningless on its own:
the same T barely moves one layer and wrecks another. Each direction's T is therefore the
shift at which the mean ST-LPIPS change of G_theta(z) -> G_{theta +- T xi}(z) reaches a target
(default 0.15), on fixed calibration codes (`steerlab.core.seeds.SHIFT_CALIBRATION`), so every
grid shows a comparable, visible change and methods are compared at matched perceptual change
(the paper calibrates its Fig. 7 by hand). The optimisation and hybrid methods train with one T
(Eq. 1): the calibrated T of their first basis direction.
"""
from __future__ import annotations

import torch
from torch import Tensor

from steerlab.core import seeds
from steerlab.directions.ops import layer_weight, render_shifted
from steerlab.metrics.perceptual import perceptual_distance
from steerlab.models.base import Generator

__all__ = ["CALIBRATION_CODES", "calibration_codes", "perceptual_change", "calibrate_shift"]

CALIBRATION_CODES = 8  # codes the perceptual change is averaged over when calibrating


def calibration_codes(G: Generator, n: int = CALIBRATION_CODES) -> tuple[Tensor, Tensor | None]:
    """The fixed ``(z (n, z_dim), classes (n,) or None)`` every shift range is calibrated on.

    An absolute seed: the same codes for every run seed, never a training or grid draw.
    """
    g = seeds.generator(0, seeds.SHIFT_CALIBRATION)
    return G.sample_z(n, generator=g), G.sample_classes(n, generator=g)


@torch.no_grad()
def perceptual_change(G: Generator, layer: str, xi: Tensor, ts, *, z: Tensor,
                      classes: Tensor | None = None, net: str = "alex") -> list[float]:
    """Mean ST-LPIPS(G_theta(z), G_{theta + t xi}(z)) over ``z`` for each t in ``ts``.

    Returns:
        one float per t, >= 0 (0 at t = 0).
    """
    x0 = G.synthesize(z, classes=classes)
    out = []
    for t in ts:
        x1 = render_shifted(G, z, layer, float(t) * xi.to(x0), classes=classes)
        out.append(float(perceptual_distance(x0, x1, net=net).mean()))
    return out


@torch.no_grad()
def calibrate_shift(G: Generator, layer: str, xi: Tensor, target: float, *, z: Tensor,
                    classes: Tensor | None = None, start: float = 1.0, iters: int = 8,
                    max_shift: float | None = None) -> float:
    """The t > 0 at which the perceptual change, averaged over +t and -t, equals ``target``.

    Doubling from ``start`` brackets it, then ``iters`` bisection steps. If even ``max_shift``
    (default: 10x the layer's Frobenius norm) changes less, ``max_shift`` is returned.

    Args:
        target: the mean ST-LPIPS change to reach, in (0, 1).
        z, classes: the codes it is averaged over (see `calibration_codes`).
    """
    if not 0 < target < 1:
        raise ValueError(f"target perceptual change must be in (0, 1), got {target}")
    max_shift = max_shift or 10 * float(layer_weight(G, layer).norm())

    def c(t: float) -> float:
        return sum(perceptual_change(G, layer, xi, [t, -t], z=z, classes=classes)) / 2

    lo, hi = 0.0, min(start, max_shift)
    while c(hi) < target:
        if hi >= max_shift:
            return max_shift
        lo, hi = hi, min(2 * hi, max_shift)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if c(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)
