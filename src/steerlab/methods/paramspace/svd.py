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

__all__ = ["SVDBasis", "CoordinateBasis", "svd_directions", "top_singular"]


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


def top_singular(matrix: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """The ``k`` largest singular triplets of a (rows, cols) matrix, in float64.

    When k is at most half the smaller side, from the eigendecomposition of the smaller Gram
    matrix (M M^T or M^T M, float64: accurate for the top singular pairs, which have the
    largest eigenvalues) and v = M^T u / sigma; otherwise the full SVD. u_k v_k^T, what the
    SVD baseline moves, does not depend on the sign either routine gives a pair.

    Returns:
        ``(u (rows, k), sigma (k,) descending, vh (k, cols))``, float64.
    """
    m = matrix.detach().double()
    if 2 * k > min(m.shape):
        u, s, vh = torch.linalg.svd(m, full_matrices=False)
        return u[:, :k], s[:k], vh[:k]
    wide = m.shape[0] <= m.shape[1]
    vals, vecs = torch.linalg.eigh(m @ m.T if wide else m.T @ m)  # ascending
    vecs = vecs.flip(1)[:, :k]
    sigma = vals.flip(0)[:k].clamp_min(0).sqrt()
    other = (m.T @ vecs if wide else m @ vecs) / sigma.clamp_min(torch.finfo(m.dtype).tiny)
    return (vecs, sigma, other.T) if wide else (other, sigma, vecs.T)


def svd_directions(weight: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The SVD baseline: the top-``k`` rank-one directions u_i v_i^T of a flattened weight.

    Only the top ``k`` singular pairs are computed (`top_singular`).

    Args:
        weight: the layer's weight (any shape with >= 2 dims).
        k: how many, 1 <= k <= number of singular values.

    Returns:
        ``(directions, sigma)``: (k, *weight.shape) unit-norm, mutually orthogonal directions,
        and the (k,) singular values they move, largest first.
    """
    m = weight.detach().reshape(weight.shape[0], -1)
    if not 1 <= k <= min(m.shape):
        raise ValueError(f"k must be in [1, {min(m.shape)}] for a weight of shape {list(weight.shape)}, got {k}")
    u, sigma, vh = top_singular(m, k)
    u, vh = u.to(weight.dtype), vh.to(weight.dtype)  # as SVDBasis: the product in the weight's dtype
    return (u.T[:, :, None] * vh[:, None, :]).reshape(k, *weight.shape), sigma.to(weight.dtype)
