"""Several directions at once: the steering wheel's one pure function.

`steer` moves one latent by every direction whose knob is off its identity and renders the
result. How a direction of a given kind combines with others is a per-kind hook:

- ``MOVES[kind](d, G, latent, alpha_g) -> latent``: a latent-to-latent map. Moves compose
  sequentially in the order given. For "linear" it adds ``alpha_g @ w``, so linear walks
  simply sum their offsets (order does not matter).
- ``WEIGHT_SHIFTS[kind](d, G, alpha_g) -> {weight name: shift}``: a weight-space direction;
  shifts of several such directions are summed and rendered with ``G.synthesize_shifted``
  (the model is never mutated).
- any other kind renders through its registered steerer (`steerlab.directions.KINDS`) as the
  *last* step, on the latent the moves produced. Only one such direction can be off its
  identity at a time; asking for two is refused with a one-line ValueError naming them.

A method module that adds a kind registers its hook beside its `register_kind`:

    >>> @register_move("mykind")                                        # doctest: +SKIP
    ... def move_mykind(d, G, latent, alpha_g): return latent + ...
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from steerlab.directions import KINDS, Direction, DirectionMismatch
from steerlab.models.base import Generator

Move = Callable[[Direction, Generator, Tensor, Tensor], Tensor]
WeightShift = Callable[[Direction, Generator, Tensor], "dict[str, Tensor]"]
MOVES: dict[str, Move] = {}
WEIGHT_SHIFTS: dict[str, WeightShift] = {}


def register_move(kind: str) -> Callable[[Move], Move]:
    """Decorator: how a direction of ``kind`` moves a latent, for combining with others."""
    def deco(fn: Move) -> Move:
        MOVES[kind] = fn
        return fn
    return deco


def register_weight_shift(kind: str) -> Callable[[WeightShift], WeightShift]:
    """Decorator: the named weight shifts a direction of ``kind`` makes at ``alpha_g``."""
    def deco(fn: WeightShift) -> WeightShift:
        WEIGHT_SHIFTS[kind] = fn
        return fn
    return deco


@register_move("linear")
def move_linear(d: Direction, G: Generator, latent: Tensor, alpha_g: Tensor) -> Tensor:
    """latent + sum_k alpha_g[:, k] w[k]  (w: (K, *S), alpha_g: (N, K), latent: (N, *S))."""
    w = d.tensors["w"].to(latent)
    return latent + torch.einsum("nk,k...->n...", alpha_g, w)


def _label(d: Direction) -> str:
    return d.edit or d.config.get("name") or d.kind


@torch.no_grad()
def steer(G: Generator, knobs: Sequence[tuple[Direction, object]], z: Tensor | None = None, *,
          latent: Tensor | None = None, classes: Tensor | None = None,
          fingerprint: str | None = None) -> Tensor:
    """Render ``G`` with several directions applied at once.

    Args:
        G: the generator every direction belongs to (checked by fingerprint).
        knobs: ``(direction, alpha_t)`` pairs, alpha in each direction's own units (a number,
            or an RGB triple for colour); a knob at its identity is skipped, i.e. leaves the
            sample as it is (for an absolute knob such as "trajectory", whose alpha is a factor
            value, the identity therefore means "the sample's own value").
        z: (N, z_dim) codes, mapped into the directions' latent space; or
        latent: (N, ...) codes already in that space (e.g. an inverted photo).
        classes: (N,) labels for a conditional model.
        fingerprint: ``G.fingerprint`` if the caller has it (it hashes every weight, so an
            interactive caller computes it once); directions are still checked against it.

    Returns:
        (N, C, H, W) images in [0, 1].

    Raises:
        DirectionMismatch: a direction belongs to another model.
        ValueError: an alpha outside its range or NaN; directions in different latent spaces;
            two directions of kinds that have no combine hook, both off their identity.

    Example:
        >>> images = steer(G, [(zoom, 2.0), (color, [0.3, 0, 0])], z)    # doctest: +SKIP
    """
    if (z is None) == (latent is None):
        raise ValueError("pass exactly one of z or latent")
    n = (z if latent is None else latent).shape[0]
    active = []
    for d, alpha_t in knobs:
        if fingerprint is None:
            d.check_model(G)
        elif d.fingerprint != fingerprint:
            raise DirectionMismatch(f"direction '{_label(d)}' was learned for model '{d.model}', "
                                    f"not '{G.name}'")
        if d.space != "weight":
            G.check_space(d.space)
        alpha_g = d.to_g(alpha_t, n)
        identity_g = d.knob.to_g(torch.tensor(float(d.alpha["identity"])))
        if bool((alpha_g != identity_g).any()):
            active.append((d, alpha_g))
    # a weight direction renders from latents in config["latent_space"] (steerlab.methods.paramspace)
    spaces = sorted({d.config.get("latent_space", "z") if d.space == "weight" else d.space
                     for d, _ in active})
    if len(spaces) > 1:
        raise ValueError(f"cannot combine directions in different latent spaces ({', '.join(spaces)}); "
                         "set all but one space's sliders to their identity")
    space = spaces[0] if spaces else "z"
    if latent is None:
        latent = G.to_space(z, space, classes)
    shifts: dict[str, Tensor] = {}
    last: tuple[Direction, Tensor] | None = None
    for d, alpha_g in active:
        alpha_g = alpha_g.to(latent.device)
        if d.kind in MOVES:
            latent = MOVES[d.kind](d, G, latent, alpha_g)
        elif d.kind in WEIGHT_SHIFTS:
            for name, s in WEIGHT_SHIFTS[d.kind](d, G, alpha_g).items():
                shifts[name] = shifts[name] + s if name in shifts else s
        elif d.kind not in KINDS:
            raise ValueError(f"unknown direction kind '{d.kind}'; allowed: {', '.join(sorted(KINDS))}")
        elif last is None:
            last = (d, alpha_g)
        else:
            raise ValueError(f"directions '{_label(last[0])}' ({last[0].kind}) and '{_label(d)}' ({d.kind}) "
                             "cannot be combined; set one of them to its identity")
    if last is not None and shifts:
        raise ValueError(f"direction '{_label(last[0])}' ({last[0].kind}) cannot be combined with a "
                         "weight-space direction; set one of them to its identity")
    if last is not None:
        return KINDS[last[0].kind](last[0], G, latent, last[1], classes)
    if shifts:
        return G.synthesize_shifted(latent, shifts, space=space, classes=classes)
    return G.synthesize(latent, space=space, classes=classes)
