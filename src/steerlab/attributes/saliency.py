"""Saliency barycentre and salient area (Plumerault et al., Sec. 3.1 evaluation).

Plumerault et al. measure position and scale on natural images without a class-specific
detector: a saliency map is thresholded into a binary image, the barycentre of its salient
pixels gives the position and the proportion of salient pixels the scale. Their saliency model
(Hou et al., 2016) needs weights that cannot be fetched here, so this uses OpenCV's classical
static saliency (``cv2.saliency`` in opencv-contrib): spectral residual (Hou & Zhang, 2007)
or fine-grained (Montabone & Soto, 2010). Both are class-agnostic but coarse: expect a few
hundredths of error on position, worse vertically where a strong edge such as a horizon
competes with the object, and a salient area that follows the object's size only loosely
(numbers in ``bench/measure_accuracy.py``). Prefer ``measure_box`` / ``measure_face_box``
where they apply; use this one for images no detector covers. ``fine_grained`` is a
centre-surround contrast map: on shapes images it fires on the horizon and sky gradient, not the
object (its x does not follow the object's), so it suits only plain backgrounds.

Read ``shift_x`` / ``shift_y`` with ``x`` / ``y`` and ``zoom`` with ``area``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from steerlab.attributes._checks import check_images, to_numpy_hwc

__all__ = ["measure_saliency", "SALIENCY_METHODS"]

SALIENCY_METHODS = ("spectral_residual", "fine_grained")
"""Allowed ``method`` values of ``measure_saliency``."""


def _saliency_map(img_u8: np.ndarray, method: str) -> np.ndarray:
    if method == "spectral_residual":
        algo = cv2.saliency.StaticSaliencySpectralResidual_create()
        # its spectrum is taken at a fixed size (64 by default); at the image's own size the
        # barycentre of 32 px images is twice as accurate (x MAE 0.02 vs 0.035 on shapes)
        algo.setImageWidth(img_u8.shape[1])
        algo.setImageHeight(img_u8.shape[0])
    else:
        algo = cv2.saliency.StaticSaliencyFineGrained_create()
    ok, sal = algo.computeSaliency(img_u8)
    if not ok:
        return np.zeros(img_u8.shape[:2], np.float32)
    return np.asarray(sal, dtype=np.float32)


def measure_saliency(
    images: torch.Tensor,
    *,
    method: str = "spectral_residual",
    work_size: int | None = None,
    threshold: str | float = "otsu",
    weighted: bool = True,
) -> dict[str, torch.Tensor]:
    """Barycentre and area of the salient region of each image.

    Each image is resized to ``work_size`` px (default: its own size), its saliency map computed
    and normalised to
    [0, 1], then thresholded: Otsu's threshold (``"otsu"``), or ``mean + k * std`` of the map
    for a float ``k``. The barycentre is taken over the salient pixels, weighted by their
    saliency when ``weighted`` (unweighted is Plumerault et al.'s binary barycentre).

    Args:
        images: RGB or grey images.
        method: one of ``SALIENCY_METHODS``.
        work_size: side (px) the images are resized to before computing saliency; default
            ``max(H, W)``.
        threshold: ``"otsu"`` or a float ``k`` for ``mean + k * std``.
        weighted: weight the barycentre by saliency.

    Returns:
        ``x``, ``y``: barycentre as a fraction of width / height, in [0, 1];
        ``area``: fraction of the pixels that are salient, in [0, 1]. NaN where the map is
        flat (nothing salient).

    Shape:
        - images: (N, C, H, W), C in {1, 3}, float in [0, 1]
        - each output: (N,) float32 on ``images.device``

    Example:
        >>> from steerlab.data.shapes import make_shapes
        >>> out = measure_saliency(make_shapes(4, seed=0).images)
        >>> sorted(out), out["x"].shape
        (['area', 'x', 'y'], torch.Size([4]))
    """
    check_images(images, "measure_saliency")
    if method not in SALIENCY_METHODS:
        raise ValueError(f"measure_saliency: unknown method {method!r}; allowed: {', '.join(SALIENCY_METHODS)}")
    if not (threshold == "otsu" or isinstance(threshold, (int, float))):
        raise ValueError(f"measure_saliency: threshold must be 'otsu' or a float k, got {threshold!r}")
    x = to_numpy_hwc(images)  # (N, H, W, C)
    n, h, w, c = x.shape
    u8 = np.round(x * 255).astype(np.uint8)
    if c == 1:
        u8 = np.repeat(u8, 3, axis=-1)
    u8 = u8[..., ::-1]  # OpenCV is BGR
    if work_size is None:
        work_size = max(h, w)
    if int(work_size) < 8:
        raise ValueError(f"measure_saliency: work_size must be >= 8, got {work_size}")
    work_size = int(work_size)
    grid = (np.arange(work_size, dtype=np.float32) + 0.5) / work_size
    out = np.full((3, n), np.nan, dtype=np.float32)
    for i in range(n):
        interp = cv2.INTER_LINEAR if work_size >= max(h, w) else cv2.INTER_AREA
        img = cv2.resize(np.ascontiguousarray(u8[i]), (work_size, work_size), interpolation=interp)
        sal = _saliency_map(img, method)
        lo, hi = float(sal.min()), float(sal.max())
        if not hi - lo > 1e-6:
            continue
        sal = (sal - lo) / (hi - lo)
        if threshold == "otsu":
            t, _ = cv2.threshold(np.round(sal * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
            keep = sal * 255 > t
        else:
            keep = sal > sal.mean() + float(threshold) * sal.std()
        if not keep.any():
            continue
        wgt = np.where(keep, sal if weighted else 1.0, 0.0)
        total = wgt.sum()
        out[0, i] = (wgt.sum(0) * grid).sum() / total
        out[1, i] = (wgt.sum(1) * grid).sum() / total
        out[2, i] = keep.mean()
    res = torch.from_numpy(out).to(images.device)
    return {"x": res[0], "y": res[1], "area": res[2]}
