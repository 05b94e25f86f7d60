"""Several directions at once: `steer`, the steering wheel's one pure function.

`steer` moves one latent by every direction whose knob is off its identity and renders the
result. How a direction combines with others follows from what its `Kind` provides
(`steerlab.directions.kinds`):

- a kind that ``move``s latents: moves compose sequentially in the order given. A linear
  move adds ``alpha_g @ w``, so linear walks simply sum their offsets (order does not matter).
  A linear w direction combined with w+ ones moves every w+ row; ``layers`` restricts every
  linear w / w+ direction to those rows.
- a kind with ``weight_shifts``: the shifts of several such directions are summed and rendered
  with ``G.synthesize_shifted`` (the model is never mutated).
- a kind with only ``render``: applied as the *last* step, on the latent the moves produced.
  Only one such direction can be off its identity at a time; asking for two is refused with a
  one-line ValueError naming them.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from steerlab.directions.direction import Direction
from steerlab.directions.errors import DirectionMismatch
from steerlab.directions.kinds import KINDS, Kind
from steerlab.models.base import Generator

__all__ = ["steer"]


def _label(d: Direction) -> str:
    return d.edit or d.config.get("name") or d.kind


def _active_knobs(G: Generator, knobs: Sequence[tuple[Direction, object]], n: int,
                  fingerprint: str | None) -> list[tuple[Direction, Kind, Tensor]]:
    """Check every direction against ``G``; keep those off their identity, with alpha_g (n, alpha_dim)."""
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
        identity_g = d.knob.to_g(torch.tensor(float(d.alpha.identity)))
        if bool((alpha_g != identity_g).any()):
            active.append((d, KINDS.get(d.kind), alpha_g))  # an unknown kind: one-line ValueError
    return active


@torch.no_grad()
def steer(G: Generator, knobs: Sequence[tuple[Direction, object]], z: Tensor | None = None, *,
          latent: Tensor | None = None, classes: Tensor | None = None,
          fingerprint: str | None = None, layers: Sequence[int] | None = None) -> Tensor:
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
        layers: w+ rows (ints in [0, num_ws)) that the linear w / w+ directions move
            (`Direction.on_layers`, the GANSpace/SeFa convention); the other rows stay exactly as
            the unmoved latent. Directions of other kinds or spaces are applied as they are.
            None: every row.

    Returns:
        (N, C, H, W) images in [0, 1].

    Raises:
        DirectionMismatch: a direction belongs to another model.
        ValueError: an alpha outside its range or NaN; an unknown kind; directions in different
            latent spaces; two render-only directions (or one and a weight shift), both off
            their identity.

    Example:
        >>> images = steer(G, [(zoom, 2.0), (color, [0.3, 0, 0])], z)    # doctest: +SKIP
    """
    if (z is None) == (latent is None):
        raise ValueError("pass exactly one of z or latent")
    n = (z if latent is None else latent).shape[0]
    active = _active_knobs(G, knobs, n, fingerprint)
    spaces = sorted({kind.latent_space(d) for d, kind, _ in active})
    if layers is not None or spaces == ["w", "w+"]:  # linear w directions meet w+ ones on every row (or on layers)
        rows = range(G.latent_shape("w+")[0]) if layers is None else layers
        active = [(d.on_layers(G, rows) if d.kind == "linear" and d.space in ("w", "w+") else d, kind, alpha_g)
                  for d, kind, alpha_g in active]
        spaces = sorted({kind.latent_space(d) for d, kind, _ in active})
    if len(spaces) > 1:
        raise ValueError(f"cannot combine directions in different latent spaces ({', '.join(spaces)}); "
                         "set all but one space's sliders to their identity")
    space = spaces[0] if spaces else "z"
    if latent is None:
        latent = G.to_space(z, space, classes)
    elif space == "w+" and latent.dim() == 2:  # a w code moved by w+ rows: repeat it over them
        latent = latent[:, None].expand(-1, G.latent_shape("w+")[0], -1)
    shifts: dict[str, Tensor] = {}
    last: tuple[Direction, Kind, Tensor] | None = None
    for d, kind, alpha_g in active:
        alpha_g = alpha_g.to(latent.device)
        if kind.moves_latents:
            latent = kind.move(d, G, latent, alpha_g)
        elif kind.shifts_weights:
            for name, s in kind.weight_shifts(d, G, alpha_g).items():
                shifts[name] = shifts[name] + s if name in shifts else s
        elif last is None:
            last = (d, kind, alpha_g)
        else:
            raise ValueError(f"directions '{_label(last[0])}' ({last[0].kind}) and '{_label(d)}' ({d.kind}) "
                             "cannot be combined; set one of them to its identity")
    if last is not None and shifts:
        raise ValueError(f"direction '{_label(last[0])}' ({last[0].kind}) cannot be combined with a "
                         "weight-space direction; set one of them to its identity")
    if last is not None:
        d, kind, alpha_g = last
        return kind.render(d, G, latent, alpha_g, classes)
    if shifts:
        return G.synthesize_shifted(latent, shifts, space=space, classes=classes)
    return G.synthesize(latent, space=space, classes=classes)
