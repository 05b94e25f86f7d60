"""What the latent-space methods share: unit vectors -> linear `Direction`s in units of the latent's spread.

A latent direction u (unit length) is stored as the linear direction ``w = sigma_u u``, where
sigma_u is the standard deviation of sampled latents along u; alpha then counts standard
deviations (GANSpace's convention), so alpha = 3 is a comparable, large move for every method and
every space. A layer range (StyleGAN w+ rows) restricts the move with `Direction.on_layers`.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from steerlab.directions import Direction, plain_alpha
from steerlab.models.base import Generator

__all__ = ["ALPHA_UNIT", "parse_layers", "sample_latents", "fix_signs", "latent_directions", "check_k"]

ALPHA_UNIT = "standard deviations of the latent along the direction"


def parse_layers(layers: str | Sequence[int] | None, G: Generator) -> list[int] | None:
    """w+ rows from "A-B", "A,B,C" or a list of ints; None stays None (every row).

    Raises:
        ValueError: not a range, a model without w+, or a row outside [0, num_ws) (one line).
    """
    if layers is None:
        return None
    try:
        if isinstance(layers, str):
            text = layers.strip()
            if "-" in text and "," not in text:
                lo, hi = text.split("-", 1)
                rows = list(range(int(lo), int(hi) + 1))
            else:
                rows = [int(v) for v in text.split(",")]
        else:
            rows = [int(v) for v in layers]
    except ValueError:
        rows = []
    if not rows or min(rows) < 0:
        raise ValueError(f"layers must be a w+ row range like 0-3 or 0,2,4 (rows from 0), got {layers!r}")
    if "w+" not in G.latent_spaces:
        raise ValueError(f"model '{G.name}' has no w+ rows, so it takes no layers (StyleGAN models do)")
    num_ws = G.latent_shape("w+")[0]
    if max(rows) >= num_ws:
        raise ValueError(f"layers {layers} are outside the {num_ws} w+ rows of model '{G.name}' "
                         f"(allowed: 0-{num_ws - 1})")
    return rows


def check_k(k: int, dim: int, what: str) -> None:
    """One line if k is not in [1, dim]."""
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= dim:
        raise ValueError(f"k must be a whole number in [1, {dim}] ({what}), got {k!r}")


@torch.no_grad()
def sample_latents(G: Generator, n: int, space: str, generator: torch.Generator,
                   batch_size: int = 256) -> tuple[Tensor, Tensor, Tensor | None]:
    """``n`` codes: (z (n, z_dim), latents in ``space`` (n, *shape), classes (n,) or None)."""
    G.check_space(space)
    z = G.sample_z(n, generator=generator)
    classes = G.sample_classes(n, generator=generator)
    lat = [G.to_space(z[i:i + batch_size], space, None if classes is None else classes[i:i + batch_size])
           for i in range(0, n, batch_size)]
    return z, torch.cat(lat), classes


def fix_signs(vectors: Tensor) -> Tensor:
    """Flip each row of (k, d) so its largest-magnitude entry is positive (a deterministic sign)."""
    idx = vectors.abs().argmax(dim=1, keepdim=True)
    return vectors * torch.sign(vectors.gather(1, idx)).clamp_min(0).mul(2).sub(1)


def latent_directions(G: Generator, vectors: Tensor, *, space: str, method: str, limit: float,
                      latents: Tensor, layers: list[int] | None = None, names: Sequence[str] | None = None,
                      metrics: Sequence[dict] | None = None, config: dict[str, Any] | None = None) -> list[Direction]:
    """One linear `Direction` per row of ``vectors`` (k, *latent_shape), scaled by the latents' spread.

    Args:
        vectors: directions in ``space`` (any length; made unit length here).
        latents: (N, *latent_shape) sampled latents of that space; sigma_u = their std along u.
        limit: alpha range [-limit, limit] in standard deviations.
        layers: w+ rows the directions move (StyleGAN, "w" directions only); None: all.
        names: one display name per direction (default "<method> #i").
        metrics, config: per-direction numbers and settings recorded with each direction.
    """
    if not (limit > 0 and limit < 1e6):
        raise ValueError(f"limit (the alpha range, in standard deviations) must be in (0, 1e6), got {limit}")
    flat = vectors.detach().reshape(vectors.shape[0], -1).float()
    unit = flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)                     # (k, D)
    sigma = (latents.reshape(latents.shape[0], -1).float().to(unit) @ unit.T).std(dim=0)  # (k,)
    out = []
    for i in range(unit.shape[0]):
        w = (unit[i] * sigma[i]).reshape(1, *vectors.shape[1:]).cpu().contiguous()
        cfg = {"name": names[i] if names else f"{method} #{i}", "index": i, "sigma": float(sigma[i]),
               **(config or {})}
        d = Direction(kind="linear", space=space, tensors={"w": w}, model=G.name, fingerprint=G.fingerprint,
                      alpha=plain_alpha(float(limit), unit=ALPHA_UNIT), config=cfg,
                      metrics=dict(metrics[i]) if metrics else {})
        out.append(d.on_layers(G, layers) if layers is not None else d)
    return out
