"""Procedural dSprites: 64x64 binary sprites with exact, known factors (Matthey et al. 2017).

The original dSprites (737,280 images) cannot be downloaded here, so this module draws the
same factor grid analytically and renders any image of it on demand:

=============  ======  ==================================================================
factor         values  meaning
=============  ======  ==================================================================
shape          3       0 square, 1 ellipse, 2 heart
scale          6       linspace(0.5, 1, 6): size relative to the largest sprite
orientation    40      linspace(0, 2 pi, 40, endpoint=False) radians, counter-clockwise
pos_x, pos_y   32 x 32 linspace(0, 1, 32): left to right, top to bottom
=============  ======  ==================================================================

``3 * 6 * 40 * 32 * 32 = 737,280`` images, indexed in the original's order (shape slowest,
pos_y fastest). Rendering is exact and binary: a pixel is white (1.0) iff its centre lies
inside the rotated, scaled shape. Every shape is placed so that its *area centroid* is at
the sprite position, so the barycentre of the white pixels recovers the position to within
half a pixel (``pixel_stats``). Geometry (pixel units, pixel centres at 0 .. 63):

- a sprite of scale 1 has unit length ``UNIT_PX = 8``: the square is 16 x 16 px, the
  ellipse has semi-axes 9.6 and 4.8 px, the heart (the curve (x^2+y^2-1)^3 = x^2 y^3,
  scaled by 0.75) is about 14 px wide; no shape reaches further than 11.4 px from its centre;
- the centre in pixels is ``MARGIN_PX + pos * (63 - 2 * MARGIN_PX)``, i.e. 12 .. 51, so
  every sprite stays inside the image at every orientation.

The position as a fraction of the image width (the unit of the ``shift_x`` edit and of
``steerlab.attributes``) is ``x = (centre_px + 0.5) / 64``, from 0.195 to 0.805.

Example:
    >>> batch = sample_dsprites(8, generator=torch.Generator().manual_seed(0))
    >>> batch.images.shape, sorted(batch.factors)[:3]
    (torch.Size([8, 1, 64, 64]), ['index', 'orientation', 'pos_x'])
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["SHAPES", "SCALES", "ORIENTATIONS", "POSITIONS", "N_IMAGES", "RESOLUTION", "UNIT_PX",
           "MARGIN_PX", "DSprites", "factors_of", "render_dsprites", "sample_dsprites", "pixel_stats"]

SHAPES = ("square", "ellipse", "heart")
SCALES = torch.linspace(0.5, 1.0, 6)
ORIENTATIONS = torch.arange(40) * (2 * math.pi / 40)
POSITIONS = torch.linspace(0.0, 1.0, 32)
SIZES = (len(SHAPES), len(SCALES), len(ORIENTATIONS), len(POSITIONS), len(POSITIONS))
N_IMAGES = math.prod(SIZES)  # 737,280
RESOLUTION = 64
UNIT_PX = 8.0
MARGIN_PX = 12.0
_HEART_SCALE = 0.75
_HEART_CENTROID_Y = 0.29348  # area centroid of (x^2+y^2-1)^3 <= x^2 y^3 (y up), by a 3001^2 grid


@dataclass
class DSprites:
    """A batch of sprites: ``images`` (N, 1, 64, 64) in {0, 1} and their exact ``factors``.

    ``factors`` holds (N,) tensors: ``index`` (flat index into the 737,280), ``shape`` (int),
    ``scale``, ``orientation`` (radians), ``pos_x``, ``pos_y`` (grid values in [0, 1]) and
    ``x``, ``y``: the sprite centre as a fraction of the width / height.
    """

    images: Tensor
    factors: dict[str, Tensor]


def factors_of(index: Tensor) -> dict[str, Tensor]:
    """The factors of flat dSprites indices (shape slowest, pos_y fastest).

    Raises:
        ValueError: an index outside [0, 737280).
    """
    index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= N_IMAGES):
        raise ValueError(f"dSprites indices must be in [0, {N_IMAGES}), got {int(index.min())}..{int(index.max())}")
    rest, parts = index.clone(), []
    for size in reversed(SIZES):
        parts.append(rest % size)
        rest = rest // size
    i_py, i_px, i_or, i_sc, i_sh = parts
    pos_x, pos_y = POSITIONS[i_px], POSITIONS[i_py]
    span = RESOLUTION - 1 - 2 * MARGIN_PX
    return {"index": index, "shape": i_sh, "scale": SCALES[i_sc], "orientation": ORIENTATIONS[i_or],
            "pos_x": pos_x, "pos_y": pos_y,
            "x": (MARGIN_PX + pos_x * span + 0.5) / RESOLUTION,
            "y": (MARGIN_PX + pos_y * span + 0.5) / RESOLUTION}


def render_dsprites(shape: Tensor, scale: Tensor, orientation: Tensor, pos_x: Tensor,
                    pos_y: Tensor) -> Tensor:
    """Render sprites exactly: white where the pixel centre is inside the shape.

    Args:
        shape: (N,) ints in {0, 1, 2} (square, ellipse, heart).
        scale: (N,) relative size (the grid uses 0.5 .. 1; any positive value renders).
        orientation: (N,) radians, counter-clockwise on screen.
        pos_x, pos_y: (N,) position in [0, 1] (left/top to right/bottom).

    Returns:
        float32 images (N, 1, 64, 64) with values exactly 0.0 or 1.0, on the device of ``pos_x``.
    """
    shape = torch.as_tensor(shape, dtype=torch.long).reshape(-1, 1, 1)
    scale, theta, px, py = (torch.as_tensor(v, dtype=torch.float32).reshape(-1, 1, 1)
                            for v in (scale, orientation, pos_x, pos_y))
    span = RESOLUTION - 1 - 2 * MARGIN_PX
    cx, cy = MARGIN_PX + px * span, MARGIN_PX + py * span
    grid = torch.arange(RESOLUTION, dtype=torch.float32, device=px.device)
    dx = (grid[None, None, :] - cx) / (UNIT_PX * scale)  # (N, 1, W), to the right
    dy = (cy - grid[None, :, None]) / (UNIT_PX * scale)  # (N, H, 1), upwards
    # Rotate the pixel into the sprite's own frame (by -theta), so the sprite turns by +theta.
    c, s = torch.cos(theta), torch.sin(theta)
    u, v = c * dx + s * dy, -s * dx + c * dy  # (N, H, W)
    square = (u.abs() <= 1) & (v.abs() <= 1)
    ellipse = (u / 1.2) ** 2 + (v / 0.6) ** 2 <= 1
    hx, hy = u / _HEART_SCALE, v / _HEART_SCALE + _HEART_CENTROID_Y
    heart = (hx ** 2 + hy ** 2 - 1) ** 3 - hx ** 2 * hy ** 3 <= 0
    inside = torch.where(shape == 0, square, torch.where(shape == 1, ellipse, heart))
    return inside.float()[:, None]


def sample_dsprites(n: int, *, generator: torch.Generator | None = None,
                    device: str | torch.device = "cpu") -> DSprites:
    """``n`` sprites drawn uniformly from the 737,280 (with replacement), rendered exactly.

    The draw uses the (CPU) ``generator``, so the same seed gives the same sprites on every
    device; images and factors are rendered on ``device`` (a GPU renders a training batch far
    faster than the CPU can feed it).
    """
    if n < 1:
        raise ValueError(f"need n >= 1 sprites, got {n}")
    index = torch.randint(0, N_IMAGES, (n,), generator=generator)
    f = {k: v.to(device) for k, v in factors_of(index).items()}
    return DSprites(render_dsprites(f["shape"], f["scale"], f["orientation"], f["pos_x"], f["pos_y"]), f)


def pixel_stats(images: Tensor, threshold: float = 0.5) -> dict[str, Tensor]:
    """Barycentre and area of the bright pixels: the exact dSprites measure (Sec. 3.1).

    Args:
        images: (N, C, H, W) in [0, 1]; channels are averaged.
        threshold: a pixel counts when its value is above this.

    Returns:
        ``x``, ``y``: barycentre as a fraction of width / height (pixel j counts at
        (j + 0.5) / W); ``area``: fraction of bright pixels. NaN where no pixel is bright.
        Each (N,) float32.
    """
    if images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"pixel_stats: images must be float (N, C, H, W), got {tuple(images.shape)} {images.dtype}")
    if not torch.isfinite(images).all():
        raise ValueError("pixel_stats: images contain NaN or inf")
    on = (images.mean(1) > threshold).float()  # (N, H, W)
    n, h, w = on.shape
    count = on.flatten(1).sum(1)
    xs = (torch.arange(w, device=on.device) + 0.5) / w
    ys = (torch.arange(h, device=on.device) + 0.5) / h
    x = (on.sum(1) * xs).sum(1) / count
    y = (on.sum(2) * ys).sum(1) / count
    nan = torch.full_like(count, float("nan"))
    return {"x": torch.where(count > 0, x, nan), "y": torch.where(count > 0, y, nan),
            "area": count / (h * w)}
