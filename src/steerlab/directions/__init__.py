"""`Direction`: the one data type every method returns and every consumer reads.

A direction is a way to move a generator's output with one knob ``alpha``. It records its
``kind`` (how it moves: "linear", "nonlinear", "weight", "trajectory"...), the ``space`` it
lives in ("z", "w", "w+" or "weight"), its tensors, the edit it was trained for with the
alpha_t <-> alpha_g mapping, the model fingerprint, the training config and metrics.

How each kind turns (latent, alpha) into images is registered by the method module that
defines it (`register_kind`), so the CLI, report and UI work for new kinds without change.

Files: ``<stem>.safetensors`` holds the tensors with the whole JSON header embedded in its
metadata (one self-contained file); ``<stem>.json`` is a readable copy. Both written atomically.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from steerlab._version import __version__
from steerlab.core.io import FileFormatError, read_header, read_tensors, write_json, write_tensors
from steerlab.edits import Edit
from steerlab.models.base import Generator

FORMAT = "steerlab-direction/1"

# kind -> steer(direction, G, latent_in_direction_space, alpha_g (N, dim), classes) -> images
Steerer = Callable[["Direction", Generator, Tensor, Tensor, "Tensor | None"], Tensor]
KINDS: dict[str, Steerer] = {}


def register_kind(kind: str) -> Callable[[Steerer], Steerer]:
    """Decorator: ``@register_kind("linear") def steer(d, G, latent, alpha_g, classes): ...``."""
    def deco(fn: Steerer) -> Steerer:
        KINDS[kind] = fn
        return fn
    return deco


class DirectionMismatch(ValueError):
    """A direction was learned for another model (fingerprint or shapes differ)."""


def alpha_spec(edit: Edit) -> dict[str, Any]:
    """The JSON-able alpha mapping of an edit, stored with every direction."""
    return {"unit": edit.unit, "alpha_range": list(edit.alpha_range), "identity": edit.identity,
            "mapping": edit.mapping, "scale": edit.scale, "alpha_dim": edit.alpha_dim}


def plain_alpha(limit: float, unit: str = "shift magnitude") -> dict[str, Any]:
    """Alpha spec of a direction without an image edit: alpha_g = alpha_t in [-limit, limit]."""
    return {"unit": unit, "alpha_range": [-limit, limit], "identity": 0.0, "mapping": "linear",
            "scale": 1.0, "alpha_dim": 1}


@dataclass
class Direction:
    kind: str
    space: str
    tensors: dict[str, Tensor]
    model: str
    fingerprint: str
    alpha: dict[str, Any]
    edit: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    version: str = __version__

    # ------------------------------------------------------------------ alpha
    @property
    def knob(self) -> Edit:
        """An `Edit`-shaped view of the alpha mapping (validation, to_g, grid, sample)."""
        return Edit(name=self.edit or self.kind, fn=None, **self.alpha)

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
                f"not '{G.name}' (fingerprint {G.fingerprint}); use force to override")
        if self.space != "weight":
            G.check_space(self.space)

    def render(self, G: Generator, z: Tensor, alpha_t, *, classes: Tensor | None = None,
               latent: Tensor | None = None, force: bool = False) -> Tensor:
        """Images of ``G`` moved by ``alpha_t`` (one value, or one per sample).

        Args:
            G: the generator this direction belongs to.
            z: (N, z_dim) codes; mapped into ``self.space`` unless ``latent`` is given.
            alpha_t: in the direction's user units (see ``self.alpha``).
            classes: (N,) labels for a conditional model.
            latent: a latent already in the direction's space (e.g. from inversion).

        Returns:
            (N, C, H, W) images in [0, 1].
        """
        self.check_model(G, force)
        if self.kind not in KINDS:
            raise ValueError(f"unknown direction kind '{self.kind}'; allowed: {', '.join(sorted(KINDS))}")
        if latent is None:
            latent = G.to_space(z, self.space if self.space != "weight" else "z", classes)
        alpha_g = self.to_g(alpha_t, latent.shape[0]).to(latent.device)
        return KINDS[self.kind](self, G, latent, alpha_g, classes)

    # ------------------------------------------------------------------ files
    def header(self) -> dict[str, Any]:
        head = asdict(self)
        head.pop("tensors")
        head["format"] = FORMAT
        head["tensor_shapes"] = {k: list(v.shape) for k, v in self.tensors.items()}
        return head

    def save(self, path: str | Path) -> Path:
        """Write ``<stem>.safetensors`` (+ ``<stem>.json``); returns the safetensors path."""
        stem = Path(path)
        stem = stem.with_suffix("") if stem.suffix in (".safetensors", ".json") else stem
        head = self.header()
        out = write_tensors(stem.with_name(stem.name + ".safetensors"), self.tensors,
                            metadata={"steerlab": json.dumps(head, default=str)})
        write_json(stem.with_name(stem.name + ".json"), head)
        return out

    @classmethod
    def load(cls, path: str | Path, model: Generator | None = None, force: bool = False) -> "Direction":
        """Read a direction file; with ``model``, refuse it if it belongs to another model."""
        path = Path(path)
        if path.suffix == ".json":
            path = path.with_suffix(".safetensors")
        tensors = read_tensors(path)
        head = read_header(path)
        if head.get("format") != FORMAT:
            raise FileFormatError(f"{path}: not a steerlab direction file (no {FORMAT} header)")
        shapes = {k: list(v.shape) for k, v in tensors.items()}
        if shapes != head.get("tensor_shapes"):
            raise FileFormatError(f"{path}: tensors do not match the header (corrupted file)")
        for k, v in tensors.items():
            if v.is_floating_point() and not torch.isfinite(v).all():
                raise FileFormatError(f"{path}: tensor '{k}' contains NaN or inf")
        fields = {k: head[k] for k in ("kind", "space", "model", "fingerprint", "alpha", "edit",
                                       "config", "metrics", "version") if k in head}
        d = cls(tensors=tensors, **fields)
        if model is not None:
            d.check_model(model, force)
        return d

    def describe(self) -> str:
        lo, hi = self.alpha["alpha_range"]
        what = f"edit '{self.edit}'" if self.edit else self.config.get("name", self.kind)
        return (f"{self.kind} direction in {self.space} for '{self.model}' ({what}; "
                f"alpha in [{lo:g}, {hi:g}] {self.alpha['unit']})")
