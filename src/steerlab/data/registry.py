"""Named datasets by which steerlab trains and evaluates models: ``name -> factory(n, resolution, seed)``.

A factory returns ``(images (N, C, R, R) float32 in [0, 1], labels (N,) int64 or None, class_names)``.
A model card's ``"dataset"`` names its entry, so `steerlab evaluate` can compare a walk's attribute
distribution with the data the model was trained on (Jahanian et al. Fig. 10).
"""
from __future__ import annotations

from typing import Callable

from torch import Tensor

from steerlab.core.registry import Registry

DatasetFactory = Callable[[int, int, int], "tuple[Tensor, Tensor | None, list[str]]"]


def _shapes(n: int, resolution: int, seed: int):
    from steerlab.data.shapes import make_shapes
    d = make_shapes(n, resolution=resolution, seed=seed)
    return d.images, d.labels, list(d.class_names)


def _digits(n: int, resolution: int, seed: int):
    """scikit-learn's real digits (all 1,797 in a seeded order; topped up with procedural ones)."""
    import torch

    from steerlab.data.digits import digits_dataset
    images, labels = digits_dataset(resolution, procedural=max(0, n - 1797), seed=seed)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return images[order], labels[order], [str(k) for k in range(10)]


DATASETS: Registry[DatasetFactory] = Registry("dataset", callable_=True)
"""Every dataset factory by name (a validating `steerlab.core.registry.Registry`)."""


def register_dataset(name: str, factory: DatasetFactory, *, overwrite: bool = False) -> DatasetFactory:
    """Add a dataset under ``name`` (``factory(n, resolution, seed)``, see the module docstring).

    Raises:
        TypeError: ``factory`` is not callable.
        ValueError: ``name`` is empty or already registered (without ``overwrite``).
    """
    return DATASETS.register(name, factory, overwrite=overwrite)


register_dataset("shapes", _shapes)
register_dataset("digits", _digits)


def get_dataset(name: str, n: int, resolution: int = 32, seed: int = 0):
    """``(images, labels, class_names)`` of a registered dataset.

    Raises:
        ValueError: unknown name (the message lists the allowed ones) or ``n < 2``.
    """
    factory = DATASETS.get(name)
    if int(n) < 2:
        raise ValueError(f"need at least 2 images, got {n}")
    return factory(int(n), int(resolution), int(seed))
