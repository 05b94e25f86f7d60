"""Effect per unit of perceptual change: how much a direction moves an attribute for what it costs in looks.

For held-out codes z_i and a grid of alphas, a direction's images G_a(z_i) are read with an
attribute (``MEASURE:KEY``, e.g. ``box:x``) and compared with the unmoved G(z_i) by ST-LPIPS:

    delta_i(a)  = attr(G_a(z_i)) - attr(G(z_i))           the effect
    change_i(a) = ST-LPIPS(G_a(z_i), G(z_i))               what it costs
    ratio(a)    = mean_i delta_i(a) / mean_i change_i(a)    effect per unit perceptual change

beside the per-sample view the mean can hide: the median of delta_i, the median of the paired
ratios delta_i / change_i, and the fraction of samples moving the asked way (sign of a). Other
attributes (``others``) give "how much else changes": their mean |delta| per unit change.
Directions of any method and unit compare at a matched perceptual change (`at_matched_change`).
"""
from __future__ import annotations

from typing import Sequence

import torch

from steerlab.attributes import get_measure
from steerlab.core import seeds
from steerlab.directions import Direction
from steerlab.methods.latent.boundary import parse_attribute
from steerlab.metrics.perceptual import perceptual_distance
from steerlab.models.base import Generator

__all__ = ["effect_per_change", "at_matched_change"]


def _median(v: torch.Tensor) -> float:
    return float(v.median()) if v.numel() else float("nan")


@torch.no_grad()
def effect_per_change(G: Generator, d: Direction, attribute: str, alphas: Sequence[float], *, n: int = 100,
                      seed: int = 0, batch_size: int = 50, net: str = "alex",
                      others: Sequence[str] = (), asked: float | None = None) -> dict:
    """Per-alpha effect, perceptual change and their ratio on ``n`` held-out samples.

    Args:
        d: a direction of ``G`` (any kind); alphas in its own units (``d.alpha``).
        attribute: ``MEASURE:KEY`` read for the effect.
        others: further ``MEASURE:KEY`` attributes whose mean |change| per unit change is reported.
        asked: +1 if the attribute should rise, -1 if it should fall; default: the sign of each alpha
            (a walk learned for an edit raises its attribute with alpha).

    Returns:
        ``{"alphas", "attribute", "n", "rows": [per alpha: mean_delta, median_delta, mean_change,
        ratio, median_paired_ratio, moving_asked_way, found, others {attr: mean |delta| / mean change}],
        "delta": [[per sample] per alpha], "change": [[...]]}``; NaN where the attribute was not read.
    """
    specs = [parse_attribute(attribute)] + [parse_attribute(o) for o in others]
    z, classes = seeds.held_out(G, n, seed)

    def render_and_read(a):
        imgs, vals = [], {s: [] for s in specs}
        for i in range(0, n, batch_size):
            cb = None if classes is None else classes[i:i + batch_size]
            x = d.render(G, z[i:i + batch_size], a, classes=cb)
            imgs.append(x)
            for name, key in specs:
                vals[(name, key)].append(get_measure(name)(x)[key].double().cpu())
        return torch.cat(imgs), {s: torch.cat(v) for s, v in vals.items()}

    base, base_vals = render_and_read(d.alpha.identity)
    rows, deltas, changes = [], [], []
    for a in alphas:
        imgs, vals = render_and_read(a)
        change = torch.cat([perceptual_distance(imgs[i:i + batch_size], base[i:i + batch_size], net=net)
                            for i in range(0, n, batch_size)]).double().cpu()
        delta = vals[specs[0]] - base_vals[specs[0]]
        ok = torch.isfinite(delta)
        dl, ch = delta[ok], change[ok]
        sign = asked if asked is not None else (1.0 if float(a) >= d.alpha.identity else -1.0)
        paired = dl / ch.clamp_min(1e-6)
        mean_change = float(ch.mean()) if ch.numel() else float("nan")
        row = {"alpha": float(a), "mean_delta": float(dl.mean()) if dl.numel() else float("nan"),
               "median_delta": _median(dl), "mean_change": mean_change,
               "ratio": float(dl.mean()) / mean_change if dl.numel() and mean_change > 0 else float("nan"),
               "median_paired_ratio": _median(paired),
               "moving_asked_way": float((sign * dl > 0).double().mean()) if dl.numel() else float("nan"),
               "found": float(ok.double().mean()), "others": {}}
        for s in specs[1:]:
            od = (vals[s] - base_vals[s])
            od = od[torch.isfinite(od)]
            row["others"][f"{s[0]}:{s[1]}"] = float(od.abs().mean()) / mean_change if od.numel() else float("nan")
        rows.append(row)
        deltas.append(delta.tolist())
        changes.append(change.tolist())
    return {"alphas": [float(a) for a in alphas], "attribute": attribute, "n": n, "rows": rows,
            "delta": deltas, "change": changes}


def at_matched_change(result: dict, target: float) -> dict:
    """The row of ``effect_per_change`` whose mean perceptual change is closest to ``target``."""
    return min(result["rows"], key=lambda r: abs(r["mean_change"] - target)
               if r["mean_change"] == r["mean_change"] else float("inf"))
