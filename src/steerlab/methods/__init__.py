"""Every way to find a direction, behind one registry: ``METHODS[name] -> (Config, learn)``.

    >>> from steerlab.methods import METHODS, learn
    >>> METHODS.names()
    ['hessian', 'hybrid', 'linear', 'nn-linear', 'nonlinear', 'optimize', 'svd', 'trajectory']
    >>> directions = learn("linear", G, edit="zoom", steps=200)    # doctest: +SKIP

- ``walks/``: latent walks for an image edit (linear, nonlinear, nn-linear; one training loop);
- ``trajectories/``: inversion-based trajectories and the encoding model;
- ``paramspace/``: directions in a layer's weights (svd, hessian, optimize, hybrid);
- ``registry.py``: `Method`, `METHODS`, `register_method`, `option`; ``builtin.py``: the Configs.

Importing this package registers the built-in methods and loads none of their code.
"""
from steerlab.methods import builtin  # noqa: E402,F401  (registers the built-in methods)
from steerlab.methods.registry import (
                                       FAMILIES,
                                       METHODS,
                                       Learned,
                                       Method,
                                       MethodConfig,
                                       Option,
                                       config_options,
                                       learn,
                                       option,
                                       recorded,
                                       register_method,
)

__all__ = ["FAMILIES", "METHODS", "Learned", "Method", "MethodConfig", "Option", "config_options", "learn",
           "option", "recorded", "register_method"]
