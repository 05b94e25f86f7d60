"""Several directions at once, for the steering wheel: `steerlab.directions.combine.steer`.

The combine function is written against the direction kinds' protocol (`steerlab.directions.Kind`)
and lives with them; the UI only calls it.
"""
from steerlab.directions.combine import steer

__all__ = ["steer"]
