"""Paper experiments reproduced end to end, one function per experiment: `steerlab reproduce NAME`.

``REPRODUCTIONS`` maps the CLI name to the function; each writes one run folder with a
``metrics.json``, its figures and a ``report.html``.
"""
from __future__ import annotations

from typing import Callable

REPRODUCTIONS: dict[str, str] = {
    "beta-vae": "steerlab.reproduce.beta_vae:reproduce_beta_vae",  # Plumerault et al. Fig. 5
    # Jahanian et al. Sec. 4.4, Fig. 9, Figs. 28-30 (options: --set KEY=VALUE, see options.py)
    "steerable-training": "steerlab.reproduce.steerable_training:reproduce_steerable_training",
    # Jahanian et al. Sec. 4.3, Fig. 7, App. A.3-A.4: linear vs nonlinear walks
    "nonlinear-walks": "steerlab.reproduce.nonlinear_walks:reproduce_nonlinear_walks",
    # Jahanian et al. Sec. 4.2, Eq. 6, Fig. 6, Table 1: dataset sigma vs model delta-mu per class
    "bias": "steerlab.reproduce.bias:reproduce_bias",
}


def get_reproduction(name: str) -> Callable[..., dict]:
    """The function that reproduces experiment ``name`` (imported on demand)."""
    if name not in REPRODUCTIONS:
        raise ValueError(f"unknown experiment '{name}'; allowed: {', '.join(sorted(REPRODUCTIONS))}")
    import importlib
    module, _, fn = REPRODUCTIONS[name].partition(":")
    return getattr(importlib.import_module(module), fn)
