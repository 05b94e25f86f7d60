"""Image-space edits: ``edit(images, alpha_t) -> (target, mask)``.

These are the self-supervised targets of a latent walk (Jahanian et al. 2020, App. A.2):
the walk ``G(z + alpha_g * w)`` is trained to match ``edit(G(z), alpha_t)`` on the pixels where
the edited image is defined. Every function here is pure, batched with one ``alpha_t`` per
sample, differentiable w.r.t. ``images`` and device-agnostic.

Conventions shared by all edits:

- ``images``: float tensor ``(N, C, H, W)`` in ``[0, 1]``.
- ``alpha_t``: the edit strength in *user units* (pixels as a fraction of the size, degrees,
  zoom factor, ...), shape ``(N,)``, or ``(N, 3)`` for :func:`color`. The walk coordinate
  ``alpha_g`` and the range checks live in :mod:`steerlab.edits.registry`.
- ``target``: ``(N, C, H, W)`` in ``[0, 1]``; pixels outside the mask are exactly 0.
- ``mask``: float ``(N, 1, H, W)``; 1 where the target pixel is defined, 0 where it shows
  the border exposed by a shift / zoom-out / rotation.

Geometry: pixel centres sit at integer coordinates ``0 .. W-1`` (kornia's ``align_corners=True``),
the image centre is ``((W-1)/2, (H-1)/2)``, x points right and y points down. A target pixel is
valid iff its bilinear sampling location lies inside the source pixel grid, which is computed
exactly by warping a tensor of ones the same way (zero padding) and keeping values ``>= 1 - 1e-4``.
"""

from __future__ import annotations

import math

import torch
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import get_perspective_transform, warp_perspective

__all__ = [
    "zoom",
    "shift_x",
    "shift_y",
    "rotate2d",
    "rotate3d",
    "color",
    "brightness",
    "contrast",
    "zoom_shift",
    "warp_with_mask",
    "billboard_corners",
]

# A pixel whose bilinear footprint is (numerically) fully inside the source image.
_MASK_THRESHOLD = 1.0 - 1e-4


# ----------------------------------------------------------------------------- helpers


def _per_sample(alpha_t: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Return ``alpha_t`` as an ``(N,)`` tensor on the images' device and dtype."""
    alpha_t = torch.as_tensor(alpha_t, device=images.device, dtype=images.dtype).reshape(-1)
    if alpha_t.numel() == 1:
        alpha_t = alpha_t.expand(images.shape[0])
    if alpha_t.shape[0] != images.shape[0]:
        raise ValueError(f"expected {images.shape[0]} alpha values (one per image), got {alpha_t.shape[0]}")
    return alpha_t


def _centre(images: torch.Tensor) -> tuple[float, float]:
    h, w = images.shape[-2:]
    return (w - 1) / 2.0, (h - 1) / 2.0


def _about_centre(linear: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Turn ``(N, 2, 2)`` linear maps into ``(N, 3, 3)`` homographies acting about the centre."""
    cx, cy = _centre(images)
    c = linear.new_tensor([cx, cy])
    m = torch.zeros(linear.shape[0], 3, 3, device=linear.device, dtype=linear.dtype)
    m[:, :2, :2] = linear
    m[:, :2, 2] = c - linear @ c  # dst = c + A (src - c)
    m[:, 2, 2] = 1.0
    return m


def warp_with_mask(images: torch.Tensor, src_to_dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Warp images with a pixel homography and return the validity mask of the result.

    Args:
        images: images to warp, values in ``[0, 1]``.
        src_to_dst: homographies mapping source pixel coordinates to destination ones.

    Returns:
        ``(target, mask)``: the bilinearly warped images with undefined pixels set to 0, and a
        float mask that is 1 where the sampling location lies inside the source image.

    Shape:
        - images: :math:`(N, C, H, W)`, src_to_dst: :math:`(N, 3, 3)`
        - target: :math:`(N, C, H, W)`, mask: :math:`(N, 1, H, W)`

    Example:
        >>> target, mask = warp_with_mask(torch.rand(2, 3, 8, 8), torch.eye(3).expand(2, 3, 3))
        >>> bool(mask.all())
        True
    """
    n, _, h, w = images.shape
    m = src_to_dst.to(device=images.device, dtype=images.dtype)
    # One warp for the images and a channel of ones: the warped ones are the coverage.
    ones = torch.ones(n, 1, h, w, device=images.device, dtype=images.dtype)
    both = warp_perspective(torch.cat([images, ones], 1), m, (h, w), mode="bilinear",
                            padding_mode="zeros", align_corners=True)
    warped, coverage = both[:, :-1], both[:, -1:].detach()  # the mask is a constant of the loss
    mask = (coverage >= _MASK_THRESHOLD).to(images.dtype)
    return warped * mask, mask


def _full_mask(images: torch.Tensor) -> torch.Tensor:
    n, _, h, w = images.shape
    return torch.ones(n, 1, h, w, device=images.device, dtype=images.dtype)


# ----------------------------------------------------------------------------- geometric


def zoom(images: torch.Tensor, alpha_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Zoom about the image centre by a factor ``alpha_t``.

    ``alpha_t > 1`` zooms in: the central ``H/f x W/f`` crop is resized back to ``H x W``
    (bilinear), every pixel is defined. ``alpha_t < 1`` zooms out: the image shrinks by ``f``
    about the centre after a Gaussian anti-aliasing blur with ``sigma = (1/f - 1) / 2`` pixels;
    the exposed border is masked out. Walk coordinate: ``alpha_g = log(alpha_t)``.

    Args:
        images: images in ``[0, 1]``.
        alpha_t: zoom factors, ``> 0`` (the registry allows ``[0.25, 4]``); 1 is the identity.

    Returns:
        ``(target, mask)``, see the module docstring.

    Shape:
        - images: :math:`(N, C, H, W)`, alpha_t: :math:`(N,)`
        - target: :math:`(N, C, H, W)`, mask: :math:`(N, 1, H, W)`

    Example:
        >>> target, mask = zoom(torch.rand(2, 3, 16, 16), torch.tensor([2.0, 0.5]))
        >>> mask[0].all().item(), mask[1].all().item()
        (True, False)
    """
    f = _per_sample(alpha_t, images)
    eye = torch.eye(2, device=images.device, dtype=images.dtype)
    return warp_with_mask(_antialias(images, f), _about_centre(f[:, None, None] * eye, images))


def _antialias(images: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Blur the images about to shrink by ``f < 1`` (sigma ``(1/f - 1) / 2`` px, as
    skimage.transform.rescale); the others, about half of a training batch, pass unchanged."""
    if not bool((f < 1).any()):
        return images
    idx = torch.nonzero(f < 1).squeeze(1)
    sigma = ((1.0 / f[idx] - 1.0) / 2.0).clamp(min=1e-3).detach()  # (M,)
    radius = int(math.ceil(3.0 * float(sigma.max())))
    blurred = gaussian_blur2d(images[idx], 2 * radius + 1, sigma[:, None].expand(-1, 2), border_type="replicate")
    return images.index_copy(0, idx, blurred)


def zoom_shift(images: torch.Tensor, alpha_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Zoom about the centre, then shift: the composite edit of a joint zoom + shift walk
    (Jahanian et al. App. B.6, Fig. 27), warped once so the target is interpolated only once.

    ``dst = c + f (src - c) + (dx W, dy H)``: equal to :func:`zoom` by ``f`` followed by
    :func:`shift_x` by ``dx`` and :func:`shift_y` by ``dy`` (up to the second interpolation those
    would add). The mask is exact: 1 where the sampling location lies inside the source image.

    Args:
        images: images in ``[0, 1]``.
        alpha_t: per sample ``(f, dx, dy)``: zoom factor ``> 0`` (1 = identity) and shifts as
            fractions of the width / height (0 = identity; + = right / down).

    Returns:
        ``(target, mask)``, see the module docstring.

    Shape:
        - images: :math:`(N, C, H, W)`, alpha_t: :math:`(N, 3)`
        - target: :math:`(N, C, H, W)`, mask: :math:`(N, 1, H, W)`

    Example:
        >>> target, mask = zoom_shift(torch.rand(1, 3, 16, 16), torch.tensor([[1.0, 0.25, 0.0]]))
        >>> mask[0, 0, 8, :5].tolist()  # shifted right by 4 px: the left 4 columns are exposed
        [0.0, 0.0, 0.0, 0.0, 1.0]
    """
    a = torch.as_tensor(alpha_t, device=images.device, dtype=images.dtype).reshape(-1, 3)
    if a.shape[0] != images.shape[0]:
        raise ValueError(f"zoom_shift: expected {images.shape[0]} (zoom, dx, dy) rows (one per image), got {a.shape[0]}")
    if not bool((a[:, 0] > 0).all()):
        raise ValueError("zoom_shift: zoom factors must be > 0")
    f = a[:, 0]
    h, w = images.shape[-2:]
    eye = torch.eye(2, device=images.device, dtype=images.dtype)
    m = _about_centre(f[:, None, None] * eye, images)
    offset = torch.zeros_like(m)
    offset[:, 0, 2], offset[:, 1, 2] = a[:, 1] * w, a[:, 2] * h  # pixels
    return warp_with_mask(_antialias(images, f), m + offset)


def _shift(images: torch.Tensor, alpha_t: torch.Tensor, axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    a = _per_sample(alpha_t, images)
    size = images.shape[-1] if axis == 0 else images.shape[-2]
    m = torch.eye(3, device=images.device, dtype=images.dtype).repeat(a.shape[0], 1, 1)
    m[:, axis, 2] = a * size  # (N,) pixels
    return warp_with_mask(images, m)


def shift_x(images: torch.Tensor, alpha_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Shift horizontally by ``alpha_t * W`` pixels (positive = right), bilinear, masked.

    Walk coordinate: ``alpha_g = pixels / W = alpha_t``.

    Args:
        images: images in ``[0, 1]``.
        alpha_t: shifts as a fraction of the width (the registry allows ``[-0.5, 0.5]``).

    Returns:
        ``(target, mask)``; an integer shift by ``+k`` pixels masks exactly the first ``k`` columns.

    Shape:
        - images: :math:`(N, C, H, W)`, alpha_t: :math:`(N,)`
        - target: :math:`(N, C, H, W)`, mask: :math:`(N, 1, H, W)`

    Example:
        >>> target, mask = shift_x(torch.rand(1, 3, 8, 8), torch.tensor([0.25]))
        >>> mask[0, 0, 0].tolist()
        [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    return _shift(images, alpha_t, axis=0)


def shift_y(images: torch.Tensor, alpha_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Shift vertically by ``alpha_t * H`` pixels (positive = down), bilinear, masked.

    Walk coordinate: ``alpha_g = pixels / H = alpha_t``.

    Args:
        images: images in ``[0, 1]``.
        alpha_t: shifts as a fraction of the height (the registry allows ``[-0.5, 0.5]``).

    Returns:
        ``(target, mask)``; an integer shift by ``+k`` pixels masks exactly the first ``k`` rows.

    Shape:
        - images: :math:`(N, C, H, W)`, alpha_t: :math:`(N,)`
        - target: :math:`(N, C, H, W)`, mask: :math:`(N, 1, H, W)`

    Example:
        >>> target, mask = shift_y(torch.rand(1, 3, 8, 8), torch.tensor([-0.125]))
        >>> mask[0, 0, :, 0].tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    """
    return _shift(images, alpha_t, axis=1)


def rotate2d(images: torch.Tensor, alpha_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Rotate in the image plane by ``alpha_t`` degrees about the centre, masked.

    Positive angles turn the content counter-clockwise as seen on screen (a pixel right of the
    centre moves up). Walk coordinate: ``alpha_g = alpha_t / 45``.

    Args:
        images: images in ``[0, 1]``.
        alpha_t: angles in degrees (the registry allows ``[-45, 45]``).

    Returns:
        ``(target, mask)``; the corners exposed by the rotation are masked out.

    Shape:
        - images: :math:`(N, C, H, W)`, alpha_t: :math:`(N,)`
        - target: :math:`(N, C, H, W)`, mask: :math:`(N, 1, H, W)`

    Example:
        >>> target, mask = rotate2d(torch.rand(1, 3, 16, 16), torch.tensor([45.0]))
        >>> mask[0, 0, 0, 0].item(), mask[0, 0, 8, 8].item()
        (0.0, 1.0)
    """
    theta = torch.deg2rad(_per_sample(alpha_t, images))
    cos, sin = torch.cos(theta), torch.sin(theta)
    # y points down, so a visually counter-clockwise turn is [[cos, sin], [-sin, cos]].
    linear = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # (N, 2, 2)
    return warp_with_mask(images, _about_centre(linear, images))


def billboard_corners(
    alpha_t: torch.Tensor, height: int, width: int, *, distance: float = 2.0
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Source corners and their pinhole projections after a rotation about the vertical axis.

    The image is a plane facing the camera at ``distance * width`` pixels, with the focal length
    equal to that distance so that ``alpha_t = 0`` projects every pixel onto itself. A positive
    angle turns the right edge away from the camera (it shrinks) and the left edge towards it.

    Args:
        alpha_t: angles in degrees.
        height: image height in pixels.
        width: image width in pixels.
        distance: camera distance in image widths (smaller = stronger perspective).

    Returns:
        ``(src, dst)`` corner pixel coordinates (top-left, top-right, bottom-right, bottom-left).

    Shape:
        - alpha_t: :math:`(N,)`; src, dst: :math:`(N, 4, 2)`
    """
    theta = torch.deg2rad(alpha_t)[:, None]  # (N, 1)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    x = alpha_t.new_tensor([-cx, cx, cx, -cx])  # corner offsets from the centre
    y = alpha_t.new_tensor([-cy, -cy, cy, cy])
    focal = distance * width
    depth = focal + x * torch.sin(theta)  # (N, 4): positive theta pushes the right edge back
    dst_x = cx + focal * x * torch.cos(theta) / depth
    dst_y = cy + focal * y / depth
    dst = torch.stack([dst_x, dst_y], -1)  # (N, 4, 2)
    src = torch.stack([cx + x, cy + y], -1).expand_as(dst)
    return src, dst


def rotate3d(images: torch.Tensor, alpha_t: torch.Tensor, *, distance: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Perspective "billboard" rotation about the vertical image axis by ``alpha_t`` degrees.

    The image is treated as a plane seen by a pinhole camera (see :func:`billboard_corners`),
    rotated about the vertical line through its centre, and re-projected; the warp is the
    homography through the four projected corners. Walk coordinate: ``alpha_g = alpha_t / 45``.

    Args:
        images: images in ``[0, 1]``.
        alpha_t: angles in degrees (the registry allows ``[-45, 45]``); positive turns the
            right edge away from the viewer.
        distance: camera distance in image widths.

    Returns:
        ``(target, mask)``; the background exposed beside the turned plane is masked out.

    Shape:
        - images: :math:`(N, C, H, W)`, alpha_t: :math:`(N,)`
        - target: :math:`(N, C, H, W)`, mask: :math:`(N, 1, H, W)`

    Example:
        >>> target, mask = rotate3d(torch.rand(1, 3, 16, 16), torch.tensor([30.0]))
        >>> mask[0, 0, 8, 8].item(), mask[0, 0, 8, 15].item()
        (1.0, 0.0)
    """
    a = _per_sample(alpha_t, images)
    h, w = images.shape[-2:]
    # Solve the tiny 4-point system in float64: it costs nothing and keeps round-off out of the
    # homography, so alpha 0 stays the exact identity and border mask pixels do not flicker.
    src, dst = billboard_corners(a.double(), h, w, distance=distance)
    m = get_perspective_transform(src, dst)
    return warp_with_mask(images, m.to(images.dtype))


# ----------------------------------------------------------------------------- photometric


def color(images: torch.Tensor, alpha_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Add a per-channel RGB offset and clamp to ``[0, 1]``; the mask is all ones.

    For single-channel images the mean of the three offsets is added. ``alpha_g = alpha_t``.

    Args:
        images: RGB or grey images in ``[0, 1]``.
        alpha_t: offsets ``(R, G, B)`` per sample (the registry allows ``[-0.5, 0.5]`` each).

    Returns:
        ``(target, mask)``.

    Shape:
        - images: :math:`(N, 3, H, W)` or :math:`(N, 1, H, W)`, alpha_t: :math:`(N, 3)`
        - target: same as images, mask: :math:`(N, 1, H, W)`

    Example:
        >>> target, _ = color(torch.full((1, 3, 2, 2), 0.5), torch.tensor([[0.25, 0.0, -0.25]]))
        >>> target[0, :, 0, 0].tolist()
        [0.75, 0.5, 0.25]
    """
    offsets = torch.as_tensor(alpha_t, device=images.device, dtype=images.dtype).reshape(-1, 3)
    if offsets.shape[0] == 1:
        offsets = offsets.expand(images.shape[0], 3)
    if offsets.shape[0] != images.shape[0]:
        raise ValueError(f"expected {images.shape[0]} colour offsets (one per image), got {offsets.shape[0]}")
    if images.shape[1] == 1:
        offsets = offsets.mean(dim=1, keepdim=True)
    elif images.shape[1] != 3:
        raise ValueError(f"color needs 1- or 3-channel images, got {images.shape[1]} channels")
    target = (images + offsets[:, :, None, None]).clamp(0.0, 1.0)
    return target, _full_mask(images)


def brightness(images: torch.Tensor, alpha_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Add ``alpha_t`` to every channel and clamp to ``[0, 1]``; the mask is all ones.

    Walk coordinate: ``alpha_g = alpha_t``.

    Args:
        images: images in ``[0, 1]``.
        alpha_t: offsets (the registry allows ``[-0.5, 0.5]``).

    Returns:
        ``(target, mask)``.

    Shape:
        - images: :math:`(N, C, H, W)`, alpha_t: :math:`(N,)`
        - target: :math:`(N, C, H, W)`, mask: :math:`(N, 1, H, W)`

    Example:
        >>> brightness(torch.full((1, 1, 2, 2), 0.8), torch.tensor([0.3]))[0].max().item()
        1.0
    """
    a = _per_sample(alpha_t, images)
    return (images + a[:, None, None, None]).clamp(0.0, 1.0), _full_mask(images)


def contrast(images: torch.Tensor, alpha_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Scale the deviation from the per-image mean: ``clamp((x - m) * f + m, 0, 1)``.

    ``m`` is the mean over all channels and pixels of each image. Walk coordinate:
    ``alpha_g = log(f)``; the mask is all ones.

    Args:
        images: images in ``[0, 1]``.
        alpha_t: contrast factors ``f > 0`` (the registry allows ``[0.5, 2]``); 1 is the identity.

    Returns:
        ``(target, mask)``.

    Shape:
        - images: :math:`(N, C, H, W)`, alpha_t: :math:`(N,)`
        - target: :math:`(N, C, H, W)`, mask: :math:`(N, 1, H, W)`

    Example:
        >>> x = torch.tensor([0.25, 0.75]).reshape(1, 1, 1, 2)
        >>> contrast(x, torch.tensor([2.0]))[0].flatten().tolist()
        [0.0, 1.0]
    """
    f = _per_sample(alpha_t, images)[:, None, None, None]
    mean = images.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
    return ((images - mean) * f + mean).clamp(0.0, 1.0), _full_mask(images)
