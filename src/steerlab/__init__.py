"""steerlab: find, apply and measure steering directions in generative image models.

The public API mirrors the command line; each function is one job (`steerlab.jobs`):

    >>> import steerlab
    >>> run = steerlab.walk("faces", "zoom", steps=400, out="runs/zoom")            # doctest: +SKIP
    >>> images = steerlab.apply(run["direction"], seeds=[0, 1], alphas=[0.5, 1, 2])  # doctest: +SKIP
    >>> report = steerlab.evaluate(run["direction"], n=64, out="runs/zoom-eval")     # doctest: +SKIP

Names are loaded on first use, so ``import steerlab`` costs little more than ``import torch``
and ``import steerlab.edits`` loads no plotting, UI or vision library.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from steerlab._version import __version__

# public name -> (module, attribute)
_API: dict[str, tuple[str, str]] = {
    "walk": ("steerlab.jobs.walk", "walk"),
    "apply": ("steerlab.jobs.apply", "apply"),
    "evaluate": ("steerlab.jobs.evaluate", "evaluate"),
    "discover": ("steerlab.jobs.discover", "discover"),
    "analyze_weights": ("steerlab.jobs.discover", "analyze"),
    "layers": ("steerlab.jobs.discover", "layers"),
    "invert": ("steerlab.jobs.invert", "invert_images"),
    "trajectory": ("steerlab.jobs.trajectory", "trajectory"),
    "compare_spaces": ("steerlab.jobs.compare_spaces", "compare_spaces_run"),
    "compare_methods": ("steerlab.jobs.compare_methods", "compare_methods"),
    "learn": ("steerlab.methods", "learn"),
    "reproduce": ("steerlab.jobs.reproduce", "reproduce"),
    "train": ("steerlab.jobs.train", "train"),
    "list_models": ("steerlab.jobs.catalog", "list_models"),
    "list_edits": ("steerlab.jobs.catalog", "list_edits"),
    "Direction": ("steerlab.directions", "Direction"),
    "load_model": ("steerlab.models", "load_model"),
    "save_generator": ("steerlab.models", "save_generator"),
    "wrap_generator": ("steerlab.models", "wrap_generator"),
    "load_plugins": ("steerlab.core.plugins", "load_plugins"),
}

__all__ = ["__version__", *_API]

if TYPE_CHECKING:  # for editors and type checkers; at run time names load lazily
    from steerlab.core.plugins import load_plugins  # noqa: F401
    from steerlab.directions import Direction  # noqa: F401
    from steerlab.jobs.apply import apply  # noqa: F401
    from steerlab.jobs.evaluate import evaluate  # noqa: F401
    from steerlab.jobs.walk import walk  # noqa: F401
    from steerlab.models import load_model, save_generator, wrap_generator  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'steerlab' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
