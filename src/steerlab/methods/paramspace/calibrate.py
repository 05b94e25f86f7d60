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

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from steerlab.core import seeds
from steerlab.directions.ops import layer_weight, render_shifted
from steerlab.metrics.perceptual import perceptual_compare, perceptual_features
from steerlab.models.base import Generator

__all__ = ["CALIBRATION_CODES", "Reference", "calibration_codes", "calibration_reference", "perceptual_change",
           "calibrate_shift", "bisect_scale"]

CALIBRATION_CODES = 8  # codes the perceptual change is averaged over when calibrating


def calibration_codes(G: Generator, n: int = CALIBRATION_CODES) -> tuple[Tensor, Tensor | None]:
    """The fixed ``(z (n, z_dim), classes (n,) or None)`` every shift range is calibrated on.

    An absolute seed: the same codes for every run seed, never a training or grid draw.
    """
    g = seeds.generator(0, seeds.SHIFT_CALIBRATION)
    return G.sample_z(n, generator=g), G.sample_classes(n, generator=g)


@dataclass(frozen=True)
class Reference:
    """The unshifted side of every comparison: codes, G_theta's images and their ST-LPIPS features.

    Computed once per run (`calibration_reference`) and shared by every direction's calibration:
    only the shifted images change from one shift to the next.

    Attributes:
        z: (n, z_dim) codes; classes: (n,) or None.
        images: (n, C, H, W) in [0, 1], G_theta(z).
        features: `perceptual_features` of ``images`` (5 tensors, (n, C_l, H_l, W_l)).
        net: the ST-LPIPS trunk ("alex" or "vgg").
    """

    z: Tensor
    classes: Tensor | None
    images: Tensor
    features: list[Tensor]
    net: str


@torch.no_grad()
def calibration_reference(G: Generator, z: Tensor | None = None, classes: Tensor | None = None,
                          net: str = "alex") -> Reference:
    """G_theta(z) and its features on ``z`` (default: `calibration_codes`), computed once."""
    if z is None:
        z, classes = calibration_codes(G)
    images = G.synthesize(z, classes=classes)
    return Reference(z=z, classes=classes, images=images, features=perceptual_features(images, net), net=net)


@torch.no_grad()
def perceptual_change(G: Generator, layer: str, xi: Tensor, ts, *, z: Tensor | None = None,
                      classes: Tensor | None = None, net: str = "alex",
                      reference: Reference | None = None) -> list[float]:
    """Mean ST-LPIPS(G_theta(z), G_{theta + t xi}(z)) over ``z`` for each t in ``ts``.

    Pass ``reference`` (from `calibration_reference`) to reuse G_theta(z) and its features;
    otherwise they are computed here from ``z`` and ``classes``.

    Returns:
        one float per t, >= 0 (0 at t = 0).
    """
    ref = reference or calibration_reference(G, z, classes, net)
    out = []
    for t in ts:
        x1 = render_shifted(G, ref.z, layer, float(t) * xi.to(ref.images), classes=ref.classes)
        out.append(float(perceptual_compare(ref.features, perceptual_features(x1, ref.net), ref.net).mean()))
    return out


@torch.no_grad()
def calibrate_shift(G: Generator, layer: str, xi: Tensor, target: float, *, z: Tensor | None = None,
                    classes: Tensor | None = None, start: float = 1.0, iters: int = 8,
                    max_shift: float | None = None, reference: Reference | None = None) -> float:
    """The t > 0 at which the perceptual change, averaged over +t and -t, equals ``target``.

    Doubling from ``start`` brackets it, then ``iters`` bisection steps. If even ``max_shift``
    (default: 10x the layer's Frobenius norm) changes less, ``max_shift`` is returned.

    Args:
        target: the mean ST-LPIPS change to reach, in (0, 1).
        z, classes: the codes it is averaged over (see `calibration_codes`), or
        reference: those codes with their images and features already computed (`calibration_reference`).
    """
    if not 0 < target < 1:
        raise ValueError(f"target perceptual change must be in (0, 1), got {target}")
    max_shift = max_shift or 10 * float(layer_weight(G, layer).norm())
    ref = reference or calibration_reference(G, z, classes)

    def c(t: float) -> float:
        return sum(perceptual_change(G, layer, xi, [t, -t], reference=ref)) / 2

    return bisect_scale(c, target, start=start, iters=iters, max_scale=max_shift)


def bisect_scale(change: Callable[[float], float], target: float, *, start: float = 1.0, iters: int = 8,
                 max_scale: float = 1e6) -> float:
    """The scale s > 0 at which ``change(s)`` (increasing in s) reaches ``target``.

    Doubling from ``start`` brackets it, then ``iters`` bisection steps; ``max_scale`` if even that
    changes less. Any knob calibrated to a perceptual change uses it (weight shifts, latent edits).
    """
    lo, hi = 0.0, min(start, max_scale)
    while change(hi) < target:
        if hi >= max_scale:
            return max_scale
        lo, hi = hi, min(2 * hi, max_scale)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if change(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)
