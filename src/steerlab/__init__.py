"""steerlab: find, apply and measure steering directions in generative image models."""
from steerlab._version import __version__

from steerlab.jobs.walk import apply, edits, models, walk  # noqa: E402
from steerlab.directions import Direction  # noqa: E402
from steerlab.methods import paramspace  # noqa: E402,F401  (registers the "weight" direction kind)

__all__ = ["__version__", "Direction", "apply", "edits", "models", "walk"]
