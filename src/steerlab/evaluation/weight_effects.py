"""What a weight shift does to each image: colour, position, size, texture (Cherepkov et al. Sec. 4, App. 6.2-6.3).

The paper names its directions by eye ("thickness", "wheel size", "global lighting") and says
early layers move geometry, late layers colour. This module turns that into numbers per sample,
at matched perceptual change (every direction's range T calibrated to the same mean ST-LPIPS):

- ``image_properties(images)``: per image, mean r, g, b, luminance and chroma (colour), the object's
  centre x, y and area (a geometric measure of `steerlab.attributes`, default ``"box"``);
- ``change_spectrum(x0, x1)``: per image, the share of the change's energy above half the Nyquist
  frequency (``high_freq``, 0 = smooth change, 1 = pixel-level texture) and its energy-weighted mean
  radial frequency (cycles per pixel, 0 .. 0.71);
- ``shift_effects(G, layer, xi, T, z, classes)``: both at t = -T, 0, +T on the same codes, with
  `steerlab.metrics.stats.paired_change` of every property (+T vs 0, -T vs 0, +T vs -T) and an
  ``agree`` fraction: the share of samples whose +T-vs--T change has the sign of its median (1: every
  sample moves the same way; 0.5: a coin toss). That sign is read from the data, so ``agree`` says how
  consistent a direction is, not whether it does something asked of it.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from steerlab.attributes import get_measure
from steerlab.directions.ops import render_shifted
from steerlab.metrics.perceptual import perceptual_distance
from steerlab.metrics.stats import paired_change
from steerlab.models.base import Generator

__all__ = ["COLOUR_KEYS", "GEOMETRY_KEYS", "image_properties", "change_spectrum", "concentration",
           "shift_effects", "effect_sizes"]

COLOUR_KEYS = ("r", "g", "b", "luminance", "chroma")
GEOMETRY_KEYS = ("x", "y", "area")


def image_properties(images: Tensor, geometry: str | None = "box") -> dict[str, Tensor]:
    """Per-image colour and geometry of (N, C, H, W) images in [0, 1].

    Returns:
        ``{"r", "g", "b", "luminance", "chroma"}`` (means over all pixels, in [0, 1]; chroma is the mean
        of max(r, g, b) - min(r, g, b)) and, unless ``geometry`` is None, ``{"x", "y", "area"}`` of that
        measure (fractions of the width / height / image area; NaN where nothing was found). Each (N,).
    """
    x = images.detach().float().cpu()
    rgb = x if x.shape[1] == 3 else x[:, :1].expand(-1, 3, -1, -1)
    out = {"r": rgb[:, 0].mean((1, 2)), "g": rgb[:, 1].mean((1, 2)), "b": rgb[:, 2].mean((1, 2)),
           "luminance": (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).mean((1, 2)),
           "chroma": (rgb.amax(1) - rgb.amin(1)).mean((1, 2))}
    if geometry:
        found = get_measure(geometry)(x)
        out.update({k: found[k].float() for k in GEOMETRY_KEYS})
    return out


def change_spectrum(x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
    """Spatial frequency of the change x1 - x0, per image.

    Args:
        x0, x1: (N, C, H, W) images.

    Returns:
        ``(high_freq (N,) in [0, 1], mean_freq (N,) in cycles per pixel)``: the share of the change's
        power above 0.25 cycles/pixel (half Nyquist) and the power-weighted mean radial frequency;
        NaN for an image that did not change.
    """
    d = (x1 - x0).detach().float().cpu()
    power = torch.fft.fft2(d).abs().pow(2).sum(1)                               # (N, H, W)
    fy = torch.fft.fftfreq(d.shape[-2])[:, None]
    fx = torch.fft.fftfreq(d.shape[-1])[None, :]
    radius = (fx.pow(2) + fy.pow(2)).sqrt()                                      # (H, W), 0 .. 0.707
    total = power.sum((1, 2))
    safe = torch.where(total > 0, total, torch.ones_like(total))
    high = (power * (radius > 0.25)).sum((1, 2)) / safe
    mean = (power * radius).sum((1, 2)) / safe
    nan = torch.full_like(total, math.nan)
    return torch.where(total > 0, high, nan), torch.where(total > 0, mean, nan)


def concentration(heat: Tensor, top: float = 0.1) -> float:
    """Share of a heatmap's total in its ``top`` fraction of pixels (0.1 for a uniform map, 1 for one spot)."""
    flat = heat.flatten().sort(descending=True).values
    k = max(1, int(math.ceil(top * flat.numel())))
    return float(flat[:k].sum() / flat.sum().clamp_min(1e-20))


def _median(x: Tensor) -> float:
    x = x[torch.isfinite(x)]
    return float(x.median()) if x.numel() else math.nan


@torch.no_grad()
def shift_effects(G: Generator, layer: str, xi: Tensor, limit: float, z: Tensor, classes: Tensor | None = None, *,
                  geometry: str | None = "box", net: str = "alex", batch_size: int = 64) -> dict:
    """Per-sample effects of the weight shift t xi at t = -T, +T on codes ``z``.

    Args:
        G, layer, xi: the model, the shifted weight and the (unit) direction, the layer's shape.
        limit: T, the shift magnitude (e.g. the direction's calibrated range).
        z: (N, z_dim) codes; classes: (N,) or None.
        geometry: a geometric measure of `steerlab.attributes` ("box", "face_box", "saliency") or None.

    Returns:
        ``{"n", "stlpips": {"plus", "minus"}`` (per-sample lists) ``, "stlpips_median", "stlpips_mean",
        "l2_median"`` (per-sample mean squared pixel change, averaged over +-T) ``, "high_freq",
        "mean_freq"`` (medians over samples and +-T) ``, "locality"`` (`concentration` of the mean squared
        change) ``, "properties": {key: {"plus": paired_change(+T vs 0), "minus": paired_change(-T vs 0),
        "span": paired_change(+T vs -T), "agree": float}}}``.
    """
    def render(t: float) -> Tensor:
        return torch.cat([render_shifted(G, z[i:i + batch_size], layer, t * xi.to(z),
                                         classes=None if classes is None else classes[i:i + batch_size])
                          for i in range(0, z.shape[0], batch_size)])

    x0, xp, xm = render(0.0), render(float(limit)), render(-float(limit))
    lp = perceptual_distance(x0, xp, net).flatten().cpu()
    lm = perceptual_distance(x0, xm, net).flatten().cpu()
    l2 = 0.5 * ((xp - x0).pow(2).flatten(1).mean(1) + (xm - x0).pow(2).flatten(1).mean(1)).cpu()
    hp, fp = change_spectrum(x0, xp)
    hm, fm = change_spectrum(x0, xm)
    heat = ((xp - x0).pow(2).sum(1) + (xm - x0).pow(2).sum(1)).mean(0).cpu()      # (H, W)
    p0, pp, pm = (image_properties(x, geometry) for x in (x0, xp, xm))
    props = {}
    for key in p0:
        span = paired_change(pm[key], pp[key])
        sign = 0 if not span["median"] else (1 if span["median"] > 0 else -1)
        span = paired_change(pm[key], pp[key], sign=sign or None)
        props[key] = {"plus": paired_change(p0[key], pp[key]), "minus": paired_change(p0[key], pm[key]),
                      "span": span, "agree": span["asked_way"]}
    return {"n": int(z.shape[0]), "limit": float(limit),
            "stlpips": {"plus": lp.tolist(), "minus": lm.tolist()},
            "stlpips_median": _median(torch.cat([lp, lm])), "stlpips_mean": float(torch.cat([lp, lm]).mean()),
            "l2_median": _median(l2), "high_freq": _median(torch.cat([hp, hm])),
            "mean_freq": _median(torch.cat([fp, fm])), "locality": concentration(heat), "properties": props}


def effect_sizes(effects: dict) -> dict[str, float]:
    """One number per kind of effect, from `shift_effects`' medians (per unit mean ST-LPIPS change).

    ``colour``: |median change +T vs -T| of r, g, b summed; ``luminance``: of the luminance;
    ``position``: of x plus y; ``size``: of log area (median log ratio); ``texture``: the high-frequency
    share of the change. The first four are divided by the mean ST-LPIPS change, so directions
    calibrated to different targets compare; NaN where a property was never measured.
    """
    p, per = effects["properties"], max(effects["stlpips_mean"], 1e-12)

    def span(key: str) -> float:
        m = p.get(key, {}).get("span", {}).get("median")
        return math.nan if m is None else abs(m)

    ratio = p.get("area", {}).get("span", {}).get("median_ratio")
    return {"colour": sum(span(k) for k in ("r", "g", "b")) / per, "luminance": span("luminance") / per,
            "position": (span("x") + span("y")) / per,
            "size": (abs(math.log(ratio)) if ratio else math.nan) / per, "texture": effects["high_freq"]}
