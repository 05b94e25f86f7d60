"""`Direction`: the one data type every method returns and every consumer reads.

A direction is a way to move a generator's output with one knob ``alpha``. It records its
``kind`` (how it moves: a name in `steerlab.directions.KINDS`), the ``space`` it lives in
("z", "w", "w+" or "weight"), its tensors, the edit it was trained for with its `AlphaSpec`
(the alpha_t <-> alpha_g mapping), the model fingerprint, the training config and metrics.

Files: ``<stem>.safetensors`` holds the tensors with the whole JSON header embedded in its
metadata (one self-contained file, `steerlab.core.io.write_tensor_file`); ``<stem>.json`` is a
readable copy. The format tag is ``steerlab-direction/1``; files of every earlier version load.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from steerlab._version import __version__
from steerlab.core.io import FileFormatError, read_header, read_tensor_file, read_tensors, write_tensor_file
from steerlab.directions.alpha import AlphaSpec
from steerlab.directions.errors import DirectionMismatch
from steerlab.directions.kinds import KINDS
from steerlab.edits import Edit
from steerlab.models.base import Generator

__all__ = ["FORMAT", "Direction", "DirectionMismatch"]

FORMAT = "steerlab-direction/1"
_REQUIRED = ("kind", "space", "model", "fingerprint", "alpha", "tensor_shapes")  # header fields a file must have
_TEXT_FIELDS = ("kind", "space", "model", "fingerprint")
_OPTIONAL = ("edit", "config", "metrics", "version")


def _is_direction(path: Path) -> bool:
    try:
        read_tensors(path)  # refuses a non-safetensors file before its header is read
        return read_header(path).get("format") == FORMAT
    except (ValueError, OSError):
        return False


def direction_file(path: str | os.PathLike) -> Path:
    """The direction file ``path`` names: a file as given, or the one direction file inside a run
    folder (``runs/zoom`` -> ``runs/zoom/direction.safetensors``; else the only one in the folder or its
    ``directions/``). A folder with none or several is refused with one line naming what to pass."""
    folder = Path(path)
    if not folder.is_dir():
        return folder
    if (folder / "direction.safetensors").is_file():
        return folder / "direction.safetensors"
    found = [f for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("directions/*.safetensors"))
             if _is_direction(f)]
    if not found:
        raise FileNotFoundError(f"{folder} is a folder with no direction file in it (expected "
                                "direction.safetensors, as `steerlab walk` writes, or a direction file)")
    if len(found) > 1:
        shown = ", ".join(str(f) for f in found[:3]) + (", ..." if len(found) > 3 else "")
        raise ValueError(f"{folder} holds {len(found)} direction files ({shown}); name one of them")
    return found[0]


@dataclass
class Direction:
    """A learned direction: its tensors and everything needed to use it on the right model.

    Args:
        kind: how it moves the output, a name in `steerlab.directions.KINDS`.
        space: the latent space it lives in ("z", "w", "w+"), or "weight".
        tensors: the kind's tensors (e.g. ``w`` (alpha_dim, *latent_shape) for "linear").
        model, fingerprint: the generator it was learned for (`Generator.fingerprint`).
        alpha: the knob's units, range and mapping (a plain dict of the six fields is accepted).
        edit: the image edit it was trained for, if any.
        config, metrics: JSON-able training settings and results.
        version: the steerlab version that made it.
    """

    kind: str
    space: str
    tensors: dict[str, Tensor]
    model: str
    fingerprint: str
    alpha: AlphaSpec
    edit: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    version: str = __version__

    def __post_init__(self) -> None:
        if isinstance(self.alpha, Mapping):
            self.alpha = AlphaSpec.from_dict(self.alpha)
        elif not isinstance(self.alpha, AlphaSpec):
            raise ValueError(f"alpha must be an AlphaSpec (see alpha_spec, plain_alpha), "
                             f"got {type(self.alpha).__name__}")

    # ------------------------------------------------------------------ alpha
    @property
    def knob(self) -> Edit:
        """An `Edit`-shaped view of the alpha mapping (validation, to_g, grid, sample)."""
        return self.alpha.as_edit(self.edit or self.kind)

    def to_g(self, alpha_t, n: int | None = None) -> Tensor:
        """Validate user-unit alphas and map them to walk coordinates, shape (N, alpha_dim)."""
        alpha_g = self.knob.to_g(self.knob.check(alpha_t, batch_size=n))
        return alpha_g.reshape(alpha_g.shape[0], -1).float()

    # ------------------------------------------------------------------ use
    def check_model(self, G: Generator, force: bool = False) -> None:
        """Refuse a model other than the one this direction was learned for."""
        if not force and G.fingerprint != self.fingerprint:  # force first: the hash reads every weight
            raise DirectionMismatch(
                f"direction was learned for model '{self.model}' (fingerprint {self.fingerprint}), "
                f"not '{G.name}' (fingerprint {G.fingerprint}); pass --force (API: force=True) to use it anyway")
        if self.space != "weight":
            G.check_space(self.space)

    def render(self, G: Generator, z: Tensor, alpha_t, *, classes: Tensor | None = None,
               latent: Tensor | None = None, force: bool = False) -> Tensor:
        """Images of ``G`` moved by ``alpha_t`` (one value, or one per sample).

        Args:
            G: the generator this direction belongs to.
            z: (N, z_dim) codes; mapped into the kind's latent space unless ``latent`` is given.
            alpha_t: in the direction's user units (see ``self.alpha``).
            classes: (N,) labels for a conditional model.
            latent: a latent already in that space (e.g. from inversion).

        Returns:
            (N, C, H, W) images in [0, 1].
        """
        self.check_model(G, force)
        kind = KINDS.get(self.kind)  # a one-line ValueError listing the known kinds
        if latent is None:
            latent = G.to_space(z, kind.latent_space(self), classes)
        alpha_g = self.to_g(alpha_t, latent.shape[0]).to(latent.device)
        return kind.render(self, G, latent, alpha_g, classes)

    def on_layers(self, G: Generator, layers) -> "Direction":
        """This direction moving only the w+ rows ``layers`` of ``G`` (the GANSpace/SeFa layer-range convention).

        For a linear direction in "w" or "w+": a "w" direction is broadcast to w+ first; the rows outside
        ``layers`` get a zero offset, so they stay exactly as the unmoved latent. The result is a linear
        direction in "w+" for the same model (same fingerprint, alpha and edit; ``config["layers"]`` records
        the rows). Latents for it are w+ codes (`Generator.to_space(z, "w+")`).

        Raises:
            ValueError: not a linear direction in w / w+, or a row outside ``range(G.num_ws)`` (one line).
        """
        if self.kind != "linear" or self.space not in ("w", "w+"):
            raise ValueError(f"layers apply to linear directions in w or w+ space; this one is {self.kind} "
                             f"in '{self.space}'")
        G.check_space("w+")
        num_ws = G.latent_shape("w+")[0]
        rows = sorted({int(i) for i in layers})
        if not rows or rows[0] < 0 or rows[-1] >= num_ws:
            shown = ",".join(map(str, rows)) or "none"
            raise ValueError(f"layers {shown} are outside the {num_ws} w+ rows of model '{G.name}' (allowed: 0-{num_ws - 1})")
        w = self.tensors["w"]
        if self.space == "w":
            w = w[:, None].expand(w.shape[0], num_ws, *w.shape[1:])
        mask = torch.zeros(num_ws, dtype=torch.bool)
        mask[rows] = True
        w = torch.where(mask.view(1, num_ws, *[1] * (w.dim() - 2)).to(w.device), w, torch.zeros((), dtype=w.dtype))
        return replace(self, space="w+", tensors={**self.tensors, "w": w.contiguous()},
                       config={**self.config, "layers": rows, "layers_of_space": self.space})

    # ------------------------------------------------------------------ files
    def header(self) -> dict[str, Any]:
        """The JSON header of this direction's file (without the tensor shapes the writer adds)."""
        head = asdict(self)
        head.pop("tensors")
        head["alpha"] = self.alpha.to_dict()
        head["format"] = FORMAT
        return head

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``<stem>.safetensors`` (+ ``<stem>.json``); returns the safetensors path."""
        return write_tensor_file(path, self.tensors, self.header())

    @classmethod
    def load(cls, path: str | os.PathLike, model: Generator | None = None, force: bool = False) -> "Direction":
        """Read a direction file (or the one in a run folder, `direction_file`); with ``model``, refuse it
        if it belongs to another model.

        Raises:
            FileFormatError: not a direction file, or a damaged one (one line, naming the file).
            DirectionMismatch: ``model`` is another model than the direction's (unless ``force``).
        """
        path = direction_file(path)
        tensors, head = read_tensor_file(path, FORMAT, what="steerlab direction", required=_REQUIRED)
        where = Path(path)
        bad = [k for k in _TEXT_FIELDS if not isinstance(head[k], str)]
        bad += [k for k in ("config", "metrics") if not isinstance(head.get(k, {}), dict)]
        if head.get("edit") is not None and not isinstance(head["edit"], str):
            bad.append("edit")
        if bad:
            raise FileFormatError(f"{where}: header field(s) {', '.join(bad)} have the wrong type (corrupted file)")
        try:
            if not isinstance(head["alpha"], dict):
                raise ValueError("header field alpha is not an object")
            alpha = AlphaSpec.from_dict(head["alpha"])
            d = cls(tensors=tensors, alpha=alpha, **{k: head[k] for k in _TEXT_FIELDS},
                    **{k: head[k] for k in _OPTIONAL if k in head})
        except (TypeError, KeyError, AttributeError) as e:  # a field missing or of the wrong type
            raise FileFormatError(f"{where}: header field {e} missing or of the wrong type (corrupted or "
                                  "foreign file)") from None
        except ValueError as e:
            raise FileFormatError(f"{where}: {e}") from None
        if model is not None:
            d.check_model(model, force)
        return d

    def describe(self) -> str:
        lo, hi = self.alpha.alpha_range
        what = f"edit '{self.edit}'" if self.edit else self.config.get("name", self.kind)
        return (f"{self.kind} direction in {self.space} for '{self.model}' ({what}; "
                f"alpha in [{lo:g}, {hi:g}] {self.alpha.unit})")
