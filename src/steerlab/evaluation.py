"""Measurements of a direction on held-out samples.

`target_l2` is the walk's own yardstick (Jahanian et al., Fig. 9 and our walk reports): at each
alpha of the edit's grid, the masked L2 between the steered image and the target
edit(G(z), alpha), beside the do-nothing baseline L2(G(z), edit(G(z), alpha)). A walk that beats
the baseline has learned *something*; whether it steers the attribute is measured separately.
"""
from __future__ import annotations

import torch

from .directions import Direction
from .edits import get_edit
from .losses import masked_l2
from .models.base import Generator

HELD_OUT = 1_000_003  # seed offset: evaluation never reuses training draws


def held_out(G: Generator, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Reproducible held-out z (n, z_dim) and classes for evaluation."""
    g = torch.Generator().manual_seed(seed + HELD_OUT)
    return G.sample_z(n, generator=g), G.sample_classes(n, generator=g)


@torch.no_grad()
def target_l2(G: Generator, d: Direction, *, n: int = 64, n_alphas: int = 9, seed: int = 0,
              batch_size: int = 32) -> dict:
    """Per-alpha mean masked L2 of the walk and of doing nothing, on ``n`` held-out samples.

    Returns:
        ``{"alphas": [...], "walk_l2": [...], "baseline_l2": [...], "walk_l2_mean": float,
        "baseline_l2_mean": float, "n": n}``; alphas in the edit's user units (a list of
        RGB triples for colour).
    """
    if d.edit is None:
        raise ValueError("target_l2 needs a direction trained for an image edit")
    edit = get_edit(d.edit)
    z, classes = held_out(G, n, seed)
    alphas = edit.grid(n_alphas)
    walk, base = [], []
    for a in alphas:
        wl = bl = 0.0
        for i in range(0, n, batch_size):
            zb = z[i:i + batch_size]
            cb = None if classes is None else classes[i:i + batch_size]
            src = G.synthesize(G.to_space(zb, d.space, cb), space=d.space, classes=cb)
            target, mask = edit(src, a)
            out = d.render(G, zb, a, classes=cb)
            wl += masked_l2(out, target, mask).sum().item()
            bl += masked_l2(src, target, mask).sum().item()
        walk.append(wl / n)
        base.append(bl / n)
    return {"alphas": alphas.tolist(), "walk_l2": walk, "baseline_l2": base,
            "walk_l2_mean": sum(walk) / len(walk), "baseline_l2_mean": sum(base) / len(base), "n": n}
