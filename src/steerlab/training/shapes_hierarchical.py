"""Train the bundled ``shapes-hierarchical``: a class-conditional GAN with a BigGAN-like hierarchical z.

    python -m steerlab.training.shapes_hierarchical --out src/steerlab/models/weights/shapes-hierarchical

`steerlab.models.hierarchical.HierarchicalGenerator` (z split into 4 parts of 16 at 32 px: the
input layer and the conditional batch norms of the 3 up-sampling blocks) against the projection
DCGAN discriminator, with the generic `train_gan` loop and the mode-seeking term that keeps the
conditional DCGAN of the zoo from collapsing to one image per class
(`steerlab.training.dataset_gan.train_mode_seeking`). The model card records the command, the
wall time and the final FID against held-out data.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from steerlab.data.shapes import make_shapes
from steerlab.models.hierarchical import HierarchicalGenerator
from steerlab.models.zoo import save_generator
from steerlab.training.gan import DCGANDiscriminator, GANConfig, train_gan

NAME = "shapes-hierarchical"
ARCH = dict(resolution=32, z_dim=64, width=32, embed_dim=32)


def train_shapes_hierarchical(out: str | Path | None, *, steps: int = 1500, batch_size: int = 32,
                              n_images: int = 10000, lr: float = 2e-4, ms_weight: float = 0.2, seed: int = 0,
                              arch: dict | None = None, checkpoint: str | Path | None = None,
                              device: str = "cpu", progress: bool = True) -> HierarchicalGenerator:
    """Train a `HierarchicalGenerator` on ``make_shapes(n_images)`` (12 classes) and save it.

    Args:
        out: path stem (``out.safetensors`` + ``out.json`` with a model card); None: not saved.
        steps, batch_size, lr: the `train_gan` schedule (Adam, betas (0.5, 0.999)).
        ms_weight: weight of the mode-seeking term.
        arch: `HierarchicalGenerator` arguments (default `ARCH`: 32 px, z 64 in 4 parts).
        checkpoint: stem for resumable training checkpoints (resumed if present).

    Returns:
        The trained generator, frozen, in eval mode.
    """
    torch.manual_seed(seed)
    arch = dict(ARCH if arch is None else arch)
    data = make_shapes(n_images, resolution=arch["resolution"], seed=seed)
    G = HierarchicalGenerator(**arch, num_classes=len(data.class_names), name=NAME)
    D = DCGANDiscriminator(resolution=arch["resolution"], channels=3, width=32, num_classes=len(data.class_names))
    cfg = GANConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, ms_weight=ms_weight,
                    checkpoint_every=max(steps // 8, 1))
    t0 = time.time()
    result = train_gan(G, D, data.images, data.labels, config=cfg, checkpoint=checkpoint,
                       resume=checkpoint is not None, device=device, progress=progress)
    G = G.cpu().eval().requires_grad_(False)
    if out is not None:
        card = {
            "description": "class-conditional GAN with a BigGAN-like hierarchical z (4 parts of 16: input layer "
                           "and 3 conditional batch norms), 32 px, trained by steerlab on biased shapes",
            "dataset": "shapes", "resolution_data": arch["resolution"], "class_names": list(data.class_names),
            "fid_features": "shapes-classifier", "latent_parts": list(G.latent_parts),
            "source": "trained by steerlab: python -m steerlab.training.shapes_hierarchical",
            "training_command": f"python -m steerlab.training.shapes_hierarchical --steps {steps} --batch-size "
                                f"{batch_size} --lr {lr} --ms-weight {ms_weight} --seed {seed} --n-images {n_images}",
            "recipe": "non-saturating GAN loss + mode-seeking term, Adam(lr, betas=(0.5, 0.999)), projection DCGAN "
                      "discriminator (width 32)",
            "training": {"threads": torch.get_num_threads(), "wall_seconds": round(time.time() - t0, 1),
                         "device": str(device), "final_losses_last_50_steps": {
                             name: round(float(torch.tensor(values[-50:]).mean()), 4)
                             for name, values in result["history"].items() if values}},
            "licence": "MIT"}
        save_generator(G, out, card=card)
    return G


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(Path(__file__).parents[1] / "models" / "weights" / NAME))
    for flag, kind, default in (("steps", int, 1500), ("batch-size", int, 32), ("lr", float, 2e-4),
                                ("ms-weight", float, 0.2), ("n-images", int, 10000), ("seed", int, 0)):
        p.add_argument(f"--{flag}", type=kind, default=default)
    p.add_argument("--checkpoint", help="stem for resumable checkpoints")
    p.add_argument("--device", default="cpu")
    a = vars(p.parse_args(argv))
    out = a.pop("out")
    G = train_shapes_hierarchical(out, **a)
    print(f"saved {G.describe()} to {out}.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
