"""Combine hooks for the direction kinds other method modules define.

Each hook reads only a kind's documented file format (its tensors and config keys) and calls
its module's public functions, so several directions of these kinds can be steered at once.
A kind without a hook still works: `steer` renders it as the last step, one at a time.
Every hook is checked against its kind's own steerer in tests/test_ui_steering.py (a single
direction through `steer` must equal ``d.render``); when a method module registers its own
hook with `register_move` / `register_weight_shift`, the entry here can go.
"""
from __future__ import annotations

import torch
from torch import Tensor

from steerlab.directions import Direction, DirectionMismatch
from steerlab.models.base import Generator
from steerlab.ui.steering import MOVES, WEIGHT_SHIFTS, register_move, register_weight_shift


def _weight_shift(d: Direction, G: Generator, alpha_g: Tensor) -> dict[str, Tensor]:
    """"weight" (steerlab.methods.paramspace): theta[layer] + t xi with t = alpha_g[:, 0], one t per batch."""
    layer, xi = d.config.get("layer"), d.tensors.get("xi")
    w = G.shiftable_weights().get(layer)
    if xi is None or w is None or tuple(w.shape) != tuple(xi.shape):
        raise DirectionMismatch(f"weight direction for layer '{layer}' does not fit model '{G.name}'")
    t = alpha_g[:, 0]
    if not bool((t == t[0]).all()):
        raise ValueError("weight directions combine with one shift magnitude for the whole batch")
    return {layer: t[0].to(w) * xi.to(w)}


def register_known_kinds() -> None:
    """Register hooks for the kinds whose method modules are installed (idempotent)."""
    if "weight" not in WEIGHT_SHIFTS:
        register_weight_shift("weight")(_weight_shift)
    try:
        from steerlab.methods.walks.nonlinear import euler_walk, nn_shift
    except ImportError:
        pass
    else:
        if "nonlinear" not in MOVES:
            @register_move("nonlinear")
            def move_nonlinear(d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor) -> Tensor:
                """Euler steps f^n(z), n = alpha_g / epsilon (config "epsilon", "renorm")."""
                nets = {k: v.to(latent) for k, v in d.tensors.items()}
                n = alpha_g / torch.tensor(d.config["epsilon"], dtype=alpha_g.dtype, device=alpha_g.device)
                return euler_walk(nets, latent.flatten(1), n, renorm=d.config.get("renorm", True)).view_as(latent)
        if "nn-linear" not in MOVES:
            @register_move("nn-linear")
            def move_nn_linear(d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor) -> Tensor:
                """z + sum_k alpha_g[:, k] NN_k(z)."""
                nets = {k: v.to(latent) for k, v in d.tensors.items()}
                return nn_shift(nets, latent.flatten(1), alpha_g).view_as(latent)
    try:
        from steerlab.methods.trajectories.control import move_to
        from steerlab.methods.trajectories.encoding import piecewise_linear_inverse
    except ImportError:
        pass
    else:
        if "trajectory" not in MOVES:
            @register_move("trajectory")
            def move_trajectory(d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor) -> Tensor:
                """Set <u, z> to g^-1(t) (tensors "u", "knots_x", "knots_y"); t = alpha_g[:, 0]."""
                u, kx, ky = (d.tensors[k].to(latent) for k in ("u", "knots_x", "knots_y"))
                return move_to(latent, u, piecewise_linear_inverse(alpha_g[:, 0], kx, ky))
