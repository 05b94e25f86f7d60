"""SeFa: closed-form factorisation of latent semantics (Shen & Zhou, CVPR 2021, Sec. 3).

The first step of a generator projects the latent affinely, y = A z + b. Moving z by alpha n
moves y by alpha A n, so the directions that change y the most are the maximisers of
||A n||^2 subject to ||n|| = 1 (Eq. 4-5): the top eigenvectors of A^T A. For several layers at
once (StyleGAN: the style affines of a layer range, all reading the same w) the objective is the
sum of ||A_i n||^2, i.e. the eigenvectors of (concat_i A_i)^T (concat_i A_i).

Which weight A is, and which space it acts on, is a fact of each model family: the models expose
it as `Generator.latent_projections` (the DCGAN's first transposed conv on z, StyleGAN's style
affines on w).
"""
from __future__ import annotations

import torch
from torch import Tensor

from steerlab.methods.latent.common import check_k, fix_signs, latent_directions, parse_layers, sample_latents
from steerlab.methods.registry import Learned
from steerlab.models.base import Generator

__all__ = ["sefa_directions", "learn_sefa"]


def sefa_directions(A: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The top-``k`` eigenvectors of A^T A.

    Args:
        A: (out, d) the projection matrix (several layers' matrices stacked along ``out``).
        k: how many, in [1, d].

    Returns:
        ``(directions (k, d) unit rows, eigenvalues (k,) descending)``; each row's largest entry is
        positive, so the sign is deterministic.
    """
    check_k(k, A.shape[1], f"the latent projected by A has {A.shape[1]} dimensions")
    vals, vecs = torch.linalg.eigh(A.double().T @ A.double())  # ascending, orthonormal columns
    top = torch.argsort(vals, descending=True)[:k]
    return fix_signs(vecs[:, top].T).to(A.dtype), vals[top].to(A.dtype)


def learn_sefa(G: Generator, cfg) -> Learned:
    """`SeFaConfig` -> k linear Directions in the space the model's projections read (z, or w)."""
    layers = parse_layers(cfg.layers, G)
    space, mats = G.latent_projections(layers)
    A = torch.cat(list(mats.values()), dim=0)                                    # (sum out_i, d)
    dirs, vals = sefa_directions(A, cfg.k)
    _, latents, _ = sample_latents(G, 1000, space, torch.Generator().manual_seed(cfg.seed))
    out = latent_directions(G, dirs, space=space, method="sefa", limit=cfg.limit, latents=latents,
                            layers=layers, metrics=[{"eigenvalue": float(v)} for v in vals],
                            config={"projections": list(mats)})
    return Learned(out, {"eigenvalues": vals.tolist(), "projections": list(mats), "space": space})
