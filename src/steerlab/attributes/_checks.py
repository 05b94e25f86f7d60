"""Input validation shared by the attribute measures."""

from __future__ import annotations

import numpy as np
import torch


def check_images(images: torch.Tensor, fn: str, channels: tuple[int, ...] = (1, 3)) -> None:
    """Raise a one-line ValueError unless ``images`` is a finite float (N, C, H, W) batch in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{fn}: images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"{fn}: images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if images.shape[1] not in channels:
        raise ValueError(f"{fn}: images must have {' or '.join(map(str, channels))} channels, got {images.shape[1]}")
    if not images.is_floating_point():
        raise ValueError(f"{fn}: images must be floating point in [0, 1], got {images.dtype}")
    if images.numel() == 0:
        raise ValueError(f"{fn}: images are empty, shape {tuple(images.shape)}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{fn}: images contain NaN or inf")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-3 or hi > 1 + 1e-3:  # catches [-1, 1] generator output passed by mistake
        raise ValueError(f"{fn}: images must be in [0, 1], got values in [{lo:.3f}, {hi:.3f}]")


def to_numpy_hwc(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) tensor -> (N, H, W, C) float32 numpy array on the CPU, clipped to [0, 1]."""
    return images.detach().to("cpu", torch.float32).clamp(0, 1).permute(0, 2, 3, 1).contiguous().numpy()
