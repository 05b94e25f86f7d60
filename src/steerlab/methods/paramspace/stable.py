"""Hessian directions that do not depend on the draw of z: grow the batch until two draws agree.

The Hessian H = E_z ... is estimated on a finite batch of codes, and its top eigenvectors move
with the batch: on `faces` two disjoint 32-z batches give top-4 subspaces that overlap 0.70 on
conv4 and far less on conv2 (docs/methods.md, "Stability under the draw of z").
`stable_hessian_directions` solves on n_z codes and on the next n_z codes of the same stream
(`hessian_directions(overlap=True)`), and while the two top-``stable_k`` subspaces overlap less
than ``stable_overlap`` (mean squared cosine of the principal angles, in [0, 1]) grows n_z, up to
``max_n_z``. The growth uses what was measured on `faces` (conv2 and conv4, 32 - 1024 z): the
missing overlap 1 - o falls like 1 / n_z, so the next batch is the one that law predicts for the
target, rounded up to a power-of-two multiple (at least 2x, at most 8x the last). The directions
returned are those of the first batch at the last n_z tried; ``info`` records every try, so a run
that hit the cap says so instead of pretending to be stable.

Why a leading block and not all k: past the first eigen-gap the spectra measured are nearly flat
(lambda_j / lambda_{j+1} = 1.02 - 1.05), so single eigenvectors there are not defined by the
generator to begin with, and no affordable batch makes them agree.
"""
from __future__ import annotations

import math

from torch import Tensor
from tqdm.auto import tqdm

from steerlab.methods.paramspace.hessian import hessian_directions
from steerlab.models.base import Generator

__all__ = ["stable_hessian_directions", "eigen_gaps", "next_batch"]


def eigen_gaps(values: Tensor) -> list[float]:
    """``lambda_j / lambda_{j+1}`` for j = 1 .. k-1 of descending eigenvalues (k,).

    Near 1 at j: the j-th and (j+1)-th eigenvectors can swap between two draws of z, so the top-j
    subspace cannot be stable; a large ratio marks a block of directions set apart from the rest.
    """
    v = values.double()
    return [round(float(a / b), 4) if b > 0 else float("inf") for a, b in zip(v[:-1], v[1:])]


def next_batch(n_z: int, overlap: float, target: float, cap: int) -> int:
    """The next batch size after an overlap ``overlap`` < ``target`` at ``n_z`` codes.

    With 1 - overlap ~ c / n_z the target needs n_z (1 - overlap) / (1 - target) codes; that
    factor is rounded up to a power of two and kept in [2, 8] (the law is only measured near
    the target: a tiny overlap at a tiny batch must not send the next try to the cap at once),
    then capped at ``cap``.
    """
    need = (1 - overlap) / (1 - target) if target < 1 else math.inf  # > 1 while overlap < target
    doublings = 1 if need <= 2 else 3 if need > 8 else math.ceil(math.log2(need))
    return min(cap, n_z * 2 ** doublings)


def stable_hessian_directions(G: Generator, layer: str, k: int, *, n_z: int = 32, stable_overlap: float = 0.0,
                              max_n_z: int | None = None, stable_k: int = 4, overlap: bool = True,
                              **solver) -> tuple[Tensor, Tensor, dict]:
    """Top-``k`` Hessian eigenvectors on a batch of z grown until two disjoint batches agree.

    Args:
        G, layer, k: as in `hessian_directions`.
        n_z: codes of the first try.
        stable_overlap: in [0, 1]; 0 solves once at ``n_z`` (with the overlap measured when
            ``overlap``), > 0 grows n_z (`next_batch`) until the top-``stable_k`` overlap of two
            disjoint batches reaches it.
        max_n_z: the largest n_z tried (default: ``n_z``, i.e. no growth).
        stable_k: the leading directions whose subspace must agree (min(k, stable_k); 0: all k).
        overlap: measure the overlap (a second solve per try); required when ``stable_overlap > 0``.
        **solver: the other keyword arguments of `hessian_directions` (seed, tol, block, progress...).

    Returns:
        ``(eigenvalues (k,), directions (k, *weight_shape) unit-norm, info)`` as `hessian_directions`
        at the last n_z tried (``overlap`` the top-k overlap, ``overlap_prefix`` the top-j ones),
        plus ``gaps`` (`eigen_gaps`), ``stable_k`` and ``stable_k_overlap``; with
        ``stable_overlap > 0`` info also holds ``overlap_history`` (one ``{"n_z", "overlap",
        "seconds"}`` per try, the overlap of the top ``stable_k``), ``stable_overlap``,
        ``max_n_z`` and ``stable`` (whether the last try reached ``stable_overlap``).
    """
    if not 0 <= stable_overlap <= 1:
        raise ValueError(f"stable_overlap must be in [0, 1] (0: off), got {stable_overlap}")
    if stable_overlap > 0 and not overlap:
        raise ValueError("stable_overlap needs the overlap of two batches; it cannot run with overlap off "
                         "(--no-overlap)")
    if stable_k < 0:
        raise ValueError(f"stable_k must be >= 0 (0: all k directions), got {stable_k}")
    block = min(k, stable_k) if stable_k else k
    cap = max(n_z, max_n_z or n_z)
    history: list[dict] = []
    n = n_z
    while True:
        vals, vecs, info = hessian_directions(G, layer, k, n_z=n, overlap=overlap, **solver)
        info["gaps"] = eigen_gaps(vals)
        if overlap:
            info.update(stable_k=block, stable_k_overlap=info["overlap_prefix"][block - 1])
        if not stable_overlap:
            return vals, vecs, info
        reached = info["stable_k_overlap"]
        history.append({"n_z": n, "overlap": reached, "seconds": round(info["seconds"] + info["overlap_seconds"], 2)})
        if reached >= stable_overlap or n >= cap:
            break
        n = next_batch(n, reached, stable_overlap, cap)
        if solver.get("progress", True):
            tqdm.write(f"hessian: top-{block} overlap {reached:.3f} at {history[-1]['n_z']} z is below "
                       f"{stable_overlap}; solving again on {n} z (up to {cap})")
    info.update(overlap_history=history, stable_overlap=stable_overlap, max_n_z=cap,
                stable=history[-1]["overlap"] >= stable_overlap)
    return vals, vecs, info
