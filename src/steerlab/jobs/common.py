"""Small things every job needs."""
from __future__ import annotations

from steerlab.models import Generator, load_model


def model_of(model: str | Generator, device: str = "cpu") -> Generator:
    """A `Generator` as given, or the zoo model / generator file named by ``model``, on ``device``."""
    return model if isinstance(model, Generator) else load_model(model, device=device)
