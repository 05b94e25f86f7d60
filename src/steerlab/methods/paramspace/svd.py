"""The SVD baseline (Cherepkov et al. Sec. 4.2) and the singular-value parameterisation (Sec. 3.2).

A layer's weight, flattened to a matrix M = W.reshape(shape[0], -1), has the SVD
M = U diag(sigma) V^T. A shift ``xi`` of the singular values maps to the weight shift
U diag(xi) V^T; the map is an isometry (||U diag(xi) V^T||_F = ||xi||), so a unit-length xi is a
unit-Frobenius weight direction. The SVD baseline moves one singular value at a time:
direction k is u_k v_k^T, the k-th largest.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["SVDBasis", "CoordinateBasis", "svd_directions"]


class SVDBasis(nn.Module):
    """The linear map xi (B, n) -> U diag(xi) V^T reshaped to the weight, (B, *weight_shape).

    Args:
        weight: the layer's weight tensor (any shape with >= 2 dims).

    Shape:
        - input: (B, n) with n = min(shape[0], prod(shape[1:])) singular-value shifts.
        - output: (B, *weight.shape), same dtype/device as ``weight``.

    Example:
        >>> b = SVDBasis(torch.randn(6, 4, 3, 3))
        >>> b(torch.eye(b.dim)[:2]).flatten(1).norm(dim=1)  # unit xi -> unit weight shift
        tensor([1.0000, 1.0000])
    """

    def __init__(self, weight: Tensor):
        super().__init__()
        m = weight.detach().reshape(weight.shape[0], -1).double()
        u, s, vh = torch.linalg.svd(m, full_matrices=False)
        self.shape = tuple(weight.shape)
        self.register_buffer("u", u.to(weight.dtype))          # (rows, n)
        self.register_buffer("vh", vh.to(weight.dtype))        # (n, cols)
        self.register_buffer("sigma", s.to(weight.dtype))      # (n,), descending
        self.dim = s.numel()

    def forward(self, xi: Tensor) -> Tensor:
        out = (self.u[None] * xi.to(self.u)[:, None, :]) @ self.vh  # (B, rows, n) @ (n, cols)
        return out.reshape(xi.shape[0], *self.shape)


class CoordinateBasis(nn.Module):
    """The linear map c (B, m) -> sum_i c_i v_i for orthonormal weight-shaped vectors v (m, *shape).

    The hybrid scheme (Sec. 3.4) optimises in the span of the top Hessian eigenvectors with it.
    """

    def __init__(self, vectors: Tensor):
        super().__init__()
        self.shape = tuple(vectors.shape[1:])
        self.register_buffer("v", vectors.detach().reshape(vectors.shape[0], -1).clone())
        self.dim = vectors.shape[0]

    def forward(self, c: Tensor) -> Tensor:
        return (c.to(self.v) @ self.v).reshape(c.shape[0], *self.shape)


def svd_directions(weight: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The SVD baseline: the top-``k`` rank-one directions u_i v_i^T of a flattened weight.

    Args:
        weight: the layer's weight (any shape with >= 2 dims).
        k: how many, 1 <= k <= number of singular values.

    Returns:
        ``(directions, sigma)``: (k, *weight.shape) unit-norm, mutually orthogonal directions,
        and the (k,) singular values they move, largest first.
    """
    basis = SVDBasis(weight)
    if not 1 <= k <= basis.dim:
        raise ValueError(f"k must be in [1, {basis.dim}] for a weight of shape {list(weight.shape)}, got {k}")
    eye = torch.eye(basis.dim, k, dtype=weight.dtype, device=weight.device).T  # (k, n)
    return basis(eye), basis.sigma[:k].clone()
