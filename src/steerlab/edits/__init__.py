"""Image-space edits ``edit(images, alpha_t) -> (target, mask)``: pure functions plus a registry.

Example:
    >>> import torch
    >>> from steerlab.edits import get_edit
    >>> target, mask = get_edit("shift_x")(torch.rand(2, 3, 16, 16), 0.25)
    >>> target.shape, mask.shape
    (torch.Size([2, 3, 16, 16]), torch.Size([2, 1, 16, 16]))
"""

from steerlab.edits.functional import (
    billboard_corners,
    brightness,
    color,
    contrast,
    rotate2d,
    rotate3d,
    shift_x,
    shift_y,
    warp_with_mask,
    zoom,
    zoom_shift,
)
from steerlab.edits.registry import EDITS, Edit, UnknownEditError, get_edit, list_edits, register_edit

__all__ = [
    "Edit",
    "EDITS",
    "UnknownEditError",
    "get_edit",
    "list_edits",
    "register_edit",
    "zoom",
    "shift_x",
    "shift_y",
    "rotate2d",
    "rotate3d",
    "color",
    "brightness",
    "contrast",
    "zoom_shift",
    "warp_with_mask",
    "billboard_corners",
]
