"""Pictures: labelled image strips, GIFs and line plots (PNG), written atomically."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from steerlab.core.io import atomic_write  # noqa: E402


def alpha_label(a) -> str:
    """One alpha as a column label: ``2`` -> "2", ``[0.3, 0, 0]`` -> "(+0.3,+0,+0)" (colour triples)."""
    if isinstance(a, (list, tuple)):
        return "(" + ",".join(f"{v:+.2g}" for v in a) + ")"
    return f"{a:.3g}"


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, H, W, 3) uint8; grey images repeated to RGB."""
    x = images.detach().float().cpu().clamp(0, 1)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return (x.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


FONT_SIZE = 14       # px of every label drawn on a picture; cells grow to fit it, the text never shrinks
MIN_CELL = 96        # px: small models (16-32 px) are enlarged to at least this, so their content is visible
MAX_WIDTH = 1100     # px: wider strips wrap into bands of columns (the HTML report's width, no downscaling)


def _font(size: int = FONT_SIZE):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_width(draw: ImageDraw.ImageDraw, text: str, font) -> int:
    return int(math.ceil(draw.textlength(text, font=font))) if text else 0


def grid_image(rows: Sequence[torch.Tensor], *, col_labels: Sequence[str] | None = None,
               row_labels: Sequence[str] | None = None, scale: int = 2, gap: int = 2,
               title: str | None = None, min_cell: int = MIN_CELL, max_width: int = MAX_WIDTH) -> Image.Image:
    """Lay out rows of images as one labelled picture, readable at a glance at any column count.

    Args:
        rows: R tensors (M, C, H, W) in [0, 1] (rows may be shorter than the longest).
        col_labels: one label per column (e.g. `alpha_label` of each alpha), drawn above each band.
        row_labels: one label per row, drawn to the left.
        scale: the smallest whole-number enlargement of each image (nearest neighbour).
        title: a line above everything, e.g. "alpha (zoom factor)".
        min_cell: cells are enlarged (whole multiples) to at least this many pixels wide, and to fit
            their column label at `FONT_SIZE`.
        max_width: columns wrap into bands (each with its labels) when one band would be wider.

    Returns:
        an RGB `PIL.Image.Image`; labels are always `FONT_SIZE` px high.
    """
    cells = [to_uint8(r) for r in rows]
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    h0, w0 = cells[0].shape[1], cells[0].shape[2]
    label_w = max([_text_width(probe, t, font) for t in (col_labels or [])] + [0])
    k = max(scale, math.ceil(min_cell / w0), math.ceil((label_w + 6) / w0))
    h, w = h0 * k, w0 * k
    ncol = max(c.shape[0] for c in cells)
    left = (max(_text_width(probe, t, font) for t in row_labels) + 8) if row_labels else 0
    per_band = max(1, min(ncol, (max_width - left) // (w + gap)))
    bands = math.ceil(ncol / per_band)
    per_band = math.ceil(ncol / bands)  # balanced bands (5 + 4, not 8 + 1)
    line = FONT_SIZE + 6
    top = line if title else 0
    head = line if col_labels else 0
    band_h = head + len(cells) * (h + gap)
    width = left + min(ncol, per_band) * (w + gap)
    canvas = Image.new("RGB", (max(width, _text_width(probe, title or "", font) + 8), top + bands * band_h + gap),
                       "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 2), title, fill="black", font=font)
    for b in range(bands):
        y0 = top + b * band_h
        cols = range(b * per_band, min(ncol, (b + 1) * per_band))
        for jj, j in enumerate(cols):
            if col_labels and j < len(col_labels):
                x = left + jj * (w + gap) + (w - _text_width(draw, col_labels[j], font)) // 2
                draw.text((x, y0 + 2), col_labels[j], fill="black", font=font)
        for i, row in enumerate(cells):
            y = y0 + head + i * (h + gap)
            if row_labels and i < len(row_labels):
                draw.text((4, y + h // 2 - FONT_SIZE // 2), row_labels[i], fill="black", font=font)
            for jj, j in enumerate(cols):
                if j < row.shape[0]:
                    tile = Image.fromarray(row[j]).resize((w, h), Image.NEAREST)
                    canvas.paste(tile, (left + jj * (w + gap), y))
    return canvas


def save_png(image: Image.Image, path: str | Path) -> Path:
    """Write ``image`` as a PNG atomically; zlib level 3 (on discover's grids 3.4x faster to encode
    than PIL's default 6, for files 6 % larger)."""
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG", compress_level=3))


def _padded(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    canvas = Image.new("RGB", size, "white")
    canvas.paste(image, (0, 0))
    return canvas


def save_gif(frames: Sequence[Image.Image], path: str | Path, ms: int = 150) -> Path:
    # Play forward then back so the loop is smooth.
    size = (max(f.width for f in frames), max(f.height for f in frames))  # one frame size for every frame
    frames = [f if f.size == size else _padded(f, size) for f in frames]
    seq = list(frames) + list(frames[-2:0:-1])
    return atomic_write(path, lambda tmp: seq[0].save(tmp, format="GIF", save_all=True,
                                                       append_images=seq[1:], duration=ms, loop=0))


def line_plot(path: str | Path, series: dict[str, tuple[Sequence[float], Sequence[float]]], *,
              xlabel: str, ylabel: str, title: str = "", logy: bool = False,
              markers: bool = True, xticklabels: Sequence[str] | None = None) -> Path:
    """One PNG line plot; ``series`` maps a legend label to (x, y). ``xticklabels``: one label per x of
    the first series (e.g. the RGB triples of a colour sweep plotted by position)."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4 + (0.6 if xticklabels else 0)), dpi=110)
    if xticklabels:
        ax.set_xticks(list(next(iter(series.values()))[0]), list(xticklabels), rotation=60, fontsize=7, ha="right")
    for label, (x, y) in series.items():
        ax.plot(list(x), list(y), marker="o" if markers else None, ms=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig, path: str | Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(buf.getvalue()))
