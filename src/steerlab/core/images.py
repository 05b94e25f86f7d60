"""The one image loader: an image file -> a model's input tensor, with limits for untrusted files.

`steerlab invert` (photos named on the command line) and the UI (photos users upload) both read
images here. Files come from outside, so they are checked before and while decoding: a size
limit in bytes, a limit in pixels read from the header *before* the pixels are decoded (a small
PNG can declare a gigapixel canvas: a decompression bomb), a minimum side, and every decoder
failure (not an image, truncated) becomes one `FileFormatError` line.

    >>> x = load_image("face.png", 64)         # doctest: +SKIP
    >>> x.shape, x.dtype                        # doctest: +SKIP
    (torch.Size([1, 3, 64, 64]), torch.float32)
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from steerlab.core.errors import FileFormatError

__all__ = ["load_image", "square_resize", "MIN_SIDE", "MAX_BYTES", "MAX_PIXELS"]

MIN_SIDE = 8                # px: a smaller image carries too little to invert or steer
MAX_BYTES = 64 * 2 ** 20    # a photo is a few MB; larger files are refused before they are opened
MAX_PIXELS = 64 * 2 ** 20   # 64 megapixels (e.g. 8192 x 8192), checked before decoding


def load_image(path: str | os.PathLike, resolution: int, channels: int = 3, *,
               max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """Read an image file as float32 (1, channels, resolution, resolution) in [0, 1].

    The image is converted to RGB (``channels=3``) or grey (``channels=1``), centre-cropped to a
    square and resized to ``resolution`` with a Lanczos filter (anti-aliased when shrinking).

    Args:
        path: an image file Pillow can read (PNG, JPEG, WebP, ...).
        resolution: the model's image side, >= 1.
        channels: 3 (RGB) or 1 (grey); palettes, alpha and 16-bit modes are converted.
        max_bytes: larger files are refused before they are opened.
        max_pixels: images declaring more pixels are refused before they are decoded.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: (a ValueError, one line) not a readable image, truncated, larger than
            ``max_bytes`` or ``max_pixels``, or smaller than ``MIN_SIDE`` px a side.
        ValueError: a bad ``resolution`` or ``channels``.
    """
    from PIL import Image, UnidentifiedImageError

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if not int(resolution) >= 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    size = path.stat().st_size
    if size > max_bytes:
        raise FileFormatError(f"{path}: {size / 2 ** 20:.1f} MB is larger than the {max_bytes / 2 ** 20:.0f} MB "
                              "an image may have")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check only warns below twice its limit; ours refuses outright
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size  # from the header: nothing decoded yet
                if w * h > max_pixels:
                    raise FileFormatError(f"{path}: {w}x{h} px is more than the {max_pixels / 2 ** 20:.0f} "
                                          "megapixels an image may have")
                im.load()
                im = im.convert("RGB" if channels == 3 else "L")
    except FileFormatError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's check ran first
        raise FileFormatError(f"{path}: declares more than the {max_pixels / 2 ** 20:.0f} megapixels an "
                              "image may have") from None
    except Exception as e:  # Pillow raises many types for bad files; all mean "not an image"
        why = "unknown format" if isinstance(e, UnidentifiedImageError) else _first_line(e)
        raise FileFormatError(f"{path}: not a readable image ({why})") from None
    if min(w, h) < MIN_SIDE:
        raise FileFormatError(f"{path}: image is {w}x{h} px; need at least {MIN_SIDE} px a side")
    return square_resize(im, int(resolution))


def square_resize(im, resolution: int) -> torch.Tensor:
    """A decoded Pillow image ("RGB" or "L") centre-cropped to a square and resized (Lanczos):
    float32 (1, C, resolution, resolution) in [0, 1], C = 3 or 1."""
    from PIL import Image

    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.LANCZOS)
    x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)  # (R, R) or (R, R, 3)
    x = x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None]
    return x.contiguous()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0].strip("'") if text else e.__class__.__name__)[:120]
