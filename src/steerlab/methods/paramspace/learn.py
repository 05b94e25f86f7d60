"""The weight-space methods as registry entries: ``learn(G, config) -> k calibrated "weight" Directions``.

Each method first *finds* k unit-norm weight-shaped directions of one layer, with run-level
results beside them (singular values, eigenvalues and solver statistics, training curves):

- ``svd``: the top singular pairs u_i v_i^T of the flattened weight (Sec. 4.2);
- ``hessian``: the top eigenvectors of the perceptual-change Hessian (Sec. 3.3);
- ``optimize``: Eq. 1 in the singular-value parameterisation (Sec. 3.2), trained with one
  shift range T, the calibrated T of the top singular direction (or ``limit``);
- ``hybrid``: Eq. 1 in the span of the top ``eigen`` Hessian eigenvectors (Sec. 3.4), T from
  the top eigenvector.

Then every direction gets its own range T_k (``limit``, or calibrated to ``target``, see
`calibrate`) and becomes a "weight" `Direction`. Under torchrun the finding is data-parallel
(Eq. 1 training, Hessian products); calibration then runs on rank 0 only, and the other ranks
return no directions (they have nothing to write).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

from steerlab.core import distributed
from steerlab.methods.paramspace.calibrate import (
    calibrate,
    calibrate_shift,
    calibration_reference,
    perceptual_change,
)
from steerlab.methods.paramspace.hessian import hessian_directions
from steerlab.methods.paramspace.hybrid import hybrid_directions
from steerlab.methods.paramspace.reconstructor import ReconstructorConfig, learn_directions
from steerlab.methods.paramspace.shifts import layer_table, layer_weight, unit, weight_direction
from steerlab.methods.paramspace.stable import stable_hessian_directions
from steerlab.methods.paramspace.svd import SVDBasis, svd_directions
from steerlab.methods.registry import Learned
from steerlab.models.base import Generator

__all__ = ["learn_svd", "learn_hessian", "learn_optimize", "learn_hybrid", "calibrated_directions",
           "resolve_layer"]

# (directions (k, *weight_shape), run-level info, per-direction metrics or None)
Found = tuple[Tensor, dict[str, Any], "list[dict] | None"]


def resolve_layer(G: Generator, layer: str | None) -> str:
    """``layer``, checked against ``G`` (one line listing the layers otherwise); None: the first."""
    if layer is None:
        return layer_table(G)[0]["name"]
    layer_weight(G, layer)
    return layer


def _find_svd(G: Generator, layer: str, cfg) -> Found:
    dirs, sigma = svd_directions(layer_weight(G, layer), cfg.k)
    return dirs, {"singular_values": sigma.tolist()}, [{"singular_value": s} for s in sigma.tolist()]


def _find_hessian(G: Generator, layer: str, cfg) -> Found:
    vals, dirs, info = stable_hessian_directions(G, layer, cfg.k, n_z=cfg.n_z,
                                                 stable_overlap=cfg.stable_overlap if cfg.overlap else 0.0,
                                                 max_n_z=cfg.max_n_z, stable_k=cfg.stable_k, seed=cfg.seed,
                                                 tol=cfg.tol, block=cfg.block, overlap=cfg.overlap,
                                                 progress=cfg.progress)
    return dirs, {"eigenvalues": vals.tolist(), "solver": info}, [{"eigenvalue": v} for v in vals.tolist()]


def _train_limit(G: Generator, layer: str, first: Tensor, cfg) -> float:
    """Eq. 1's one shift range: ``limit``, or the calibrated range of the basis' first direction."""
    return float(cfg.limit or calibrate_shift(G, layer, first, cfg.target, reference=calibration_reference(G)))


def _reconstructor_config(cfg, T: float) -> ReconstructorConfig:
    return ReconstructorConfig(k=cfg.k, limit=T, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                               lam=cfg.lam, seed=cfg.seed, checkpoint_every=cfg.checkpoint_every)


def _training_info(T: float, training: dict) -> dict:
    return {"train_limit": T, "coords": training.pop("coords").tolist(), "training": training}


def _find_optimize(G: Generator, layer: str, cfg) -> Found:
    W = layer_weight(G, layer)
    basis = SVDBasis(W).to(W.device)
    first = basis(torch.eye(basis.dim, 1, device=W.device).T)[0]
    if basis.dim < 2 or cfg.k < 2:
        raise ValueError("the optimisation method needs k >= 2 and a layer with >= 2 singular values")
    T = _train_limit(G, layer, first, cfg)
    dirs, training = learn_directions(G, layer, basis, _reconstructor_config(cfg, T), checkpoint=cfg.checkpoint,
                                      resume=cfg.resume, progress=cfg.progress)
    return dirs, _training_info(T, training), None


def _find_hybrid(G: Generator, layer: str, cfg) -> Found:
    vals, eig, solver = hessian_directions(G, layer, cfg.eigen or cfg.k, n_z=cfg.n_z, seed=cfg.seed,
                                           tol=cfg.tol, block=cfg.block, progress=cfg.progress)
    T = _train_limit(G, layer, eig[0], cfg)
    dirs, training = hybrid_directions(G, layer, eig, _reconstructor_config(cfg, T), checkpoint=cfg.checkpoint,
                                       resume=cfg.resume, progress=cfg.progress)
    # the eigenvalues span the search space: direction k is not the k-th eigenvector
    return dirs, {"eigenvalues": vals.tolist(), "solver": solver, **_training_info(T, training)}, None


def _check(cfg) -> None:
    if cfg.k < 1:
        raise ValueError(f"k must be >= 1, got {cfg.k}")
    if cfg.limit is not None and not (cfg.limit > 0 and math.isfinite(cfg.limit)):
        raise ValueError(f"shift limit T must be a positive number, got {cfg.limit}")
    if not 0 < cfg.target < 1:
        raise ValueError(f"target perceptual change must be in (0, 1), got {cfg.target}")


def calibrated_directions(G: Generator, method: str, layer: str, dirs: Tensor, info: dict, cfg,
                          per_direction: list[dict] | None = None) -> list:
    """One "weight" Direction per row of ``dirs`` (k, *weight_shape), each with its own range T_k.

    T_k is ``cfg.limit`` or calibrated to ``cfg.target``; each direction's metrics hold the
    perceptual change at -T_k and +T_k, and ``per_direction[k]`` (its singular value or
    eigenvalue, for the methods whose k-th direction is the k-th singular pair or eigenvector).
    """
    from tqdm.auto import tqdm

    ref = calibration_reference(G)  # G(z) and its features: once for every direction
    out, start = [], 1.0
    for i, xi in enumerate(tqdm(unit(dirs.detach()), desc="calibrate T", disable=not cfg.progress, leave=False)):
        # warm start: the previous direction's range (the answer does not depend on the start)
        if cfg.limit:
            T, change = cfg.limit, perceptual_change(G, layer, xi, [-cfg.limit, cfg.limit], reference=ref)
        else:  # the change at T comes with it: T is a shift the root finder evaluated
            T, change = calibrate(G, layer, xi, cfg.target, reference=ref, start=start)
        start = T
        metrics = {"perceptual_change_at_T": sum(change) / 2, "perceptual_change_minus_plus": change}
        metrics.update(per_direction[i] if per_direction else {})
        config = {"calibrated": cfg.limit is None, "target_perceptual_change": cfg.target, "seed": cfg.seed}
        if "train_limit" in info:
            config["train_limit"] = info["train_limit"]
        out.append(weight_direction(G, layer, xi, limit=T, method=method, index=i, config=config,
                                    metrics=metrics))
    return out


def _learn(G: Generator, method: str, find: Callable[[Generator, str, Any], Found], cfg) -> Learned:
    layer = resolve_layer(G, cfg.layer)
    _check(cfg)
    dirs, info, per_direction = find(G, layer, cfg)
    info = {"layer": layer, **info}
    if not distributed.is_main():  # data-parallel: the directions are found; rank 0 calibrates
        return Learned([], info)
    return Learned(calibrated_directions(G, method, layer, dirs, info, cfg, per_direction), info)


def learn_svd(G: Generator, cfg) -> Learned:
    """The SVD baseline (`SVDConfig`): k calibrated "weight" Directions; ``.info`` has the
    singular values."""
    return _learn(G, "svd", _find_svd, cfg)


def learn_hessian(G: Generator, cfg) -> Learned:
    """The Hessian method (`HessianConfig`); ``.info`` has the eigenvalues and solver statistics."""
    return _learn(G, "hessian", _find_hessian, cfg)


def learn_optimize(G: Generator, cfg) -> Learned:
    """The optimisation method (`OptimizeConfig`); ``.info`` has the training range
    ``train_limit``, the directions' coordinates and the training curves."""
    return _learn(G, "optimize", _find_optimize, cfg)


def learn_hybrid(G: Generator, cfg) -> Learned:
    """The hybrid (`HybridConfig`); ``.info`` as for optimize, plus the eigenvalues and solver statistics."""
    return _learn(G, "hybrid", _find_hybrid, cfg)
