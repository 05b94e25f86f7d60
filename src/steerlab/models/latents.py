"""Latent files: codes z of one generator, saved with that generator's fingerprint.

`steerlab invert` writes one, `steerlab apply --latent` reads it back. The file is the steerlab
tensors+header format (`steerlab.core.io.write_tensor_file`): ``<stem>.safetensors`` with
tensor ``z`` (N, z_dim) float32 and, for a class-conditional model, ``classes`` (N,) int64,
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

__all__ = ["LATENT_FORMAT", "save_latent", "load_latent"]

LATENT_FORMAT = "steerlab-latent/1"


def save_latent(path: str | os.PathLike, z: torch.Tensor, G: Generator, *, classes: torch.Tensor | None = None,
                meta: dict | None = None) -> Path:
    """Write latents ``z`` (N, z_dim) of ``G`` (and their ``classes`` (N,)) as ``<stem>.safetensors``
    + ``<stem>.json``; ``meta`` (JSON-able) is added to the header. Returns the ``.safetensors`` path.

    Raises:
        ValueError: ``z`` is not (N, G.z_dim), or ``classes`` is not (N,).
    """
    if z.dim() != 2 or z.shape[1] != G.z_dim:
        raise ValueError(f"latents must be (N, {G.z_dim}) for model '{G.name}', got {tuple(z.shape)}")
    if classes is not None and tuple(classes.shape) != (z.shape[0],):
        raise ValueError(f"classes must be ({z.shape[0]},), got {tuple(classes.shape)}")
    head = {"format": LATENT_FORMAT, "model": G.name, "fingerprint": G.fingerprint, "space": "z",
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
        ``(z (N, d) float32, classes (N,) or None, header)``.

    Raises:
        FileFormatError: not a latent file, corrupted (shapes differ from the header), NaN or inf,
            or a width that does not fit ``G``.
        ModelMismatch: found for another model (and not ``force``).
    """
    t, head = read_tensor_file(path, LATENT_FORMAT, what="steerlab latent", tensors=("z",))
    z = t["z"]
    if z.dim() != 2 or list(z.shape) != head.get("shape"):
        raise FileFormatError(f"{path}: latent tensor does not match its header (corrupted file)")
    if G is not None:
        if head.get("fingerprint") != G.fingerprint and not force:
            raise ModelMismatch(f"latent was found for model '{head.get('model')}' (fingerprint "
                                f"{head.get('fingerprint')}), not '{G.name}'; pass --force (API: force=True) to use it anyway")
        if z.shape[1] != G.z_dim:
            raise FileFormatError(f"{path}: latent has {z.shape[1]} dims, model '{G.name}' needs {G.z_dim}")
    return z, t.get("classes"), head
