"""Nonlinear latent walks (Jahanian et al., Eq. 2, App. A.3-A.4).

A step network ``f(z) = z + NN(z)`` makes one *fixed* epsilon-step of the edit, and ||z|| is
renormalised after it (the latent stays on its shell). Larger edits compose it, like Euler steps
of an ODE ``eps dz/dt = NN(z)``:

    L = E_{z, n} [ L2( G(f^n(z)),  edit(G(z), n eps) ) ]                      (Eq. 2)

Positive and negative directions have their own networks (identical two-layer MLPs,
independent weights, App. A.4); colour has a pair per RGB component, applied one component
after the other. Epsilon is set so that ``n_steps`` (default 5) steps reach the end of the
edit's range, i.e. the linear walk's range is covered in 4-5 steps (App. A.4).

The knob: like every direction, ``d.render(G, z, alpha_t)`` takes the edit's own units. alpha_t
is mapped to alpha_g as for a linear walk and then to a signed step count ``n = alpha_g / eps``
(per component). Whole steps are Eq. 2's ``f^n``; a fractional remainder ``r`` makes one last
partial step ``z + r NN(z)`` (renormalised), so the knob is continuous and exact at the step
grid alpha_g = k eps.

App. A.3's alternative, ``G(z + alpha_g NN(z))`` trained with continuous alpha, is here too
(``learn_nn_walk``, kind "nn-linear"): the paper proves it collapses to a z-independent, i.e.
linear, walk; ``direction_spread`` measures how far NN(z) still depends on z.

Latents of any shape are flattened per sample for the networks (z: (N, z_dim)).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from steerlab.core import seeds
from steerlab.directions import KINDS, Direction, alpha_spec
from steerlab.directions.ops import STEP_TOL as _STEP_TOL
from steerlab.directions.ops import Nets, euler_walk, nn_shift, step_net  # with the kinds: files render without us
from steerlab.edits import Edit, get_edit
from steerlab.methods.walks.loop import data_parallel_batch, final_loss, parallel_config, train_walk
from steerlab.metrics.losses import get_loss
from steerlab.models.base import Generator


# ----------------------------------------------------------------------------- the networks
def init_nets(dim: int, components: int, slots: int, hidden: int, generator: torch.Generator,
              device: torch.device | str = "cpu") -> Nets:
    """Random two-layer MLPs ``NN(z) = W2 relu(W1 z + b1) + b2``, one per (component, slot).

    slots: 2 for the nonlinear walk (+ and - direction), 1 for the A.3 walk. Weights are drawn
    like PyTorch's ``nn.Linear`` (uniform, bound 1/sqrt(fan_in)), output bias zero, so NN(z)
    starts out clearly z-dependent: A.3's collapse to a constant direction has to be learned.
    """
    def u(*shape, bound):
        return ((torch.rand(*shape, generator=generator) * 2 - 1) * bound).to(device)

    K, S, H, D = components, slots, hidden, dim
    return {"W1": u(K, S, H, D, bound=1 / math.sqrt(D)), "b1": u(K, S, H, bound=1 / math.sqrt(D)),
            "W2": u(K, S, D, H, bound=1 / math.sqrt(H)), "b2": torch.zeros(K, S, D, device=device)}


def steer_nonlinear(d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor,
                    classes: Tensor | None) -> Tensor:
    """Images of a "nonlinear" direction (its kind, `steerlab.directions.kinds.Nonlinear`, renders them)."""
    return KINDS["nonlinear"].render(d, G, latent, alpha_g, classes)


def steer_nn_linear(d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor,
                    classes: Tensor | None) -> Tensor:
    """Images of an "nn-linear" direction (its kind, `steerlab.directions.kinds.NNLinear`, renders them)."""
    return KINDS["nn-linear"].render(d, G, latent, alpha_g, classes)


# ----------------------------------------------------------------------------- training
def epsilon_for(edit: Edit, n_steps: int) -> tuple[list[float], int, int]:
    """Epsilon (alpha_g per step) so that ``n_steps`` steps reach the far end of the range.

    Returns (epsilon per component, max positive steps, max negative steps); the components of
    an edit share one range.
    """
    lo, hi = edit.range_g
    eps = max(abs(lo), abs(hi)) / n_steps
    pos, neg = int(math.floor(hi / eps + _STEP_TOL)), int(math.floor(-lo / eps + _STEP_TOL))
    return [eps] * edit.alpha_dim, pos, neg


def _sample_steps(batch: int, pos: int, neg: int, components: int, g: torch.Generator) -> Tensor:
    """Signed integer step counts (N, K); a single component never draws 0 (a free sample)."""
    if components == 1:
        choices = torch.tensor([s for s in range(-neg, pos + 1) if s != 0], dtype=torch.float32)
        return choices[torch.randint(0, len(choices), (batch, 1), generator=g)]
    return torch.randint(-neg, pos + 1, (batch, components), generator=g).float()


def nonlinear_walk_step(G: Generator, edit: Edit, nets: Nets, loss_fn: Callable, *, space: str,
                        epsilon: list[float], pos: int, neg: int, batch_size: int,
                        generator: torch.Generator, part: slice | None = None) -> Tensor:
    """Mean Eq. 2 loss of one fresh batch (z, n, classes drawn from ``generator``).

    ``part``: keep only these samples of the drawn batch (a data-parallel rank's slice).
    """
    z = G.sample_z(batch_size, generator=generator)
    classes = G.sample_classes(batch_size, generator=generator)
    n = _sample_steps(batch_size, pos, neg, edit.alpha_dim, generator)  # on the host: euler_walk reads it there
    z, classes, n = _part(part, z, classes, n)
    alpha_g = n.to(z.device) * torch.tensor(epsilon, device=z.device)
    alpha_t = edit.to_t(alpha_g).clamp(*edit.alpha_range)
    alpha_t = alpha_t[:, 0] if edit.alpha_dim == 1 else alpha_t
    with torch.no_grad():
        latent = G.to_space(z, space, classes)
        target, mask = edit.fn(G.synthesize(latent, space=space, classes=classes), alpha_t)
    moved = euler_walk(nets, latent.flatten(1), n).view_as(latent)
    return loss_fn(G.synthesize(moved, space=space, classes=classes), target, mask).mean()


def nn_walk_step(G: Generator, edit: Edit, nets: Nets, loss_fn: Callable, *, space: str,
                 batch_size: int, generator: torch.Generator, part: slice | None = None) -> Tensor:
    """Mean loss of A.3's walk G(z + alpha_g NN(z)) on one fresh batch, continuous alpha."""
    z = G.sample_z(batch_size, generator=generator)
    classes = G.sample_classes(batch_size, generator=generator)
    alpha_t = edit.sample(batch_size, generator=generator).to(z.device)
    z, classes, alpha_t = _part(part, z, classes, alpha_t)
    alpha_g = edit.to_g(alpha_t).reshape(z.shape[0], -1)
    with torch.no_grad():
        latent = G.to_space(z, space, classes)
        target, mask = edit.fn(G.synthesize(latent, space=space, classes=classes), alpha_t)
    moved = nn_shift(nets, latent.flatten(1), alpha_g).view_as(latent)
    return loss_fn(G.synthesize(moved, space=space, classes=classes), target, mask).mean()


def _part(part: slice | None, z: Tensor, classes: Tensor | None, x: Tensor):
    if part is None:
        return z, classes, x
    return z[part], None if classes is None else classes[part], x[part]


def direction_spread(nets: Nets, z: Tensor) -> dict:
    """How much NN(z) depends on z, per network (component k, slot s).

    For each network, the directions u(z) = NN(z) / ||NN(z)|| over the latents ``z`` (N, D):
    ``mean_cos`` and ``min_cos`` to their mean direction (1 = the same direction for every z,
    i.e. a linear walk) and ``rel_spread`` = E||NN(z) - mean NN|| / ||mean NN|| (0 = constant).

    Returns:
        ``{"mean_cos": [...], "min_cos": [...], "rel_spread": [...], "nets": ["k0+", ...]}``,
        one entry per network.
    """
    out = {"mean_cos": [], "min_cos": [], "rel_spread": [], "nets": []}
    K, S = nets["W1"].shape[:2]
    with torch.no_grad():
        for k in range(K):
            for s in range(S):
                v = step_net(nets, z, k, torch.full((z.shape[0],), s, dtype=torch.long))  # (N, D)
                mean = v.mean(0)
                u = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
                cos = u @ (mean / mean.norm().clamp_min(1e-12))
                out["mean_cos"].append(cos.mean().item())
                out["min_cos"].append(cos.min().item())
                out["rel_spread"].append(((v - mean).norm(dim=1).mean() / mean.norm().clamp_min(1e-12)).item())
                out["nets"].append(f"k{k}{'+-'[s] if S == 2 else ''}")
    return out


def _spread_latents(G: Generator, space: str, n: int, seed: int) -> Tensor:
    g = seeds.generator(seed, seeds.WALK_SPREAD)  # held out from training draws
    return G.sample_latent(n, generator=g, space=space, classes=G.sample_classes(n, generator=g)).flatten(1)


def _start(G: Generator, edit: str | Edit, *, slots: int, space: str, steps: int, batch_size: int,
           lr: float, loss: str, hidden: int, n_steps: int, seed: int):
    """Checked arguments, the training draws and the untrained networks of a network walk.

    Returns:
        ``(edit, loss_fn, generator, probe latents (256, D), nets)``; the nets require grad.
    """
    edit = get_edit(edit) if isinstance(edit, str) else edit
    loss_fn = get_loss(loss)
    G.check_space(space)
    if steps < 1 or batch_size < 1 or not lr > 0 or hidden < 1 or n_steps < 1:
        raise ValueError(f"steps, batch_size, hidden and n_steps must be >= 1 and lr > 0 "
                         f"(got {steps}, {batch_size}, {hidden}, {n_steps}, {lr})")
    g = torch.Generator().manual_seed(seed)
    probe = _spread_latents(G, space, 256, seed)
    nets = init_nets(probe.shape[1], edit.alpha_dim, slots, hidden, g, probe.device)
    for t in nets.values():
        t.requires_grad_(True)
    return edit, loss_fn, g, probe, nets


def _direction(kind: str, G: Generator, edit: Edit, nets: Nets, probe: Tensor, spread_init: dict,
               curve: list[float], *, space: str, steps: int, batch_size: int, lr: float, loss: str,
               seed: int, hidden: int, **extra) -> Direction:
    """The trained networks as a Direction of ``kind``, with the config and the spreads."""
    nets = {k: v.detach().clone() for k, v in nets.items()}
    config = {"method": kind, "space": space, "steps": steps, "batch_size": batch_size, "lr": lr,
              "loss": loss, "seed": seed, "hidden": hidden,
              "architecture": "NN(z) = W2 relu(W1 z + b1) + b2 per (component, slot)",
              **parallel_config(batch_size), **extra}
    return Direction(kind=kind, space=space, tensors=nets, model=G.name, fingerprint=G.fingerprint,
                     alpha=alpha_spec(edit), edit=edit.name, config=config,
                     metrics={"final_loss": final_loss(curve), "loss_curve": curve,
                              "spread_init": spread_init, "spread": direction_spread(nets, probe)})


def learn_nonlinear_walk(G: Generator, edit: str | Edit, *, space: str = "z", steps: int = 1000,
                         batch_size: int = 16, lr: float = 1e-3, loss: str = "l2", n_steps: int = 5,
                         hidden: int = 256, seed: int = 0, progress: bool = True, checkpoint=None) -> Direction:
    """Learn a nonlinear (Euler-step) walk for ``edit`` with Eq. 2 (Adam, fresh z every step).

    Args:
        G: any steerlab generator (frozen; only the step networks are learned).
        edit: an edit name (see `steerlab edits`) or an `Edit`; any edit, colour included.
        space: latent space to walk in.
        steps, batch_size, lr: Adam schedule. Each sample draws a nonzero signed step count n
            uniformly from those that stay inside the edit's range.
        loss: "l2" (masked, default), "blurred", "dssim" or "perceptual".
        n_steps: steps that reach the far end of the range; epsilon = max |alpha_g| / n_steps.
        hidden: width of the two-layer step networks.
        seed: seeds initialisation and every draw; deterministic on the CPU.
        checkpoint: a `steerlab.core.checkpoint.Checkpoint` to save to and resume from (`train_walk`).

    Returns:
        A "nonlinear" `Direction`: tensors W1 (K, 2, H, D), b1 (K, 2, H), W2 (K, 2, D, H),
        b2 (K, 2, D) (slot 0: positive, 1: negative direction; K = 3 for colour, else 1),
        epsilon in ``config``; ``metrics`` has the loss curve and ``direction_spread`` before
        (``spread_init``) and after training (``spread``), for NN_+ and NN_-.

    Example:
        >>> d = learn_nonlinear_walk(G, "zoom", steps=500)            # doctest: +SKIP
        >>> d.render(G, z, 2.0)   # x2 zoom: log(2) / epsilon = 2.5 steps  # doctest: +SKIP
    """
    options = dict(space=space, steps=steps, batch_size=batch_size, lr=lr, loss=loss, hidden=hidden, seed=seed)
    edit, loss_fn, g, probe, nets = _start(G, edit, slots=2, n_steps=n_steps, **options)
    spread_init = direction_spread(nets, probe)
    eps, pos, neg = epsilon_for(edit, n_steps)
    batch, part = data_parallel_batch(batch_size)

    def step_loss() -> Tensor:
        return nonlinear_walk_step(G, edit, nets, loss_fn, space=space, epsilon=eps, pos=pos, neg=neg,
                                   batch_size=batch, generator=g, part=part)

    curve = train_walk(list(nets.values()), step_loss, steps=steps, lr=lr, desc=f"nonlinear walk {edit.name}",
                       progress=progress, checkpoint=checkpoint, rngs=(g,))
    return _direction("nonlinear", G, edit, nets, probe, spread_init, curve, **options, epsilon=eps,
                      n_steps=n_steps, max_steps_pos=pos, max_steps_neg=neg, renorm=True)


def learn_nn_walk(G: Generator, edit: str | Edit, *, space: str = "z", steps: int = 1000,
                  batch_size: int = 16, lr: float = 1e-3, loss: str = "l2", hidden: int = 256,
                  seed: int = 0, progress: bool = True, checkpoint=None) -> Direction:
    """App. A.3's walk ``G(z + alpha_g NN(z))`` trained with continuous alpha (kind "nn-linear").

    Same arguments as `learn_nonlinear_walk` (no epsilon: alpha is continuous). The paper
    proves this walk learns to ignore z; ``metrics["spread"]`` vs ``metrics["spread_init"]``
    (see `direction_spread`) measures how far that holds.
    """
    options = dict(space=space, steps=steps, batch_size=batch_size, lr=lr, loss=loss, hidden=hidden, seed=seed)
    edit, loss_fn, g, probe, nets = _start(G, edit, slots=1, n_steps=1, **options)
    spread_init = direction_spread(nets, probe)
    batch, part = data_parallel_batch(batch_size)

    def step_loss() -> Tensor:
        return nn_walk_step(G, edit, nets, loss_fn, space=space, batch_size=batch, generator=g, part=part)

    curve = train_walk(list(nets.values()), step_loss, steps=steps, lr=lr, desc=f"nn-linear walk {edit.name}",
                       progress=progress, checkpoint=checkpoint, rngs=(g,))
    return _direction("nn-linear", G, edit, nets, probe, spread_init, curve, **options)
