"""Does the same walk keep structure better in one latent space than in another?

Jahanian et al. (Sec. 4.3, App. B.5) walk StyleGAN in W rather than z because W is less
entangled, and observe that a colour walk in W "can change color while leaving other
structure in the image unchanged". `compare_spaces` learns the same photometric walk in each
space and measures, on held-out samples, both halves of that sentence:

- colour: ``colour_gain`` = <delta_walk, delta_target> / |delta_target|^2 over the per-image
  mean RGB change (1: the walk shifts the colour as far as the target, 0: not at all);
- structure: ``edge_distance`` = mean |sobel(n(G(z, alpha))) - sobel(n(G(z)))| with n() the
  per-image, per-channel standardisation (so a colour or brightness offset alone scores 0),
  and ``lpips_distance`` = ST-LPIPS between G(z) and the walked image after matching the
  walked image's per-channel mean and std to G(z)'s.

The target edit itself, clamped to [0, 1], is measured the same way (``target_edge_distance``):
the floor a perfect colour walk would reach.

Walks in different spaces reach different colour changes at the same alpha (a walk that barely
changes colour also barely changes structure), so `matched_structure` also compares them at an
*equal* colour change: each walk is rendered at multiples k of its step, and the edge distance
is interpolated at the colour gain every space reaches.
"""
from __future__ import annotations

import kornia
import numpy as np
import torch
from torch import Tensor

from steerlab.core import seeds
from steerlab.directions import Direction
from steerlab.edits import get_edit
from steerlab.methods.walks.linear import learn_linear_walk
from steerlab.models.base import Generator

PHOTOMETRIC = ("color", "brightness")


held_out = seeds.held_out


def standardise(x: Tensor) -> Tensor:
    """Per image and channel: zero mean, unit std. (N, C, H, W) -> same shape."""
    m, s = x.mean((2, 3), keepdim=True), x.std((2, 3), keepdim=True).clamp_min(1e-3)
    return (x - m) / s


def edge_distance(a: Tensor, b: Tensor) -> Tensor:
    """Mean absolute difference of Sobel edge maps of the standardised images. Returns (N,)."""
    return (kornia.filters.sobel(standardise(a)) - kornia.filters.sobel(standardise(b))).abs().flatten(1).mean(1)


def match_colour(a: Tensor, ref: Tensor) -> Tensor:
    """``a`` with each channel's mean and std set to those of ``ref``, clamped to [0, 1]."""
    m, s = ref.mean((2, 3), keepdim=True), ref.std((2, 3), keepdim=True)
    return (standardise(a) * s + m).clamp(0, 1)


def colour_gain(walked: Tensor, source: Tensor, target: Tensor) -> Tensor:
    """Projection of the walk's mean-RGB change on the target's, per image. Returns (N,)."""
    dw, dt = (walked - source).mean((2, 3)), (target - source).mean((2, 3))
    return (dw * dt).sum(1) / dt.square().sum(1).clamp_min(1e-8)


@torch.no_grad()
def measure_structure(G: Generator, d: Direction, *, n: int = 32, n_alphas: int = 5, seed: int = 0,
                      perceptual: bool = True) -> dict:
    """Colour gain and structure change of a photometric walk on ``n`` held-out samples.

    Returns:
        ``{"alphas": [...], "colour_gain": [...], "edge_distance": [...], "lpips_distance": [...],
        "target_edge_distance": [...]}`` per non-identity alpha of the edit's grid, plus the
        ``*_mean`` of each over alphas.
    """
    from steerlab.metrics.perceptual import perceptual_distance
    edit = get_edit(d.edit)
    z, classes = held_out(G, n, seed)
    grid = edit.grid(n_alphas)
    identity = (grid == edit.identity).reshape(len(grid), -1).all(1)
    src = G.synthesize(G.to_space(z, d.space, classes), space=d.space, classes=classes)
    out: dict[str, list] = {k: [] for k in ("alphas", "colour_gain", "edge_distance", "lpips_distance",
                                            "target_edge_distance")}
    for a in grid[~identity]:
        target, _ = edit(src, a)
        walked = d.render(G, z, a, classes=classes)
        out["alphas"].append(a.tolist())
        out["colour_gain"].append(colour_gain(walked, src, target).mean().item())
        out["edge_distance"].append(edge_distance(walked, src).mean().item())
        out["target_edge_distance"].append(edge_distance(target, src).mean().item())
        out["lpips_distance"].append(perceptual_distance(match_colour(walked, src), src).mean().item()
                                     if perceptual else float("nan"))
    for k in list(out):
        if k != "alphas":
            out[f"{k}_mean"] = sum(out[k]) / len(out[k])
    return out


@torch.no_grad()
def matched_structure(G: Generator, directions: dict[str, Direction], *, n: int = 32, seed: int = 0,
                      scales: tuple[float, ...] = (0.125, 0.25, 0.5, 1, 2, 4, 8), step: float = 0.25) -> dict:
    """Edge distance of each walk at one common colour gain.

    Each walk is applied at ``k * step`` for every k in ``scales`` (k > 1 extrapolates the linear
    walk beyond its training range) on every colour channel, both signs; colour gain (relative to
    the target at ``step``) and edge distance are averaged per k, and the edge distance is
    interpolated at ``gain = min over spaces of the largest gain reached``, capped at 1.

    Returns:
        ``{"colour_gain": g, "edge_distance": {space: value at g}, "curves": {space: {"scale": [...],
        "colour_gain": [...], "edge_distance": [...]}}}``.
    """
    from steerlab.methods.walks.linear import shift
    first = next(iter(directions.values()))
    edit = get_edit(first.edit)
    z, classes = held_out(G, n, seed)
    base = torch.eye(edit.alpha_dim) if edit.alpha_dim == 3 else torch.ones(1, 1)
    alphas = torch.cat([base, -base]) * step  # (2 * dim, dim) in user units
    curves = {}
    for space, d in directions.items():
        latent = G.to_space(z, space, classes)
        src = G.synthesize(latent, space=space, classes=classes)
        w = d.tensors["w"].to(latent)
        gains, edges = [], []
        for k in scales:
            g_sum = e_sum = 0.0
            for a in alphas:
                target, _ = edit(src, a)
                alpha_g = edit.to_g(a * k if edit.mapping == "linear" else a).reshape(1, -1).expand(n, -1)
                walked = G.synthesize(latent + shift(w, alpha_g), space=space, classes=classes)
                g_sum += colour_gain(walked, src, target).mean().item()
                e_sum += edge_distance(walked, src).mean().item()
            gains.append(g_sum / len(alphas))
            edges.append(e_sum / len(alphas))
        curves[space] = {"scale": list(scales), "colour_gain": gains, "edge_distance": edges}
    g_star = min(1.0, min(max(c["colour_gain"]) for c in curves.values()))
    at = {}
    for space, c in curves.items():
        order = np.argsort(c["colour_gain"])
        at[space] = float(np.interp(g_star, np.array(c["colour_gain"])[order], np.array(c["edge_distance"])[order]))
    return {"colour_gain": g_star, "edge_distance": at, "curves": curves}


def compare_spaces(G: Generator, edit: str = "color", spaces: tuple[str, ...] = ("z", "w"), *,
                   steps: int = 300, batch_size: int = 16, lr: float = 0.01, loss: str = "l2",
                   seed: int = 0, n_eval: int = 32, perceptual: bool = True,
                   progress: bool = True) -> tuple[dict[str, Direction], dict[str, dict]]:
    """Learn the same linear walk for a photometric ``edit`` in each space and measure each.

    Args:
        G: a generator with all of ``spaces`` (e.g. StyleGAN2: "z", "w", "w+").
        edit: "color" or "brightness".
        steps, batch_size, lr, loss, seed: the `learn_linear_walk` settings, shared by all spaces.
        n_eval: held-out samples for the measurements.

    Returns:
        (directions by space, measurements by space: see `measure_structure`, plus
        ``matched_colour_gain``, ``matched_edge_distance`` and ``matched_curve`` from
        `matched_structure`).
    """
    if edit not in PHOTOMETRIC:
        raise ValueError(f"comparing structure preservation needs a photometric edit; allowed: "
                         f"{', '.join(PHOTOMETRIC)} (got {edit!r})")
    for s in spaces:
        G.check_space(s)
    directions, metrics = {}, {}
    for s in spaces:
        directions[s] = learn_linear_walk(G, edit, space=s, steps=steps, batch_size=batch_size, lr=lr,
                                          loss=loss, seed=seed, progress=progress)
        metrics[s] = measure_structure(G, directions[s], n=n_eval, seed=seed, perceptual=perceptual)
    matched = matched_structure(G, directions, n=n_eval, seed=seed)
    for s in spaces:
        metrics[s]["matched_colour_gain"] = matched["colour_gain"]
        metrics[s]["matched_edge_distance"] = matched["edge_distance"][s]
        metrics[s]["matched_curve"] = matched["curves"][s]
    return directions, metrics
