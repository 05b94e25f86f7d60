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


def dssim(x: Tensor, y: Tensor, mask: Tensor | None = None) -> Tensor:
    """Structural dissimilarity (1 - SSIM) / 2 over valid pixels, window 11. Returns (N,)."""
    s = kornia.metrics.ssim(x, y, 11)  # (N, C, H, W)
    d = (1.0 - s) / 2.0
    if mask is None:
        return d.flatten(1).mean(1)
    return (d * mask).flatten(1).sum(1) / (mask.flatten(1).sum(1) * x.shape[1]).clamp_min(1.0)


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


for _name, _loss in (("l2", masked_l2), ("blurred", blurred_l2), ("dssim", dssim), ("perceptual", perceptual)):
    register_loss(_name, _loss)
del _name, _loss
