"""Data parallelism on PyTorch's own launcher: `torchrun` (or `accelerate launch`) starts N copies.

    torchrun --nproc_per_node 2 -m steerlab.cli walk --model faces --edit zoom --batch-size 8

Every rank runs the same command. Training draws the *global* batch (per-rank batch x world
size) from the same seeded generator on every rank and keeps its own contiguous slice, so the
union over ranks is exactly what one process with the global batch would draw; gradients are
averaged over ranks before each optimiser step. Evaluation splits its held-out samples into
contiguous, batch-aligned shards and gathers per-sample results back in order. Only rank 0
writes files or shows progress bars.

Nothing here starts a process group unless the launcher set ``WORLD_SIZE > 1``: a plain
``steerlab walk`` runs exactly as before, with no communication at all.

Failures: `main_guard` turns an exception on any rank into one line on stderr and an
immediate ``os._exit``; torchrun then stops the other ranks. Collectives also time out after
``STEERLAB_DIST_TIMEOUT`` seconds (default 1800), so a lost peer cannot hang a job forever.
``STEERLAB_FAIL_RANK=K`` makes rank K fail on purpose right after start-up (used by the tests).
"""
from __future__ import annotations

import datetime
import os
import signal
import sys
from typing import Sequence

import torch
import torch.distributed as dist
from torch import Tensor

_DEVICE: torch.device | None = None  # where collectives run (cuda:LOCAL_RANK for nccl, else cpu)


def launched() -> bool:
    """True when a launcher started more than one process (``WORLD_SIZE > 1``)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def init(device: str | None = "cpu") -> str | None:
    """Join the process group if launched by torchrun; returns the device this rank should use.

    Backend nccl when ``device`` is CUDA (each rank takes ``cuda:LOCAL_RANK``), else gloo.
    Without a launcher (or with one process) nothing happens and ``device`` is returned as is.
    """
    global _DEVICE
    if not launched() or active():
        return device
    use_cuda = device is not None and str(device).startswith("cuda")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device, _DEVICE = f"cuda:{local}", torch.device(f"cuda:{local}")
    else:
        _DEVICE = torch.device("cpu")
    timeout = datetime.timedelta(seconds=float(os.environ.get("STEERLAB_DIST_TIMEOUT", "1800")))
    dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timeout)
    fail = os.environ.get("STEERLAB_FAIL_RANK")
    if fail is not None and fail.strip() == str(rank()):
        raise RuntimeError(f"injected failure on rank {rank()} (STEERLAB_FAIL_RANK={fail})")
    return device


def finish() -> None:
    """Leave the process group; a no-op in a single process.

    No barrier: once the collective work is done the other ranks leave while rank 0 may still
    write reports for a long time, which a barrier's timeout would turn into a failure.
    """
    if active():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def shard(n: int, align: int = 1) -> slice:
    """This rank's contiguous part of ``n`` global sample indices.

    The cut points fall on multiples of ``align`` (a batch size), so every rank processes
    whole batches of the single-process loop, the same samples in the same grouping: per-sample
    results are then bitwise those of one process. Ranks past the last batch get empty slices.
    """
    blocks = -(-n // align)
    r, w = rank(), world()
    lo, hi = r * blocks // w, (r + 1) * blocks // w
    return slice(min(lo * align, n), min(hi * align, n))


def _comm(t: Tensor) -> Tensor:
    return t.to(_DEVICE) if _DEVICE is not None else t


def all_reduce_mean(t: Tensor) -> Tensor:
    """Mean of ``t`` over ranks (a new tensor on ``t``'s device); ``t`` itself in one process."""
    if not active():
        return t
    out = _comm(t.detach().clone())
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return (out / world()).to(t.device)


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum of ``t`` over ranks (a new tensor on ``t``'s device); ``t`` itself in one process."""
    if not active():
        return t
    out = _comm(t.detach().clone())
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(t.device)


def all_reduce_sum_autograd(t: Tensor) -> Tensor:
    """Sum of ``t`` over ranks that backpropagates (the gradient is summed back over ranks)."""
    if not active():
        return t
    from torch.distributed.nn.functional import all_reduce
    return all_reduce(_comm(t), op=dist.ReduceOp.SUM).to(t.device)


def all_reduce_grads(params: Sequence[Tensor]) -> None:
    """Average ``.grad`` of ``params`` over ranks in place, in one flat message.

    Each rank's loss is the mean over its slice of the global batch, and slices are equal, so
    the mean of the gradients is the gradient of the global mean loss.
    """
    if not active():
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = _comm(torch.cat([g.reshape(-1) for g in grads]))
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world()
    i = 0
    for p, g in zip(params, grads):
        part = flat[i:i + g.numel()].view_as(g).to(p.device)
        i += g.numel()
        if p.grad is None:
            p.grad = part.clone()
        else:
            p.grad.copy_(part)


def gather(t: Tensor) -> Tensor:
    """Concatenate every rank's ``t`` along dim 0, in rank order, on every rank.

    Ranks may hold different numbers of rows (the last shard is often shorter, or empty); the
    other dimensions and the dtype must agree. Returns ``t`` itself in one process.
    """
    if not active():
        return t
    local = _comm(t.detach().contiguous())
    sizes = [torch.zeros(1, dtype=torch.long, device=local.device) for _ in range(world())]
    dist.all_gather(sizes, torch.tensor([local.shape[0]], dtype=torch.long, device=local.device))
    sizes = [int(s) for s in sizes]
    pad = max(sizes)
    buf = torch.zeros((pad, *local.shape[1:]), dtype=local.dtype, device=local.device)
    buf[:local.shape[0]] = local
    parts = [torch.empty_like(buf) for _ in sizes]
    dist.all_gather(parts, buf)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)]).to(t.device)


def broadcast(t: Tensor, src: int = 0) -> Tensor:
    """Rank ``src``'s ``t`` on every rank (same shape and dtype everywhere)."""
    if not active():
        return t
    buf = _comm(t.detach().clone().contiguous())
    dist.broadcast(buf, src)
    return buf.to(t.device)


class Stopped(BaseException):
    """The launcher stopped this rank (SIGTERM), usually because another rank failed."""


def stop_on_sigterm() -> None:
    """Turn torchrun's SIGTERM into an exception, so ``finally`` blocks (e.g. `api.run_folder`
    removing its partial folder) run before the rank goes."""
    def _raise(signum, frame):
        raise Stopped("stopped by the launcher (another rank failed; see its message)")
    signal.signal(signal.SIGTERM, _raise)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else e.__class__.__name__).strip("'")


def fail(command: str, e: BaseException, code: int) -> None:
    """Report ``e`` in one line and end this process now (no cleanup that could wait on peers).

    A lost peer (its process died) shows on the survivors as a backend error; it is reported
    as such, pointing at the rank that failed first.
    """
    where = f"rank {rank()} of {world()}" if active() else f"rank {os.environ.get('RANK', '?')}"
    lost = isinstance(e, getattr(dist, "DistBackendError", ())) or "Connection closed by peer" in str(e)
    if lost:
        msg = "lost contact with another rank (it failed; see its message)"
    elif isinstance(e, Stopped) or code == 2:
        msg = _one_line(e)
    else:
        msg = f"{e.__class__.__name__}: {_one_line(e)}"
    print(f"steerlab {command}: error on {where}: {msg}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)
