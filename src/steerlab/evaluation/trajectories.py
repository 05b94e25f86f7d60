"""Quantitative evaluation of a factor direction (Plumerault et al., Sec. 3.1, Figs. 2, 4, 5).

1. take the direction u; 2. sample z ~ N(0, I); 3. render z - <z, u> u + s u for s in [-T, T];
4. measure the factor on every image; 5. report its distribution and standard deviation per s.

Measures are read from `steerlab.attributes` (saliency barycentre ``x``/``y`` and salient
``area``, object / face boxes, colour) or ``pixels`` (`steerlab.data.dsprites.pixel_stats`:
the exact barycentre and area of the bright pixels of binary images such as dSprites), named
``"MEASURE:KEY"``, e.g. ``"saliency:x"`` or ``"pixels:x"``.

For a model whose latent is split into parts fed to different layers (``G.latent_parts``, a
tuple of sizes; BigGAN-like), `norm_per_part` gives the squared norm of u in each part (Fig. 4).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor

from steerlab.core import seeds
from steerlab.data.dsprites import pixel_stats
from steerlab.directions import Direction
from steerlab.methods.trajectories.control import move_to
from steerlab.methods.trajectories.encoding import piecewise_linear
from steerlab.metrics.stats import paired_change
from steerlab.models.base import Generator

__all__ = ["factor_measure", "sweep_factor", "sweep_change", "norm_per_part", "latent_parts"]


def factor_measure(spec: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``"MEASURE:KEY"`` (e.g. ``"saliency:x"``, ``"pixels:x"``, ``"face_box:width"``) -> images -> (N,)."""
    if callable(spec):
        return spec
    name, _, key = str(spec).partition(":")
    if name == "pixels":
        fn, keys = pixel_stats, ("x", "y", "area")
    else:
        from steerlab.attributes import get_measure
        m = get_measure(name)
        fn, keys = m.fn, m.keys
    if key not in keys:
        raise ValueError(f"measure {name!r} has no key {key!r}; allowed: {', '.join(keys)} (use MEASURE:KEY)")
    return lambda images: fn(images)[key].float()


@torch.no_grad()
def sweep_factor(G: Generator, d: Direction, measure: str | Callable[[Tensor], Tensor], *,
                 s_values: Sequence[float] | None = None, n: int = 64, seed: int = 0,
                 batch_size: int = 64, classes: int | None = None) -> dict:
    """Measure the factor on z - <z, u> u + s u for every s (Sec. 3.1 steps 2-5).

    Args:
        G: the generator of ``d``.
        d: a direction with a unit axis ``u`` in its tensors (a ``"trajectory"`` direction).
        measure: ``"MEASURE:KEY"`` or a callable images (N, C, H, W) -> (N,).
        s_values: coordinates along u (default ``linspace(-3, 3, 13)``).
        n: held-out samples per s (the same z for every s).
        classes: for a class-conditional ``G``, one class for every sample (Fig. 2 per
            category); default random classes.

    Returns:
        ``{"s", "values" (per s, n values, NaN where the measure failed), "mean", "std",
        "model_t" (g(s) where the direction has knots), "std_mean" (mean over s of the std),
        "spearman_all" (rank correlation of s with every value pooled: low when the spread
        between samples is large next to the move along u), "spearman_mean" (with the per-s
        means), "spearman_per_sample" (median over samples of each sample's own rank
        correlation of s with its values: does moving one z along u move its factor one way?),
        "positive_fraction" (samples whose own correlation is > 0; both over the samples
        measurable at every s), "ends_ordered" (samples
        whose value at the last s exceeds that at the first), "monotone_fraction" (samples whose
        value never decreases by more than 1% of the measured range from one s to the next),
        "nan_fraction"}``.
    """
    d.check_model(G)
    fn = factor_measure(measure)
    s_values = [float(s) for s in (np.linspace(-3, 3, 13) if s_values is None else s_values)]
    g = seeds.generator(seed, seeds.TRAJECTORY_HELD_OUT)
    z = G.sample_z(n, generator=g)
    drawn = G.sample_classes(n, generator=g)  # drawn either way: the same z with or without a class
    classes = drawn if classes is None else G.check_classes(int(classes), n)
    u = d.tensors["u"].to(z)
    values = []
    for s in s_values:
        out = []
        for lo in range(0, n, batch_size):
            zb = move_to(z[lo:lo + batch_size], u, s)
            cb = None if classes is None else classes[lo:lo + batch_size]
            out.append(fn(G.synthesize(zb, classes=cb)).cpu())
        values.append(torch.cat(out))
    v = torch.stack(values).numpy().astype(np.float64)  # (S, n)
    mean, std = np.nanmean(v, 1), np.nanstd(v, 1)
    ok = np.isfinite(v)
    s_rep = np.repeat(np.array(s_values)[:, None], n, 1)
    rho_all = spearmanr(s_rep[ok], v[ok]).statistic if ok.sum() > 2 else float("nan")
    rho_mean = spearmanr(s_values, mean).statistic if np.isfinite(mean).sum() > 2 else float("nan")
    span = np.nanmax(v) - np.nanmin(v) if ok.any() else 0.0
    steps = np.diff(v, axis=0)  # (S-1, n)
    mono = np.all(np.nan_to_num(steps, nan=-np.inf) >= -0.01 * span, axis=0).mean()
    # each sample measurable at every s: its own rank correlation (0 when its value never changes)
    rho_each = np.array([spearmanr(s_values, v[:, i]).statistic if np.ptp(v[:, i]) > 0 else 0.0
                         for i in np.flatnonzero(ok.all(0))])
    ends = v[-1] > v[0]  # NaN at either end counts as not ordered
    out = {"s": s_values, "values": v.tolist(), "mean": mean.tolist(), "std": std.tolist(),
           "std_mean": float(np.nanmean(std)), "spearman_all": float(rho_all),
           "spearman_mean": float(rho_mean), "monotone_fraction": float(mono),
           "spearman_per_sample": float(np.median(rho_each)) if rho_each.size else float("nan"),
           "positive_fraction": float((rho_each > 0).mean()) if rho_each.size else float("nan"),
           "ends_ordered": float(ends.mean()),
           "nan_fraction": float(1 - ok.mean()), "n": n}
    if "knots_x" in d.tensors:
        out["model_t"] = piecewise_linear(torch.tensor(s_values), d.tensors["knots_x"].float(),
                                          d.tensors["knots_y"].float()).tolist()
    return out


def sweep_change(sweep: dict) -> dict:
    """What moving each sample from the first s to the last s of a `sweep_factor` did to its factor.

    The direction asks the factor to rise with s (g is increasing), so a sample "moves the asked
    way" when its value at the last s exceeds its value at the first.

    Returns:
        `steerlab.metrics.stats.paired_change` of (value at s[0], value at s[-1]) per sample, with
        ``"asked"``: the modelled change g(s[-1]) - g(s[0]) (None without knots) and
        ``"median_over_asked"``: the median measured change divided by it (1 = as modelled).
    """
    v = np.asarray(sweep["values"], dtype=np.float64)
    out = paired_change(v[0], v[-1], sign=1)
    asked = sweep["model_t"][-1] - sweep["model_t"][0] if "model_t" in sweep else None
    ratio = out["median"] / asked if asked and out["median"] is not None else None
    return {**out, "asked": asked, "median_over_asked": ratio}


def latent_parts(G: Generator) -> tuple[int, ...]:
    """Sizes of the latent's parts fed to different layers (``G.latent_parts``), else one part."""
    parts = tuple(getattr(G, "latent_parts", None) or (G.z_dim,))
    if sum(parts) != G.z_dim or min(parts) < 1:
        raise ValueError(f"model '{G.name}': latent_parts {parts} do not sum to z_dim {G.z_dim}")
    return parts


def norm_per_part(u: Tensor, parts: Sequence[int]) -> list[float]:
    """Squared norm of u in each consecutive part of the latent (Fig. 4): ||u_part||^2, summing to ||u||^2
    (to 1 for a direction's unit axis).

    Args:
        u: (d,) a latent direction.
        parts: the part sizes, summing to d (`latent_parts`).
    """
    if sum(parts) != u.numel() or min(parts, default=0) < 1:
        raise ValueError(f"parts {tuple(parts)} must be positive sizes summing to the direction's size {u.numel()}")
    return [float(c.pow(2).sum()) for c in torch.split(u.reshape(-1).double(), list(parts))]
