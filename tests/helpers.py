"""Test helpers: tiny seeded models with known structure (imported by tests; conftest only wires fixtures)."""
import torch

from steerlab.models import DCGANGenerator


def make_tiny(seed: int = 0, **kw) -> DCGANGenerator:
    """A tiny seeded DCGAN (16 px, z_dim 8) with random weights, in eval mode."""
    torch.manual_seed(seed)
    cfg = dict(z_dim=8, resolution=16, width=8, name="tiny") | kw
    G = DCGANGenerator(**cfg)
    # Non-trivial BatchNorm statistics so eval mode is not an identity.
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return G.eval().requires_grad_(False)


class Blob(torch.nn.Module):
    """A toy generator with known factors: a Gaussian blob at x = 0.5 + 0.12 z0, y = 0.5 + 0.12 z1."""

    def __init__(self, resolution: int = 16):
        super().__init__()
        self.register_buffer("grid", torch.linspace(0, 1, resolution))

    def forward(self, z):
        x0 = (0.5 + 0.12 * z[:, 0])[:, None, None]
        y0 = (0.5 + 0.12 * z[:, 1])[:, None, None]
        g = self.grid
        img = torch.exp(-((g[None, None, :] - x0) ** 2 + (g[None, :, None] - y0) ** 2) / 0.02)
        return img[:, None].expand(-1, 3, -1, -1) * torch.tensor([1.0, 0.6, 0.3])[None, :, None, None]
