"""Handwritten digits for the steerable-GAN experiments (Jahanian et al., Sec. 4.4, Fig. 9).

MNIST cannot be downloaded here, so the default data are the 1,797 *real* handwritten digits
that ship with scikit-learn (8x8, 16 grey levels), upsampled into an MNIST-like frame: the digit
fills a box of about 20/28 of the side, its centre of mass sits at the image centre, strokes
white on black. ``procedural_digits`` adds digits rendered from the fonts bundled with
matplotlib (DejaVu, Computer Modern, STIX) with random stroke width, slant and rotation, laid
out the same way; use them to enlarge the set. ``load_mnist`` reads the standard MNIST idx
files when you have them (``read_idx`` reads any idx file, gzipped or not).

All loaders return ``(images, labels)``: float32 images (N, 1, R, R) in [0, 1] and int64
labels (N,) in 0..9. Like MNIST the digits are *centred and upright*: the dataset bias that
limits how far a GAN trained on them can be steered (the paper's point in Sec. 4.4).

Example:
    >>> images, labels = digits_dataset(resolution=32)
    >>> images.shape, labels.shape
    (torch.Size([1797, 1, 32, 32]), torch.Size([1797]))
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from steerlab.core.io import FileFormatError

__all__ = ["sklearn_digits", "procedural_digits", "read_idx", "load_mnist", "digits_dataset"]

# idx type code -> numpy big-endian dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MNIST_BOX = 20 / 28  # MNIST fits each digit in a 20x20 box of the 28x28 frame


def _box(resolution: int) -> int:
    if resolution < 12:
        raise ValueError(f"digit images need resolution >= 12, got {resolution}")
    return int(round(_MNIST_BOX * resolution))


def _centre_by_mass(digit: np.ndarray, resolution: int) -> np.ndarray:
    """Paste a (h, w) digit into a (R, R) frame so that its centre of mass is at the centre."""
    h, w = digit.shape
    mass = digit.sum()
    ys, xs = np.mgrid[0:h, 0:w]
    cy = (ys * digit).sum() / mass if mass > 0 else (h - 1) / 2
    cx = (xs * digit).sum() / mass if mass > 0 else (w - 1) / 2
    top = int(round((resolution - 1) / 2 - cy))
    left = int(round((resolution - 1) / 2 - cx))
    top, left = min(max(top, 0), resolution - h), min(max(left, 0), resolution - w)
    out = np.zeros((resolution, resolution), dtype=np.float32)
    out[top:top + h, left:left + w] = digit
    return out


def sklearn_digits(resolution: int = 32) -> tuple[Tensor, Tensor]:
    """The 1,797 real handwritten digits of scikit-learn in an MNIST-like frame.

    Each 8x8 image is upsampled bicubically to the digit box (20 px at R = 28, 23 px at R = 32),
    its grey levels stretched so strokes saturate as in MNIST, and centred by mass.

    Args:
        resolution: side R of the output images (>= 12).

    Returns:
        images float32 (1797, 1, R, R) in [0, 1]; labels int64 (1797,) in 0..9.
    """
    from sklearn.datasets import load_digits

    box = _box(resolution)
    data = load_digits()
    small = torch.from_numpy(data.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8)
    up = F.interpolate(small, size=(box, box), mode="bicubic", align_corners=False)
    # sklearn's digits are 4x4 block averages; stretch so the stroke cores reach 1 again.
    up = ((up - 0.15) / 0.55).clamp(0, 1).numpy()[:, 0]
    images = np.stack([_centre_by_mass(d, resolution) for d in up])
    return torch.from_numpy(images)[:, None], torch.from_numpy(data.target.astype(np.int64))


def _font_paths() -> list[str]:
    import matplotlib

    root = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    names = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
             "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf", "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf",
             "STIXGeneral.ttf", "STIXGeneralItalic.ttf"]
    return [str(root / n) for n in names if (root / n).is_file()]


def procedural_digits(n: int, resolution: int = 32, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` digits rendered from matplotlib's bundled fonts, laid out like MNIST.

    Each digit gets a random font, stroke width, slant (shear up to 0.3) and rotation (up to
    12 degrees), is drawn at 64 px, fitted into the digit box keeping its aspect ratio
    (antialiased) and centred by mass. Deterministic for a given ``seed``.

    Returns:
        images float32 (n, 1, R, R) in [0, 1]; labels int64 (n,), balanced over 0..9.
    """
    from PIL import Image, ImageDraw, ImageFont

    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    fonts = _font_paths()
    if not fonts:
        raise FileNotFoundError("no fonts found in matplotlib's data folder for procedural digits")
    rng = np.random.default_rng(seed)
    box, big = _box(resolution), 64
    labels = (np.arange(n) + rng.integers(0, 10)) % 10
    rng.shuffle(labels)
    cache: dict[tuple[str, int], object] = {}
    out = np.zeros((n, resolution, resolution), dtype=np.float32)
    for i, label in enumerate(labels):
        key = (fonts[rng.integers(len(fonts))], int(rng.integers(40, 52)))
        font = cache.setdefault(key, ImageFont.truetype(key[0], key[1]))
        canvas = Image.new("L", (2 * big, 2 * big), 0)
        ImageDraw.Draw(canvas).text((big, big), str(label), fill=255, font=font, anchor="mm",
                                    stroke_width=int(rng.integers(0, 4)), stroke_fill=255)
        shear = rng.uniform(-0.3, 0.3)
        canvas = canvas.transform(canvas.size, Image.AFFINE, (1, shear, -shear * big, 0, 1, 0),
                                  resample=Image.BILINEAR)
        canvas = canvas.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR)
        bbox = canvas.getbbox()
        if bbox is None:
            continue
        digit = canvas.crop(bbox)
        scale = box / max(digit.size)
        size = (max(1, round(digit.size[0] * scale)), max(1, round(digit.size[1] * scale)))
        digit = np.asarray(digit.resize(size, Image.LANCZOS), dtype=np.float32) / 255.0
        out[i] = _centre_by_mass(digit.clip(0, 1), resolution)
    return torch.from_numpy(out)[:, None], torch.from_numpy(labels.astype(np.int64))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (the MNIST format), plain or gzipped, into a numpy array.

    Raises:
        FileFormatError: missing file, bad magic number, unknown type code, or a size that
            does not match the header (truncated or padded file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: file not found")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise FileFormatError(f"{path}: corrupted gzip stream ({e.__class__.__name__})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise FileFormatError(f"{path}: not an idx file (bad magic number)")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise FileFormatError(f"{path}: idx header is truncated")
    dims = [int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)]
    expected = head + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise FileFormatError(f"{path}: idx size mismatch: header {dims} needs {expected} bytes, "
                              f"file has {len(raw)}")
    return np.frombuffer(raw, dtype=dtype, offset=head).reshape(dims).astype(dtype.newbyteorder("="))


def load_mnist(images_path: str | os.PathLike, labels_path: str | os.PathLike,
               resolution: int = 32, limit: int | None = None) -> tuple[Tensor, Tensor]:
    """MNIST (or any idx digits) from the files a user points at.

    Args:
        images_path: idx3 file of uint8 images (N, H, W), e.g. ``train-images-idx3-ubyte.gz``.
        labels_path: idx1 file of uint8 labels (N,), e.g. ``train-labels-idx1-ubyte.gz``.
        resolution: output side; 28 keeps MNIST as is, larger pads the border with zeros (32
            gives the usual DCGAN frame), anything else resizes bilinearly.
        limit: keep only the first ``limit`` images.

    Returns:
        images float32 (N, 1, R, R) in [0, 1]; labels int64 (N,).
    """
    x, y = read_idx(images_path), read_idx(labels_path)
    if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise FileFormatError(f"{images_path}, {labels_path}: need images (N, H, W) and labels (N,) "
                              f"with the same N, got {x.shape} and {y.shape}")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    images = torch.from_numpy(x.astype(np.float32) / scale).clamp(0, 1)[:, None]
    h, w = images.shape[-2:]
    if resolution >= max(h, w):
        top, left = (resolution - h) // 2, (resolution - w) // 2
        images = F.pad(images, (left, resolution - w - left, top, resolution - h - top))
    else:
        images = F.interpolate(images, size=(resolution, resolution), mode="bilinear",
                               align_corners=False, antialias=True).clamp(0, 1)
    return images.contiguous(), torch.from_numpy(y.astype(np.int64))


def _mnist_files(folder: Path) -> tuple[Path, Path]:
    for stem in ("train", "t10k"):
        for suffix in ("", ".gz"):
            xi, yi = folder / f"{stem}-images-idx3-ubyte{suffix}", folder / f"{stem}-labels-idx1-ubyte{suffix}"
            if xi.is_file() and yi.is_file():
                return xi, yi
    raise FileNotFoundError(f"{folder}: no train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] pair")


def digits_dataset(resolution: int = 32, *, procedural: int = 0, mnist: str | os.PathLike | None = None,
                   limit: int | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    """The digits the steerable-training experiments use.

    Args:
        resolution: image side R.
        procedural: number of font-rendered digits to add (0 = real digits only).
        mnist: a folder holding the standard MNIST idx files; if given, MNIST replaces the
            scikit-learn digits.
        limit: keep at most this many real digits.
        seed: seeds the procedural digits.

    Returns:
        images float32 (N, 1, R, R) in [0, 1]; labels int64 (N,) in 0..9.
    """
    if mnist is not None:
        images, labels = load_mnist(*_mnist_files(Path(mnist)), resolution=resolution, limit=limit)
    else:
        images, labels = sklearn_digits(resolution)
        images, labels = images[:limit], labels[:limit]
    if procedural:
        extra, extra_labels = procedural_digits(procedural, resolution, seed=seed)
        images, labels = torch.cat([images, extra]), torch.cat([labels, extra_labels])
    return images, labels
