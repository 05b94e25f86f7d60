"""The error types every layer raises for bad input; all are one-line `ValueError`s.

A command-line front end catches `ValueError` and prints the message, so each of these
reaches the user as a single line that names what was wrong and what is allowed.
"""
from __future__ import annotations

__all__ = ["FileFormatError", "ModelMismatch"]


class FileFormatError(ValueError):
    """A file is missing, corrupted, truncated, or not in the format steerlab expects."""


class ModelMismatch(ValueError):
    """A file (latent, direction, trajectory set) was made for another model than the one given:
    its recorded fingerprint or its shapes differ."""
