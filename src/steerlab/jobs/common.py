"""Small things every job needs."""
from __future__ import annotations

from steerlab.core.checks import check_device
from steerlab.models import Generator, load_model


def model_of(model: str | Generator, device: str = "cpu", truncation: float | None = None) -> Generator:
    """A `Generator` as given, or the zoo model / generator file named by ``model``, on ``device``
    (refused with one line listing the available devices when this torch cannot use it).

    ``truncation``: if given, the StyleGAN truncation psi set on it (`Generator.set_truncation`; a
    model without a mapping network refuses it with a ValueError). None leaves the model's own psi.
    """
    check_device(device)
    G = model if isinstance(model, Generator) else load_model(model, device=device)
    if truncation is not None:
        G.set_truncation(truncation)
    return G
