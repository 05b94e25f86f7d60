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


class FileFormatError(ValueError):
    """A file is missing, corrupted, truncated, or not in the format steerlab expects."""


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
