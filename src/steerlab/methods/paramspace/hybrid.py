"""The hybrid scheme (Cherepkov et al. Sec. 3.4): Eq. 1 restricted to the top Hessian eigenvectors.

First the top-m eigenvectors v_1..v_m of the perceptual-change Hessian (``hessian``), then the
optimisation of ``reconstructor.learn_directions`` with each direction a unit combination
sum_i c_i v_i: the optimisation-based approach working in the subspace where small weight moves
change the images most. (The paper: m = K = 64, T = 80 against 3500 for the SVD
parameterisation, because Hessian directions act more strongly.)
"""
from __future__ import annotations

from pathlib import Path

from torch import Tensor

from steerlab.methods.paramspace.reconstructor import ReconstructorConfig, learn_directions
from steerlab.methods.paramspace.shifts import unit
from steerlab.methods.paramspace.svd import CoordinateBasis
from steerlab.models.base import Generator

__all__ = ["hybrid_directions"]


def hybrid_directions(G: Generator, layer: str, eigenvectors: Tensor, config: ReconstructorConfig, *,
                      checkpoint: str | Path | None = None, resume: bool = True,
                      progress: bool = True) -> tuple[Tensor, dict]:
    """Learn ``config.k`` directions in the span of ``eigenvectors`` (m, *weight_shape).

    Returns:
        ``(directions (K, *weight_shape) unit-norm, info)`` as `learn_directions`; ``info["coords"]``
        holds each direction's (K, m) coefficients on the eigenvectors.
    """
    if eigenvectors.dim() < 2 or eigenvectors.shape[0] < 1:
        raise ValueError("eigenvectors must be (m, *weight_shape) with m >= 1")
    basis = CoordinateBasis(unit(eigenvectors)).to(G.device)
    return learn_directions(G, layer, basis, config, checkpoint=checkpoint, resume=resume, progress=progress)
