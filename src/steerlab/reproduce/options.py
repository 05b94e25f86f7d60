"""Generic options for `steerlab reproduce NAME --set KEY=VALUE ...`.

An experiment listed in ``GENERIC`` is configured by its function's own keyword arguments: the
CLI passes ``--out``, ``--overwrite``, ``--device``, ``--seed`` and every ``--set KEY=VALUE``,
typed after the argument's default (int, float, bool, comma-separated lists). Unknown keys are
refused with the list of allowed ones.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

GENERIC = {"steerable-training", "nonlinear-walks", "bias"}
GENERIC |= {"segmented-colour", "zoom-shift"}  # Jahanian et al. App. B.6
GENERIC |= {"shared-direction", "inversion-losses", "latent-parts"}  # Plumerault et al. Figs. 2, 6-7, 4
GENERIC |= {"zoom-objectives"}  # the faces zoom walk under several objectives
GENERIC |= {"weight-methods", "latent-mimic", "layer-depth"}  # Cherepkov et al. experiments
GENERIC.add("svd-realism")
_RESERVED = {"out", "overwrite", "device", "progress", "seed", "resume", "checkpoint_every"}


def options_of(fn: Callable[..., dict]) -> dict[str, Any]:
    """The experiment's own keyword options with their defaults."""
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if p.kind is p.KEYWORD_ONLY and k not in _RESERVED}


def _convert(text: str, like: Any) -> Any:
    if isinstance(like, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    if isinstance(like, (list, tuple)):
        item = like[0] if like else ""
        return type(like)(_convert(t.strip(), item) for t in text.split(",") if t.strip())
    if isinstance(like, float):
        return float(text)
    if isinstance(like, int):
        return int(text)
    if like is None:  # no default to go by
        return None if text.lower() == "none" else text
    return text


def parse_options(fn: Callable[..., dict], pairs: list[str] | None) -> dict[str, Any]:
    """``["gan_steps=4000", "edits=zoom,shift_x"]`` -> typed keyword arguments of ``fn``."""
    allowed, out = options_of(fn), {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in allowed:
            raise ValueError(f"bad option {pair!r}; use --set KEY=VALUE with KEY in: {', '.join(allowed)}")
        try:
            out[key] = _convert(value.strip(), allowed[key])
        except ValueError as e:
            raise ValueError(f"option {key}: {e}") from None
    return out


def describe_options(fn: Callable[..., dict]) -> str:
    return ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
                     for k, v in options_of(fn).items())
