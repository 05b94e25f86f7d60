"""Biased shapes: a procedural, class-conditional stand-in for ImageNet's class structure.

The paper (Jahanian et al., Sec. 4.2, Fig. 6) finds that how far a GAN can be steered for a
class follows how widely that class varies in the training data: "robin" photos are all alike
(small sigma of position, size and brightness) and can barely be moved, "laptop" photos vary a
lot and can be moved far. ``make_shapes`` builds a dataset with exactly that structure and with
the ground truth ImageNet lacks: every image records the factors it was drawn with.

Each class is an object type (disc, square, ...) with its *own* normal distribution of
centre x, centre y, scale (bounding-box area) and luminance. The per-class sigmas are ranked
independently for the four factors (see ``_SIGMA_RANK``), so each factor has a spread of
per-class sigmas from small to large and the orderings differ across factors; ``disc`` is the
robin-like class (smallest sigma everywhere) and ``square`` the laptop-like one (largest).

Objects sit on a background with context: sky (bluish vertical gradient) above a horizon and
ground (green to brown, darker towards the bottom) below, the horizon height varying a little
from image to image, so a vertical shift changes what surrounds the object. The background of
every row is horizontally uniform, which ``steerlab.attributes.objects`` relies on.

Rendering is analytic antialiasing on the pixel grid: each shape is a union of convex polygons
and ellipses whose signed distance (in pixels) gives the pixel coverage
``clip(0.5 - sdf, 0, 1)``. It is vectorised over images with numpy and draws 20k images of
32x32 in a few seconds on two cores.

Example:
    >>> data = make_shapes(24, resolution=32, seed=0)
    >>> data.images.shape, data.labels.shape, data.factors["x"].shape
    (torch.Size([24, 3, 32, 32]), torch.Size([24]), torch.Size([24]))
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

__all__ = [
    "CLASSES",
    "FACTOR_KEYS",
    "ShapesData",
    "class_spec",
    "make_shapes",
    "save_shapes",
    "load_shapes",
]

CLASSES: list[str] = [
    "disc", "square", "triangle", "diamond", "cross", "ring",
    "bar", "star", "ellipse", "house", "arrow", "hexagon",
]  # fmt: skip
"""Class names; a label ``k`` means ``CLASSES[k]``."""

FACTOR_KEYS = ("x", "y", "scale", "luminance", "color")
"""Keys of ``ShapesData.factors``; the first four are per-image scalars, ``color`` is (N, 3)."""

# Sigma rank of each class per factor, 0 = tightest ... 11 = broadest. Every column is a
# permutation of 0..11, so each factor spans the whole range of sigmas, and the columns are
# shuffled against each other so a class tight in one factor can be broad in another.
# disc is the robin-like class (tight everywhere), square the laptop-like one (broad).
#                 x   y  scale lum
_SIGMA_RANK = {
    "disc":     (0,  0,  0,  0),
    "square":   (11, 11, 11, 11),
    "triangle": (3,  8,  5,  10),
    "diamond":  (8,  2,  9,  4),
    "cross":    (5,  10, 1,  7),
    "ring":     (1,  6,  10, 2),
    "bar":      (9,  4,  3,  8),
    "star":     (6,  1,  7,  5),
    "ellipse":  (10, 7,  2,  3),
    "house":    (2,  9,  8,  1),
    "arrow":    (7,  3,  6,  9),
    "hexagon":  (4,  5,  4,  6),
}  # fmt: skip

# Sigma at rank 0 and rank 11 (geometric in between). Scale's sigma is relative to its mean.
_SIGMA_RANGE = {"x": (0.012, 0.14), "y": (0.010, 0.10), "scale": (0.04, 0.55), "luminance": (0.012, 0.17)}

# Per-class means: x, y (fractions), scale (bbox area fraction), luminance (mean RGB).
_MEANS = {
    "disc":     (0.50, 0.56, 0.060, 0.45),
    "square":   (0.50, 0.55, 0.140, 0.50),
    "triangle": (0.46, 0.52, 0.090, 0.55),
    "diamond":  (0.54, 0.58, 0.080, 0.42),
    "cross":    (0.48, 0.50, 0.100, 0.40),
    "ring":     (0.52, 0.56, 0.120, 0.50),
    "bar":      (0.50, 0.62, 0.070, 0.45),
    "star":     (0.44, 0.50, 0.110, 0.60),
    "ellipse":  (0.56, 0.60, 0.080, 0.40),
    "house":    (0.50, 0.54, 0.130, 0.48),
    "arrow":    (0.52, 0.52, 0.075, 0.55),
    "hexagon":  (0.48, 0.58, 0.095, 0.46),
}  # fmt: skip

# Base hue of each class, chosen away from the sky (blue) and ground (green/brown) colours.
# The drawn colour is ``clip(base - mean(base) + luminance)``: luminance moves it, hue stays.
_BASE_RGB = {
    "disc":     (0.90, 0.15, 0.12),
    "square":   (0.95, 0.55, 0.08),
    "triangle": (0.92, 0.85, 0.12),
    "diamond":  (0.80, 0.20, 0.72),
    "cross":    (0.50, 0.18, 0.75),
    "ring":     (0.98, 0.45, 0.60),
    "bar":      (0.10, 0.80, 0.80),
    "star":     (0.95, 0.75, 0.25),
    "ellipse":  (0.70, 0.10, 0.35),
    "house":    (0.85, 0.30, 0.20),
    "arrow":    (0.60, 0.30, 0.95),
    "hexagon":  (0.95, 0.25, 0.45),
}  # fmt: skip

# Aspect ratio (bbox width / height) of each class's shape.
_ASPECT = {
    "disc": 1.0, "square": 1.0, "triangle": 1.15, "diamond": 0.8, "cross": 1.0, "ring": 1.0,
    "bar": 3.0, "star": 1.05, "ellipse": 1.7, "house": 0.9, "arrow": 1.6, "hexagon": 1.15,
}  # fmt: skip

_COLOR_JITTER = 0.02  # per-channel std of the hue jitter, common to all classes
_MARGIN = 1.0 / 32  # gap kept between the object's box and the frame (fraction of the side)
_MAX_SIDE = 0.8  # largest box side, as a fraction of the image side
_SCALE_MIN = 0.02  # smallest box area fraction (about 4x4 px at 32 px)


def _ranked_sigma(factor: str, rank: int) -> float:
    lo, hi = _SIGMA_RANGE[factor]
    return float(lo * (hi / lo) ** (rank / (len(CLASSES) - 1)))


def class_spec(k: int) -> dict:
    """Describe class ``k``: its shape, factor means and sigmas.

    Args:
        k: class index in ``range(len(CLASSES))``.

    Returns:
        dict with ``name``, ``aspect`` (box width / height), ``base_rgb``, and for each factor
        ``x``, ``y``, ``scale``, ``luminance`` the nominal ``{factor}_mean`` and ``{factor}_sigma``
        of the normal it is drawn from (before clipping into the frame), plus
        ``{factor}_rank`` (0 = tightest class, 11 = broadest). ``scale`` is the bounding-box
        area as a fraction of the image area; its sigma is absolute (already times the mean).
    """
    if not isinstance(k, (int, np.integer)) or not 0 <= int(k) < len(CLASSES):
        raise ValueError(f"class index must be an int in [0, {len(CLASSES)}), got {k!r}")
    name = CLASSES[int(k)]
    spec: dict = {"name": name, "aspect": _ASPECT[name], "base_rgb": list(_BASE_RGB[name])}
    for factor, mean, rank in zip(("x", "y", "scale", "luminance"), _MEANS[name], _SIGMA_RANK[name]):
        sigma = _ranked_sigma(factor, rank)
        if factor == "scale":
            sigma *= mean
        spec[f"{factor}_mean"] = mean
        spec[f"{factor}_sigma"] = sigma
        spec[f"{factor}_rank"] = rank
    return spec


@dataclass
class ShapesData:
    """A batch of biased-shapes images with their ground truth.

    Attributes:
        images: (N, 3, H, W) float32 in [0, 1].
        labels: (N,) int64 class indices into ``class_names``.
        factors: ``x``, ``y`` (box centre as a fraction of width / height), ``scale`` (box area
            as a fraction of the image area), ``luminance`` (mean RGB of the object colour), each
            (N,) float32; ``color`` (N, 3) float32 object RGB in [0, 1].
        masks: (N, 1, H, W) float32 object coverage in [0, 1] (antialiased).
        class_names: names of the classes, ``CLASSES`` by default.
        resolution: H == W.
        seed: the seed the batch was drawn with.
    """

    images: torch.Tensor
    labels: torch.Tensor
    factors: dict[str, torch.Tensor]
    masks: torch.Tensor
    class_names: list[str] = field(default_factory=lambda: list(CLASSES))
    resolution: int = 32
    seed: int = 0

    def __len__(self) -> int:
        return int(self.labels.shape[0])


# ----------------------------------------------------------------------------- geometry
# Shapes live in the unit box [-1, 1]^2 (v points down, like image rows) and touch all four of
# its sides, so the bounding box of the drawn object is exactly the box the factors describe.
# A shape is a list of parts; the object is their union. A part is ("poly", vertices) for a
# convex polygon (counter-clockwise is not required) or ("ellipse", radius) / ("ring", inner).


def _star_parts() -> list:
    ang_out = np.deg2rad(-90 + 72 * np.arange(5))
    ang_in = ang_out + np.deg2rad(36)
    outer = np.stack([np.cos(ang_out), np.sin(ang_out)], 1)
    inner = 0.382 * np.stack([np.cos(ang_in), np.sin(ang_in)], 1)
    lo, hi = outer.min(0), outer.max(0)  # normalise the star's bbox to [-1, 1]^2
    outer = (outer - (lo + hi) / 2) / ((hi - lo) / 2)
    inner = (inner - (lo + hi) / 2) / ((hi - lo) / 2)
    parts = [("poly", inner)]
    for i in range(5):  # spike i: tip i between inner vertices i-1 and i
        # extend the spike's sides past the inner vertices into the pentagon, on the same
        # lines, so the union has no antialiasing seam where the parts meet
        a = inner[i - 1] + 0.3 * (inner[i - 1] - outer[i])
        b = inner[i] + 0.3 * (inner[i] - outer[i])
        parts.append(("poly", np.stack([a, outer[i], b])))
    return parts


def _hexagon() -> np.ndarray:
    a = np.deg2rad(60 * np.arange(6))
    v = np.stack([np.cos(a), np.sin(a)], 1)
    return v / np.abs(v).max(0)


def _rect(u0: float, v0: float, u1: float, v1: float) -> tuple:
    return ("poly", np.array([(u0, v0), (u1, v0), (u1, v1), (u0, v1)], dtype=np.float64))


_SHAPES: dict[str, list] = {
    "disc": [("ellipse", 1.0)],
    "square": [_rect(-1, -1, 1, 1)],
    "triangle": [("poly", np.array([(0, -1), (1, 1), (-1, 1)], dtype=np.float64))],
    "diamond": [("poly", np.array([(0, -1), (1, 0), (0, 1), (-1, 0)], dtype=np.float64))],
    "cross": [_rect(-1 / 3, -1, 1 / 3, 1), _rect(-1, -1 / 3, 1, 1 / 3)],
    "ring": [("ring", 0.55)],
    "bar": [_rect(-1, -1, 1, 1)],
    "star": _star_parts(),
    "ellipse": [("ellipse", 1.0)],
    "house": [_rect(-0.8, -0.2, 0.8, 1), ("poly", np.array([(-1, -0.1), (1, -0.1), (0, -1)], dtype=np.float64))],
    "arrow": [_rect(-1, -0.35, 0.35, 0.35), ("poly", np.array([(0.2, -1), (1, 0), (0.2, 1)], dtype=np.float64))],
    "hexagon": [("poly", _hexagon())],
}


def _poly_sdf(verts: np.ndarray, cx, cy, hx, hy, px, py) -> np.ndarray:
    """Signed distance (pixels, negative inside) to a convex polygon, for n images at once.

    ``verts`` (K, 2) in unit-box coords; cx, cy, hx, hy (n, 1, 1) in pixels; px, py (1, H, W)
    pixel centres. The affine map keeps the polygon convex and each edge a line, so the max
    over edges of the distance to each edge's line is exact inside and close outside.
    """
    centroid = verts.mean(0)
    sdf = None
    for i in range(len(verts)):
        a, b = verts[i], verts[(i + 1) % len(verts)]
        # edge endpoints in pixel space, (n, 1, 1) each
        ax, ay = cx + a[0] * hx, cy + a[1] * hy
        bx, by = cx + b[0] * hx, cy + b[1] * hy
        nx, ny = by - ay, ax - bx  # a normal of the edge
        norm = np.sqrt(nx * nx + ny * ny) + 1e-12
        nx, ny = nx / norm, ny / norm
        # orient the normal outwards: the polygon centroid must be on the negative side
        gx, gy = cx + centroid[0] * hx, cy + centroid[1] * hy
        sign = np.where(nx * (gx - ax) + ny * (gy - ay) > 0, -1.0, 1.0)
        d = sign * (nx * (px - ax) + ny * (py - ay))
        sdf = d if sdf is None else np.maximum(sdf, d)
    return sdf


def _ellipse_sdf(radius: float, cx, cy, hx, hy, px, py) -> np.ndarray:
    """First-order signed distance (pixels) to the ellipse with semi-axes radius*(hx, hy)."""
    a, b = radius * hx, radius * hy
    dx, dy = px - cx, py - cy
    rho = np.sqrt((dx / a) ** 2 + (dy / b) ** 2)
    grad = np.sqrt((dx / a**2) ** 2 + (dy / b**2) ** 2)  # = |grad rho| * rho
    return (rho - 1.0) * rho / (grad + 1e-9)


def _shape_sdf(name: str, cx, cy, hx, hy, px, py) -> np.ndarray:
    sdf = None
    for kind, arg in _SHAPES[name]:
        if kind == "poly":
            d = _poly_sdf(arg, cx, cy, hx, hy, px, py)
        elif kind == "ellipse":
            d = _ellipse_sdf(arg, cx, cy, hx, hy, px, py)
        else:  # ring: outer ellipse minus inner ellipse
            d = np.maximum(_ellipse_sdf(1.0, cx, cy, hx, hy, px, py), -_ellipse_sdf(arg, cx, cy, hx, hy, px, py))
        sdf = d if sdf is None else np.minimum(sdf, d)
    return sdf


# ----------------------------------------------------------------------------- sampling


def _sample_factors(labels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw per-image factors from each class's distributions, clipped into the frame."""
    n = len(labels)
    specs = [class_spec(k) for k in range(len(CLASSES))]
    col = lambda key: np.array([s[key] for s in specs])[labels]  # noqa: E731
    eps = rng.standard_normal((4, n))
    aspect = col("aspect")

    scale = col("scale_mean") + col("scale_sigma") * eps[2]
    # largest area whose box still fits in _MAX_SIDE along both axes
    max_scale = _MAX_SIDE**2 * np.minimum(aspect, 1.0 / aspect)
    scale = np.clip(scale, _SCALE_MIN, max_scale)
    half_h = np.sqrt(scale / aspect) / 2  # box half-sizes as fractions of the side
    half_w = half_h * aspect

    x = col("x_mean") + col("x_sigma") * eps[0]
    y = col("y_mean") + col("y_sigma") * eps[1]
    x = np.clip(x, half_w + _MARGIN, 1 - half_w - _MARGIN)
    y = np.clip(y, half_h + _MARGIN, 1 - half_h - _MARGIN)

    lum = np.clip(col("luminance_mean") + col("luminance_sigma") * eps[3], 0.05, 0.95)
    base = np.array([s["base_rgb"] for s in specs])[labels]  # (n, 3)
    jitter = _COLOR_JITTER * rng.standard_normal((n, 3))
    jitter -= jitter.mean(1, keepdims=True)  # hue only: luminance keeps the class's sigma
    chroma = base - base.mean(1, keepdims=True) + jitter
    color = np.clip(chroma + lum[:, None], 0.0, 1.0)
    return {
        "x": x,
        "y": y,
        "scale": 4 * half_w * half_h,
        "luminance": color.mean(1),  # exact mean RGB of the drawn colour (after clipping)
        "color": color,
        "_half_w": half_w,
        "_half_h": half_h,
    }


def _sample_backgrounds(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    horizon = np.clip(0.62 + 0.03 * rng.standard_normal(n), 0.52, 0.72)
    bright = 0.05 * rng.standard_normal((n, 1))
    sky_top = np.array([0.30, 0.50, 0.85]) + bright + 0.02 * rng.standard_normal((n, 3))
    sky_low = np.array([0.68, 0.78, 0.94]) + bright + 0.02 * rng.standard_normal((n, 3))
    t = rng.uniform(0, 1, (n, 1))  # green (t=0) to brown (t=1) ground
    ground_high = (1 - t) * np.array([0.36, 0.52, 0.22]) + t * np.array([0.52, 0.40, 0.24])
    ground_high = ground_high + 0.02 * rng.standard_normal((n, 3))
    ground_low = ground_high * rng.uniform(0.6, 0.8, (n, 1))
    return {
        "horizon": horizon,
        "sky_top": np.clip(sky_top, 0, 1),
        "sky_low": np.clip(sky_low, 0, 1),
        "ground_high": np.clip(ground_high, 0, 1),
        "ground_low": np.clip(ground_low, 0, 1),
    }


def _render_backgrounds(bg: dict[str, np.ndarray], res: int) -> np.ndarray:
    """(n, res, 3) row colours: every row of a background is one colour."""
    rows = (np.arange(res) + 0.5) / res  # (H,)
    h = bg["horizon"][:, None]  # (n, 1)
    t_sky = np.clip(rows[None] / h, 0, 1)[..., None]  # 0 at the top, 1 at the horizon
    t_gnd = np.clip((rows[None] - h) / (1 - h), 0, 1)[..., None]
    sky = bg["sky_top"][:, None] * (1 - t_sky) + bg["sky_low"][:, None] * t_sky
    gnd = bg["ground_high"][:, None] * (1 - t_gnd) + bg["ground_low"][:, None] * t_gnd
    # antialiased horizon: the fraction of row i (spanning [i, i+1] px) lying below the horizon
    ground_frac = np.clip(np.arange(res)[None] + 1 - h * res, 0, 1)[..., None]
    return (sky * (1 - ground_frac) + gnd * ground_frac).astype(np.float32)


def make_shapes(
    n: int,
    *,
    resolution: int = 32,
    seed: int = 0,
    classes: Sequence[int] | None = None,
    noise: float = 0.01,
) -> ShapesData:
    """Draw ``n`` biased-shapes images with their labels and ground-truth factors.

    Labels are balanced (round-robin over ``classes``, then shuffled). All randomness comes from
    ``numpy.random.default_rng(seed)``, so the same arguments give the same bytes.

    Args:
        n: number of images, >= 1.
        resolution: side in pixels (H == W), >= 16; 32 and 64 are the tested ones.
        seed: random seed.
        classes: class indices to draw from (default: all of ``CLASSES``).
        noise: std of the Gaussian pixel noise added to the whole image (0 disables it).

    Returns:
        ``ShapesData`` with images (N, 3, H, W) float32 in [0, 1], labels (N,) int64, factors
        (``x``, ``y``, ``scale``, ``luminance``: (N,), ``color``: (N, 3); float32) and masks
        (N, 1, H, W) float32 coverage in [0, 1].

    Example:
        >>> d = make_shapes(12, seed=1)
        >>> bool(((d.images >= 0) & (d.images <= 1)).all())
        True
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(resolution, (int, np.integer)) or resolution < 16:
        raise ValueError(f"resolution must be an int >= 16, got {resolution!r}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if classes is None:
        class_ids = np.arange(len(CLASSES))
    else:
        class_ids = np.asarray(list(classes), dtype=np.int64)
        if class_ids.size == 0 or class_ids.min() < 0 or class_ids.max() >= len(CLASSES):
            raise ValueError(f"classes must be non-empty indices in [0, {len(CLASSES)}), got {list(classes)}")
    n, res = int(n), int(resolution)

    rng = np.random.default_rng(seed)
    labels = rng.permutation(class_ids[np.arange(n) % len(class_ids)])
    fac = _sample_factors(labels, rng)
    bg = _sample_backgrounds(n, rng)

    images = np.empty((n, res, res, 3), dtype=np.float32)
    masks = np.empty((n, res, res), dtype=np.float32)
    centres = np.arange(res, dtype=np.float32) + 0.5
    px, py = centres[None, None, :], centres[None, :, None]  # (1, 1, W), (1, H, 1)
    chunk = 2048
    for s in range(0, n, chunk):
        sl = slice(s, min(s + chunk, n))
        rows = _render_backgrounds({k: v[sl] for k, v in bg.items()}, res)  # (m, H, 3)
        cover = np.zeros((sl.stop - sl.start, res, res), dtype=np.float32)
        lab = labels[sl]
        for k in np.unique(lab):
            idx = np.nonzero(lab == k)[0]
            g = idx + sl.start
            geo = [a[g][:, None, None] * res for a in (fac["x"], fac["y"], fac["_half_w"], fac["_half_h"])]
            sdf = _shape_sdf(CLASSES[k], *geo, px, py)
            cover[idx] = np.clip(0.5 - sdf, 0.0, 1.0)
        color = fac["color"][sl].astype(np.float32)[:, None, None, :]
        img = rows[:, :, None, :] * (1 - cover[..., None]) + color * cover[..., None]
        if noise > 0:
            img = img + noise * rng.standard_normal(img.shape, dtype=np.float32)
        images[sl] = np.clip(img, 0.0, 1.0)
        masks[sl] = cover

    factors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in fac.items() if not k.startswith("_")}
    return ShapesData(
        images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        labels=torch.from_numpy(labels.astype(np.int64)),
        factors=factors,
        masks=torch.from_numpy(masks)[:, None].contiguous(),
        class_names=list(CLASSES),
        resolution=res,
        seed=int(seed),
    )


# ----------------------------------------------------------------------------- files

_FORMAT = "steerlab.shapes/1"


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def save_shapes(data: ShapesData, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` (safetensors) and a JSON sidecar beside it (``.json``).

    Both files are written atomically (temp file + rename).

    Args:
        data: the batch to save.
        path: target file, conventionally ``*.safetensors``.

    Returns:
        the path of the safetensors file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"images": data.images, "labels": data.labels, "masks": data.masks}
    tensors.update({f"factors.{k}": v for k, v in data.factors.items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {"format": _FORMAT, "class_names": list(data.class_names), "resolution": int(data.resolution), "seed": int(data.seed)}
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"format": _FORMAT}))
    _atomic_write(_sidecar(path), lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2)))
    return path


def load_shapes(path: str | os.PathLike) -> ShapesData:
    """Read a batch written by ``save_shapes``.

    Raises:
        ValueError: the file or its sidecar is missing, corrupted or not a shapes file.
    """
    path = Path(path)
    try:
        tensors = load_file(str(path))
        meta = json.loads(_sidecar(path).read_text())
    except (SafetensorError, OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"cannot read shapes file {path}: {msg}") from None
    need = {"images", "labels", "masks"} | {f"factors.{k}" for k in FACTOR_KEYS}
    if meta.get("format") != _FORMAT or not need <= set(tensors):
        raise ValueError(f"{path} is not a steerlab shapes file (missing {sorted(need - set(tensors))} or format tag)")
    images, labels = tensors["images"], tensors["labels"]
    n = labels.shape[0]
    if images.ndim != 4 or images.shape[0] != n or images.shape[1] != 3 or not torch.isfinite(images).all():
        raise ValueError(f"{path} is corrupted: images have shape {tuple(images.shape)} for {n} labels or are not finite")
    factors = {k[len("factors."):]: v for k, v in tensors.items() if k.startswith("factors.")}
    return ShapesData(
        images=images,
        labels=labels,
        factors=factors,
        masks=tensors["masks"],
        class_names=list(meta["class_names"]),
        resolution=int(meta["resolution"]),
        seed=int(meta["seed"]),
    )
