"""Hessian directions that do not depend on the draw of z: grow the batch until two draws agree.

The Hessian H = E_z ... is estimated on a finite batch of codes, and its top-k eigenvectors move
with the batch: on `faces` two disjoint 32-z batches give top-8 subspaces that overlap 0.48 on
conv4 (docs/methods.md, "Stability under the draw of z"). `stable_hessian_directions` solves on
n_z codes and on the next n_z codes of the same stream (`hessian_directions(overlap=True)`), and
while the two top-k subspaces overlap less than ``stable_overlap`` (mean squared cosine of the
principal angles, in [0, 1]) doubles n_z, up to ``max_n_z``. The directions returned are those
of the first batch at the last n_z tried; ``info`` records every try, so a run that hit the cap
says so instead of pretending to be stable.
"""
from __future__ import annotations

from torch import Tensor

from steerlab.methods.paramspace.hessian import hessian_directions
from steerlab.models.base import Generator

__all__ = ["stable_hessian_directions", "eigen_gaps"]


def eigen_gaps(values: Tensor) -> list[float]:
    """``lambda_j / lambda_{j+1}`` for j = 1 .. k-1 of descending eigenvalues (k,).

    Near 1 at j: the j-th and (j+1)-th eigenvectors can swap between two draws of z, so the top-j
    subspace cannot be stable; a large ratio marks a block of directions set apart from the rest.
    """
    v = values.double()
    return [round(float(a / b), 4) if b > 0 else float("inf") for a, b in zip(v[:-1], v[1:])]


def stable_hessian_directions(G: Generator, layer: str, k: int, *, n_z: int = 32, stable_overlap: float = 0.0,
                              max_n_z: int | None = None, overlap: bool = True,
                              **solver) -> tuple[Tensor, Tensor, dict]:
    """Top-``k`` Hessian eigenvectors on a batch of z grown until two disjoint batches agree.

    Args:
        G, layer, k: as in `hessian_directions`.
        n_z: codes of the first try.
        stable_overlap: in [0, 1]; 0 solves once at ``n_z`` (with the overlap measured when
            ``overlap``), > 0 doubles n_z until the top-k overlap of two disjoint batches reaches it.
        max_n_z: the largest n_z tried (default: ``n_z``, i.e. no growth).
        overlap: measure the overlap (a second solve per try); required when ``stable_overlap > 0``.
        **solver: the other keyword arguments of `hessian_directions` (seed, tol, block, progress...).

    Returns:
        ``(eigenvalues (k,), directions (k, *weight_shape) unit-norm, info)`` as `hessian_directions`
        at the last n_z tried, plus ``gaps`` (`eigen_gaps`); with ``stable_overlap > 0`` info also holds ``overlap_history``
        (one ``{"n_z", "overlap", "seconds"}`` per try), ``stable_overlap``, ``max_n_z`` and
        ``stable`` (whether the last overlap reached ``stable_overlap``).
    """
    if not 0 <= stable_overlap <= 1:
        raise ValueError(f"stable_overlap must be in [0, 1] (0: off), got {stable_overlap}")
    if stable_overlap > 0 and not overlap:
        raise ValueError("stable_overlap needs the overlap of two batches; it cannot run with overlap off "
                         "(--no-overlap)")
    cap = max(n_z, max_n_z or n_z)
    history: list[dict] = []
    n = n_z
    while True:
        vals, vecs, info = hessian_directions(G, layer, k, n_z=n, overlap=overlap, **solver)
        info["gaps"] = eigen_gaps(vals)
        if not stable_overlap:
            return vals, vecs, info
        history.append({"n_z": n, "overlap": info["overlap"],
                        "seconds": round(info["seconds"] + info["overlap_seconds"], 2)})
        if info["overlap"] >= stable_overlap or n >= cap:
            break
        n = min(2 * n, cap)
    info.update(overlap_history=history, stable_overlap=stable_overlap, max_n_z=cap,
                stable=info["overlap"] >= stable_overlap)
    return vals, vecs, info
