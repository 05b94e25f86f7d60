"""Small things every job needs."""
from __future__ import annotations

from steerlab.core.checks import check_device
from steerlab.models import Generator, load_model


def model_of(model: str | Generator, device: str = "cpu") -> Generator:
    """A `Generator` as given, or the zoo model / generator file named by ``model``, on ``device``
    (refused with one line listing the available devices when this torch cannot use it)."""
    check_device(device)
    return model if isinstance(model, Generator) else load_model(model, device=device)
