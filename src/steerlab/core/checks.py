"""Checks of the values every job takes: numbers, counts, devices, training progress.

Each refuses a bad value with one `ValueError` line that names the option, what it got and what is
allowed, so the Python API and the command line (whose argument types call these) refuse the same
things the same way. The documented upper bounds of sizes and counts are here, in one place.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

__all__ = ["MAX_COUNT", "MAX_SEEDS", "MAX_STEPS", "MAX_BATCH", "MAX_IMAGES", "MAX_Z_DIM",
           "check_int", "check_float", "check_seeds", "check_device", "available_devices",
           "NonFiniteError", "check_finite"]

# Documented upper bounds (docs/cli.md): beyond them a run would take days or all memory.
MAX_SEEDS = 1024        # samples rendered by `apply` (seeds or a latent file's rows)
MAX_STEPS = 10 ** 6     # optimisation steps of any loop
MAX_BATCH = 4096        # samples per step / forward pass
MAX_COUNT = 100_000     # samples, trajectories, restarts, directions, alphas
MAX_IMAGES = 10 ** 7     # training images drawn from a dataset
MAX_Z_DIM = 65_536      # latent size of a trained model


def check_int(name: str, value: Any, lo: int = 1, hi: int = MAX_COUNT) -> int:
    """``value`` as an int in [lo, hi], else one line naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if isinstance(value, bool) or float(value) != int(value):
                raise ValueError
            value = int(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{name} must be a whole number in [{lo}, {hi}], got {value!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be a whole number in [{lo}, {hi}], got {value}")
    return value


def check_float(name: str, value: Any, lo: float = 0.0, hi: float = math.inf, *, lo_open: bool = True) -> float:
    """``value`` as a finite float in (lo, hi] (``lo_open``) or [lo, hi], else one line."""
    try:
        if isinstance(value, bool):
            raise TypeError
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        value = None
    bracket = "(" if lo_open else "["
    allowed = f"a finite number in {bracket}{lo:g}, {hi:g}]"
    if value is None or not math.isfinite(value) or value > hi or value < lo or (lo_open and value == lo):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def check_seeds(name: str, seeds: Iterable[Any], hi: int = MAX_SEEDS) -> list[int]:
    """A list of 1..``hi`` seeds, each a whole number in [0, 2**63 - 1]."""
    seeds = list(seeds)
    if not 1 <= len(seeds) <= hi:
        raise ValueError(f"{name} must name 1 to {hi} seeds, got {len(seeds)}")
    return [check_int(f"{name} seed", s, 0, 2 ** 63 - 1) for s in seeds]


def available_devices() -> list[str]:
    """The torch devices this build and machine offer, e.g. ``['cpu', 'cuda:0']``."""
    import torch
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def check_device(device: Any) -> Any:
    """``device`` if this torch can use it, else one line listing the available ones.

    A `torch.device` passes as given when its type is available.
    """
    import torch
    text = str(device)
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown device '{text}'; available: {', '.join(available_devices())}") from None
    ok = dev.type == "cpu" or (
        dev.type == "cuda" and torch.cuda.is_available()
        and (dev.index is None or dev.index < torch.cuda.device_count())
    ) or (dev.type == "mps" and "mps" in available_devices())
    if not ok:
        raise ValueError(f"device '{text}' is not available in this torch build/machine; "
                         f"available: {', '.join(available_devices())}")
    return device


class NonFiniteError(ValueError):
    """A training or optimisation loop met a NaN/inf loss or parameter (stopped, nothing written)."""


def check_finite(what: str, step: int, *tensors: Any) -> None:
    """Raise `NonFiniteError` (one line) when any tensor holds a NaN or inf.

    ``what`` names the loop ("walk", "GAN training", "inversion"), ``step`` the step it happened at.
    """
    import torch
    for t in tensors:
        if t is not None and not bool(torch.isfinite(t).all()):
            raise NonFiniteError(f"{what} diverged at step {step}: the loss or a parameter became NaN/inf; "
                                 "nothing was written (lower --lr, or check the other options)")
