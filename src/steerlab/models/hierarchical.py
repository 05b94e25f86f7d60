"""A small class-conditional generator with a hierarchical z, as in the original BigGAN.

Brock et al. (2019, Sec. 3 "hierarchical latent spaces") split z into one chunk per resolution
level: the first chunk feeds the input layer, every other chunk (concatenated with the class
embedding) feeds the conditional batch norms of one up-sampling block. Plumerault et al. (Fig. 4)
read which chunk a factor direction u lives in from ||u_part||^2; this family makes that
experiment possible at a size the CPU trains.

Layout for resolution R = 4 * 2**k (k blocks), z split into k + 1 equal parts:

    part 0 + embed(class) -> Linear -> (width * 2**(k-1), 4, 4)
    block i (i = 1..k):   CBN(part i + embed(class)) -> ReLU -> ConvTranspose 4x4 stride 2 (doubles the side)
    BatchNorm -> ReLU -> Conv 3x3 -> tanh                                   (N, C, R, R) in [-1, 1]

``latent_parts`` is the tuple of part sizes (`steerlab.evaluation.trajectories.latent_parts`).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from steerlab.models.base import Generator

__all__ = ["HierarchicalGenerator", "ConditionalBatchNorm"]


class ConditionalBatchNorm(nn.Module):
    """BatchNorm without its own affine, scaled by ``1 + gain(cond)`` and shifted by ``bias(cond)``.

    Shape: x (N, C, H, W), cond (N, cond_dim) -> (N, C, H, W).
    """

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        return self.bn(x) * (1 + self.gain(cond))[:, :, None, None] + self.bias(cond)[:, :, None, None]


class HierarchicalGenerator(Generator):
    """Generator whose z is split into parts fed to different levels; the constructor signature is its config.

    Args:
        z_dim: latent size, a multiple of the number of parts (log2(resolution / 4) + 1).
        resolution: output side, 4 * 2**k (8, 16, 32, 64, ...).
        channels: 3 for RGB, 1 for grey.
        width: channels of the last block (the first has width * 2**(k-1)).
        num_classes: 0 for unconditional; otherwise a class embedding of ``embed_dim`` joins every part.
        name: model name shown in reports.

    Example:
        >>> G = HierarchicalGenerator(z_dim=12, resolution=16, width=8, num_classes=3)
        >>> G.latent_parts
        (4, 4, 4)
        >>> G.synthesize(G.sample_z(2), classes=torch.tensor([0, 2])).shape
        torch.Size([2, 3, 16, 16])
    """

    def __init__(self, z_dim: int = 64, resolution: int = 32, channels: int = 3, width: int = 32,
                 num_classes: int = 0, embed_dim: int = 32, name: str = "hierarchical"):
        super().__init__()
        n_up = int(round(math.log2(resolution / 4))) if resolution >= 8 else 0
        if n_up < 1 or 4 * 2 ** n_up != resolution:
            raise ValueError(f"resolution must be 4 * 2**k (8, 16, 32, 64, ...), got {resolution}")
        if z_dim < n_up + 1 or z_dim % (n_up + 1):
            raise ValueError(f"z_dim must be a positive multiple of the {n_up + 1} latent parts at resolution "
                             f"{resolution}, got {z_dim}")
        self.name, self.z_dim, self.resolution, self.channels = name, z_dim, resolution, channels
        self.num_classes, self.width, self.embed_dim = num_classes, width, embed_dim
        self.latent_parts = (z_dim // (n_up + 1),) * (n_up + 1)
        cond = self.latent_parts[0] + (embed_dim if num_classes else 0)  # every part's input size
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        widths = [width * 2 ** (n_up - 1 - i) for i in range(n_up)] + [width]  # e.g. 128, 64, 32, 32
        self.fc = nn.Linear(cond, widths[0] * 16)
        self.norms = nn.ModuleList(ConditionalBatchNorm(widths[i], cond) for i in range(n_up))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[i], widths[i + 1], 4, 2, 1) for i in range(n_up))
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out = nn.Conv2d(widths[-1], channels, 3, 1, 1)

    def config(self) -> dict:
        return {"z_dim": self.z_dim, "resolution": self.resolution, "channels": self.channels,
                "width": self.width, "num_classes": self.num_classes, "embed_dim": self.embed_dim,
                "name": self.name}

    def _synthesize(self, latent: Tensor, space: str, classes: Tensor | None) -> Tensor:
        parts = torch.split(latent, list(self.latent_parts), dim=1)  # k + 1 tensors (N, part)
        if self.embed is not None:
            e = self.embed(classes)
            parts = [torch.cat([p, e], dim=1) for p in parts]
        h = self.fc(parts[0]).view(latent.shape[0], -1, 4, 4)  # (N, widths[0], 4, 4)
        for norm, up, cond in zip(self.norms, self.ups, parts[1:]):
            h = up(torch.relu(norm(h, cond)))  # doubles the side
        return torch.tanh(self.out(torch.relu(self.out_bn(h))))  # (N, C, R, R) in [-1, 1]
