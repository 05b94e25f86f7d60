"""Train the bundled ``shapes-stylegan2``: a small StyleGAN2 on the procedural biased-shapes data.

    python -m steerlab.training.shapes_stylegan2 --out src/steerlab/models/weights/shapes-stylegan2

It uses the generic `train_gan` loop (non-saturating loss, Adam) with the StyleGAN2 settings
that matter at this size: lr 0.002, beta1 0, and the DCGAN discriminator. What it leaves out
from the paper's recipe (R1, path-length regularisation, style mixing, an EMA of G, the
residual discriminator) is listed in the model card, as is the wall time it took.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from steerlab.data.shapes import make_shapes
from steerlab.models.stylegan2 import StyleGAN2Generator
from steerlab.models.zoo import save_generator
from steerlab.training.gan import DCGANDiscriminator, GANConfig, train_gan

NAME = "shapes-stylegan2"
ARCH = dict(resolution=32, z_dim=64, w_dim=64, n_mlp=4, channels=[96, 96, 48, 24])


def train_shapes_stylegan2(out: str | Path, *, steps: int = 2000, batch_size: int = 16,
                           n_images: int = 10000, lr: float = 0.002, seed: int = 0,
                           conditional: bool = False, arch: dict | None = None,
                           checkpoint: str | Path | None = None,
                           device: str = "cpu", progress: bool = True) -> StyleGAN2Generator:
    """Train a StyleGAN2 on ``make_shapes(n_images, resolution=32)`` and save it as a generator file.

    Args:
        out: path stem; writes ``out.safetensors`` + ``out.json`` (with a model card).
        steps, batch_size, lr: the `train_gan` schedule.
        conditional: condition G (mapping) and D (projection) on the 12 shape classes.
        arch: `StyleGAN2Generator` arguments (default `ARCH`: 32 px, ~0.4 M parameters).
        checkpoint: stem for resumable training checkpoints (resumed if present).

    Returns:
        The trained generator, in eval mode.
    """
    torch.manual_seed(seed)
    arch = dict(ARCH if arch is None else arch)
    data = make_shapes(n_images, resolution=arch["resolution"], seed=seed)
    num_classes = len(data.class_names) if conditional else 0
    G = StyleGAN2Generator(**arch, num_classes=num_classes, name=NAME)
    D = DCGANDiscriminator(resolution=arch["resolution"], channels=arch.get("img_channels", 3), width=32,
                           num_classes=num_classes)
    cfg = GANConfig(steps=steps, batch_size=batch_size, lr=lr, beta1=0.0, seed=seed,
                    checkpoint_every=max(steps // 8, 1))
    t0 = time.time()
    result = train_gan(G, D, data.images, data.labels if conditional else None, config=cfg, checkpoint=checkpoint,
                       resume=checkpoint is not None, device=device, progress=progress)
    G = G.cpu().eval().requires_grad_(False)
    card = {
        "description": f"small StyleGAN2 (32 px, {'class-conditional' if conditional else 'unconditional'}) "
                       "trained by steerlab on procedural biased shapes",
        "latent_spaces": list(G.latent_spaces),
        "source": "trained by steerlab: python -m steerlab.training.shapes_stylegan2",
        "training_command": f"python -m steerlab.training.shapes_stylegan2 --steps {steps} "
                            f"--batch-size {batch_size} --lr {lr} --seed {seed} --n-images {n_images}"
                            + (" --conditional" if conditional else ""),
        "training_threads": torch.get_num_threads(),
        "training_seconds": round(result["seconds"], 3),
        "wall_seconds": round(time.time() - t0, 1),
        "training_device": str(device),
        "data": f"steerlab.data.shapes.make_shapes({n_images}, resolution={arch['resolution']}, seed={seed}): "
                "12 shape classes on a sky/ground background"
                + (", labels fed to G and D" if conditional else ", mixed (the model is unconditional)"),
        "dataset": "shapes",  # the data FID compares with (`steerlab.data.registry`)
        "recipe": "non-saturating GAN loss, Adam(lr, betas=(0, 0.999)), DCGAN discriminator (width 32); "
                  "no R1, path-length regularisation, style mixing, G EMA or residual discriminator",
        "final_losses": {k: round(sum(v[-50:]) / max(len(v[-50:]), 1), 4)
                         for k, v in result["history"].items() if k != "edit_loss"},
        "licence": "MIT",
    }
    save_generator(G, out, card=card)
    return G


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(Path(__file__).parents[1] / "models" / "weights" / NAME))
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--n-images", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--conditional", action="store_true", help="condition on the 12 shape classes")
    p.add_argument("--checkpoint", help="stem for resumable checkpoints")
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    G = train_shapes_stylegan2(a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, n_images=a.n_images,
                               seed=a.seed, conditional=a.conditional, checkpoint=a.checkpoint, device=a.device)
    print(f"saved {G.describe()} to {a.out}.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
