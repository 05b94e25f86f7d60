"""The maths of every built-in direction kind, below the methods that learn the directions.

A kind's move must be available wherever a direction file is read (the CLI, reports, the UI),
without importing the method that learned it, so these pure functions live here and the
method modules import them for training:

- ``linear_shift``: a linear walk's offset ``sum_k alpha_g[:, k] w[k]`` (Jahanian et al., Eq. 1);
- ``step_net``, ``euler_walk``, ``nn_shift``: the nonlinear walks' step networks (Eq. 2, App. A.3);
- ``piecewise_linear``, ``piecewise_linear_inverse``, ``move_to``: a trajectory direction's
  encoding model t = g(<u, z>) and the latent move that sets it (Plumerault et al., Sec. 2.2);
- ``layer_weight``, ``render_shifted``: a weight direction's G_{theta + t xi}(z) (Cherepkov et al.);
  ``ShiftRenderer``: the same for many t and xi on fixed codes, running only what a shift changes.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from steerlab.models.base import Generator

__all__ = ["Nets", "STEP_TOL", "ShiftRenderer", "euler_walk", "layer_weight", "linear_shift", "move_to", "nn_shift",
           "piecewise_linear", "piecewise_linear_inverse", "render_shifted", "step_net"]

Nets = dict[str, Tensor]  # W1 (K, S, H, D), b1 (K, S, H), W2 (K, S, D, H), b2 (K, S, D)
STEP_TOL = 1e-4  # step counts this close to an integer are that integer (float round-off)


# ----------------------------------------------------------------------------- linear walks
def linear_shift(w: Tensor, alpha_g: Tensor) -> Tensor:
    """sum_k alpha_g[:, k] * w[k]: (K, *S) and (N, K) -> (N, *S)."""
    return torch.einsum("nk,k...->n...", alpha_g, w)


# ----------------------------------------------------------------------------- nonlinear walks
def step_net(nets: Nets, z: Tensor, k: int, slot: Tensor | int) -> Tensor:
    """NN_{k, slot}(z): z (N, D) -> (N, D).

    ``slot``: an int (one network for every sample: only that network runs) or (N,) long, one
    slot per sample (every network of component k runs on every sample; for inspection).
    """
    if isinstance(slot, int):
        h = torch.relu(torch.einsum("hd,nd->nh", nets["W1"][k, slot], z) + nets["b1"][k, slot])  # (N, H)
        return torch.einsum("dh,nh->nd", nets["W2"][k, slot], h) + nets["b2"][k, slot]          # (N, D)
    h = torch.relu(torch.einsum("shd,nd->nsh", nets["W1"][k], z) + nets["b1"][k])  # (N, S, H)
    out = torch.einsum("sdh,nsh->nsd", nets["W2"][k], h) + nets["b2"][k]          # (N, S, D)
    return out.gather(1, slot.view(-1, 1, 1).expand(-1, 1, out.shape[-1]))[:, 0]


def euler_walk(nets: Nets, z: Tensor, n: Tensor, *, renorm: bool = True) -> Tensor:
    """``f^n(z)`` per sample, ``f(z) = z + NN(z)`` renormalised to ||z||.

    Args:
        nets: step networks with 2 slots (0: positive, 1: negative direction).
        z: latents (N, D).
        n: signed step counts (N, K), one column per component, applied in order; real values
            make a last partial step ``z + r NN(z)`` for the remainder r. Best kept on the host
            (training draws it there): which samples move at which step is decided from it,
            so a copy on a device is read back once per call.
        renorm: rescale to the input norm after every step (App. A.4).

    Each step runs only the network a sample needs (its sign's slot) and only on the samples
    that still move; the others are left as they are.

    Returns:
        (N, D) latents; differentiable w.r.t. ``nets`` and ``z``.
    """
    counts = n.detach().cpu()  # (N, K): the schedule, on the host
    for k in range(counts.shape[1]):
        count = counts[:, k].abs()
        count = torch.where((count - count.round()).abs() < STEP_TOL, count.round(), count)
        for slot in (0, 1):  # slot 0 moves the samples with n >= 0, slot 1 those with n < 0
            mine = (counts[:, k] < 0) == bool(slot)
            for i in range(int(math.ceil(float(count[mine].max())))) if mine.any() else ():
                rows = (mine & (count > i)).nonzero()[:, 0]                      # samples still moving
                frac = (count[rows] - i).clamp(0, 1)[:, None].to(z)              # 1 = whole step, <1 = partial
                rows = rows.to(z.device)
                zr = z[rows]
                moved = zr + frac * step_net(nets, zr, k, slot)
                if renorm:
                    moved = moved * (zr.norm(dim=1, keepdim=True) / moved.norm(dim=1, keepdim=True).clamp_min(1e-12))
                z = z.index_copy(0, rows, moved)
    return z


def nn_shift(nets: Nets, z: Tensor, alpha_g: Tensor) -> Tensor:
    """A.3's walk ``z + sum_k alpha_g[:, k] NN_k(z)``: z (N, D), alpha_g (N, K) -> (N, D)."""
    slot = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
    return z + sum(alpha_g[:, k:k + 1] * step_net(nets, z, k, slot) for k in range(alpha_g.shape[1]))


# ----------------------------------------------------------------------------- trajectories
def piecewise_linear(s: Tensor, knots_x: Tensor, knots_y: Tensor) -> Tensor:
    """g(s) through the points (knots_x, knots_y), linear beyond the ends. Any shape of s.

    Args:
        s: inputs, any shape.
        knots_x: (K,) increasing, evenly or unevenly spaced.
        knots_y: (K,) values (increasing for a monotone g).
    """
    idx = (torch.searchsorted(knots_x.contiguous(), s.detach().reshape(-1).contiguous(), right=True) - 1)
    idx = idx.clamp(0, knots_x.numel() - 2).reshape(s.shape)
    x0, x1, y0, y1 = knots_x[idx], knots_x[idx + 1], knots_y[idx], knots_y[idx + 1]
    return y0 + (y1 - y0) / (x1 - x0) * (s - x0)


def piecewise_linear_inverse(t: Tensor, knots_x: Tensor, knots_y: Tensor) -> Tensor:
    """g^-1(t) for an increasing piecewise-linear g (the same extension beyond the ends)."""
    return piecewise_linear(t, knots_y, knots_x)


def move_to(z: Tensor, u: Tensor, s: Tensor) -> Tensor:
    """Set each row's coordinate along the unit axis u to s: z - <z, u> u + s u.

    Shape: z (N, d), u (d,), s (N,) or a scalar. Returns (N, d).
    """
    s = torch.as_tensor(s, dtype=z.dtype, device=z.device).reshape(-1, 1)
    return z - (z @ u)[:, None] * u[None] + s * u[None]


# ----------------------------------------------------------------------------- weight shifts
def layer_weight(G: Generator, layer: str) -> Tensor:
    """The weight tensor named ``layer``; a one-line ValueError listing the layers otherwise."""
    weights = G.shiftable_weights()
    if layer not in weights:
        names = list(weights)
        shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
        raise ValueError(f"unknown layer '{layer}' for model '{G.name}'; allowed: {shown} "
                         "(see `steerlab layers`)")
    return weights[layer]


def render_shifted(G: Generator, latent: Tensor, layer: str, shift: Tensor, *, space: str = "z",
                   classes: Tensor | None = None) -> Tensor:
    """Images of ``G`` with ``layer``'s weight moved by ``shift``; the model is left untouched.

    Args:
        G: any steerlab generator.
        latent: (N, ...) codes in ``space``.
        layer: a name of ``G.shiftable_weights()`` (see `steerlab layers`).
        shift: the weight's shape (one shift for the whole batch) or (N, *weight_shape)
            (one per sample, rendered with ``torch.func.vmap``).
        space, classes: as in ``G.synthesize``.

    Returns:
        (N, C, H, W) float32 images in [0, 1], differentiable w.r.t. ``shift``.
    """
    w = layer_weight(G, layer)
    shape = tuple(w.shape)
    if tuple(shift.shape) == shape:
        return G.synthesize_shifted(latent, {layer: shift.to(w)}, space=space, classes=classes)
    n = latent.shape[0]
    if tuple(shift.shape) != (n, *shape):
        raise ValueError(f"shift for {layer} must have shape {list(shape)} or {[n, *shape]}, "
                         f"got {list(shift.shape)}")
    if not torch.isfinite(shift).all():
        raise ValueError("weight shift contains NaN or inf")
    shift = shift.to(w)
    if classes is None:
        # vmap turns the per-sample weights into one grouped convolution: one call, N weights.
        one = lambda s, lat: G.synthesize_shifted(lat[None], {layer: s}, space=space)[0]  # noqa: E731
        return torch.func.vmap(one)(shift, latent)
    # Class checks read label values, which vmap cannot; conditional models go sample by sample.
    return torch.cat([G.synthesize_shifted(latent[i:i + 1], {layer: shift[i]}, space=space,
                                           classes=classes[i:i + 1]) for i in range(n)])


# Modules whose output is linear in their weight: M(h; W + t xi) = M(h; W) + t M(h; xi, bias 0).
LINEAR_IN_WEIGHT = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                    nn.ConvTranspose3d)


class ShiftRenderer:
    """G_{theta + t xi}(latent) for many shifts of one layer on fixed codes, without gradients.

    The analyses of a weight direction (calibration, locality, grids) render the same codes under
    many shifts t xi. When the weight belongs to a plain conv / linear module (exactly one of
    `LINEAR_IN_WEIGHT`) that runs once per image, its output is linear in the weight, so
    ``M(h; W + t xi) = M(h; W) + t M(h; xi)`` with the bias left out of the second term: the
    module's input h and output are recorded once, ``M(h; xi)`` once per direction, and a shift
    replaces the module's output instead of running it. Any other layer (StyleGAN's modulated
    convolutions, a user's own module, a module called twice) renders with `render_shifted`.
    Images agree with `render_shifted` to float rounding (tested).

    While it renders, the module's ``forward`` is replaced on that instance: do not render the
    same generator from another thread at the same time.

    Args:
        G: any steerlab generator.
        layer: a name of ``G.shiftable_weights()``.
        latent: (N, ...) codes in ``space``; classes: (N,) or None.

    Attributes:
        base: (N, C, H, W) G_theta(latent) in [0, 1].
        fast: whether shifts skip the module (False: every call runs `render_shifted`).

    Example:
        >>> r = ShiftRenderer(G, "conv2.weight", z)                          # doctest: +SKIP
        >>> images = r(xi, 0.5)  # == render_shifted(G, z, "conv2.weight", 0.5 * xi)
    """

    def __init__(self, G: Generator, layer: str, latent: Tensor, *, space: str = "z",
                 classes: Tensor | None = None):
        w = layer_weight(G, layer)
        self.G, self.layer, self.latent, self.space, self.classes = G, layer, latent, space, classes
        path, _, pname = layer.rpartition(".")
        module = G.get_submodule(path) if path else G
        calls = []
        linear = type(module) in LINEAR_IN_WEIGHT and pname == "weight" and module.weight is w
        handle = module.register_forward_hook(lambda m, a, kw, out: calls.append((a, kw, out)),
                                              with_kwargs=True) if linear else None
        try:
            with torch.no_grad():
                self.base = G.synthesize(latent, space=space, classes=classes)
        finally:
            if handle is not None:
                handle.remove()
        self.fast = linear and len(calls) == 1
        self._module = module
        if self.fast:
            self._args, self._kwargs, self._out = calls[0]
        self._xi, self._delta = None, None

    def _delta_for(self, xi: Tensor) -> Tensor:
        if self._xi is not xi:
            params = {"weight": xi.to(self._module.weight)}
            if getattr(self._module, "bias", None) is not None:
                params["bias"] = torch.zeros_like(self._module.bias)
            self._delta = torch.func.functional_call(self._module, params, self._args, self._kwargs)
            self._xi = xi
        return self._delta

    @torch.no_grad()
    def __call__(self, xi: Tensor, t: float) -> Tensor:
        """(N, C, H, W) images in [0, 1] of the generator with ``layer``'s weight + ``t * xi``."""
        if not self.fast:
            return render_shifted(self.G, self.latent, self.layer, float(t) * xi.to(self.latent),
                                  space=self.space, classes=self.classes)
        out = self._out + float(t) * self._delta_for(xi)
        self._module.forward = lambda *args, **kwargs: out
        try:
            return self.G.synthesize(self.latent, space=self.space, classes=self.classes)
        finally:
            del self._module.forward
