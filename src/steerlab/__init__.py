"""steerlab: find, apply and measure steering directions in generative image models."""

__version__ = "0.1.0"

from .api import apply, edits, models, walk  # noqa: E402
from .directions import Direction  # noqa: E402
from . import paramspace  # noqa: E402,F401  (registers the "weight" direction kind)

__all__ = ["__version__", "Direction", "apply", "edits", "models", "walk"]
