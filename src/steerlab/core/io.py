"""Atomic, pickle-free file I/O shared by every layer.

Everything steerlab writes goes to a temporary file in the target folder and is renamed into
place, so an interrupted run never leaves a half-written file. Tensors are stored with
safetensors, metadata as JSON; foreign checkpoints are read with ``weights_only=True`` only.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from steerlab._version import __version__
from steerlab.core.errors import FileFormatError

__all__ = ["FileFormatError", "atomic_write", "write_json", "read_json", "write_tensors", "read_tensors",
           "read_header", "write_tensor_file", "read_tensor_file", "read_torch_checkpoint"]


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` to ``path`` (same folder, atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=True, default=_jsonable)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def read_json(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FileFormatError(f"{path}: not valid JSON ({e.__class__.__name__})") from None


def write_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                  metadata: dict[str, str] | None = None) -> Path:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def read_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a safetensors file; anything else (a pickle, a truncated file) is refused."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: file not found")
    with open(path, "rb") as f:
        head = f.read(2)
    try:
        # safetensors parsing never unpickles, so try it first: a valid file's 8-byte header
        # length can itself start with 0x80 (any header of 128 + 256k bytes), which is not a pickle
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        if head[:1] == b"\x80" or head == b"PK":
            raise FileFormatError(f"{path}: this is a pickle/torch.save file; steerlab only reads "
                                  "safetensors here and never unpickles") from None
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise FileFormatError(f"{path}: not a valid safetensors file ({msg})") from None


def read_header(path: str | os.PathLike, key: str = "steerlab") -> dict:
    """The JSON object stored under ``key`` in a safetensors file's metadata; ``{}`` if there is
    none or it is not valid JSON (call `read_tensors` first: it refuses files that are not safetensors)."""
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get(key)
    try:
        head = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return head if isinstance(head, dict) else {}


def write_tensor_file(path: str | os.PathLike, tensors: dict[str, torch.Tensor], header: dict[str, Any]) -> Path:
    """THE steerlab file: ``<stem>.safetensors`` with ``header`` embedded as JSON, + ``<stem>.json``.

    Directions, latents, trajectory sets and generator files are all written by this function.
    ``header`` must carry a ``"format"`` tag (e.g. ``"steerlab-direction/1"``); the tensor shapes
    are added as ``"tensor_shapes"`` so a reader can tell a corrupted file, and
    ``"steerlab_version"`` unless the header sets it. The ``.json`` beside it is a readable copy;
    readers use the embedded one. ``path`` may end in ``.safetensors``, ``.json`` or neither.
    Returns the ``.safetensors`` path.
    """
    if "format" not in header:
        raise ValueError("a steerlab file header needs a 'format' tag")
    stem = Path(path)
    stem = stem.with_suffix("") if stem.suffix in (".safetensors", ".json") else stem
    head = {"steerlab_version": __version__, **header,
            "tensor_shapes": {k: list(v.shape) for k, v in tensors.items()}}
    out = write_tensors(stem.with_name(stem.name + ".safetensors"), tensors,
                        metadata={"steerlab": json.dumps(head, default=_jsonable)})
    write_json(stem.with_name(stem.name + ".json"), head)
    return out


def read_tensor_file(path: str | os.PathLike, fmt: str, *, what: str = "steerlab",
                     required: tuple[str, ...] = (), tensors: tuple[str, ...] = ()
                     ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by `write_tensor_file`: ``(tensors, header)``, both checked.

    Args:
        path: the ``.safetensors`` file, the ``.json`` beside it or their common stem.
        fmt: the ``"format"`` tag the header must carry, e.g. ``"steerlab-latent/1"``.
        what: what the file is, for messages ("latent", "trajectories", ...).
        required: header fields that must be present.
        tensors: tensor names that must be present.

    Refused with `FileFormatError` (one line): not safetensors (a pickle is never unpickled),
    a header without the ``fmt`` tag, a missing required header field or tensor, tensors whose
    shapes differ from the header's ``tensor_shapes`` (files written before that field existed
    have none and skip this check), NaN or inf in a floating tensor.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = (path.with_suffix("") if path.suffix == ".json" else path)
        path = path.with_name(path.name + ".safetensors")
    found = read_tensors(path)
    head = read_header(path)
    if head.get("format") != fmt:
        raise FileFormatError(f"{path}: not a {what} file (no {fmt} header)")
    missing = [k for k in required if k not in head]
    if missing:
        raise FileFormatError(f"{path}: header lacks {', '.join(missing)} (corrupted or foreign file)")
    missing = [k for k in tensors if k not in found]
    if missing:
        raise FileFormatError(f"{path}: {what} file lacks tensor(s) {', '.join(missing)} (corrupted file)")
    shapes = head.get("tensor_shapes")
    if shapes is not None and shapes != {k: list(v.shape) for k, v in found.items()}:
        raise FileFormatError(f"{path}: tensors do not match the header (corrupted file)")
    for k, v in found.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise FileFormatError(f"{path}: tensor '{k}' contains NaN or inf")
    return found, head


def read_torch_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a foreign PyTorch checkpoint with ``weights_only=True`` (never runs pickled code)."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad or unsafe files
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:160]
        raise FileFormatError(f"{path}: refused to load as a weights-only checkpoint ({first})") from None


def _jsonable(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
