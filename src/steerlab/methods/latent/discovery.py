"""Unsupervised discovery of interpretable latent directions (Voynov & Babenko, ICML 2020, Sec. 3).

K directions, the unit columns of a matrix A (d x K), are learned jointly with a reconstructor R
that sees an image pair (G(z), G(z + eps A e_k)) and must predict the direction index k and the
shift eps:

    min_{A, R}  E_{z, k, eps} [ CE(k, k^) + lambda |eps - eps^| ],   (k^, eps^) = R(G(z), G(z + eps A e_k)).

Directions whose effects R can tell apart win, so the K directions move the image in distinct,
easy-to-name ways. The training loop, the two-headed ResNet R, the data-parallel batches and the
atomic, resumable checkpoints are those of the parameter-space method (Cherepkov et al. built on
this paper), `steerlab.methods.paramspace.reconstructor.learn_directions`, with the identity as
the coordinate basis and a render that shifts the latent instead of a weight. Shifts are drawn in
units of the latent's typical per-coordinate spread (1 in z), eps ~ U[-shift, shift].
"""
from __future__ import annotations

import torch

from steerlab.methods.latent.common import check_k, latent_directions, sample_latents
from steerlab.methods.paramspace.reconstructor import ReconstructorConfig, learn_directions
from steerlab.methods.paramspace.svd import CoordinateBasis
from steerlab.methods.registry import Learned
from steerlab.models.base import Generator

__all__ = ["learn_latent_discovery"]


def learn_latent_discovery(G: Generator, cfg) -> Learned:
    """`LatentDiscoveryConfig` -> K linear Directions in ``cfg.space`` (z or w); ``.info`` has the
    reconstructor's held-out accuracy (chance = 1 / K) and its training curves."""
    if cfg.space not in ("z", "w"):
        raise ValueError(f"latent discovery runs in z or w, not '{cfg.space}'")
    G.check_space(cfg.space)
    if not (0 < cfg.shift <= 100):
        raise ValueError(f"shift must be in (0, 100] (latent standard deviations), got {cfg.shift}")
    _, latents, _ = sample_latents(G, 1000, cfg.space, torch.Generator().manual_seed(cfg.seed))
    dim = latents[0].numel()
    check_k(cfg.k, dim, f"the '{cfg.space}' space of '{G.name}' has {dim} dimensions")
    if cfg.k < 2:
        raise ValueError("latent discovery needs k >= 2 directions to tell apart")
    scale = float(latents.reshape(latents.shape[0], -1).std(0).mean())  # typical spread of one coordinate
    space = cfg.space

    def render(z, classes, shifts):  # shifts: (B, d) in units of the spread
        lat = z if space == "z" else G.to_space(z, space, classes)
        return G.synthesize(lat + shifts * scale, space=space, classes=classes)

    rc = ReconstructorConfig(k=cfg.k, limit=cfg.shift, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                             lam=cfg.lam, input_size=min(64, G.resolution), width=cfg.width, seed=cfg.seed)
    basis = CoordinateBasis(torch.eye(dim, device=G.device))
    dirs, info = learn_directions(G, f"latent {space}", basis, rc, checkpoint=cfg.checkpoint, resume=cfg.resume,
                                 progress=cfg.progress, render=render)
    info.pop("coords", None)
    summary = {k: info[k] for k in ("held_out_accuracy", "held_out_t_error", "chance_accuracy")}
    out = latent_directions(G, dirs, space=space, method="latent-discovery", limit=cfg.limit, latents=latents,
                            config={"train_shift": cfg.shift, "shift_unit": scale}, metrics=[summary] * cfg.k)
    return Learned(out, {**summary, "training": info["history"], "seconds": info["seconds"]})
