"""Weight shifts: render G_{theta + t xi}(z) without touching the model, and the "weight" direction.

Cherepkov et al. (Sec. 3.1) edit images by moving the generator's *parameters*,
G_theta(z) -> G_{theta + t xi}(z), one layer at a time. This module is the plumbing every
parameter-space method shares:

- ``layer_table(G)``: the layers a direction may live in (every conv / linear weight), with shapes;
- ``render_shifted(G, latent, layer, shift)``: images with ``weight + shift`` in one layer, the shift
  either shared by the batch or one per sample (``torch.func.vmap`` over
  ``G.synthesize_shifted``); differentiable w.r.t. the shift, the model is never mutated;
- ``render_shifts(G, latent, layer, shifts)``: several shifts of the same latents, (S, N, C, H, W);
- the ``"weight"`` `Direction` kind: tensor ``xi`` (the layer's shape, unit Frobenius norm),
  ``space="weight"``, ``config["layer"]`` naming the layer, alpha = the shift magnitude t in
  [-T, T] (``plain_alpha(T)``), so weight directions are saved, fingerprinted, applied,
  evaluated and shown like latent ones.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from steerlab.directions import KINDS, Direction, plain_alpha
from steerlab.directions.ops import layer_weight, render_shifted  # the "weight" kind renders with these
from steerlab.models.base import Generator

__all__ = ["layer_table", "layer_weight", "render_shifted", "render_shifts", "weight_direction",
           "steer_weight", "unit"]


def layer_table(G: Generator) -> list[dict[str, Any]]:
    """Every weight of ``G`` a direction may shift: name, shape, size and its SVD matrix shape.

    The SVD-based methods flatten a weight to ``(shape[0], prod(shape[1:]))`` (for a
    ``ConvTranspose2d`` that is (in, out * kh * kw); for a ``Conv2d`` (out, in * kh * kw)).
    """
    rows = []
    for name, w in G.shiftable_weights().items():
        shape = tuple(w.shape)
        kind = "linear" if w.dim() == 2 else ("conv" if w.dim() in (3, 4, 5) else f"{w.dim()}-d")
        flat = (shape[0], math.prod(shape[1:]))
        rows.append({"name": name, "kind": kind, "shape": list(shape), "params": int(w.numel()),
                     "matrix": list(flat), "singular_values": min(flat)})
    return rows


def unit(x: Tensor) -> Tensor:
    """Scale each leading-index slice of ``x`` (K, *S) to unit Frobenius norm."""
    flat = x.reshape(x.shape[0], -1)
    return (flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)).reshape(x.shape)


def render_shifts(G: Generator, latent: Tensor, layer: str, shifts: Tensor, *, space: str = "z",
                  classes: Tensor | None = None) -> Tensor:
    """The same latents under several shifts: (S, *W) shifts -> (S, N, C, H, W) images.

    One batch of N per shift, every image of it with the same weight (a per-image weight, as
    `render_shifted` takes, would run each of the S N images through its own copy of the layer).
    """
    return torch.stack([render_shifted(G, latent, layer, shift, space=space, classes=classes) for shift in shifts])


def steer_weight(d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor,
                 classes: Tensor | None) -> Tensor:
    """G_{theta + t xi}(latent) with t = alpha_g[:, 0] (`steerlab.directions.kinds.Weight` renders it)."""
    return KINDS["weight"].render(d, G, latent, alpha_g, classes)


def weight_direction(G: Generator, layer: str, xi: Tensor, *, limit: float, method: str,
                     index: int, config: dict | None = None, metrics: dict | None = None) -> Direction:
    """Wrap one weight-space direction as a `Direction` (``xi`` is scaled to unit norm).

    Args:
        G: the model it belongs to (name and fingerprint are recorded).
        layer: the weight it shifts.
        xi: weight-shaped direction.
        limit: T; alpha (the shift magnitude t, in weight units) ranges over [-T, T].
        method: "svd", "optimize", "hessian" or "hybrid".
        index: its index k among the method's K directions.
    """
    w = layer_weight(G, layer)
    if tuple(xi.shape) != tuple(w.shape):
        raise ValueError(f"direction shape {list(xi.shape)} does not match {layer} {list(w.shape)}")
    if not limit > 0 or not math.isfinite(limit):
        raise ValueError(f"shift limit T must be a positive number, got {limit}")
    cfg = {"layer": layer, "method": method, "index": int(index), "latent_space": "z",
           "name": f"{method} {layer} #{index}", **(config or {})}
    return Direction(kind="weight", space="weight", tensors={"xi": unit(xi[None])[0].detach().cpu().clone()},
                     model=G.name, fingerprint=G.fingerprint,
                     alpha=plain_alpha(float(limit), unit="weight shift t (Frobenius norm)"),
                     config=cfg, metrics=dict(metrics or {}))
