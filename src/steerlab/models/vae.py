"""The beta-VAE of Plumerault et al. (App. B, Table 1), usable as a steerlab `Generator`.

``BetaVAE`` is one module holding the encoder and the decoder; as a `Generator` it renders
the decoder's Bernoulli means, so walks, inversion and trajectories work on it unchanged,
and ``encode`` gives the posterior when a method wants it. Table 1, for 64 x 64 x 1 images:

- encoder: 4 x [conv 4x4, stride 2, 32 filters, ReLU] (64 -> 4 px), dense 256 + ReLU, dense
  256 + ReLU, then mu = dense(10) and sigma = exp(dense(10));
- decoder, the mirror image: dense 256 + ReLU, dense 4*4*32 + ReLU, reshape to 4x4x32,
  3 x [transposed conv 4x4, stride 2, 32 filters, ReLU], transposed conv to 1 channel + sigmoid.

Table 1 lists the decoder's second dense layer with 256 units, which cannot be reshaped to
4x4x32 = 512; we give it 512 units (the mirror of the encoder's flatten). "SAME" padding
with a 4x4 kernel and stride 2 is ``padding=1`` here, which halves / doubles the side exactly.

Training (``train_beta_vae``) is the paper's: Adam, learning rate 5e-4, batch 128, 1e5 steps,
on the loss  sum_pixels BCE(x, decoder(z)) + beta * KL(q(z|x) || N(0, I)),  with z drawn
by the reparametrisation trick; ``steps`` and ``batch_size`` can be cut for a quick run.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from steerlab.models.base import Generator

__all__ = ["BetaVAE", "beta_vae_loss", "train_beta_vae"]


class BetaVAE(Generator):
    """beta-VAE for 64x64 single-channel images; as a Generator it is its decoder.

    Args:
        z_dim: latent size (10 in the paper).
        beta: weight of the KL term it was (or will be) trained with; stored in the config.
        width: conv filters (32) and hidden dense units (256) scale with ``width / 32``.
        name: model name shown in reports.
        resolution, channels: fixed by the architecture (64, 1); recorded for the zoo.

    Example:
        >>> vae = BetaVAE(beta=5.0)
        >>> vae.synthesize(vae.sample_z(2)).shape
        torch.Size([2, 1, 64, 64])
    """

    resolution = 64
    channels = 1
    output_range = (0.0, 1.0)
    fingerprint_scheme = "v1"  # the fingerprints stored with directions since the first release stay valid

    def __init__(self, z_dim: int = 10, beta: float = 1.0, width: int = 32, name: str = "beta-vae",
                 resolution: int = 64, channels: int = 1):
        super().__init__()
        if z_dim < 1 or width < 1 or not beta >= 0:
            raise ValueError(f"BetaVAE needs z_dim >= 1, width >= 1 and beta >= 0, got {z_dim}, {width}, {beta}")
        if (resolution, channels) != (64, 1):
            raise ValueError(f"BetaVAE (Table 1) is for 64x64x1 images, got {resolution}x{resolution}x{channels}")
        self.z_dim, self.beta, self.width, self.name = z_dim, float(beta), width, name
        c, hidden = width, 8 * width  # 32 filters, 256 units
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1), nn.ReLU(), nn.Conv2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c, c, 4, 2, 1), nn.ReLU(), nn.Conv2d(c, c, 4, 2, 1), nn.ReLU(),  # (N, c, 4, 4)
            nn.Flatten(), nn.Linear(16 * c, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, z_dim)
        self.log_sigma = nn.Linear(hidden, z_dim)  # sigma = exp(.): Table 1's "Dense + Exponential"
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, 16 * c), nn.ReLU(),
            nn.Unflatten(1, (c, 4, 4)),
            nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c, 1, 4, 2, 1))  # logits

    def config(self) -> dict:
        return {"z_dim": self.z_dim, "beta": self.beta, "width": self.width, "name": self.name,
                "resolution": self.resolution, "channels": self.channels}

    def encode(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior q(z|x) = N(mu, diag(sigma^2)) of images (N, 1, 64, 64) in [0, 1].

        Returns:
            ``(mu, log_sigma)``, each (N, z_dim).
        """
        h = self.encoder(images)
        return self.mu(h), self.log_sigma(h)

    def decode_logits(self, z: Tensor) -> Tensor:
        """Bernoulli logits (N, 1, 64, 64) of the decoder."""
        return self.decoder(z)

    def _synthesize(self, latent: Tensor, space: str, classes: Tensor | None) -> Tensor:
        return torch.sigmoid(self.decoder(latent))  # already in [0, 1] = output_range


def beta_vae_loss(vae: BetaVAE, images: Tensor, beta: float, generator: torch.Generator | None = None
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """Per-batch mean of (BCE summed over pixels + beta * KL); also returns both terms.

    Returns:
        ``(loss, reconstruction, kl)``, scalars (means over the batch).
    """
    mu, log_sigma = vae.encode(images)
    eps = torch.randn(mu.shape, generator=generator, device="cpu").to(mu)
    z = mu + eps * log_sigma.exp()
    logits = vae.decode_logits(z)
    rec = F.binary_cross_entropy_with_logits(logits, images, reduction="none").flatten(1).sum(1).mean()
    kl = 0.5 * (mu ** 2 + (2 * log_sigma).exp() - 1 - 2 * log_sigma).sum(1).mean()
    return rec + beta * kl, rec, kl


def train_beta_vae(sample: Callable[[int, torch.Generator], Tensor], *, beta: float, steps: int = 100_000,
                   batch_size: int = 128, lr: float = 5e-4, z_dim: int = 10, seed: int = 0,
                   name: str | None = None, device: str | torch.device = "cpu",
                   progress: bool = True) -> tuple[BetaVAE, dict]:
    """Train a beta-VAE (App. B / Sec. 3) on batches from ``sample(batch_size, generator)``.

    Args:
        sample: returns a fresh batch (B, 1, 64, 64) in [0, 1] each call, e.g.
            ``lambda n, g: sample_dsprites(n, generator=g).images``.
        beta: KL weight.
        steps, batch_size, lr: Adam schedule (paper: 1e5, 128, 5e-4).
        seed: seeds initialisation, data draws and the reparametrisation noise.

    Returns:
        ``(vae, log)``: the trained model in eval mode (frozen) and
        ``{"loss_curve", "rec_curve", "kl_curve", "seconds"}`` (curves every 50 steps).
    """
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"steps and batch_size must be >= 1 and lr > 0 (got {steps}, {batch_size}, {lr})")
    torch.manual_seed(seed)
    vae = BetaVAE(z_dim=z_dim, beta=beta, name=name or f"dsprites-vae-b{beta:g}").to(device)
    vae.train().requires_grad_(True)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    log = {"loss_curve": [], "rec_curve": [], "kl_curve": []}
    acc = torch.zeros(3, device=device)  # summed on the device: no host sync per step
    t0 = time.time()
    bar = tqdm(range(steps), desc=f"beta-VAE beta={beta:g}", disable=not progress, leave=False)
    for step in bar:
        x = sample(batch_size, g).to(device)
        opt.zero_grad(set_to_none=True)
        loss, rec, kl = beta_vae_loss(vae, x, beta, g)
        loss.backward()
        opt.step()
        acc += torch.stack([loss.detach(), rec.detach(), kl.detach()])
        if (step + 1) % 50 == 0 or step + 1 == steps:
            k = (step % 50) + 1
            for key, v in zip(("loss_curve", "rec_curve", "kl_curve"), (acc / k).tolist()):
                log[key].append(v)
            acc.zero_()
            bar.set_postfix(rec=f"{log['rec_curve'][-1]:.1f}", kl=f"{log['kl_curve'][-1]:.2f}", refresh=False)
    log["seconds"] = round(time.time() - t0, 1)
    return vae.eval().requires_grad_(False), log
