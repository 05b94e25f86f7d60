"""Use your own generator `nn.Module` with every steerlab method in a few lines.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from steerlab.models import wrap_generator
    >>> net = nn.Sequential(nn.Linear(16, 3 * 8 * 8), nn.Tanh(), nn.Unflatten(1, (3, 8, 8)))
    >>> G = wrap_generator(net, z_dim=16, resolution=8, output_range=(-1, 1), name="mine")
    >>> G.synthesize(G.sample_z(4)).shape
    torch.Size([4, 3, 8, 8])
"""
from __future__ import annotations

from torch import Tensor, nn

from steerlab.models.base import Generator


class ModuleGenerator(Generator):
    """Adapter around a user's ``nn.Module`` that maps z (and optionally class labels) to images.

    Args:
        module: called as ``module(z)`` or, if ``num_classes > 0``, ``module(z, classes)``;
            must return (N, channels, resolution, resolution) images in ``output_range``.
        z_dim, resolution, channels, num_classes: the generator's shape facts.
        output_range: value range of the module's output, e.g. (-1, 1) for tanh, (0, 1).
        name: shown in reports and stored with directions.
    """

    def __init__(self, module: nn.Module, *, z_dim: int, resolution: int, channels: int = 3,
                 num_classes: int = 0, output_range: tuple[float, float] = (-1.0, 1.0),
                 name: str = "custom"):
        super().__init__()
        self.module = module.eval()
        self.z_dim, self.resolution, self.channels = z_dim, resolution, channels
        self.num_classes, self.output_range, self.name = num_classes, tuple(output_range), name

    def config(self) -> dict:
        return {"z_dim": self.z_dim, "resolution": self.resolution, "channels": self.channels,
                "num_classes": self.num_classes, "output_range": list(self.output_range),
                "name": self.name}

    def _synthesize(self, latent: Tensor, space: str, classes: Tensor | None) -> Tensor:
        out = self.module(latent) if classes is None else self.module(latent, classes)
        want = (latent.shape[0], self.channels, self.resolution, self.resolution)
        if tuple(out.shape) != want:
            raise ValueError(f"wrapped generator returned shape {tuple(out.shape)}, expected {want}")
        return out


def wrap_generator(module: nn.Module, **facts) -> ModuleGenerator:
    """Wrap ``module`` (see `ModuleGenerator` for the arguments)."""
    return ModuleGenerator(module, **facts)
