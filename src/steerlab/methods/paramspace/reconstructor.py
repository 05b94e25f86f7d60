"""The optimisation-based method (Cherepkov et al. Sec. 3.2, Eq. 1-2), after Voynov & Babenko:

    min_{xi_1..xi_K, R}  E_{z, k ~ U{1..K}, t ~ U[-T, T]} [ CE(k, k^) + lambda |t - t^| ],
    (k^, t^) = R(G_theta(z), G_{theta + t xi_k}(z)).

K directions are learned jointly with a reconstructor R that must tell, from an image pair,
which direction moved it and by how much: directions that are easy to tell apart win. Each xi_k
lives in a low-dimensional coordinate space mapped linearly and isometrically into the layer's
weight (``basis``): the layer's singular values for the optimisation method
(``svd.SVDBasis``, Sec. 3.2) or the top Hessian eigenvectors for the hybrid (Sec. 3.4,
``svd.CoordinateBasis``); every xi_k is normalised to unit length, so each shift has Frobenius
norm |t|.

R is a small ResNet (the paper uses ResNet-18 on 256 px; here 4 stages of one basic block,
widths 16-128 by default, on the pair resized to ``input_size``), with a K-way classification head and a
scalar regression head. It regresses t / T, so lambda does not depend on the layer's weight scale.
Training checkpoints (directions, R, Adam, RNG, curves) are safetensors + JSON, written
atomically; a run resumes bit-for-bit from its checkpoint.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from steerlab.core import checkpoint as checkpoints
from steerlab.core import distributed, seeds
from steerlab.core.io import FileFormatError, read_header, read_json, read_tensors, write_json, write_tensors
from steerlab.methods.paramspace.shifts import render_shifted, unit
from steerlab.models.base import Generator

__all__ = ["Reconstructor", "ReconstructorConfig", "learn_directions"]


class _BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics span the whole data-parallel batch.

    In one process (or in eval mode) it is ``nn.BatchNorm2d``. Under torchrun the per-channel
    mean and variance are summed over ranks with a differentiable all-reduce, so N ranks x B
    normalise as one process x N*B does (PyTorch's SyncBatchNorm does this on GPUs only).
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and distributed.active()):
            return super().forward(x)
        count = distributed.all_reduce_sum(torch.tensor(float(x.shape[0] * x.shape[2] * x.shape[3])))
        mean = distributed.all_reduce_sum_autograd(x.sum(dim=(0, 2, 3))) / count             # (C,)
        var = distributed.all_reduce_sum_autograd((x - mean[:, None, None]).pow(2).sum(dim=(0, 2, 3))) / count
        with torch.no_grad():  # running statistics as nn.BatchNorm2d keeps them (unbiased variance)
            self.num_batches_tracked += 1
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(var.detach() * count / (count - 1).clamp_min(1), self.momentum)
        x_hat = (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + self.eps)
        return x_hat * self.weight[:, None, None] + self.bias[:, None, None]


class _Block(nn.Module):
    """ResNet basic block: two 3x3 convs with BatchNorm, a strided 1x1 shortcut when shapes change."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = _BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = _BatchNorm2d(c_out)
        self.skip = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), _BatchNorm2d(c_out))
                     if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.skip(x))


class Reconstructor(nn.Module):
    """R(I_1, I_2) -> (logits over K directions, predicted t / T).

    Args:
        k: number of directions.
        channels: image channels (the pair is stacked to 2 * channels).
        input_size: the pair is resized (bilinear) to this side.
        width: channels of the first stage; stages double it (width, 2w, 4w, 8w).

    Shape:
        - x0, x1: (N, C, H, W) in [0, 1].
        - output: logits (N, K) and t^ (N,).

    Example:
        >>> R = Reconstructor(k=5, input_size=32, width=8)
        >>> logits, t = R(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16))
        >>> logits.shape, t.shape
        (torch.Size([2, 5]), torch.Size([2]))
    """

    def __init__(self, k: int, channels: int = 3, input_size: int = 64, width: int = 32):
        super().__init__()
        self.input_size = input_size
        self.stem = nn.Sequential(nn.Conv2d(2 * channels, width, 3, 1, 1, bias=False),
                                  _BatchNorm2d(width), nn.ReLU())
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.stages = nn.Sequential(*[_Block(widths[max(i - 1, 0)], w, 1 if i == 0 else 2)
                                      for i, w in enumerate(widths)])
        self.classify = nn.Linear(widths[-1], k)
        self.regress = nn.Linear(widths[-1], 1)

    def forward(self, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([x0, x1], dim=1) * 2 - 1                     # (N, 2C, H, W) in [-1, 1]
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=x.shape[-1] > self.input_size)
        h = self.stages(self.stem(x)).mean(dim=(2, 3))              # (N, 8w)
        return self.classify(h), self.regress(h)[:, 0]


@dataclass
class ReconstructorConfig:
    """Settings of Eq. 1 (the paper: K 64, lambda 2.5e-3 on raw t, Adam 1e-4, 1e5 steps, batch 32)."""

    k: int = 16
    limit: float = 1.0          # T: t ~ U[-T, T] (weight units: Frobenius norm of the shift)
    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-3            # Adam, R and the directions alike
    lam: float = 0.25           # weight of |t/T - t^| against the cross-entropy
    input_size: int = 64
    width: int = 16
    seed: int = 0
    checkpoint_every: int = 100


def _init_coords(k: int, dim: int, g: torch.Generator) -> Tensor:
    if k <= dim:  # distinct axis-aligned starts, a little noise to break symmetry
        start = torch.eye(dim)[:k]
    else:
        start = torch.randn(k, dim, generator=g)
    return unit(start + 0.1 * torch.randn(k, dim, generator=g) / dim ** 0.5)


def learn_directions(G: Generator, layer: str, basis: nn.Module, config: ReconstructorConfig, *,
                     checkpoint: str | Path | None = None, resume: bool = True,
                     progress: bool = True, render: Callable[..., Tensor] | None = None) -> tuple[Tensor, dict]:
    """Solve Eq. 1 for K directions in ``basis``'s coordinates of ``layer``.

    Args:
        G: the generator (frozen).
        layer: the weight the shifts apply to.
        basis: isometric linear map coords (B, m) -> weight shifts (B, *weight_shape), with
            an int attribute ``dim`` = m (``SVDBasis`` or ``CoordinateBasis``).
        config: see `ReconstructorConfig`.
        checkpoint: path stem; every ``checkpoint_every`` steps ``<stem>.safetensors`` + ``.json``
            are written atomically.
        resume: continue from ``checkpoint`` if it exists (its config must match).
        render: ``render(z, classes, shifts (B, *basis.shape)) -> images`` of the shifted model;
            default: ``layer``'s weight shifted (`render_shifted`). Latent-space discovery
            (Voynov & Babenko) passes one that shifts the latent instead, with ``basis`` the identity.

    Under torchrun (`steerlab.core.distributed`) ``config.batch_size`` is per rank: every rank draws
    the global batch and trains on its slice, R's BatchNorm statistics span the global batch
    and the gradients of the directions and of R are averaged, so N ranks x B follow one process
    x N*B up to float summation order. Rank 0 alone writes checkpoints; every rank must see the
    same checkpoint to resume (a shared folder).

    Returns:
        ``(directions (K, *weight_shape) unit-norm, info)``; ``info`` has the coordinates,
        loss / accuracy curves, held-out accuracy and t error, and the wall time.
    """
    cfg = config
    if render is None:
        def render(z, classes, shifts):
            return render_shifted(G, z, layer, shifts, classes=classes)
    if cfg.k < 2 or cfg.steps < 1 or cfg.batch_size < 1 or not cfg.limit > 0 or not cfg.lr > 0:
        raise ValueError(f"need k >= 2, steps >= 1, batch_size >= 1, T > 0 and lr > 0 (got {asdict(cfg)})")
    device = G.device
    g = torch.Generator().manual_seed(cfg.seed)
    coords = nn.Parameter(_init_coords(cfg.k, basis.dim, g).to(device))
    with torch.random.fork_rng(devices=[]):  # R's initial weights follow the seed, not the global RNG
        torch.manual_seed(cfg.seed)
        R = Reconstructor(cfg.k, G.channels, cfg.input_size, cfg.width).to(device)
    opt = torch.optim.Adam([coords, *R.parameters()], lr=cfg.lr)
    history = {"loss": [], "ce": [], "mae": [], "acc": []}
    start, seconds = 0, 0.0
    if checkpoint and resume and Path(checkpoint).with_suffix(".json").exists():
        start, history, seconds = _load(checkpoint, cfg, coords, R, opt, g)
    starts = distributed.gather(torch.tensor([start]))
    if not bool((starts == start).all()):
        raise FileFormatError(f"{checkpoint}: the ranks found different checkpoints (steps {starts.tolist()}); "
                              "put the run folder on storage every node sees, or pass --no-resume")
    world = distributed.world()
    part = distributed.shard(cfg.batch_size * world, cfg.batch_size)  # this rank's slice of the global batch
    R.train()
    t0 = time.time()
    bar = tqdm(range(start, cfg.steps), desc=f"directions {layer}", disable=not progress or not distributed.is_main(),
               leave=False, initial=start, total=cfg.steps)
    for step in bar:
        n = cfg.batch_size * world
        z = G.sample_z(n, generator=g)
        classes = G.sample_classes(n, generator=g)
        k = torch.randint(0, cfg.k, (n,), generator=g).to(device)
        t = ((torch.rand(n, generator=g) * 2 - 1) * cfg.limit).to(device)
        z, k, t, classes = z[part], k[part], t[part], None if classes is None else classes[part]
        with torch.no_grad():
            x0 = G.synthesize(z, classes=classes)
        used, slot = torch.unique(k, return_inverse=True)  # form each direction's weight once
        shifts = basis(unit(coords)[used])[slot] * t.view(-1, *[1] * len(basis.shape))
        x1 = render(z, classes, shifts)
        logits, t_hat = R(x0, x1)
        ce = F.cross_entropy(logits, k)
        mae = (t_hat - t / cfg.limit).abs().mean()
        loss = ce + cfg.lam * mae
        opt.zero_grad(set_to_none=True)
        loss.backward()
        distributed.all_reduce_grads([coords, *R.parameters()])
        opt.step()
        logged = distributed.all_reduce_mean(torch.stack([loss, ce, mae, (logits.argmax(1) == k).float().mean()]))
        for key, v in zip(("loss", "ce", "mae", "acc"), logged.tolist()):
            history[key].append(v)
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", acc=f"{history['acc'][-1]:.2f}", refresh=False)
        if checkpoint and distributed.is_main() and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            _save(checkpoint, cfg, coords, R, opt, g, step + 1, history, seconds + time.time() - t0)
    seconds += time.time() - t0
    final = unit(coords.detach())
    held = _held_out_accuracy(G, render, basis, final, R, cfg)
    info = {"coords": final.cpu(), "history": history, "seconds": round(seconds, 1), **held,
            "config": asdict(cfg)}
    return basis(final).detach(), info


@torch.no_grad()
def _held_out_accuracy(G, render, basis, coords, R, cfg, n: int = 64) -> dict:
    """Reconstructor accuracy and |t/T - t^| on fresh samples (seed offset: never a training draw)."""
    R.eval()
    g = seeds.generator(cfg.seed, seeds.RECONSTRUCTOR_HELD_OUT)
    z = G.sample_z(n, generator=g)
    classes = G.sample_classes(n, generator=g)
    k = torch.arange(n) % cfg.k
    t = (torch.rand(n, generator=g) * 2 - 1) * cfg.limit
    x0 = G.synthesize(z, classes=classes)
    dirs = basis(coords)                                        # (K, *weight_shape)
    x1 = render(z, classes, dirs[k] * t.view(-1, *[1] * len(basis.shape)).to(z))
    logits, t_hat = R(x0, x1)
    return {"held_out_accuracy": float((logits.argmax(1).cpu() == k).float().mean()),
            "held_out_t_error": float((t_hat.cpu() - t / cfg.limit).abs().mean()),
            "chance_accuracy": 1.0 / cfg.k}


# ----------------------------------------------------------------------------- checkpoints
def _save(stem, cfg, coords, R, opt, g, step, history, seconds) -> None:
    stem = Path(stem)
    sd = opt.state_dict()
    tensors = {"coords": coords.detach(), "rng": g.get_state(),
               **{f"R.{k}": v for k, v in R.state_dict().items()},
               **{f"opt.{i}.{k}": v for i, st in sd["state"].items() for k, v in st.items()}}
    meta = {"step": step, "history": history, "seconds": seconds, "config": asdict(cfg),
            "param_groups": sd["param_groups"]}
    # the state rides inside the tensor file too, so a kill between the two writes never pairs
    # the tensors of one step with the state of another (the .json is the readable copy)
    write_tensors(stem.with_suffix(".safetensors"), tensors, metadata={"steerlab": json.dumps(meta)})
    write_json(stem.with_suffix(".json"), meta)
    checkpoints.kill_hook()


def _load(stem, cfg, coords, R, opt, g):
    stem = Path(stem)
    meta = read_json(stem.with_suffix(".json"))
    if stem.with_suffix(".safetensors").is_file():
        read_tensors(stem.with_suffix(".safetensors"))  # refuses a file that is not safetensors
        meta = read_header(stem.with_suffix(".safetensors")) or meta
    theirs = dict(meta.get("config", {}))
    ours = asdict(cfg)
    for key in ("steps", "checkpoint_every"):  # a run may be extended or checkpointed differently
        theirs.pop(key, None)
        ours.pop(key, None)
    if theirs != ours:
        raise FileFormatError(f"{stem}: checkpoint was made with another configuration "
                              f"({theirs}); remove it or use the same settings")
    t = read_tensors(stem.with_suffix(".safetensors"))
    try:
        if t["coords"].shape != coords.shape:
            raise ValueError("direction coordinates have another shape")
        R.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("R.")})
        state: dict[int, dict] = {}
        for key, v in t.items():
            if key.startswith("opt."):
                _, i, name = key.split(".", 2)
                state.setdefault(int(i), {})[name] = v
        opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (RuntimeError, KeyError, ValueError) as e:
        raise FileFormatError(f"{stem}: checkpoint does not fit ({str(e).splitlines()[0][:120]})") from None
    with torch.no_grad():
        coords.copy_(t["coords"])
    g.set_state(t["rng"])
    return int(meta["step"]), meta["history"], float(meta["seconds"])
