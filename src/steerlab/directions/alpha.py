"""`AlphaSpec`: what a direction's knob alpha means, stored with every direction.

A direction is driven in user units ``alpha_t`` (a zoom factor, a shift as a fraction of the
width, an RGB offset, a weight-shift magnitude...). The spec records those units, the allowed
range, the value that leaves an image unchanged, and the map to the walk coordinate
``alpha_g`` (``log(alpha_t) / scale`` or ``alpha_t / scale``), exactly as the edit it was learned
for defines them (`steerlab.edits.Edit`). In files it is the JSON object ``"alpha"`` with these
six keys, unchanged since the first file format.

Example:
    >>> spec = plain_alpha(2.0)
    >>> spec.alpha_range, spec.identity, spec.to_dict()["alpha_range"]
    ((-2.0, 2.0), 0.0, [-2.0, 2.0])
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

from steerlab.edits import Edit

__all__ = ["AlphaSpec", "alpha_spec", "plain_alpha"]

MAPPINGS = ("log", "linear")
ALPHA_DIMS = (1, 3)


@dataclass(frozen=True)
class AlphaSpec:
    """The units, range and ``alpha_t -> alpha_g`` map of a direction's knob.

    Args:
        unit: what alpha_t means, for people ("zoom factor (>1 zooms in)").
        alpha_range: allowed alpha_t ``(low, high)``, per component, low < high.
        identity: the alpha_t that leaves a sample as it is (inside the range).
        mapping: ``"log"`` (alpha_g = log(alpha_t) / scale, needs low > 0) or ``"linear"``
            (alpha_g = alpha_t / scale).
        scale: positive divisor of the mapping.
        alpha_dim: 1 for one knob, 3 for an RGB triple (colour).

    Raises:
        ValueError: one line naming every field that is out of bounds.
    """

    unit: str
    alpha_range: tuple[float, float]
    identity: float = 0.0
    mapping: str = "linear"
    scale: float = 1.0
    alpha_dim: int = 1

    def __post_init__(self) -> None:
        try:
            lo, hi = (float(v) for v in self.alpha_range)
            identity, scale = float(self.identity), float(self.scale)
        except (TypeError, ValueError):
            raise ValueError(f"alpha spec needs a (low, high) range and numeric identity and scale, got "
                             f"{self.alpha_range!r}, {self.identity!r}, {self.scale!r}") from None
        # stored normalised, so a spec read from JSON equals the one it was written from
        object.__setattr__(self, "alpha_range", (lo, hi))
        object.__setattr__(self, "identity", identity)
        object.__setattr__(self, "scale", scale)
        problems = []
        if not isinstance(self.unit, str):
            problems.append(f"unit must be a string, got {type(self.unit).__name__}")
        if self.alpha_dim not in ALPHA_DIMS or isinstance(self.alpha_dim, bool):
            problems.append(f"alpha_dim must be 1 or 3, got {self.alpha_dim!r}")
        if self.mapping not in MAPPINGS:
            problems.append(f"mapping must be 'log' or 'linear', got {self.mapping!r}")
        if not (scale > 0 and math.isfinite(scale)):
            problems.append(f"scale must be a positive number, got {scale:g}")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi and lo <= identity <= hi):
            problems.append(f"need finite low < high with identity inside, got ({lo:g}, {hi:g}), {identity:g}")
        if self.mapping == "log" and lo <= 0:
            problems.append(f"a log mapping needs a positive range, got ({lo:g}, {hi:g})")
        if problems:
            raise ValueError("invalid alpha spec: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "AlphaSpec":
        """The spec of a JSON object with exactly the six field names (as files store it).

        Raises:
            ValueError: not a mapping, a missing or unknown key, or a value out of bounds.
        """
        if not isinstance(spec, Mapping):
            raise ValueError(f"alpha spec must be a JSON object, got {type(spec).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [k for k in names if k not in spec]
        unknown = sorted(set(spec) - set(names))
        if missing or unknown:
            raise ValueError("alpha spec " + "; ".join(
                ([f"lacks {', '.join(missing)}"] if missing else [])
                + ([f"has unknown keys {', '.join(map(str, unknown))}"] if unknown else []))
                + f" (keys: {', '.join(names)})")
        return cls(**{k: spec[k] for k in names})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored in direction files (``alpha_range`` as a list)."""
        return {"unit": self.unit, "alpha_range": list(self.alpha_range), "identity": self.identity,
                "mapping": self.mapping, "scale": self.scale, "alpha_dim": self.alpha_dim}

    def as_edit(self, name: str) -> Edit:
        """An `Edit`-shaped view without an image function: check, to_g, to_t, grid, sample."""
        return Edit(name=name, fn=None, alpha_dim=self.alpha_dim, alpha_range=self.alpha_range,
                    identity=self.identity, unit=self.unit, mapping=self.mapping, scale=self.scale)


def alpha_spec(edit: Edit) -> AlphaSpec:
    """The alpha spec of an edit: a direction learned for it is driven in the edit's own units."""
    return AlphaSpec(unit=edit.unit, alpha_range=tuple(edit.alpha_range), identity=edit.identity,
                     mapping=edit.mapping, scale=edit.scale, alpha_dim=edit.alpha_dim)


def plain_alpha(limit: float, unit: str = "shift magnitude") -> AlphaSpec:
    """Alpha spec of a direction without an image edit: alpha_g = alpha_t in [-limit, limit]."""
    return AlphaSpec(unit=unit, alpha_range=(-limit, limit), identity=0.0, mapping="linear", scale=1.0,
                     alpha_dim=1)
