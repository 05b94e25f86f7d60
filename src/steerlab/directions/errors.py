"""Errors shared by the direction type and its kinds."""
from __future__ import annotations

__all__ = ["DirectionMismatch"]


class DirectionMismatch(ValueError):
    """A direction was learned for another model (fingerprint or shapes differ)."""
