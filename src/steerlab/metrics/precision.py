"""Per-sample realism: how far each generated sample lies from the real data's feature manifold.

FID says how far two *sets* are apart; it cannot say which samples left the data. Following the
k-nearest-neighbour manifold of Kynkäänniemi et al. (2019, "Improved precision and recall"), each
real feature r_j gets a radius rho_j, the distance to its k-th nearest real neighbour; a sample
x is inside the real manifold when it lies within rho_j of some r_j. Its score

    s(x) = min_j ||x - r_j|| / rho_j        (<= 1: inside; larger: further out)

is a per-sample number, so a shift of the generator can be judged sample by sample (paired
against the same z unshifted, `steerlab.metrics.stats.paired_change`), beside the FID of the set.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["manifold_radii", "realism_scores"]


def manifold_radii(real: Tensor, k: int = 3, chunk: int = 1024) -> Tensor:
    """Distance of each real feature to its ``k``-th nearest other real feature.

    Args:
        real: (N, D) features of real images, N > k.
        k: neighbour rank (the paper: 3).

    Returns:
        (N,) radii >= 0, float64.
    """
    if real.dim() != 2 or real.shape[0] <= k or k < 1:
        raise ValueError(f"manifold_radii needs (N > k, D) features and k >= 1, got {tuple(real.shape)}, k={k}")
    r = real.double()
    out = []
    for i in range(0, r.shape[0], chunk):
        d = torch.cdist(r[i:i + chunk], r)  # (c, N); column i+j is the point itself (distance 0)
        out.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def realism_scores(real: Tensor, fake: Tensor, *, k: int = 3, radii: Tensor | None = None,
                   chunk: int = 1024) -> Tensor:
    """``s(x) = min_j ||x - r_j|| / rho_j`` for each row x of ``fake`` (<= 1: inside the real manifold).

    Args:
        real: (N, D) real features; fake: (M, D) features of the samples judged (same network).
        k: neighbour rank of the radii; radii: (N,) precomputed `manifold_radii` of ``real``.

    Returns:
        (M,) float64 scores >= 0. ``(scores <= 1).mean()`` is the k-NN precision of ``fake``.

    Example:
        >>> real = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
        >>> bool(realism_scores(real, real[:10]).max() == 0), bool(realism_scores(real, real[:5] + 100).min() > 1)
        (True, True)
    """
    if fake.dim() != 2 or fake.shape[1] != real.shape[1]:
        raise ValueError(f"fake features must be (M, {real.shape[1]}), got {tuple(fake.shape)}")
    rho = manifold_radii(real, k, chunk) if radii is None else radii.double()
    r, f = real.double(), fake.double()
    return torch.cat([(torch.cdist(f[i:i + chunk], r) / rho.clamp_min(1e-12)).min(dim=1).values
                      for i in range(0, f.shape[0], chunk)])
