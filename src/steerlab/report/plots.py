"""Pictures: labelled image strips, GIFs and line plots (PNG), written atomically."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

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


def grid_image(rows: Sequence[torch.Tensor], *, col_labels: Sequence[str] | None = None,
               row_labels: Sequence[str] | None = None, scale: int = 2, gap: int = 2) -> Image.Image:
    """Lay out rows of images (each (M, C, H, W) in [0, 1]) as one labelled picture."""
    cells = [to_uint8(r) for r in rows]
    h, w = cells[0].shape[1] * scale, cells[0].shape[2] * scale
    ncol = max(c.shape[0] for c in cells)
    top = 14 if col_labels else 0
    left = 64 if row_labels else 0
    canvas = Image.new("RGB", (left + ncol * (w + gap), top + len(cells) * (h + gap)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, label in enumerate(col_labels or []):
        draw.text((left + j * (w + gap) + 2, 1), label, fill="black")
    for i, row in enumerate(cells):
        if row_labels:
            draw.text((2, top + i * (h + gap) + h // 2 - 6), row_labels[i], fill="black")
        for j, cell in enumerate(row):
            tile = Image.fromarray(cell).resize((w, h), Image.NEAREST)
            canvas.paste(tile, (left + j * (w + gap), top + i * (h + gap)))
    return canvas


def save_png(image: Image.Image, path: str | Path) -> Path:
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def save_gif(frames: Sequence[Image.Image], path: str | Path, ms: int = 150) -> Path:
    # Play forward then back so the loop is smooth.
    seq = list(frames) + list(frames[-2:0:-1])
    return atomic_write(path, lambda tmp: seq[0].save(tmp, format="GIF", save_all=True,
                                                       append_images=seq[1:], duration=ms, loop=0))


def line_plot(path: str | Path, series: dict[str, tuple[Sequence[float], Sequence[float]]], *,
              xlabel: str, ylabel: str, title: str = "", logy: bool = False,
              markers: bool = True) -> Path:
    """One PNG line plot; ``series`` maps a legend label to (x, y)."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4), dpi=110)
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
