"""What the steering wheel offers: models, the direction files that fit each, uploads.

Everything here is plain Python (no gradio), thread-safe and cached, so the web app stays a
thin layer and every check can be tested without a browser. Bad files and bad uploads raise
one-line `ValueError`s (`FileFormatError`, `DirectionMismatch` are ValueErrors too).
"""
from __future__ import annotations

import importlib
import inspect
import logging
import os
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor

from steerlab.core.images import load_image
from steerlab.core.io import FileFormatError
from steerlab.directions import FORMAT, Direction, DirectionMismatch
from steerlab.models import ZOO, Generator, list_models, load_model
from steerlab.models.zoo import checkpoint_format

log = logging.getLogger(__name__)

MAX_DIRECTION_FILES = 1000      # a folder scan stops here (a runs/ tree can be large)
MAX_UPLOAD_BYTES = 25 * 2 ** 20  # uploads larger than this are refused before decoding
INVERT_STEPS = 200               # inversion steps for an uploaded photo


def check_launch(port: int, directions: Sequence[str | os.PathLike]) -> None:
    """Refuse a bad port or a missing direction folder before anything heavy is imported."""
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be a whole number in 1-65535, got {port!r}")
    for f in directions:
        if not Path(f).exists():
            raise FileNotFoundError(f"direction folder {f} does not exist")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0].strip("'") if text else e.__class__.__name__


@dataclass
class Entry:
    """A direction file found on disk: its key (path), a short label and the loaded direction."""
    key: str
    label: str
    direction: Direction


def direction_label(d: Direction, path: str | os.PathLike) -> str:
    """'zoom (linear, z) — runs/zoom/direction' : what a checkbox shows."""
    what = d.edit or d.config.get("name") or d.kind
    stem = Path(path).with_suffix("")
    return f"{what} ({d.kind}, {d.space}) - {stem.parent.name}/{stem.name}"


def find_direction_files(folders: Sequence[str | os.PathLike],
                         refused: list[str] | None = None) -> list[Path]:
    """Every ``*.safetensors`` under ``folders`` whose header says it is a steerlab direction.

    Files that cannot be read (no permission, not safetensors, truncated) are appended to
    ``refused`` as ``"path: reason"``; readable safetensors of another kind (generator files) are
    not directions and are passed over silently.
    """
    from safetensors import safe_open
    found = []
    for folder in folders:
        folder = Path(folder)
        paths = [folder] if folder.is_file() else sorted(folder.rglob("*.safetensors"))
        for p in paths:
            if len(found) >= MAX_DIRECTION_FILES:
                log.warning("more than %d direction files; the rest are ignored", MAX_DIRECTION_FILES)
                return found
            try:
                with safe_open(str(p), framework="pt") as f:
                    if FORMAT in (f.metadata() or {}).get("steerlab", ""):
                        found.append(p)
            except Exception as e:  # noqa: BLE001  (unreadable: listed with the reason, never fatal)
                if refused is not None:
                    reason = e.strerror if isinstance(e, OSError) and e.strerror else _first_line(e)
                    refused.append(f"{p}: unreadable ({reason})")
    return found


LOOPBACK = ("localhost", "::1", "ip6-localhost")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool = False, auth: object = None) -> str | None:
    """Refuse a non-loopback ``host`` unless ``allow_remote``; then return the warning to print.

    Serving on another interface exposes the models and the file upload to the network.
    """
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"host must be an interface address such as 127.0.0.1, got {host!r}")
    if is_loopback(host):
        return None
    if not allow_remote:
        raise ValueError(f"--host {host} would expose the models and the file upload to the network; "
                         "serve on 127.0.0.1 (the default), or pass --allow-remote (with --auth USER:PASSWORD)")
    return (f"serving on {host}: anyone who can reach this machine " + ("and log in " if auth else "")
            + "may use the models and upload files" + ("" if auth else "; protect it with --auth USER:PASSWORD"))


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``"user:password"`` -> ``("user", "password")`` (both non-empty); None stays None."""
    if text is None:
        return None
    user, sep, password = str(text).partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must be USER:PASSWORD with both parts non-empty")
    return user, password


class Library:
    """Models (zoo names, generator files or `Generator` objects) and direction folders.

    Args:
        models: what the model menu lists; default every zoo model.
        directions: folders (or files) searched for direction files, rescanned on demand.
        device: torch device the models run on.
    """

    def __init__(self, models: Sequence[str | Generator] | None = None,
                 directions: Sequence[str | os.PathLike] = (), device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self._lock = threading.RLock()
        self._models: dict[str, Generator] = {}
        self._sources: dict[str, str | Generator] = {}
        for m in models if models is not None else [e.name for e in list_models()]:
            if isinstance(m, Generator):
                name = m.name
            elif str(m).endswith((".safetensors", ".json")):
                if not Path(m).is_file():
                    raise FileNotFoundError(f"generator file {m} not found")
                name = Path(str(m)).stem
            elif str(m) in ZOO:
                name = str(m)
            elif checkpoint_format(m) is not None:  # NVlabs .pkl, rosinality .pt, BigGAN folder
                if not Path(m).exists():
                    raise FileNotFoundError(f"checkpoint {m} not found")
                name = Path(str(m)).stem
            else:
                raise ValueError(f"unknown model '{m}'; allowed: {', '.join(sorted(ZOO))}, the path of a steerlab "
                                 "generator .safetensors file, an NVlabs .pkl, a rosinality .pt or a BigGAN folder")
            if name in self._sources:
                raise ValueError(f"two models are named '{name}'; rename one of the files")
            self._sources[name] = m
        if not self._sources:
            raise ValueError("no models to offer; pass zoo names or generator files")
        self.folders = [Path(f) for f in directions]
        self._fingerprints: dict[str, str] = {}
        self._files: dict[tuple[str, int, int], Direction | Exception] = {}
        self._offered: dict[str, tuple[list[Entry], list[str]]] = {}
        self._render_locks: dict[str, threading.Lock] = {}

    def default_model(self) -> str:
        """The model to open on: the one most direction files under the folders name, ties and none
        going to the first model (so a single ``--model`` is always the one shown).

        Counts the ``model`` field of each readable direction file (the fingerprint is checked when
        the model is shown, so no model is loaded here).
        """
        counts: Counter[str] = Counter()
        for path in find_direction_files(self.folders):
            try:
                counts[self._read(path).model] += 1
            except (ValueError, OSError):
                continue  # listed as refused when a model is shown
        names = self.model_names
        return max(names, key=lambda n: (counts[n], -names.index(n)))

    # ------------------------------------------------------------------ models
    @property
    def model_names(self) -> list[str]:
        return list(self._sources)

    def model(self, name: str) -> Generator:
        """The named model, loaded once (thread-safe), in eval mode on ``device``."""
        if name not in self._sources:
            raise ValueError(f"unknown model '{name}'; allowed: {', '.join(self._sources)}")
        with self._lock:
            if name not in self._models:
                src = self._sources[name]
                G = src if isinstance(src, Generator) else load_model(src, device=self.device)
                self._models[name] = G.eval().requires_grad_(False).to(self.device)
                self._fingerprints[name] = G.fingerprint  # hashes every weight: do it once
            return self._models[name]

    def fingerprint(self, name: str) -> str:
        self.model(name)
        return self._fingerprints[name]

    def class_names(self, name: str) -> list[str]:
        """Names of a conditional model's classes: the model card's ``class_names``, else the indices."""
        G = self.model(name)
        names = getattr(G, "card", {}).get("class_names") if isinstance(getattr(G, "card", None), dict) else None
        if isinstance(names, (list, tuple)) and len(names) == G.num_classes:
            return [str(c) for c in names]
        return [str(k) for k in range(G.num_classes)]

    def truncation(self, name: str) -> float | None:
        """The truncation psi the model was loaded with, or None if it takes none (no mapping network)."""
        G = self.model(name)
        w_avg = getattr(getattr(G, "mapping", None), "w_avg", None)
        if not hasattr(G, "truncation_psi") or not torch.is_tensor(w_avg):
            return None
        return float(G.__dict__.get("_loaded_truncation_psi", G.truncation_psi))

    def num_ws(self, name: str) -> int | None:
        """Rows of the model's w+ space (the layer range control), or None without a w+ space."""
        G = self.model(name)
        return int(G.latent_shape("w+")[0]) if "w+" in G.latent_spaces else None

    @contextmanager
    def rendering(self, name: str, psi: float | None = None):
        """Hold model ``name`` for one render at truncation ``psi`` (None: as loaded); yields the model.

        The psi is a setting of the shared model, so renders of a model with truncation take turns
        (one lock per model) and the model is put back as loaded afterwards.
        """
        G = self.model(name)
        loaded = self.truncation(name)
        if loaded is None:
            if psi is not None and float(psi) != 1.0:
                raise ValueError(f"model '{name}' takes no truncation psi (StyleGAN models do)")
            yield G
            return
        with self._lock:
            lock = self._render_locks.setdefault(name, threading.Lock())
        with lock:
            G.set_truncation(loaded if psi is None else psi)  # one-line ValueError outside [0, 2]
            try:
                yield G
            finally:
                G.set_truncation(loaded)

    # ------------------------------------------------------------------ directions
    def _read(self, path: Path) -> Direction:
        """A direction file, cached by (path, mtime, size); re-raises its load error."""
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        with self._lock:
            if key not in self._files:
                try:
                    self._files[key] = Direction.load(path)
                except (ValueError, OSError) as e:
                    self._files[key] = FileFormatError(_first_line(e))
            got = self._files[key]
        if isinstance(got, Exception):
            raise got
        return got

    def check(self, d: Direction, name: str) -> Direction:
        """Refuse ``d`` unless it was learned for model ``name`` (one-line DirectionMismatch)."""
        G = self.model(name)
        if d.fingerprint != self.fingerprint(name):
            raise DirectionMismatch(
                f"this direction was learned for model '{d.model}' (fingerprint {d.fingerprint}), "
                f"not for '{name}' (fingerprint {self.fingerprint(name)})")
        if d.space != "weight":
            G.check_space(d.space)  # the latent space must exist too
        return d

    def directions_for(self, name: str, rescan: bool = True) -> tuple[list[Entry], list[str]]:
        """Direction files in the folders that fit model ``name``, and why the others were refused.

        Args:
            name: a model of this library.
            rescan: search the folders again (new or changed files); False reuses the last
                search for this model, so rendering does not walk the disk on every slider move.

        Returns:
            ``(entries, refused)``: entries sorted by label; refused as one-line messages
            ``"path: reason"`` (another model, a corrupted file, an unknown kind).
        """
        from steerlab.directions import KINDS
        with self._lock:
            if not rescan and name in self._offered:
                return self._offered[name]
        entries, refused = [], []
        for path in find_direction_files(self.folders, refused):
            try:
                d = self.check(self._read(path), name)
                KINDS.get(d.kind)  # a kind no module registered: refused with the known kinds
                entries.append(Entry(str(path), direction_label(d, path), d))
            except (ValueError, OSError) as e:
                refused.append(f"{path}: {_first_line(e)}")
        entries.sort(key=lambda e: e.label)
        with self._lock:
            self._offered[name] = (entries, refused)
        return entries, refused

    def load_upload(self, path: str | os.PathLike, name: str) -> Entry:
        """A direction file the user uploaded, checked against model ``name``."""
        from steerlab.directions import KINDS
        path = Path(path)
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise ValueError(f"{path.name}: larger than {MAX_UPLOAD_BYTES >> 20} MB")
        d = self.check(self._read(path), name)
        KINDS.get(d.kind)  # a kind no module registered: refused with the known kinds
        return Entry(str(path), direction_label(d, path) + " (uploaded)", d)


# --------------------------------------------------------------------------- real images
def read_image(path: str | os.PathLike, resolution: int, channels: int = 3) -> Tensor:
    """Decode an uploaded image into a model's input format (`steerlab.core.images.load_image`
    with the upload size limit ``MAX_UPLOAD_BYTES``).

    Args:
        path: any file the user uploaded.
        resolution, channels: the model's image side and 1 (grey) or 3 (RGB).

    Returns:
        float32 (1, channels, resolution, resolution) in [0, 1], centre-cropped and resized.

    Raises:
        ValueError: not an image, truncated, too large, or a decompression bomb (one line).
    """
    return load_image(path, resolution, channels, max_bytes=MAX_UPLOAD_BYTES)


def find_inverter(steps: int = INVERT_STEPS) -> Callable[..., Tensor] | None:
    """``invert(G, images, classes=None) -> z`` from `steerlab.methods.trajectories.invert` if it is installed, else None.

    ``steps`` (optimisation steps) is passed on when the method takes it; the UI uses fewer
    than the method's default so that a photo is ready in seconds on a CPU.

    The result is normalised to a (N, z_dim) tensor whether the method returns a tensor, a
    tuple (latent first), a dict (``latent``/``z``) or an object with ``.latent``/``.z``.
    """
    try:
        mod = importlib.import_module("steerlab.methods.trajectories.invert")
    except Exception:
        return None
    fn = getattr(mod, "invert", None) or getattr(mod, "invert_images", None)
    if not callable(fn):
        return None
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    options = {k: v for k, v in (("steps", steps), ("progress", False)) if k in params}

    def invert(G: Generator, images: Tensor, classes: Tensor | None = None) -> Tensor:
        extra = {"classes": classes} if classes is not None and "classes" in params else {}
        out = fn(G, images, **options, **extra)
        if isinstance(out, dict):
            out = out.get("latent", out.get("z"))
        elif isinstance(out, (tuple, list)):
            out = out[0]
        elif not torch.is_tensor(out):
            out = getattr(out, "latent", getattr(out, "z", None))
        if not torch.is_tensor(out) or out.shape != (images.shape[0], G.z_dim):
            raise ValueError("inversion did not return one z per image")
        return out.detach()
    return invert
