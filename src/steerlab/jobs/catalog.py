"""`steerlab models` (and ``--scan DIR``) and `steerlab edits`: what can be steered, and how."""
from __future__ import annotations

from pathlib import Path

from steerlab import edits as _edits
from steerlab import models as _models


def list_models() -> list[dict]:
    """The zoo, one dict per model: name, resolution, latent_spaces, classes, source, licence, description."""
    return [{"name": e.name, "resolution": e.resolution, "latent_spaces": list(e.latent_spaces),
             "classes": e.num_classes, "source": e.source, "licence": e.licence,
             "description": e.description} for e in _models.list_models()]


def list_edits() -> list[dict]:
    """The edits with their training ranges and alpha_t -> alpha_g mappings."""
    return [{"name": e.name, "range": list(e.alpha_range), "unit": e.unit, "identity": e.identity,
             "alpha_g": "log(alpha_t)" if e.mapping == "log" else
             ("alpha_t" if e.scale == 1 else f"alpha_t / {e.scale:g}"),
             "components": e.alpha_dim, "description": e.description} for e in _edits.list_edits()]


def scan_models(folder: str | Path) -> list[dict]:
    """Every checkpoint found under ``folder`` (recursively), one dict per file or BigGAN folder.

    Recognised: steerlab generator files (``.safetensors`` with a ``.json`` beside it), NVlabs
    ``.pkl``, rosinality ``.pt`` and BigGAN folders. Each is loaded the way ``--model`` loads it
    (pickles through the restricted reader: nothing is executed). A row holds path, format,
    architecture, resolution, latent_spaces, classes and, for a file that does not load, ``error``
    (the one-line reason) with the facts left empty.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    found: list[tuple[Path, str]] = []
    for p in sorted(root.rglob("*")):
        fmt = _models.checkpoint_format(p)
        if fmt is None and p.suffix == ".safetensors" and p.with_suffix(".json").is_file():
            fmt = "steerlab"
        if fmt is not None and not any(p.is_relative_to(q) for q, f in found if f == "biggan-folder"):
            found.append((p, fmt))
    rows = []
    for p, fmt in found:
        row = {"path": str(p), "format": fmt, "architecture": "", "resolution": 0, "latent_spaces": [],
               "classes": 0, "error": ""}
        try:
            G = _models.load_generator(p) if fmt == "steerlab" else _models.load_foreign(p)
        except (ValueError, FileNotFoundError, KeyError) as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            row["error"] = msg.removeprefix(f"{p}: ")  # the row already names the file
        else:
            row.update(architecture=_architecture(G, p, fmt), resolution=int(G.resolution),
                       latent_spaces=list(G.latent_spaces), classes=int(G.num_classes))
        rows.append(row)
    return rows


def _architecture(G, path: Path, fmt: str) -> str:
    if fmt == "nvlabs-pkl":
        return getattr(G, "card", {}).get("class_name") or type(G).__name__
    arch = next((k for k, v in _models.ARCHITECTURES.items() if type(G) is v), None)
    return arch or type(G).__name__
