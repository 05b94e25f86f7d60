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

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from steerlab.core import seeds
from steerlab.directions.ops import ShiftRenderer, layer_weight
from steerlab.metrics.perceptual import perceptual_compare, perceptual_features
from steerlab.models.base import Generator

__all__ = ["CALIBRATION_CODES", "Reference", "calibration_codes", "calibration_reference", "perceptual_change",
           "calibrate", "calibrate_shift", "ROOT_FINDERS", "bisect_scale", "secant_scale"]

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
    renderers: dict = field(default_factory=dict, compare=False, repr=False)

    def renderer(self, G: Generator, layer: str) -> ShiftRenderer:
        """The `ShiftRenderer` of ``layer`` on these codes (made on first use, then kept)."""
        key = (id(G), layer)
        if key not in self.renderers or self.renderers[key].G is not G:
            self.renderers[key] = ShiftRenderer(G, layer, self.z, classes=self.classes)
        return self.renderers[key]


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
    render = ref.renderer(G, layer)  # runs only what the shift changes (see `ShiftRenderer`)
    out = []
    for t in ts:
        x1 = render(xi, t)
        out.append(float(perceptual_compare(ref.features, perceptual_features(x1, ref.net), ref.net).mean()))
    return out


ROOT_FINDERS = ("secant", "bisect")


@torch.no_grad()
def calibrate(G: Generator, layer: str, xi: Tensor, target: float, *, z: Tensor | None = None,
              classes: Tensor | None = None, start: float = 1.0, iters: int = 8,
              max_shift: float | None = None, reference: Reference | None = None,
              method: str = "secant") -> tuple[float, list[float]]:
    """The t > 0 at which the perceptual change, averaged over +t and -t, equals ``target``, and
    the change there: ``(T, [change at -T, change at +T])``.

    Each evaluation of the change renders and embeds 2 n shifted images, so the root finder is
    what this costs. ``"secant"`` (default, `secant_scale`): over the calibrated range the change
    grows about as a power of t (exponent 1 - 2), so log change is close to linear in log t; the
    root is bracketed by secant steps of log change against log t and then closed by the secant
    through the two newest points (regula falsi with the Illinois weighting when that leaves the
    bracket), each step aimed a quarter of the tolerance past its estimate, away from the end that
    moved last, so that an accurate estimate closes the bracket on the next step. It stops at a
    bracket narrower than 2^-(iters+1) of its upper end and returns that end (an evaluated shift,
    so the change at T costs nothing more; its change is at or just above the target, within the
    bracket's width of the root). ``"bisect"`` (`bisect_scale`): doubling from ``start``
    brackets the root, then ``iters`` bisection steps; its answer is within half its last bracket,
    2^-iters of the doubled bracket (at most t 2^-iters), of the root. The secant lands within the
    bisection's own tolerance of the same root in fewer evaluations (fewer still from a ``start``
    near the answer, e.g. the previous direction's range; bench/discover_time.py measures the whole
    command).

    If even ``max_shift`` (default: 10x the layer's Frobenius norm) changes less, ``max_shift`` is
    returned.

    Args:
        target: the mean ST-LPIPS change to reach, in (0, 1).
        z, classes: the codes it is averaged over (see `calibration_codes`), or
        reference: those codes with their images and features already computed (`calibration_reference`).
        start: first shift tried (> 0).
        iters: tolerance: 2^-iters relative (bisection steps for ``"bisect"``).
        method: "secant" or "bisect".
    """
    if not 0 < target < 1:
        raise ValueError(f"target perceptual change must be in (0, 1), got {target}")
    if method not in ROOT_FINDERS:
        raise ValueError(f"unknown root finder '{method}'; allowed: {', '.join(ROOT_FINDERS)}")
    if not (start > 0 and math.isfinite(start)):
        raise ValueError(f"calibration start shift must be a positive number, got {start}")
    max_shift = max_shift or 10 * float(layer_weight(G, layer).norm())
    ref = reference or calibration_reference(G, z, classes)

    seen: dict[float, list[float]] = {}

    def c(t: float) -> float:
        seen[t] = perceptual_change(G, layer, xi, [-t, t], reference=ref)
        return sum(seen[t]) / 2

    find = bisect_scale if method == "bisect" else secant_scale
    T = find(c, target, start=start, iters=iters, max_scale=max_shift)
    return T, seen[T] if T in seen else perceptual_change(G, layer, xi, [-T, T], reference=ref)


def calibrate_shift(G: Generator, layer: str, xi: Tensor, target: float, **kwargs) -> float:
    """The calibrated range T alone: ``calibrate(G, layer, xi, target, **kwargs)[0]``."""
    return calibrate(G, layer, xi, target, **kwargs)[0]


def bisect_scale(change: Callable[[float], float], target: float, *, start: float = 1.0, iters: int = 8,
                 max_scale: float = 1e6) -> float:
    """The scale s > 0 at which ``change(s)`` (increasing in s) reaches ``target``.

    Doubling from ``start`` brackets it, then ``iters`` bisection steps; ``max_scale`` if even that
    changes less. Needs no shape of ``change`` beyond monotone; `secant_scale` (the default for
    weight shifts) lands within the same tolerance in fewer evaluations.
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


def secant_scale(change: Callable[[float], float], target: float, *, start: float = 1.0, iters: int = 8,
                 max_scale: float = 1e6) -> float:
    """The scale s > 0 at which ``change(s)`` (increasing in s, 0 at 0) reaches ``target``.

    Secant steps on log change(s) - log target against log s (see `calibrate`); returns the upper
    end of a bracket narrower than 2^-(iters+1) of it (a scale ``change`` was evaluated at), or
    ``max_scale`` if even that changes less.
    """
    rtol, log_target = 2.0 ** -(iters + 1), math.log(target)
    pts: list[tuple[float, float]] = []    # every evaluated (log t, h(t)), newest last
    lo = hi = None                          # the nearest evaluated shifts below and above the root
    h_lo = h_hi = 0.0                       # their h (Illinois-weighted)
    t, side = min(start, max_scale), 0
    while True:
        h_t = math.log(max(change(t), 1e-30)) - log_target
        pts.append((math.log(t), h_t))
        if h_t < 0:
            if t >= max_scale:
                return max_scale
            if side < 0 and hi is not None:  # Illinois: the same end moved twice, halve the other's value
                h_hi *= 0.5
            lo, h_lo, side = t, h_t, -1
        else:
            if side > 0 and lo is not None:
                h_lo *= 0.5
            hi, h_hi, side = t, h_t, 1
        if lo is not None and hi is not None and hi - lo <= rtol * hi:
            # the upper end: evaluated, within the bracket's width of the root, and (unlike picking the
            # end nearer the target) not flipped by float rounding between runs (e.g. 1 vs 2 processes)
            return hi
        # the secant of log change against log t through the newest two points (from the first one:
        # slope 1, change proportional to t; it grows at least that fast, so that step crosses the root)
        (s0, h0), (s1, h1) = pts[-2] if len(pts) > 1 else (pts[-1][0] - 1, pts[-1][1] - 1), pts[-1]
        slope = (h1 - h0) / (s1 - s0)
        x = math.exp(s1 - h1 / (slope if slope > 0 else 1.0))
        if lo is None:     # not bracketed yet: at most 16x per step, aimed just past the estimate
            t = max(t / 16, min(x * (1 - rtol), t * (1 - 2 * rtol)))
            continue
        if hi is None:
            t = min(max_scale, 16 * t, max(x * (1 + rtol), t * (1 + 2 * rtol)))
            continue
        if not lo < x < hi:  # regula falsi between the ends (Illinois-weighted) instead
            a, b = math.log(lo), math.log(hi)
            x = math.exp(b - h_hi * (b - a) / (h_hi - h_lo))
        # aim a quarter of the tolerance past the estimate, away from the end that moved last: an
        # estimate that good then lands on the other side of the root and closes the bracket
        d = 0.5 * rtol * hi
        t = min(max(x - 0.5 * d * side, lo + d), hi - d)
