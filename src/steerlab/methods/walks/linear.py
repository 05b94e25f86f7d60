"""Linear latent walks (Jahanian et al., Eq. 1):

    w* = argmin_w  E_{z, alpha} [ L( G(z + alpha_g w),  edit(G(z), alpha_t) ) ]

learned self-supervised: the target is the generated image itself, edited in image space.
One vector per alpha component (three, jointly, for colour), shared over classes.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from steerlab.directions import KINDS, Direction, alpha_spec
from steerlab.directions.ops import linear_shift as shift  # the "linear" kind's move, sum_k alpha_g[:, k] w[k]
from steerlab.edits import Edit, get_edit
from steerlab.methods.walks.loop import data_parallel_batch, final_loss, parallel_config, train_walk
from steerlab.metrics.losses import get_loss
from steerlab.models.base import Generator


def steer_linear(d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor,
                 classes: Tensor | None) -> Tensor:
    """Images of a "linear" direction (its kind, `steerlab.directions.kinds.Linear`, renders them)."""
    return KINDS["linear"].render(d, G, latent, alpha_g, classes)


def walk_step(G: Generator, edit: Edit, w: Tensor, loss_fn: Callable, *, space: str,
              batch_size: int, generator: torch.Generator, part: slice | None = None) -> Tensor:
    """Mean loss of one fresh batch: z and alpha drawn from ``generator``. Differentiable in w.

    ``part``: keep only these samples of the drawn batch (a data-parallel rank's slice; the
    draws, and so the generator's state, are those of the whole batch).
    """
    z = G.sample_z(batch_size, generator=generator)
    classes = G.sample_classes(batch_size, generator=generator)
    alpha_t = edit.sample(batch_size, generator=generator).to(z.device)
    if part is not None:
        z, alpha_t = z[part], alpha_t[part]
        classes = None if classes is None else classes[part]
    alpha_g = edit.to_g(alpha_t).reshape(z.shape[0], -1)
    with torch.no_grad():
        latent = G.to_space(z, space, classes)
        target, mask = edit.fn(G.synthesize(latent, space=space, classes=classes), alpha_t)
    out = G.synthesize(latent + shift(w, alpha_g), space=space, classes=classes)
    return loss_fn(out, target, mask).mean()


def learn_linear_walk(G: Generator, edit: str | Edit, *, space: str = "z", steps: int = 1000,
                      batch_size: int = 16, lr: float = 0.01, loss: str = "l2", seed: int = 0,
                      progress: bool = True, checkpoint=None) -> Direction:
    """Learn a linear walk for ``edit`` in ``space`` of ``G`` (Adam, fresh z every step).

    Args:
        G: any steerlab generator (frozen; only w is learned).
        edit: an edit name (see `steerlab edits`) or an `Edit`.
        space: latent space of ``G`` to walk in ("z", or "w"/"w+" where the model has them).
        steps, batch_size, lr: Adam schedule; alpha is drawn uniformly in alpha_g over the
            edit's training range, one per sample.
        loss: "l2" (masked, default), "blurred" (Gaussian-blurred, sigma 3), "dssim" or
            "perceptual" (ST-LPIPS).
        seed: seeds z, alpha and class draws; the run is deterministic on the CPU.
        checkpoint: a `steerlab.core.checkpoint.Checkpoint` to save to and resume from (`train_walk`).

    Under torchrun (`steerlab.core.distributed`) ``batch_size`` is per rank: every rank draws the
    global batch ``batch_size x world`` and trains on its own slice, gradients are averaged,
    so N ranks with batch B follow one process with batch N*B up to float summation order.

    Returns:
        A "linear" `Direction` with tensor ``w`` of shape (alpha_dim, *latent_shape) and the
        loss curve in ``metrics["loss_curve"]``.
    """
    edit = get_edit(edit) if isinstance(edit, str) else edit
    loss_fn = get_loss(loss)
    G.check_space(space)
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"steps and batch_size must be >= 1 and lr > 0 (got {steps}, {batch_size}, {lr})")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        probe = G.sample_latent(1, generator=torch.Generator().manual_seed(seed), space=space,
                                classes=G.sample_classes(1))
    w = torch.zeros(edit.alpha_dim, *probe.shape[1:], device=probe.device, requires_grad=True)
    batch, part = data_parallel_batch(batch_size)
    curve = train_walk([w], lambda: walk_step(G, edit, w, loss_fn, space=space, batch_size=batch, generator=g,
                                              part=part),
                       steps=steps, lr=lr, desc=f"walk {edit.name}", progress=progress, checkpoint=checkpoint,
                       rngs=(g,))
    config = {"method": "linear", "space": space, "steps": steps, "batch_size": batch_size,
              "lr": lr, "loss": loss, "seed": seed, **parallel_config(batch_size)}
    return Direction(kind="linear", space=space, tensors={"w": w.detach().clone()}, model=G.name,
                     fingerprint=G.fingerprint, alpha=alpha_spec(edit), edit=edit.name, config=config,
                     metrics={"final_loss": final_loss(curve), "loss_curve": curve})
