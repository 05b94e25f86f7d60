"""Colour attributes from random pixels (Jahanian et al., Sec. 3, "Quantifying Steerability").

The paper estimates the colour of generated images by sampling N = 100 random pixels per image
and taking each channel's mean (or the mean RGB for luminance). Sampling instead of averaging
every pixel is the paper's choice; with 100 pixels the per-image estimate is within about
0.02 of the exact mean (see ``bench/measure_accuracy.py``). Pass ``n_pixels=None`` for the
exact mean.

Read the ``color`` edit with ``r``/``g``/``b``, ``brightness`` with ``luminance`` and
``contrast`` with ``contrast``.
"""

from __future__ import annotations

import torch

from steerlab.attributes._checks import check_images

__all__ = ["measure_colour"]


def measure_colour(
    images: torch.Tensor,
    *,
    n_pixels: int | None = 100,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Mean colour, luminance and contrast of ``n_pixels`` random pixels per image.

    Pixels are drawn without replacement, independently for each image. Without a
    ``generator`` a fixed one seeded with 0 is used, so the result is deterministic.

    Args:
        images: RGB (or grey) images.
        n_pixels: pixels sampled per image; ``None`` or >= H*W uses every pixel (exact mean).
        generator: CPU ``torch.Generator`` for the pixel draw.

    Returns:
        ``r``, ``g``, ``b``: per-channel means; ``luminance``: mean over the RGB channels of
        the sampled pixels; ``contrast``: std over the sampled pixels of their per-pixel RGB mean.
        Grey images give ``r == g == b == luminance``.

    Shape:
        - images: (N, C, H, W), C in {1, 3}, float in [0, 1]
        - each output: (N,) float32, in [0, 1] (``contrast`` in [0, 0.5])

    Example:
        >>> img = torch.full((2, 3, 8, 8), 0.25)
        >>> measure_colour(img)["luminance"]
        tensor([0.2500, 0.2500])
    """
    check_images(images, "measure_colour")
    n, c, h, w = images.shape
    flat = images.detach().float().reshape(n, c, h * w)  # (N, C, P)
    if n_pixels is not None:
        if int(n_pixels) < 1:
            raise ValueError(f"measure_colour: n_pixels must be >= 1 or None, got {n_pixels}")
        if n_pixels < h * w:
            if generator is None:
                generator = torch.Generator().manual_seed(0)
            # without replacement: the n_pixels smallest of i.i.d. uniform keys
            keys = torch.rand(n, h * w, generator=generator)
            idx = keys.topk(int(n_pixels), dim=1, largest=False).indices.to(flat.device)  # (N, n_pixels)
            flat = flat.gather(2, idx[:, None, :].expand(n, c, -1))
    rgb = flat.mean(2)  # (N, C)
    pixel_lum = flat.mean(1)  # (N, P)
    if c == 1:
        rgb = rgb.expand(n, 3)
    return {
        "r": rgb[:, 0].contiguous(),
        "g": rgb[:, 1].contiguous(),
        "b": rgb[:, 2].contiguous(),
        "luminance": pixel_lum.mean(1),
        "contrast": pixel_lum.std(1, unbiased=False),
    }
