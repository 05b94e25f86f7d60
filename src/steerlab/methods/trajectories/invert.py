"""Generator inversion by optimisation in a norm ball (Plumerault et al., Eq. 1-3).

    z_hat = argmin_{||z|| <= sqrt(d)}  L(I, G(z))                                  (Eq. 2)

With z ~ N(0, I_d), ||z|| concentrates at sqrt(d): constraining it there keeps the solution
where the generator was trained, which avoids the artefacts of unconstrained inversion
(App. C, Fig. 7). Adam updates z and every step is followed by the projection
z <- z * min(1, sqrt(d) / ||z||). L is one of steerlab's masked losses: ``"l2"`` (MSE),
``"dssim"``, or ``"blurred"``, the Gaussian-blurred loss of Eq. 3 (sigma 3 px by default),
which down-weights the high frequencies a low-dimensional generator cannot place (App. A).

StyleGAN models can also be inverted in ``w`` or ``w+`` (``space=``): Adam on the code in that space,
started at the mapped seeded z (so restarts differ), without a norm ball (w is not Gaussian; the ball
is Eq. 2's prior on z only). w+ (one w per synthesis layer) has the most freedom and reconstructs
best, w less, z least; edits of a w+ code stay closer to the training distribution the fewer rows
they move (Abdal et al.'s Image2StyleGAN trade-off, which this module only measures).

Many targets are solved at once: the loss is the *sum* of per-target losses and Adam's
update is elementwise, so each target's trajectory is exactly the one it would have alone
(the result does not depend on ``batch_size``).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steerlab.core import checks, distributed
from steerlab.core.checkpoint import Checkpoint, load_optimizer, optimizer_tensors
from steerlab.metrics.losses import blurred_l2, get_loss
from steerlab.models.base import Generator

__all__ = ["Inversion", "invert", "project_to_ball", "inversion_loss", "check_targets"]

# on_step(step, z, images): z (N, d) before update ``step`` (inside the ball), images G(z) (N, C, H, W)
StepHook = Callable[[int, Tensor, Tensor], None]


@dataclass
class Inversion:
    """Result of `invert`.

    Attributes:
        z: (N, *latent_shape) solutions in ``space``: (N, z_dim) with ||z|| <= radius for "z",
            (N, w_dim) for "w", (N, num_ws, w_dim) for "w+".
        loss: (N,) final reconstruction loss L(target, G(z)).
        curve: (steps + 1, N) loss before each step, then the final one.
        radius: the norm-ball radius used (``inf`` when unconstrained, and always in w / w+).
        space: the latent space of ``z``.
    """

    z: Tensor
    loss: Tensor
    curve: Tensor
    radius: float
    space: str = "z"


def project_to_ball(z: Tensor, radius: float) -> Tensor:
    """Scale each row of z (N, d) that lies outside the ball of ``radius`` back onto it (``inf``: z as is)."""
    if math.isinf(radius):
        return z
    norm = z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return z * (radius / norm).clamp(max=1.0)


def inversion_loss(name: str | Callable[..., Tensor] = "blurred", sigma: float = 3.0) -> Callable[..., Tensor]:
    """The reconstruction loss ``fn(x, y, mask) -> (N,)`` by name: l2 (alias mse), dssim, blurred.

    ``sigma`` (px) is the Gaussian's standard deviation for ``"blurred"`` (Eq. 3; App. C uses 3).
    A callable ``fn(x, y, mask) -> (N,)`` (one loss per target) is used as it is.
    """
    if callable(name):
        return name
    name = {"mse": "l2"}.get(name, name)
    if name == "blurred":
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"sigma of the blurred loss must be a positive number of pixels, got {sigma}")
        return functools.partial(blurred_l2, sigma=sigma)
    return get_loss(name)


def check_targets(G: Generator, targets: Tensor, mask: Tensor | None = None) -> None:
    """Refuse targets that are not float (N, C, R, R) images in [0, 1] for ``G``, with one line."""
    want = (G.channels, G.resolution, G.resolution)
    if not torch.is_tensor(targets) or targets.dim() != 4 or tuple(targets.shape[1:]) != want:
        shape = tuple(targets.shape) if torch.is_tensor(targets) else type(targets).__name__
        raise ValueError(f"targets must be images (N, {want[0]}, {want[1]}, {want[2]}) for model "
                         f"'{G.name}', got {shape}")
    if not targets.is_floating_point() or not torch.isfinite(targets).all():
        raise ValueError("targets must be finite floating-point images (found NaN/inf or integers)")
    if targets.numel() and (targets.min() < -1e-4 or targets.max() > 1 + 1e-4):
        raise ValueError(f"targets must be in [0, 1], got values in [{targets.min():.3g}, {targets.max():.3g}]")
    if mask is not None and (tuple(mask.shape) != (targets.shape[0], 1, *want[1:])
                             or not torch.isfinite(mask).all()):
        raise ValueError(f"mask must be finite (N, 1, {want[1]}, {want[2]}), got {tuple(mask.shape)}")


def invert(G: Generator, targets: Tensor, *, mask: Tensor | None = None, loss: str | Callable[..., Tensor] = "blurred",
           sigma: float = 3.0, steps: int = 500, lr: float = 0.1, z_init: Tensor | None = None,
           classes: Tensor | None = None, constrain: bool = True, seed: int = 0,
           batch_size: int | None = None, on_step: StepHook | None = None,
           progress: bool = True, data_parallel: bool = False, checkpoint: Checkpoint | None = None,
           space: str = "z") -> Inversion:
    """Find latents whose images match ``targets`` (Eq. 2), batched over many targets.

    Args:
        G: any steerlab generator (frozen).
        targets: (N, C, R, R) images in [0, 1] for ``G``.
        mask: (N, 1, R, R) in {0, 1}: 1 where the target is defined (e.g. the valid pixels
            of a shifted image); masked-out pixels do not count.
        loss: ``"blurred"`` (Eq. 3, default), ``"l2"`` / ``"mse"`` or ``"dssim"``, or a callable
            ``fn(images, targets, mask) -> (N,)``.
        sigma: Gaussian standard deviation (px) of the blurred loss.
        steps, lr: Adam iterations and learning rate (Fig. 10 uses lr 0.1).
        z_init: (N, z_dim) starting z; default N(0, I) draws seeded by ``seed``. In w / w+ the
            start is ``G.to_space(z_init, space)``.
        classes: (N,) labels for a class-conditional ``G``.
        constrain: keep ||z|| <= sqrt(d) after every step (Eq. 2); False gives Eq. 1. Only in z.
        batch_size: targets optimised together (default all); does not change the result.
        on_step: called as ``on_step(step, z, images)`` before every update, with z inside
            the ball and images = G(z), both detached (per chunk when ``batch_size`` < N).
        data_parallel: under torchrun (`steerlab.core.distributed`), each rank solves a contiguous
            share of whole ``batch_size`` chunks (default: N / world per rank) and the results
            are gathered, so every rank returns all N. Starting points are drawn for all N
            as in one process. ``on_step`` then sees this rank's chunks only.
        checkpoint: save the solved chunks and the current chunk's z, Adam state and curve every
            ``checkpoint.every`` steps, and continue from the last save (the same result as an
            uninterrupted run). One process only: ignored when the targets are split over ranks.
        space: the latent space to solve in: "z" (default), or "w" / "w+" where ``G`` has them
            (StyleGAN models); another space is refused with one line listing the model's.

    Returns:
        An `Inversion` (z, final loss, loss curve, radius).

    Example:
        >>> inv = invert(G, G.synthesize(G.sample_z(4)), steps=200)    # doctest: +SKIP
        >>> inv.z.norm(dim=1) <= G.z_dim ** 0.5 + 1e-4                  # doctest: +SKIP
    """
    G.check_space(space)
    check_targets(G, targets, mask)
    loss_fn = inversion_loss(loss, sigma)
    checks.check_int("steps", steps, 0, checks.MAX_STEPS)
    checks.check_float("lr", lr, 0, 100)
    if batch_size is not None:
        checks.check_int("batch_size", batch_size, 1, checks.MAX_COUNT)
    n, device = targets.shape[0], G.device
    radius = math.sqrt(G.z_dim) if constrain and space == "z" else math.inf
    if z_init is None:
        z_init = G.sample_z(n, generator=torch.Generator().manual_seed(seed))
    if tuple(z_init.shape) != (n, G.z_dim) or not torch.isfinite(z_init).all():
        raise ValueError(f"z_init must be finite with shape ({n}, {G.z_dim}), got {tuple(z_init.shape)}")
    classes = G.check_classes(classes, n)
    start = project_to_ball(z_init.to(device).float(), radius)
    if space != "z":
        with torch.no_grad():
            start = G.to_space(start, space, classes)
    split = data_parallel and distributed.world() > 1
    batch_size = batch_size or max(math.ceil(n / distributed.world()) if split else n, 1)
    own = distributed.shard(n, batch_size) if split else slice(0, n)
    zs = [start[:0]]
    curves = [torch.zeros(steps + 1, 0, device=device)]
    checkpoint = None if split else checkpoint
    saved = None if checkpoint is None else checkpoint.load()
    first = own.start
    if saved is not None:  # the chunks solved before the run died, and where the next one stood
        zs.append(saved[0]["done.z"].to(device))
        curves.append(saved[0]["done.curve"].to(device))
        first = own.start + zs[-1].shape[0]
    bar = tqdm(total=steps * math.ceil((own.stop - own.start) / batch_size), desc=f"invert ({getattr(loss, '__name__', loss)})",
               disable=not progress or not distributed.is_main(), leave=False)
    bar.update(steps * ((first - own.start) // batch_size))
    for lo in range(first, own.stop, batch_size):
        sl = slice(lo, min(lo + batch_size, own.stop))

        def save(step: int, z: Tensor, opt: torch.optim.Optimizer, curve: list[Tensor]) -> None:
            opt_t, groups = optimizer_tensors(opt)
            checkpoint.save({"done.z": torch.cat(zs), "done.curve": torch.cat(curves, dim=1), "z": z,
                             "curve": torch.stack(curve), **opt_t}, {"step": step, "param_groups": groups})

        z, curve = _invert_batch(G, targets[sl].to(device), None if mask is None else mask[sl].to(device),
                                 loss_fn, start[sl], steps, lr,
                                 radius, None if classes is None else classes[sl],
                                 on_step, bar, checkpoint=checkpoint, save=save,
                                 saved=saved if lo == first else None, space=space)
        zs.append(z)
        curves.append(curve)
        if checkpoint is not None and sl.stop < own.stop:  # a solved chunk is never redone
            checkpoint.save({"done.z": torch.cat(zs), "done.curve": torch.cat(curves, dim=1)}, {"step": 0})
    bar.close()
    z, curve = torch.cat(zs), torch.cat(curves, dim=1)
    if split:  # every rank's targets, in order
        z, curve = distributed.gather(z), distributed.gather(curve.T.contiguous()).T
    return Inversion(z=z, loss=curve[-1].clone(), curve=curve, radius=radius, space=space)


def _invert_batch(G, target, mask, loss_fn, z0, steps, lr, radius, classes, on_step, bar, *,
                  checkpoint=None, save=None, saved=None, space="z"):
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    curve, start = [], 0
    if saved is not None and "z" in saved[0]:  # continue this chunk where its last save stood
        tensors, state = saved
        if tuple(tensors["z"].shape) != tuple(z.shape):
            raise ValueError(f"{checkpoint.path}: its latents have shape {tuple(tensors['z'].shape)}, this chunk "
                             f"{tuple(z.shape)}; run without --resume")
        with torch.no_grad():
            z.copy_(tensors["z"])
        load_optimizer(opt, tensors, state["param_groups"])
        start = int(state["step"])
        curve = list(tensors["curve"].to(z.device).unbind(0))
        bar.update(start)
    for i in range(start, steps + 1):
        with torch.set_grad_enabled(i < steps):  # the final loss is only read: build no graph for it
            out = G.synthesize(z, space=space, classes=classes)
            per = loss_fn(out, target, mask)  # (B,)
        curve.append(per.detach())
        if i % 25 == 0 or i == steps:  # stop at a NaN/inf loss or latent, never return one
            checks.check_finite("inversion", i, per.detach(), z.detach())
        if i == steps:
            break
        if on_step is not None:
            on_step(i, z.detach(), out.detach())
        opt.zero_grad(set_to_none=True)
        per.sum().backward()  # a sum keeps every target's gradient its own
        opt.step()
        with torch.no_grad():
            z.copy_(project_to_ball(z, radius))
        bar.update(1)
        if checkpoint is not None and checkpoint.due(i + 1) and i + 1 < steps:
            save(i + 1, z.detach(), opt, curve)
    return z.detach(), torch.stack(curve)
