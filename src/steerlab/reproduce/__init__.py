"""Paper experiments reproduced end to end, one function per experiment: `steerlab reproduce NAME`.

``REPRODUCTIONS`` maps the CLI name to the function, or to its ``"module:function"`` path so the
experiment's module is imported only when it runs; each writes one run folder with a
``metrics.json``, its figures and a ``report.html``. A plugin adds one with
``register_reproduction(name, fn_or_path)``.
"""
from __future__ import annotations

import collections.abc
import importlib
from typing import Callable, Union

from steerlab.core.registry import Registry

__all__ = ["REPRODUCTIONS", "register_reproduction", "get_reproduction"]

Reproduction = Callable[..., dict]

REPRODUCTIONS: Registry[Union[str, Reproduction]] = Registry("experiment", kind=(str, collections.abc.Callable))
"""Experiment name -> function or ``"module:function"`` (a validating `steerlab.core.registry.Registry`)."""


def register_reproduction(name: str, target: str | Reproduction, *, overwrite: bool = False) -> str | Reproduction:
    """Add an experiment: ``target`` is a function ``fn(out=..., **options) -> dict`` or the
    ``"module:function"`` path of one (imported when it runs).

    Raises:
        TypeError: ``target`` is neither.
        ValueError: a path without ``:``, or ``name`` already registered (without ``overwrite``).
    """
    if isinstance(target, str) and not all(target.partition(":")[::2]):
        raise ValueError(f"experiment '{name}': a path must read 'module:function', got {target!r}")
    return REPRODUCTIONS.register(name, target, overwrite=overwrite)


register_reproduction("beta-vae", "steerlab.reproduce.beta_vae:reproduce_beta_vae")  # Plumerault et al. Fig. 5
# Jahanian et al. Sec. 4.4, Fig. 9, Figs. 28-30 (options: --set KEY=VALUE, see options.py)
register_reproduction("steerable-training", "steerlab.reproduce.steerable_training:reproduce_steerable_training")
# Jahanian et al. Sec. 4.3, Fig. 7, App. A.3-A.4: linear vs nonlinear walks
register_reproduction("nonlinear-walks", "steerlab.reproduce.nonlinear_walks:reproduce_nonlinear_walks")
# Jahanian et al. Sec. 4.2, Eq. 6, Fig. 6, Table 1: dataset sigma vs model delta-mu per class
register_reproduction("bias", "steerlab.reproduce.bias:reproduce_bias")
# Jahanian et al. App. B.6, Fig. 26 left: a colour walk with a segmented target
register_reproduction("segmented-colour", "steerlab.reproduce.segmented_colour:reproduce_segmented_colour")
# Jahanian et al. App. B.6, Fig. 27: one walk for zoom + shift x vs the two walks added
register_reproduction("zoom-shift", "steerlab.reproduce.zoom_shift:reproduce_zoom_shift")
# Plumerault et al. Sec. 3.1, Fig. 2: per-class vs one shared factor direction, tested on held-out classes
register_reproduction("shared-direction", "steerlab.reproduce.shared_direction:reproduce_shared_direction")
# Plumerault et al. App. C, Figs. 6-7, Table 2: inversion losses vs blur sigma, with and without the norm ball
register_reproduction("inversion-losses", "steerlab.reproduce.inversion_losses:reproduce_inversion_losses")
# Plumerault et al. Fig. 4: squared norm of a factor direction per part of a hierarchical z
register_reproduction("latent-parts", "steerlab.reproduce.latent_parts:reproduce_latent_parts")
# which zoom-walk objective grows the faces of `faces`, per face (masked L2, edges, ST-LPIPS, ...)
register_reproduction("zoom-objectives", "steerlab.reproduce.zoom_objectives:reproduce_zoom_objectives")
# Cherepkov et al. Sec. 4.2, Fig. 7, App. Table 1: svd / hessian / optimize / hybrid measured alike
register_reproduction("weight-methods", "steerlab.reproduce.weight_methods:reproduce_weight_methods")
register_reproduction("latent-mimic", "steerlab.reproduce.latent_mimic:reproduce_latent_mimic")  # Sec. 4.3, W / W+
register_reproduction("layer-depth", "steerlab.reproduce.layer_depth:reproduce_layer_depth")  # App. 6.2, Fig. 20
register_reproduction("svd-realism", "steerlab.reproduce.svd_realism:reproduce_svd_realism")  # Cherepkov et al. Fig. 7


def get_reproduction(name: str) -> Reproduction:
    """The function that reproduces experiment ``name`` (its module imported on demand).

    Raises:
        ValueError: unknown name (the message lists the allowed ones).
    """
    target = REPRODUCTIONS.get(name)
    if callable(target):
        return target
    module, _, fn = target.partition(":")
    return getattr(importlib.import_module(module), fn)
