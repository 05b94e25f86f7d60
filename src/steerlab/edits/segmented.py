"""An edit restricted to a segmented region (Jahanian et al. App. B.6, Fig. 26 left).

"Since the color transformation operates on individual pixels, we can optimize the walk using a
segmented target": the target is the edited image inside the region and the *unedited* image
outside it, and the loss still covers every pixel, so a walk that also changes the background is
penalised there. The region is found on the source image G(z) by a segmenter the caller passes
(e.g. `steerlab.attributes.objects.object_mask` on shapes), so this layer needs no detector.

Example:
    >>> import torch
    >>> from steerlab.edits import get_edit
    >>> left = lambda x: torch.ones_like(x[:, :1]).index_fill(3, torch.arange(2, 4), 0.0)
    >>> e = segmented_edit(get_edit("color"), left)
    >>> target, mask = e(torch.full((1, 3, 2, 4), 0.5), [0.25, 0.0, 0.0])
    >>> target[0, 0, 0].tolist(), bool(mask.all())
    ([0.75, 0.75, 0.5, 0.5], True)
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch

from steerlab.edits.registry import Edit

__all__ = ["segmented_edit"]

Segmenter = Callable[[torch.Tensor], torch.Tensor]


def segmented_edit(edit: Edit, segment: Segmenter, name: str | None = None) -> Edit:
    """``edit`` applied only where ``segment`` marks the region; elsewhere the source is the target.

    Args:
        edit: a photometric edit whose mask is all ones (colour, brightness, contrast); a
            geometric edit would move pixels across the region's border and is refused.
        segment: ``(N, C, H, W)`` images in [0, 1] -> ``(N, 1, H, W)`` region in [0, 1]
            (1 = edit this pixel), computed on the source images without gradients.
        name: the new edit's name (default ``"<edit>-segmented"``).

    Returns:
        An `Edit` with the same alpha range and mapping; its ``fn(images, alpha_t)`` returns
        ``(region * edit(images) + (1 - region) * images, edit's mask)``.

    Raises:
        ValueError: ``edit`` is geometric (its mask is not all ones on a test image).
    """
    probe = torch.rand(1, 3, 8, 8)
    lo, hi = edit.alpha_range
    far = hi if hi - edit.identity >= edit.identity - lo else lo
    if not bool(edit(probe, [far] * edit.alpha_dim if edit.alpha_dim > 1 else far)[1].all()):
        raise ValueError(f"edit {edit.name!r} moves pixels (its mask is not all ones); a segmented target needs "
                         "a per-pixel edit such as color, brightness or contrast")

    def fn(images: torch.Tensor, alpha_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        target, mask = edit.fn(images, alpha_t)
        with torch.no_grad():
            region = segment(images.detach()).to(images.dtype)  # (N, 1, H, W)
        if region.shape != (images.shape[0], 1, *images.shape[2:]):
            raise ValueError(f"segmenter returned shape {tuple(region.shape)}, expected "
                             f"{(images.shape[0], 1, *images.shape[2:])}")
        return region * target + (1 - region) * images, mask

    return replace(edit, name=name or f"{edit.name}-segmented", fn=fn,
                   description=f"{edit.description} Only inside a segmented region; the rest is kept.")
