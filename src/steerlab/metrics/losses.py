"""Image distances used as walk and inversion losses, each returning one value per sample.

Every loss is ``loss(x, y, mask=None) -> (N,)`` for images x, y (N, C, H, W) in [0, 1] and an
optional validity mask (N, 1, H, W) in {0, 1}; masked-out pixels do not count. Losses are
registered by name so walks, inversion and the CLI pick them with one string.
"""
from __future__ import annotations

from typing import Callable

import kornia
import torch
from torch import Tensor

from steerlab.core.registry import Registry

Loss = Callable[..., Tensor]


def masked_l2(x: Tensor, y: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error over valid pixels (Eq. 1 of the steerability paper with its mask).

    Shape: x, y (N, C, H, W); mask (N, 1, H, W) or None. Returns (N,).
    """
    d = (x - y) ** 2
    if mask is None:
        return d.flatten(1).mean(1)
    # Sum over valid pixels and channels, divided by their count: empty masks give 0.
    return (d * mask).flatten(1).sum(1) / (mask.flatten(1).sum(1) * x.shape[1]).clamp_min(1.0)


def blurred_l2(x: Tensor, y: Tensor, mask: Tensor | None = None, sigma: float = 3.0) -> Tensor:
    """Squared error of the Gaussian-blurred difference (Plumerault et al., Eq. 3).

    By Parseval, ||F(g_sigma * (x - y))||^2 = ||g_sigma * (x - y)||^2: high frequencies, which a
    low-dimensional generator cannot place exactly, weigh less. Masked pixels are zeroed
    before blurring. Returns (N,).
    """
    d = x - y if mask is None else (x - y) * mask
    k = 2 * int(round(3 * sigma)) + 1
    db = kornia.filters.gaussian_blur2d(d, (k, k), (sigma, sigma), border_type="constant")
    return masked_l2(db, torch.zeros_like(db), mask)


def _window_sums(t: Tensor, window: int, sigma: float) -> Tensor:
    """Gaussian-weighted window sums of every channel of ``t`` (N, C, H, W), zero outside the image."""
    r = torch.arange(window, dtype=t.dtype, device=t.device) - (window - 1) / 2
    k = torch.exp(-r * r / (2 * sigma * sigma))
    k = k / k.sum()
    c = t.shape[1]
    t = torch.nn.functional.conv2d(t, k.view(1, 1, 1, -1).expand(c, 1, 1, window), padding=(0, window // 2), groups=c)
    return torch.nn.functional.conv2d(t, k.view(1, 1, -1, 1).expand(c, 1, window, 1), padding=(window // 2, 0), groups=c)


def dssim(x: Tensor, y: Tensor, mask: Tensor | None = None, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Structural dissimilarity (1 - SSIM) / 2 over valid pixels, Gaussian window 11 (sigma 1.5).

    The local means, variances and covariance of SSIM are taken over the *valid* pixels of each
    window only (a normalised convolution: window sums of ``mask * x`` divided by window sums of
    ``mask``), and the SSIM map is averaged over valid pixels, so masked pixels change nothing:
    a perfect match on the valid pixels scores exactly 0 whatever the masked pixels hold. The
    image border is treated the same way (outside pixels are invalid). Constants C1 = 0.01^2,
    C2 = 0.03^2 (images in [0, 1]).

    Shape: x, y (N, C, H, W) in [0, 1]; mask (N, 1, H, W) in {0, 1} or None. Returns (N,) in [0, 1].
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"dssim window must be an odd number >= 1, got {window}")
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    C = x.shape[1]
    m = (torch.ones_like(x[:, :1]) if mask is None else (mask > 0).to(x.dtype)).expand_as(x)
    # Zero (not multiply) the masked pixels, so that even NaN or inf there cannot leak in.
    x, y = torch.where(m > 0, x, torch.zeros_like(x)), torch.where(m > 0, y, torch.zeros_like(y))
    sums = _window_sums(torch.cat([x, y, x * x, y * y, x * y, m], 1), window, sigma)  # one pass: (N, 6C, H, W)
    mu_x, mu_y, xx, yy, xy = (sums[:, i * C:(i + 1) * C] / sums[:, 5 * C:].clamp_min(1e-12) for i in range(5))
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    d = ((1.0 - s) / 2.0).clamp(0.0, 1.0)  # (N, C, H, W)
    return (d * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0)


def edge_l2(x: Tensor, y: Tensor, mask: Tensor | None = None, weight: float = 1.0) -> Tensor:
    """Masked L2 plus ``weight`` x the masked L2 of the images' Sobel gradients: a structure term.

    A walk trained on masked L2 alone can lower it by a low-frequency route (blur and average
    towards the blurred, zoomed target) instead of moving edges; the gradient term charges for
    edges in the wrong place and for edges blurred away. Gradients are taken only where the
    whole 3 x 3 Sobel window is valid (the mask eroded by one pixel, masked pixels zeroed first),
    so masked pixels do not count: a perfect match on the valid pixels scores 0.

    Shape: x, y (N, C, H, W) in [0, 1]; mask (N, 1, H, W) in {0, 1} or None. Returns (N,) >= 0.
    """
    if not weight >= 0:
        raise ValueError(f"edge_l2 weight must be >= 0, got {weight}")
    m = torch.ones_like(x[:, :1]) if mask is None else (mask > 0).to(x.dtype)
    inner = -torch.nn.functional.max_pool2d(-m, 3, stride=1, padding=1)  # erode: 1 where the 3x3 window is valid
    x0, y0 = torch.where(m > 0, x, torch.zeros_like(x)), torch.where(m > 0, y, torch.zeros_like(y))
    gx, gy = kornia.filters.spatial_gradient(x0), kornia.filters.spatial_gradient(y0)  # (N, C, 2, H, W)
    return masked_l2(x0, y0, m) + weight * masked_l2(gx.flatten(1, 2), gy.flatten(1, 2), inner)


def perceptual(x: Tensor, y: Tensor, mask: Tensor | None = None, net: str = "alex") -> Tensor:
    """ST-LPIPS distance (App. B.4.1 uses LPIPS as the walk loss); masked pixels are set to
    the target's so they add nothing. Returns (N,)."""
    from steerlab.metrics.perceptual import perceptual_distance
    if mask is not None:
        x = x * mask + y * (1 - mask)
    return perceptual_distance(x, y, net=net)


LOSSES: Registry[Loss] = Registry("loss", callable_=True)
"""Every loss by name (a validating `steerlab.core.registry.Registry`)."""


def register_loss(name: str, loss: Loss, *, overwrite: bool = False) -> Loss:
    """Add ``loss(x, y, mask=None) -> (N,)`` under ``name`` (see the module docstring for the contract).

    Raises:
        TypeError: ``loss`` is not callable.
        ValueError: ``name`` is empty or already registered (without ``overwrite``).
    """
    return LOSSES.register(name, loss, overwrite=overwrite)


def get_loss(name: str) -> Loss:
    """The loss called ``name``; a one-line ValueError lists the allowed names."""
    return LOSSES.get(name)


for _name, _loss in (("l2", masked_l2), ("blurred", blurred_l2), ("dssim", dssim), ("perceptual", perceptual),
                     ("edges", edge_l2)):
    register_loss(_name, _loss)
del _name, _loss
