"""`steerlab models` and `steerlab edits`: what can be steered, and how."""
from __future__ import annotations

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
