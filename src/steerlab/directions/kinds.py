"""Direction kinds: how a direction of each kind moves a generator's output, in one registry.

A `Kind` is a small object a direction's ``kind`` name points to (``KINDS[d.kind]``). It does
one of three things, and says which by the method it overrides:

- ``move(d, G, latent, alpha_g) -> latent``: a latent-to-latent map. Moves compose: the
  combine function (`steerlab.directions.combine.steer`) applies several in order.
- ``weight_shifts(d, G, alpha_g) -> {weight name: shift}``: a weight-space direction; the
  shifts of several such directions are summed and rendered with ``G.synthesize_shifted``
  (the model is never mutated).
- ``render(d, G, latent, alpha_g, classes) -> images`` only: anything else; it is rendered
  alone, as the last step, on the latent the moves produced.

``render`` defaults to "move, then ``G.synthesize``" or "shift, then ``G.synthesize_shifted``";
a kind overrides it when it has a faster or more general single-direction path (the weight
kind renders one shift per sample with ``vmap``).

The built-in kinds (linear, nonlinear, nn-linear, weight, trajectory, input-transform) are registered here, so
every direction file renders after ``import steerlab.directions`` in a fresh process. A new
method registers its kind the same way, from inside or outside steerlab:

    >>> @register_kind("mirror")                                        # doctest: +SKIP
    ... class Mirror(Kind):
    ...     def move(self, d, G, latent, alpha_g):
    ...         return latent + alpha_g[:, :1] * d.tensors["v"].to(latent)

Shapes: latent (N, *S) in the kind's latent space (`Kind.latent_space`), alpha_g (N, alpha_dim)
in walk coordinates (`Direction.to_g`), classes (N,) or None, images (N, C, H, W) in [0, 1].
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, TypeVar

import torch
from torch import Tensor

from steerlab.core.registry import Registry
from steerlab.directions.errors import DirectionMismatch
from steerlab.directions.ops import (
    euler_walk,
    linear_shift,
    move_to,
    nn_shift,
    piecewise_linear_inverse,
    render_shifted,
)
from steerlab.models.base import Generator

if TYPE_CHECKING:  # Direction imports this module to find its kind
    from steerlab.directions.direction import Direction

__all__ = ["KINDS", "InputTransform", "Kind", "Linear", "NNLinear", "Nonlinear", "Trajectory", "Weight", "get_kind",
           "input_transform_direction", "register_kind"]

K = TypeVar("K")


class Kind:
    """How directions of one kind move a generator's output (see the module docstring).

    Subclass it, override ``move``, ``weight_shifts`` or ``render``, and register an instance
    with `register_kind`. A kind reads only its direction's tensors and config; it holds no
    state of its own, so one instance serves every direction of the kind.
    """

    name: str = ""  # set by `register_kind`

    def latent_space(self, d: Direction) -> str:
        """The space of the latents this kind is given: the direction's own, or for a direction in
        "weight" space the one its ``config["latent_space"]`` names (default "z")."""
        return d.config.get("latent_space", "z") if d.space == "weight" else d.space

    def move(self, d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor) -> Tensor:
        """The moved latent (N, *S); override for a latent-space kind."""
        raise NotImplementedError(f"direction kind '{self.name}' does not move latents")

    def weight_shifts(self, d: Direction, G: Generator, alpha_g: Tensor) -> dict[str, Tensor]:
        """Weight name -> shift (the weight's shape) at ``alpha_g``; override for a weight-space kind."""
        raise NotImplementedError(f"direction kind '{self.name}' does not shift weights")

    def render(self, d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor,
               classes: Tensor | None) -> Tensor:
        """Images (N, C, H, W) in [0, 1] of ``latent`` moved by ``d`` at ``alpha_g``."""
        space = self.latent_space(d)
        if self.moves_latents:
            return G.synthesize(self.move(d, G, latent, alpha_g), space=space, classes=classes)
        if self.shifts_weights:
            return G.synthesize_shifted(latent, self.weight_shifts(d, G, alpha_g), space=space, classes=classes)
        raise NotImplementedError(f"direction kind '{self.name}' defines none of move, weight_shifts, render")

    # what the combine function needs to know: which of the three the subclass provides
    @property
    def moves_latents(self) -> bool:
        return type(self).move is not Kind.move

    @property
    def shifts_weights(self) -> bool:
        return type(self).weight_shifts is not Kind.weight_shifts

    @property
    def renders(self) -> bool:
        return self.moves_latents or self.shifts_weights or type(self).render is not Kind.render

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


KINDS: Registry[Kind] = Registry("direction kind", Kind)


def register_kind(name: str, *, overwrite: bool = False) -> Callable[[K], K]:
    """Decorator: register a `Kind` subclass (an instance is made) or a `Kind` instance as ``name``.

    Raises:
        ValueError: ``name`` is taken (unless ``overwrite``) or empty.
        TypeError: the object is not a `Kind`, or overrides none of move, weight_shifts, render.
    """
    def deco(kind: K) -> K:
        if isinstance(kind, type):
            if not issubclass(kind, Kind):
                raise TypeError(f"direction kind '{name}' must be a subclass of steerlab.directions.Kind, "
                                f"got class {kind.__name__}")
            obj = kind()
        else:
            obj = kind
        if isinstance(obj, Kind) and not obj.renders:
            raise TypeError(f"direction kind '{name}' ({type(obj).__name__}) must override move, "
                            "weight_shifts or render")
        KINDS.register(name, obj, overwrite=overwrite)  # refuses a duplicate or a non-Kind, one line
        obj.name = name
        return kind
    return deco


def get_kind(name: str) -> Kind:
    """The registered kind ``name``; a one-line ValueError listing the known kinds otherwise."""
    return KINDS.get(name)


# ----------------------------------------------------------------------------- built-in kinds
@register_kind("linear")
class Linear(Kind):
    """Jahanian et al., Eq. 1: ``latent + sum_k alpha_g[:, k] w[k]``; tensor ``w`` (alpha_dim, *S).

    Linear moves commute, so any number of linear directions simply sum their offsets.
    """

    def move(self, d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor) -> Tensor:
        w = d.tensors["w"].to(latent)
        if tuple(latent.shape[1:]) != tuple(w.shape[1:]):  # e.g. a w+ code given to a w direction would broadcast
            raise ValueError(f"latent of shape {tuple(latent.shape)} does not fit this direction in space "
                             f"'{d.space}' (codes of shape (N, {', '.join(map(str, w.shape[1:]))}))")
        return latent + linear_shift(w, alpha_g)


@register_kind("nonlinear")
class Nonlinear(Kind):
    """Jahanian et al., Eq. 2: ``f^n(z)`` with n = alpha_g / epsilon Euler steps of ``f(z) = z + NN(z)``.

    Tensors W1, b1, W2, b2 (`steerlab.directions.ops.Nets`); config ``epsilon`` (one per
    component) and ``renorm`` (keep ||z||, default True). Latents are flattened per sample.
    """

    def move(self, d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor) -> Tensor:
        nets = {k: v.to(latent) for k, v in d.tensors.items()}
        steps = alpha_g / torch.tensor(d.config["epsilon"], dtype=alpha_g.dtype, device=alpha_g.device)
        return euler_walk(nets, latent.flatten(1), steps, renorm=d.config.get("renorm", True)).view_as(latent)


@register_kind("nn-linear")
class NNLinear(Kind):
    """Jahanian et al., App. A.3: ``z + sum_k alpha_g[:, k] NN_k(z)``; tensors as "nonlinear" (one slot)."""

    def move(self, d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor) -> Tensor:
        nets = {k: v.to(latent) for k, v in d.tensors.items()}
        return nn_shift(nets, latent.flatten(1), alpha_g).view_as(latent)


@register_kind("trajectory")
class Trajectory(Kind):
    """Plumerault et al., Sec. 2.2: set <u, z> to g^-1(t), t = alpha_g[:, 0] the target factor value.

    Tensors ``u`` (d,), ``knots_x``, ``knots_y`` (K,) of the encoding model t = g(<u, z>). The knob
    is absolute: alpha = 0 moves a sample to t = 0, it does not leave it unchanged.
    """

    def move(self, d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor) -> Tensor:
        u, kx, ky = (d.tensors[k].to(latent) for k in ("u", "knots_x", "knots_y"))
        return move_to(latent, u, piecewise_linear_inverse(alpha_g[:, 0].to(latent), kx, ky))


@register_kind("weight")
class Weight(Kind):
    """Cherepkov et al., Sec. 3.1: ``G_{theta + t xi}(z)``, t = alpha_g[:, 0] the shift magnitude.

    Tensor ``xi`` (the weight's shape); config ``layer`` (the weight's name) and ``latent_space``
    (the space the latents are in, default "z"). Combined with other weight directions, their
    shifts add up; that needs one t for the whole batch.
    """

    def _shift_axis(self, d: Direction, G: Generator) -> tuple[str, Tensor]:
        """(layer, xi on the weight's device and dtype), or a one-line error if it does not fit G."""
        layer, xi = d.config.get("layer"), d.tensors.get("xi")
        if layer is None or xi is None:
            raise ValueError("weight direction needs config['layer'] and tensor 'xi'")
        w = G.shiftable_weights().get(layer)
        if w is None or tuple(w.shape) != tuple(xi.shape):
            raise DirectionMismatch(f"weight direction for layer '{layer}' {list(xi.shape)} does not fit "
                                    f"model '{G.name}'")
        return layer, xi.to(w)

    def weight_shifts(self, d: Direction, G: Generator, alpha_g: Tensor) -> dict[str, Tensor]:
        layer, xi = self._shift_axis(d, G)
        t = alpha_g[:, 0].to(xi)
        if not bool((t == t[0]).all()):
            raise ValueError("weight directions combine with one shift magnitude for the whole batch")
        return {layer: t[0] * xi}

    def render(self, d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor,
               classes: Tensor | None) -> Tensor:
        layer, xi = self._shift_axis(d, G)
        t = alpha_g[:, 0].to(xi)
        space = self.latent_space(d)
        if bool((t == t[0]).all()):  # one magnitude for the batch: a single plain call
            return G.synthesize_shifted(latent, {layer: t[0] * xi}, space=space, classes=classes)
        return render_shifted(G, latent, layer, t.view(-1, *[1] * xi.dim()) * xi, space=space, classes=classes)


@register_kind("input-transform")
class InputTransform(Kind):
    """A model's own input translation / rotation (StyleGAN3's Fourier-feature input), as a direction.

    Renders ``G.synthesize(latent, transform=alpha_g[:, :1] * axis)``; tensor ``axis`` (3,) is the
    (dx, dy, angle) per unit of alpha_g (dx, dy in image widths, angle in degrees). Only for a model
    whose ``synthesize`` takes ``transform`` (``has_input_transform``: `StyleGAN3Generator`). Made
    by `steerlab.directions.input_transform_direction`; the natural ground truth for a learned
    shift or rotation walk. Rendered last, on the latent any moves produced.
    """

    def render(self, d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor,
               classes: Tensor | None) -> Tensor:
        if not getattr(G, "has_input_transform", False):
            raise ValueError(f"direction kind 'input-transform' needs a model with an input transform "
                             f"(StyleGAN3); model '{G.name}' has none")
        t = alpha_g[:, :1].to(latent) * d.tensors["axis"].to(latent)
        return G.synthesize(latent, space=self.latent_space(d), classes=classes, transform=tuple(t.unbind(1)))


# the edits a model's own input transform performs, and the (dx, dy, angle) axis of each
INPUT_TRANSFORM_EDITS = {"shift_x": (1.0, 0.0, 0.0), "shift_y": (0.0, 1.0, 0.0), "rotate2d": (0.0, 0.0, 1.0)}


def input_transform_direction(G: Generator, edit: str = "shift_x", *, space: str = "w") -> Direction:
    """The model's own translation or rotation as an "input-transform" `Direction` for ``edit``.

    Driven in the edit's units (shift_x / shift_y: fractions of the width / height, + = right /
    down; rotate2d: degrees, + = counter-clockwise), so it renders, saves, applies and evaluates
    like a walk learned for the same edit; ``space`` is the latent space it is given codes in.

    Raises:
        ValueError: ``G`` has no input transform, or ``edit`` is not one it performs.
    """
    from steerlab.directions.alpha import alpha_spec
    from steerlab.directions.direction import Direction
    from steerlab.edits import get_edit

    if not getattr(G, "has_input_transform", False):
        raise ValueError(f"model '{G.name}' has no input transform (StyleGAN3 models do)")
    if edit not in INPUT_TRANSFORM_EDITS:
        raise ValueError(f"the input transform performs {', '.join(INPUT_TRANSFORM_EDITS)}, not {edit!r}")
    G.check_space(space)
    e = get_edit(edit)
    per_g = float(e.to_t(torch.tensor(1.0)))  # edit units per unit of alpha_g (linear mappings)
    axis = torch.tensor(INPUT_TRANSFORM_EDITS[edit]) * per_g
    return Direction(kind="input-transform", space=space, tensors={"axis": axis}, model=G.name,
                     fingerprint=G.fingerprint, alpha=alpha_spec(e), edit=edit,
                     config={"method": "input-transform"})
