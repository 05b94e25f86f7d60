"""Attribute measures: what an edit is *read with* (Jahanian et al., Sec. 3; Plumerault et al., Sec. 3.1).

A lower loss than doing nothing is not evidence that a walk steers; a measured attribute is.
Every measure is a pure function ``fn(images, **options) -> dict[str, Tensor (N,)]`` on
float (N, C, H, W) images in [0, 1], NaN where it fails (e.g. no detection), registered by name:

=============  =========================  ==============================================
name           keys                       what / where it applies
=============  =========================  ==============================================
``colour``     r, g, b, luminance,        100 random pixels per image (the paper's
               contrast                   colour statistic); any image
``box``        x, y, area, found          object box on a row-uniform background
                                          (``steerlab.data.shapes``)
``face_box``   x, y, width, area, found   OpenCV Haar frontal face; face crops
``saliency``   x, y, area                 spectral-residual saliency barycentre; any image
=============  =========================  ==============================================

Measures are generic, never per model: the keys mean the same thing in every measure that
returns them (``x``, ``y``: centre as a fraction of width / height; ``area``: fraction of the
image area), so an edit is read with the same *key* whichever geometric measure suits the
images. ``ATTRIBUTE_FOR_EDIT`` gives that key and a default measure per edit;
``attribute_for_edit(edit, measure)`` swaps the measure (e.g. ``"face_box"`` for faces).

==============  =====================  ===============================================
edit            read with              expected response
==============  =====================  ===============================================
zoom            box / area             grows with the zoom factor (about its square)
shift_x         box / x                moves with the shift (fraction of the width)
shift_y         box / y                moves with the shift (fraction of the height)
brightness      colour / luminance     rises with alpha
color           colour / r, g, b       the edited channel moves, the others less
contrast        colour / contrast      rises with alpha
rotate2d/3d     none                   no attribute; use the perceptual distance
                                       between consecutive alphas (paper App. B.2)
==============  =====================  ===============================================

Example:
    >>> from steerlab.attributes import get_measure
    >>> m = get_measure("colour")
    >>> m.keys
    ('r', 'g', 'b', 'luminance', 'contrast')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from steerlab.attributes.colour import measure_colour
from steerlab.attributes.faces import measure_face_box
from steerlab.attributes.object_colour import measure_object_colour
from steerlab.attributes.objects import measure_box
from steerlab.attributes.saliency import measure_saliency
from steerlab.core.registry import Registry

__all__ = [
    "Measure",
    "MEASURES",
    "ATTRIBUTE_FOR_EDIT",
    "get_measure",
    "register_measure",
    "attribute_for_edit",
    "measure_colour",
    "measure_box",
    "measure_object_colour",
    "measure_face_box",
    "measure_saliency",
]


@dataclass(frozen=True)
class Measure:
    """A registered attribute measure.

    Attributes:
        name: registry name.
        fn: ``fn(images, **options) -> dict[str, Tensor (N,)]``.
        keys: the attribute names ``fn`` returns.
        description: one line: what it measures and on which images.
    """

    name: str
    fn: Callable[..., dict[str, torch.Tensor]]
    keys: tuple[str, ...]
    description: str

    def __call__(self, images: torch.Tensor, **options) -> dict[str, torch.Tensor]:
        return self.fn(images, **options)


MEASURES: Registry[Measure] = Registry("measure", kind=Measure)
"""All measures by name (a validating `steerlab.core.registry.Registry`)."""


def register_measure(measure: Measure, *, overwrite: bool = False) -> Measure:
    """Add ``measure`` to :data:`MEASURES` under ``measure.name`` (e.g. from a plugin).

    Raises:
        TypeError: ``measure`` is not a `Measure`.
        ValueError: a measure of that name is already registered (without ``overwrite``).
    """
    if not isinstance(measure, Measure):
        raise TypeError(f"register_measure expects a Measure, got {type(measure).__name__}")
    return MEASURES.register(measure.name, measure, overwrite=overwrite)


for _measure in (
    Measure(
        "colour",
        measure_colour,
        ("r", "g", "b", "luminance", "contrast"),
        "mean colour, luminance and contrast of 100 random pixels per image (any image)",
    ),
    Measure(
        "box",
        measure_box,
        ("x", "y", "area", "found"),
        "object bounding box on a row-uniform sky/ground background (biased shapes)",
    ),
    Measure(
        "face_box",
        measure_face_box,
        ("x", "y", "width", "area", "found"),
        "largest OpenCV Haar frontal-face box (face crops, e.g. 64x64)",
    ),
    Measure(
        "object_colour",
        measure_object_colour,
        ("r", "g", "b", "luminance", "found"),
        "mean colour / luminance of the object's interior on a row-uniform background (biased shapes)",
    ),
    Measure(
        "saliency",
        measure_saliency,
        ("x", "y", "area"),
        "spectral-residual saliency barycentre and salient area (any image, coarse)",
    ),
):
    register_measure(_measure)
del _measure


# edit name -> (default measure, key or keys). Geometric keys are shared by box, face_box and
# saliency, so the key holds for any of them; see attribute_for_edit.
ATTRIBUTE_FOR_EDIT: dict[str, tuple[str, str | tuple[str, ...]] | None] = {
    "zoom": ("box", "area"),
    "shift_x": ("box", "x"),
    "shift_y": ("box", "y"),
    "brightness": ("colour", "luminance"),
    "color": ("colour", ("r", "g", "b")),
    "contrast": ("colour", "contrast"),
    "rotate2d": None,  # no attribute measure: read with the perceptual distance (App. B.2)
    "rotate3d": None,
}


def get_measure(name: str) -> Measure:
    """Look a measure up by name.

    Raises:
        ValueError: unknown name (the message lists the allowed ones).
    """
    return MEASURES.get(name)


def attribute_for_edit(edit: str, measure: str | None = None) -> tuple[str, str | tuple[str, ...]] | None:
    """The (measure name, key or keys) an edit should be read with.

    Args:
        edit: edit name, a key of ``ATTRIBUTE_FOR_EDIT``.
        measure: use this measure instead of the default (e.g. ``"face_box"`` or
            ``"saliency"`` for ``zoom``); it must return the edit's key(s).

    Returns:
        ``(measure_name, key)`` (``key`` a tuple for ``color``), or None for edits no
        measure reads (rotations).

    Raises:
        ValueError: unknown edit or measure, or a measure that lacks the key.

    Example:
        >>> attribute_for_edit("zoom", "face_box")
        ('face_box', 'area')
    """
    if edit not in ATTRIBUTE_FOR_EDIT:
        raise ValueError(f"unknown edit {edit!r}; allowed: {', '.join(sorted(ATTRIBUTE_FOR_EDIT))}")
    default = ATTRIBUTE_FOR_EDIT[edit]
    if default is None or measure is None:
        return default
    keys = default[1] if isinstance(default[1], tuple) else (default[1],)
    missing = [k for k in keys if k not in get_measure(measure).keys]
    if missing:
        raise ValueError(f"measure {measure!r} does not return {missing} needed for edit {edit!r}")
    return (measure, default[1])
