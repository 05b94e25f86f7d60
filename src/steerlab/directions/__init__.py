"""Directions: the one type passed between parts, its knob, its kinds, and how kinds combine.

- `Direction` (``direction.py``): tensors + kind + space + model fingerprint + `AlphaSpec`,
  saved as one safetensors file with a JSON header;
- `AlphaSpec`, `alpha_spec`, `plain_alpha` (``alpha.py``): what alpha means for a direction;
- `Kind`, `KINDS`, `register_kind` (``kinds.py``): how each kind moves a latent or shifts
  weights; the built-in kinds (linear, nonlinear, nn-linear, weight, trajectory, and
  input-transform: a StyleGAN3 model's own shift/rotation, `input_transform_direction`) are
  registered on import, so any direction file renders without importing its method;
- `steer` (``combine.py``): several directions at once;
- ``ops.py``: the maths of the built-in kinds, shared with the methods that learn them.
"""
from steerlab.directions.alpha import AlphaSpec, alpha_spec, plain_alpha
from steerlab.directions.combine import steer
from steerlab.directions.direction import FORMAT, Direction
from steerlab.directions.errors import DirectionMismatch
from steerlab.directions.kinds import KINDS, Kind, get_kind, input_transform_direction, register_kind

__all__ = ["FORMAT", "KINDS", "AlphaSpec", "Direction", "DirectionMismatch", "Kind", "alpha_spec",
           "get_kind", "input_transform_direction", "plain_alpha", "register_kind", "steer"]
