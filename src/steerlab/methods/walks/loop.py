"""The one training loop of the latent walks (linear, nonlinear, nn-linear).

Every walk is learned the same way: Adam on its parameters, each step the mean loss of a fresh
batch of z and alpha (drawn by the walk's ``step_loss``), gradients averaged over data-parallel
ranks, the loss curve recorded. The walks differ only in their parameters and their step loss.

With a `steerlab.core.checkpoint.Checkpoint` the loop saves the parameters, Adam's state, the
random generators of the draws and the loss curve every ``checkpoint.every`` steps, and continues
from the last save (bit-identical on the CPU to a run that was never interrupted).

The loss of each step is kept in a tensor on the training device and read back to the host
every ``log_every`` steps, so a GPU run does not wait for the device at every step; the curve
holds exactly the values a per-step read would give.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steerlab.core import checks, distributed
from steerlab.core.checkpoint import Checkpoint, load_optimizer, load_rngs, optimizer_tensors, rng_tensors

__all__ = ["train_walk", "data_parallel_batch", "parallel_config", "final_loss"]


def data_parallel_batch(batch_size: int) -> tuple[int, slice | None]:
    """``(global batch, this rank's slice)``: every rank draws the whole batch, trains on its slice.

    In one process: ``(batch_size, None)``. Under torchrun ``batch_size`` is per rank, so N ranks
    with batch B follow one process with batch N*B up to float summation order.
    """
    world = distributed.world()
    if world == 1:
        return batch_size, None
    return batch_size * world, distributed.shard(batch_size * world, batch_size)


def parallel_config(batch_size: int) -> dict:
    """What a direction records about data parallelism: ``{}`` in one process."""
    world = distributed.world()
    return {} if world == 1 else {"processes": world, "global_batch_size": batch_size * world}


def final_loss(curve: Sequence[float], last: int = 20) -> float:
    """Mean of the last ``last`` losses of a curve (the walk's reported final loss)."""
    tail = curve[-last:]
    return sum(tail) / len(tail)


def train_walk(params: Sequence[Tensor], step_loss: Callable[[], Tensor], *, steps: int, lr: float,
               desc: str = "walk", progress: bool = True, log_every: int = 25,
               checkpoint: Checkpoint | None = None, rngs: Sequence[torch.Generator] = ()) -> list[float]:
    """Minimise ``step_loss()`` over ``params`` with Adam for ``steps`` steps.

    Args:
        params: leaf tensors with ``requires_grad`` (updated in place).
        step_loss: draws a fresh batch and returns its mean loss, a scalar differentiable in
            ``params`` (called once per step, so its random draws follow one another).
        steps, lr: the Adam schedule.
        desc, progress: the progress bar (shown on rank 0 only).
        log_every: steps between reads of the losses back to the host (bar update).
        checkpoint: save every ``checkpoint.every`` steps and resume from its last save (its
            config must match); rank 0 writes, every rank reads (a folder they all see).
        rngs: the generators ``step_loss`` draws from (saved and restored with the checkpoint).

    Returns:
        The loss curve: one float per step, each the mean over data-parallel ranks.

    Raises:
        NonFiniteError: a loss or parameter became NaN/inf (checked at every read-back), so no
            NaN direction is ever returned.
    """
    checks.check_int("steps", steps, 1, checks.MAX_STEPS)
    checks.check_float("lr", lr, 0, 100)
    params = list(params)
    opt = torch.optim.Adam(params, lr=lr)
    losses: Tensor | None = None  # (steps,) on the loss's device, filled without a host sync
    curve: list[float] = []
    start = _resume(checkpoint, params, opt, rngs, curve)
    bar = tqdm(range(start, steps), desc=desc, disable=not progress or not distributed.is_main(), leave=False,
               initial=start, total=steps)
    for step in bar:
        opt.zero_grad(set_to_none=True)
        value = step_loss()
        value.backward()
        distributed.all_reduce_grads(params)
        opt.step()
        if losses is None:
            losses = torch.empty(steps, dtype=value.dtype, device=value.device)
        losses[step] = value.detach()
        save = checkpoint is not None and checkpoint.due(step + 1) and step + 1 < steps
        if (step + 1) % log_every == 0 or step + 1 == steps or save:
            chunk = distributed.all_reduce_mean(losses[len(curve):step + 1])
            if not bool(torch.isfinite(chunk).all()):  # stop at the first non-finite loss, name its step
                first = len(curve) + int((~torch.isfinite(chunk)).nonzero()[0, 0]) + 1
                checks.check_finite(desc, first, chunk)
            checks.check_finite(desc, step + 1, *params)
            curve += chunk.tolist()
            bar.set_postfix(loss=f"{curve[-1]:.4f}", refresh=False)
        if save:
            tensors, groups = optimizer_tensors(opt)
            checkpoint.save({**{f"param.{i}": p for i, p in enumerate(params)}, **tensors, **rng_tensors(rngs)},
                            {"step": step + 1, "curve": curve, "param_groups": groups})
    return curve


def _resume(checkpoint: Checkpoint | None, params: list[Tensor], opt: torch.optim.Optimizer,
            rngs: Sequence[torch.Generator], curve: list[float]) -> int:
    """Load ``checkpoint``'s last save into the parameters, Adam, the generators and ``curve``;
    returns the number of steps already done (0 without a checkpoint)."""
    saved = None if checkpoint is None else checkpoint.load()
    if saved is None:
        return 0
    tensors, state = saved
    shapes = [tuple(tensors.get(f"param.{i}", torch.empty(0)).shape) for i in range(len(params))]
    if shapes != [tuple(p.shape) for p in params]:
        raise ValueError(f"{checkpoint.path}: its parameters have shapes {shapes}, this walk's "
                         f"{[tuple(p.shape) for p in params]}; run without --resume")
    with torch.no_grad():
        for i, p in enumerate(params):
            p.copy_(tensors[f"param.{i}"])
    load_optimizer(opt, tensors, state["param_groups"])
    load_rngs(rngs, tensors)
    curve += state["curve"]
    return int(state["step"])
