"""Face bounding box with OpenCV's Haar cascades, for face models (e.g. 64x64 DCGAN faces).

Plays the role the paper's object detector plays for BigGAN (Jahanian et al., Sec. 3): read
``shift_x`` / ``shift_y`` with ``x`` / ``y`` and ``zoom`` with ``width`` (or ``area``).
The cascades ship inside ``opencv-contrib-python-headless`` 4.x (``cv2.data.haarcascades``);
nothing is downloaded.

Small crops need two tricks, both measured on ``skimage.data.lfw_subset()`` (100 real 25x25
face crops and 100 non-faces; see ``bench/measure_accuracy.py``):
- upsampling: the cascades' 24 px window sees too little detail in a 25-64 px crop, so the
  crop is resized to ``upsample`` px first;
- replicate padding: aligned crops are cut tight around the face and a cascade window must
  fit around the whole face; padding by ``pad`` of the side on every edge lets it. Without it
  the detection rate on the LFW faces is 0.92, with it 0.98, at no false detection on the
  non-faces.
The box centre and width are therefore allowed to extend beyond the image (``width`` > 1 when
the face is cut by the frame); they are never clipped, so zooming in keeps increasing them.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from steerlab.attributes._checks import check_images, to_numpy_hwc

__all__ = ["measure_face_box", "face_mask", "CASCADES"]

CASCADES = ("default", "alt2", "alt")
"""Frontal-face cascades that may be named in ``cascades`` (``haarcascade_frontalface_*.xml``)."""

_LOADED: dict[str, cv2.CascadeClassifier] = {}


def _cascade(name: str) -> cv2.CascadeClassifier:
    if name not in CASCADES:
        raise ValueError(f"measure_face_box: unknown cascade {name!r}; allowed: {', '.join(CASCADES)}")
    if name not in _LOADED:
        path = f"{cv2.data.haarcascades}haarcascade_frontalface_{name}.xml"
        clf = cv2.CascadeClassifier(path)
        if clf.empty():
            raise RuntimeError(f"cannot load OpenCV cascade {path} (opencv-contrib-python-headless 4.x ships it)")
        _LOADED[name] = clf
    return _LOADED[name]


def measure_face_box(
    images: torch.Tensor,
    *,
    min_size: float = 0.2,
    upsample: int = 128,
    pad: float = 0.25,
    scale_factor: float = 1.1,
    min_neighbors: int = 3,
    cascades: tuple[str, ...] = ("default", "alt2"),
) -> dict[str, torch.Tensor]:
    """Largest frontal face box per image, from OpenCV Haar cascades.

    Each image is converted to grey, resized so its longer side is ``upsample`` px, padded by
    ``pad`` of that side with replicated borders and searched with each cascade in
    ``cascades`` in turn until one finds a face; the largest box wins.

    Args:
        images: RGB or grey face images, e.g. 64x64 crops.
        min_size: smallest face side to report, as a fraction of the image side.
        upsample: side (px) the longer image side is resized to before detection.
        pad: replicate padding on every side, as a fraction of the resized side.
        scale_factor: cascade pyramid step. 1.1 is twice as fast as 1.05; on astronaut crops
            zoomed x0.8-x1.25 the width tracks the zoom with r = 0.991 (1.05: 0.997).
        min_neighbors: overlapping raw detections needed to report a face (higher: fewer
            false detections, more misses).
        cascades: cascade names from ``CASCADES``, tried in order.

    Returns:
        ``x``, ``y``: box centre as a fraction of width / height (may leave [0, 1] slightly);
        ``width``: box width / image width; ``area``: box area / image area (not clipped to
        the frame); ``found``: 1.0 where a face was found, else 0.0 (others NaN).

    Shape:
        - images: (N, C, H, W), C in {1, 3}, float in [0, 1]
        - each output: (N,) float32 on ``images.device``

    Example:
        >>> import skimage.data
        >>> faces = torch.from_numpy(skimage.data.lfw_subset()[:4]).float()[:, None]
        >>> measure_face_box(faces)["found"]
        tensor([1., 1., 1., 1.])
    """
    check_images(images, "measure_face_box")
    if not 0 < min_size <= 1:
        raise ValueError(f"measure_face_box: min_size must be in (0, 1], got {min_size}")
    if int(upsample) < 24 or pad < 0:
        raise ValueError(f"measure_face_box: need upsample >= 24 and pad >= 0, got {upsample}, {pad}")
    clfs = [_cascade(name) for name in cascades]
    if not clfs:
        raise ValueError("measure_face_box: cascades is empty")
    x = to_numpy_hwc(images)  # (N, H, W, C)
    n, h, w, c = x.shape
    grey = x[..., 0] if c == 1 else x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (N, H, W)
    grey = np.round(grey * 255).astype(np.uint8)
    s = upsample / max(h, w)
    hs, ws = max(1, round(h * s)), max(1, round(w * s))
    p = int(round(pad * max(hs, ws)))
    min_px = max(1, int(round(min_size * min(hs, ws))))
    interp = cv2.INTER_LINEAR if s >= 1 else cv2.INTER_AREA

    out = np.full((5, n), np.nan, dtype=np.float32)
    out[4] = 0.0
    for i in range(n):
        img = cv2.resize(grey[i], (ws, hs), interpolation=interp)
        if p:
            img = cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_REPLICATE)
        boxes = ()
        for clf in clfs:
            boxes = clf.detectMultiScale(img, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(min_px, min_px))
            if len(boxes):
                break
        if not len(boxes):
            continue
        bx, by, bw, bh = max(boxes, key=lambda b: b[2] * b[3]).astype(np.float64)
        out[0, i] = (bx + bw / 2 - p) / ws
        out[1, i] = (by + bh / 2 - p) / hs
        out[2, i] = bw / ws
        out[3, i] = bw * bh / (ws * hs)
        out[4, i] = 1.0
    res = torch.from_numpy(out).to(images.device)
    return {"x": res[0], "y": res[1], "width": res[2], "area": res[3], "found": res[4]}


def face_mask(images: torch.Tensor, **detector) -> torch.Tensor:
    """The face region: 1 inside the Haar face box of `measure_face_box`, 0 elsewhere.

    Args:
        images: RGB or grey face images in [0, 1].
        detector: keyword options of `measure_face_box` (``min_size``, ``cascades``, ...).

    Returns:
        float mask, 1 on the pixels whose centres lie in the box (clipped to the frame); all 0
        where no face was found.

    Shape:
        - images: (N, C, H, W); output: (N, 1, H, W) float32 on ``images.device``

    Example:
        >>> import skimage.data
        >>> faces = torch.from_numpy(skimage.data.lfw_subset()[:2]).float()[:, None]
        >>> m = face_mask(faces)
        >>> m.shape, bool(m[:, 0, 12, 12].all()), bool(m[:, 0, -1, -1].any())
        (torch.Size([2, 1, 25, 25]), True, False)
    """
    box = measure_face_box(images, **detector)
    h, w = images.shape[-2:]
    cols = (torch.arange(w, device=images.device) + 0.5) / w  # (W,) pixel centres
    rows = (torch.arange(h, device=images.device) + 0.5) / h
    half_w = box["width"] / 2  # (N,)
    half_h = half_w * w / h  # the cascades' boxes are square in pixels
    in_x = (cols[None] - box["x"][:, None]).abs() <= half_w[:, None]  # (N, W); False where NaN
    in_y = (rows[None] - box["y"][:, None]).abs() <= half_h[:, None]  # (N, H)
    return (in_y[:, :, None] & in_x[:, None, :]).float()[:, None]
