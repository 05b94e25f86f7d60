"""What the steering wheel shows, without gradio: slider scales, labelled panels and export frames.

Sliders move in each knob's natural scale: a knob whose alpha maps by ``log`` (zoom) moves in
log2 of its factor, so the identity (factor 1) sits mid-track and zooming in and out get equal
halves; other knobs move in their own units. Panels (a grid of seeds; photo | reconstruction |
edit; exported frames) carry labels drawn at a fixed, legible size, whatever the model's size:
the cells are scaled, never the text.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from steerlab.directions import AlphaSpec
from steerlab.report.plots import to_uint8

DISPLAY_SIDE = 320  # a single image is shown nearest-upscaled to at least this many pixels
GRID_SIDE = 480     # a grid of samples or panels is at least this wide
FONT_PX = 14        # label text height, fixed
LABEL_BAND = 20     # pixels above a labelled cell
GAP = 4             # pixels between cells
GRID_SIZES = (1, 4, 9)


# --------------------------------------------------------------------------- slider scales
def is_log(spec: AlphaSpec) -> bool:
    """Whether the knob moves in log2 of its factor (a ``log`` mapping with a positive range)."""
    return spec.mapping == "log" and spec.alpha_range[0] > 0


def to_slider(spec: AlphaSpec, alpha: float) -> float:
    """A knob value alpha_t -> its slider position (log2 for log knobs, else alpha_t)."""
    return math.log2(alpha) if is_log(spec) else float(alpha)


def from_slider(spec: AlphaSpec, value: float) -> float:
    """A slider position -> the knob value alpha_t (2 ** value for log knobs)."""
    return float(2.0 ** value) if is_log(spec) else float(value)


def slider_range(spec: AlphaSpec) -> tuple[float, float, float]:
    """``(minimum, maximum, step)`` of a knob's slider: about 100-1000 round steps over the range."""
    lo, hi = (to_slider(spec, a) for a in spec.alpha_range)
    return lo, hi, 10.0 ** math.floor(math.log10((hi - lo) / 100))


def slider_label(spec: AlphaSpec, name: str) -> tuple[str, str]:
    """(label, info) of a knob's slider, saying what the number means."""
    if is_log(spec):
        return (f"{name} (log2 of the factor)", f"{spec.unit}; factor = 2^value, identity 0 (factor "
                f"{spec.identity:g})")
    return name, f"{spec.unit}; identity {spec.identity:g}"


# --------------------------------------------------------------------------- panels
def font(px: int = FONT_PX) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=px)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def cell_scale(resolution: int, cols: int) -> int:
    """Integer upscale so ``cols`` cells of ``resolution`` px fill the display (1 cell: DISPLAY_SIDE)."""
    side = DISPLAY_SIDE if cols == 1 else GRID_SIDE
    return max(1, -(-side // (cols * resolution)))


def compose(images: torch.Tensor, labels: Sequence[str] | None = None, cols: int | None = None,
            scale: int | None = None) -> Image.Image:
    """Cells of (N, C, H, W) images in [0, 1], row-major in ``cols`` columns, each under its label.

    One unlabelled image is just that image nearest-upscaled by ``scale`` (what the UI shows for
    one sample). Labels are drawn at ``FONT_PX`` in a band of ``LABEL_BAND`` px above each cell;
    cells are ``GAP`` px apart. `cell` cuts one cell back out (for tests).
    """
    cells = to_uint8(images)  # (N, H, W, 3)
    n, h, w = cells.shape[:3]
    cols = cols or n
    rows = -(-n // cols)
    k = scale or cell_scale(w, cols)
    band = LABEL_BAND if labels else 0
    gap = GAP if n > 1 or labels else 0
    canvas = Image.new("RGB", (cols * w * k + (cols - 1) * gap, rows * (band + h * k) + (rows - 1) * gap), "white")
    draw, f = ImageDraw.Draw(canvas), font()
    for i in range(n):
        r, c = divmod(i, cols)
        x, y = c * (w * k + gap), r * (band + h * k + gap)
        if labels:
            draw.text((x + 2, y + (band - FONT_PX) // 2 - 1), str(labels[i]), fill="black", font=f)
        canvas.paste(Image.fromarray(cells[i]).resize((w * k, h * k), Image.NEAREST), (x, y + band))
    return canvas


def cell(shown, i: int, cols: int, resolution: int, scale: int, labelled: bool):
    """Cell ``i`` of a `compose` picture (an (H, W, 3) array) at the model's own resolution."""
    band = LABEL_BAND if labelled else 0
    side = resolution * scale
    gap = GAP if (cols > 1 or labelled) else 0
    r, c = divmod(i, cols)
    x, y = c * (side + gap), r * (band + side + gap) + band
    return shown[y:y + side:scale, x:x + side:scale]


def grid_cols(n: int) -> int:
    """Columns of a square-ish grid of ``n`` samples."""
    return max(1, math.ceil(math.sqrt(n)))
