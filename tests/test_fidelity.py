"""Per-sample truth: masked DSSIM, paired per-sample changes, the pre-chosen t-test pair."""
from __future__ import annotations

import torch

from steerlab.metrics.losses import dssim


def _pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 3, 32, 32, generator=g)
    mask = torch.zeros(3, 1, 32, 32)
    mask[..., 5:22, 3:27] = 1
    return x, mask, g


def test_dssim_perfect_match_on_valid_pixels_is_zero():
    x, mask, g = _pair()
    y = torch.where(mask > 0, x, torch.rand(x.shape, generator=g))  # differs only where masked out
    assert (y != x).any()
    assert torch.equal(dssim(x, y, mask), torch.zeros(3))
    assert torch.equal(dssim(x, x), torch.zeros(3))


def test_dssim_ignores_masked_pixels():
    x, mask, g = _pair(1)
    y = x + 0.2 * torch.randn(x.shape, generator=g)
    ref = dssim(x, y, mask)
    assert (ref > 0.01).all()
    for fill in (torch.rand(x.shape, generator=g), torch.full_like(x, 7.0), torch.full_like(x, float("nan"))):
        y2 = torch.where(mask > 0, y, fill)
        x2 = torch.where(mask > 0, x, fill.flip(0))
        assert torch.equal(dssim(x2, y2, mask), ref)
    # ...while a change on the valid pixels does count
    assert (dssim(x, torch.where(mask > 0, y + 0.3, y), mask) != ref).all()


def test_dssim_orders_distortions_and_has_gradients():
    x, mask, g = _pair(2)
    noise = torch.randn(x.shape, generator=g)
    small, large = dssim(x, x + 0.05 * noise, mask), dssim(x, x + 0.3 * noise, mask)
    assert (small < large).all() and (large <= 1).all()
    xr = x.clone().requires_grad_(True)
    dssim(xr, x + 0.1 * noise, mask).sum().backward()
    assert torch.isfinite(xr.grad).all() and xr.grad.abs().sum() > 0
    assert (xr.grad * (1 - mask)).abs().max() == 0  # masked pixels get no gradient
