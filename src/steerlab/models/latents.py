"""Latent files: codes of one generator in one of its latent spaces, saved with its fingerprint.

`steerlab invert` writes one, `steerlab apply --latent` reads it back. The file is the steerlab
tensors+header format (`steerlab.core.io.write_tensor_file`): ``<stem>.safetensors`` with
tensor ``z`` float32 — (N, z_dim) in space "z", (N, w_dim) in "w", (N, num_ws, w_dim) in "w+"
(the header's ``space`` says which; files without one are "z") — and, for a class-conditional
model, ``classes`` (N,) int64,
the JSON header embedded in its metadata, and a readable ``<stem>.json`` beside it::

    {"format": "steerlab-latent/1", "model": "faces", "fingerprint": "55bb98ad1d71bb2e",
     "space": "z", "shape": [N, z_dim], "steerlab_version": "...", ...caller's fields}

A latent belongs to the model whose fingerprint it carries: other models refuse it
(`ModelMismatch`, a ValueError) unless forced.

    >>> path = save_latent("runs/inv/latent", z, G, meta={"loss": "blurred"})   # doctest: +SKIP
    >>> z, classes, header = load_latent(path, G)                               # doctest: +SKIP
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from steerlab.core.errors import FileFormatError, ModelMismatch
from steerlab.core.io import read_tensor_file, write_tensor_file
from steerlab.models.base import Generator

__all__ = ["LATENT_FORMAT", "save_latent", "load_latent", "latent_shape"]

LATENT_FORMAT = "steerlab-latent/1"


def latent_shape(G: Generator, space: str) -> tuple[int, ...]:
    """Shape of one code of ``G`` in ``space`` (no batch dimension); a space ``G`` lacks is refused in one line."""
    G.check_space(space)
    if hasattr(G, "latent_shape"):
        return tuple(G.latent_shape(space))
    if space != "z":
        raise ValueError(f"model '{G.name}' does not say the shape of its '{space}' codes; latent files hold z")
    return (G.z_dim,)


def save_latent(path: str | os.PathLike, z: torch.Tensor, G: Generator, *, classes: torch.Tensor | None = None,
                meta: dict | None = None, space: str = "z") -> Path:
    """Write latents ``z`` of ``G`` in ``space`` (and their ``classes`` (N,)) as ``<stem>.safetensors``
    + ``<stem>.json``; ``meta`` (JSON-able) is added to the header. Returns the ``.safetensors`` path.

    Raises:
        ValueError: ``z`` is not (N, *shape of a code in ``space``), ``G`` has no ``space``, or ``classes``
            is not (N,).
    """
    want = latent_shape(G, space)
    if z.dim() != len(want) + 1 or tuple(z.shape[1:]) != want:
        raise ValueError(f"latents must be (N, {', '.join(map(str, want))}) for model '{G.name}' in space "
                         f"'{space}', got {tuple(z.shape)}")
    if classes is not None and tuple(classes.shape) != (z.shape[0],):
        raise ValueError(f"classes must be ({z.shape[0]},), got {tuple(classes.shape)}")
    head = {"format": LATENT_FORMAT, "model": G.name, "fingerprint": G.fingerprint, "space": space,
            "shape": list(z.shape), **(meta or {})}
    tensors = {"z": z} | ({"classes": classes} if classes is not None else {})
    return write_tensor_file(path, tensors, head)


def load_latent(path: str | os.PathLike, G: Generator | None = None, *, force: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """Read a latent file; with ``G``, refuse latents of another model (unless ``force``).

    Args:
        path: the ``.safetensors`` file, the ``.json`` beside it or their stem.
        G: the model the latents are for; ``None`` skips the model checks.
        force: accept latents recorded for another fingerprint (their width must still fit).

    Returns:
        ``(codes (N, *shape) float32, classes (N,) or None, header)``; ``header["space"]`` is the codes'
        latent space ("z", "w" or "w+").

    Raises:
        FileFormatError: not a latent file, corrupted (shapes differ from the header), NaN or inf,
            an unknown space, or codes whose shape does not fit ``G`` in that space.
        ModelMismatch: found for another model (and not ``force``).
    """
    t, head = read_tensor_file(path, LATENT_FORMAT, what="steerlab latent", tensors=("z",))
    z = t["z"]
    head.setdefault("space", "z")
    space = head["space"]
    if space not in ("z", "w", "w+") or z.dim() != (3 if space == "w+" else 2) or list(z.shape) != head.get("shape"):
        raise FileFormatError(f"{path}: latent tensor does not match its header (corrupted file)")
    if G is not None:
        if head.get("fingerprint") != G.fingerprint and not force:
            raise ModelMismatch(f"latent was found for model '{head.get('model')}' (fingerprint "
                                f"{head.get('fingerprint')}), not '{G.name}'; pass --force (API: force=True) to use it anyway")
        if space not in G.latent_spaces:
            raise FileFormatError(f"{path}: latent is in space '{space}', model '{G.name}' has "
                                  f"{', '.join(G.latent_spaces)}")
        want = latent_shape(G, space)
        if tuple(z.shape[1:]) != want:
            raise FileFormatError(f"{path}: latent in space '{space}' has {'x'.join(map(str, z.shape[1:]))} dims, "
                                  f"model '{G.name}' needs {'x'.join(map(str, want))}")
    return z, t.get("classes"), head
