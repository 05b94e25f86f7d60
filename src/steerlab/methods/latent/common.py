"""What the latent-space methods share: unit vectors -> linear `Direction`s in units of the latent's spread.

A latent direction u (unit length) is stored as the linear direction ``w = sigma_u u``, where
sigma_u is the standard deviation of sampled latents along u; alpha then counts standard
deviations (GANSpace's convention), so alpha = 3 is a comparable, large move for every method and
every space. A layer range (StyleGAN w+ rows) restricts the move with `Direction.on_layers`.

Under torchrun (`steerlab.core.distributed`) the per-sample passes (mapping to w, scoring,
feature extraction) are split into whole batches across ranks and gathered in order
(`per_sample`), so every rank then fits the same direction a single process would.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from steerlab.core import distributed
from steerlab.directions import Direction, plain_alpha
from steerlab.models.base import Generator

__all__ = ["ALPHA_UNIT", "parse_layers", "per_sample", "sample_latents", "fix_signs", "latent_directions", "check_k"]

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
def per_sample(fn: Callable[[slice], Tensor], n: int, batch_size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``fn(batch)`` over the batches of ``n`` samples, concatenated: (n, *fn's trailing shape), on the CPU.

    Under torchrun each rank runs only its own whole batches (`distributed.shard`) and the rows are
    gathered in order, so the result is bitwise what one process computes with the same batches.

    Args:
        fn: slice of sample indices -> (len, ...) tensor, one row per sample.
        dtype: of the result (and of a rank's empty share).
    """
    own = distributed.shard(n, batch_size)
    parts = [fn(slice(i, min(i + batch_size, own.stop))).detach().to("cpu", dtype).reshape(-1)
             for i in range(own.start, own.stop, batch_size)]
    flat = distributed.gather(torch.cat(parts) if parts else torch.zeros(0, dtype=dtype))  # ranks' shapes differ
    return flat.reshape(n, -1)


@torch.no_grad()
def sample_latents(G: Generator, n: int, space: str, generator: torch.Generator,
                   batch_size: int = 256) -> tuple[Tensor, Tensor, Tensor | None]:
    """``n`` codes: (z (n, z_dim), latents in ``space`` (n, *shape), classes (n,) or None), on the model's device.

    Every rank draws the same z; the mapping to ``space`` is split across ranks (`per_sample`)."""
    G.check_space(space)
    z = G.sample_z(n, generator=generator)
    classes = G.sample_classes(n, generator=generator)
    if space == "z":
        return z, z, classes
    lat = per_sample(lambda b: G.to_space(z[b], space, None if classes is None else classes[b]), n, batch_size)
    return z, lat.reshape(n, *G.latent_shape(space)).to(z.device), classes


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
