"""`steerlab train`: a class-conditional DCGAN on a named steerlab dataset, shipped as a zoo file.

    steerlab train shapes --steps 3000 --out src/steerlab/models/weights/shapes

The dataset is drawn (seeded), the generic `train_gan` loop trains a `DCGANGenerator` with
``num_classes`` from the data against the projection `DCGANDiscriminator`, with resumable
checkpoints beside ``out``; at the end the generator file (safetensors + JSON) carries a model
card: the exact command, wall time, steps, and the final FID/KID against held-out real data with
the feature network named.
"""
from __future__ import annotations

import shlex
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor, nn

from steerlab.core import checks, seeds
from steerlab.data.registry import get_dataset
from steerlab.models.dcgan import DCGANGenerator
from steerlab.models.zoo import save_generator
from steerlab.training.gan import DCGANDiscriminator, GANConfig, train_gan

FID_FEATURES = {"shapes": "shapes-classifier"}  # the feature network each dataset's card names
# generic measure -> the one that reads it on this dataset (see `evaluation.attribute_of`)
MEASURES = {"shapes": {"colour": "object_colour"}}


def train_mode_seeking(G: DCGANGenerator, D: nn.Module, images: Tensor, labels: Tensor | None, *,
                       config: GANConfig, ms_weight: float = 1.0, checkpoint: str | Path | None = None,
                       device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """`train_gan` with the mode-seeking term of Mao et al. (MSGAN, CVPR 2019), resuming from ``checkpoint``.

    Why not the plain loss: on the shapes data every discriminator tried (projection, with
    spectral norm, with a minibatch-std feature, unconditional, class as input planes) let the
    class-conditional DCGAN collapse to one image per class - z ignored, per-class pixel std of
    samples 0.014-0.023 vs 0.068 in the data. Half the fake batch repeats the other half's
    classes with fresh z, and G also minimises ``1 / (mean|G(z1,c) - G(z2,c)| / mean|z1 - z2|)``
    (`steerlab.training.gan.mode_seeking_term`), which makes ignoring z expensive.

    Returns:
        `train_gan`'s result; ``history["edit_loss"]`` holds the mode-seeking term.
    """
    return train_gan(G, D, images, labels, config=replace(config, ms_weight=ms_weight), checkpoint=checkpoint,
                     resume=True, device=device, progress=progress)


def train_dataset_gan(dataset: str, out: str | Path, *, n_images: int = 20000, resolution: int = 32,
                      steps: int = 3000, batch_size: int = 64, lr: float = 2e-4, width: int = 48,
                      z_dim: int = 64, ms_weight: float = 1.0, seed: int = 0, name: str | None = None,
                      fid_images: int = 2000,
                      checkpoint: str | Path | None = None, device: str = "cpu",
                      progress: bool = True, overwrite: bool = False) -> DCGANGenerator:
    """Train a (class-conditional when the data has labels) DCGAN and save it as a zoo file.

    Args:
        dataset: a key of ``DATASETS`` (``"shapes"``).
        out: path stem; writes ``out.safetensors`` + ``out.json`` with a model card.
        checkpoint: stem of the resumable training checkpoint; default
            ``<out folder>/.checkpoints/<name>`` (hidden, so the zoo never lists it). A rerun with
            the same arguments continues from it.
        n_images, resolution, seed: the training set drawn from the dataset.
        steps, batch_size, lr: the Adam / `train_gan` schedule.
        width, z_dim: `DCGANGenerator` size (the discriminator uses the same width).
        ms_weight: weight of the mode-seeking term (see `train_mode_seeking`).
        fid_images: held-out real and generated images for the card's FID/KID (0 skips it).
        overwrite: replace an existing ``out.safetensors``; otherwise the run stops before training.

    Returns:
        The trained generator (eval mode), also written to ``out``.
    """
    _check_train_options(n_images=n_images, resolution=resolution, steps=steps, batch_size=batch_size, lr=lr,
                         width=width, z_dim=z_dim, ms_weight=ms_weight, fid_images=fid_images)
    checks.check_device(device)
    target = Path(f"{out}.safetensors")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; choose another --out or pass --overwrite to replace it")
    if target.exists() and not target.is_file():
        raise FileExistsError(f"{target} exists and is not a file; choose another --out")
    images, labels, class_names = get_dataset(dataset, n_images, resolution, seed)
    k = len(class_names) if labels is not None else 0
    G = DCGANGenerator(z_dim=z_dim, resolution=resolution, channels=images.shape[1], width=width,
                       num_classes=k, name=name or dataset)
    D = DCGANDiscriminator(resolution=resolution, channels=images.shape[1], width=width, num_classes=k)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = Path(checkpoint) if checkpoint else out.parent / ".checkpoints" / out.name
    t0 = time.time()
    cfg = GANConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, checkpoint_every=250)
    res = train_mode_seeking(G, D, images, labels, config=cfg, ms_weight=ms_weight, checkpoint=ckpt,
                             device=device, progress=progress)
    G = G.cpu().eval()
    card = {"description": f"class-conditional DCGAN trained by steerlab on '{dataset}' ({k} classes)"
                           if k else f"DCGAN trained by steerlab on '{dataset}'",
            "source": "trained by steerlab (`steerlab train`)", "licence": "MIT",
            "dataset": dataset, "resolution_data": resolution,
            "fid_features": FID_FEATURES.get(dataset, "stlpips-vgg"), "measures": MEASURES.get(dataset, {}),
            "n_images": n_images, "data_seed": seed, "class_names": class_names,
            "training": {"steps": steps, "batch_size": batch_size, "lr": lr, "width": width,
                         "loss": "non-saturating + mode seeking (MSGAN)", "ms_weight": ms_weight,
                         "z_dim": z_dim, "seconds": round(res["seconds"], 1),
                         "seconds_this_session": round(time.time() - t0, 1),
                         "final_d_loss": _tail(res["history"]["d_loss"]),
                         "final_g_loss": _tail(res["history"]["g_loss"])},
            "command": (f"steerlab train {dataset} --out {shlex.quote(str(out))} --images {n_images} "
                        f"--resolution {resolution} --steps {steps} --batch-size {batch_size} --lr {lr} "
                        f"--width {width} --z-dim {z_dim} --ms-weight {ms_weight} --seed {seed}"),
            "torch": torch.__version__, "device": str(device)}
    if fid_images:
        card["fid"] = model_fid(G, dataset, n=fid_images, resolution=resolution,
                                seed=seed + seeds.TEST_DRAW)
    if target.exists() and not overwrite:  # appeared while training: keep it
        raise FileExistsError(f"{target} appeared during training and is kept; the trained model was not "
                              "written (choose another --out or pass --overwrite)")
    save_generator(G, out, card=card)
    G.card = card
    return G


def _check_train_options(*, n_images, resolution, steps, batch_size, lr, width, z_dim, ms_weight,
                         fid_images) -> None:
    """Refuse out-of-range training options with one line each (before any data is drawn)."""
    checks.check_int("n_images", n_images, 1, checks.MAX_IMAGES)
    checks.check_int("resolution", resolution, 8, 1024)
    checks.check_int("steps", steps, 1, checks.MAX_STEPS)
    checks.check_int("batch_size", batch_size, 1, checks.MAX_BATCH)
    checks.check_float("lr", lr, 0, 100)
    checks.check_int("width", width, 1, 4096)
    checks.check_int("z_dim", z_dim, 1, checks.MAX_Z_DIM)
    checks.check_float("ms_weight", ms_weight, 0, 1e6, lo_open=False)
    checks.check_int("fid_images", fid_images, 0, checks.MAX_COUNT)


def _tail(xs: list, n: int = 100) -> float | None:
    return round(sum(xs[-n:]) / len(xs[-n:]), 4) if xs else None


@torch.no_grad()
def model_fid(G, dataset: str, *, n: int = 2000, resolution: int = 32, seed: int = 1,
              features: str | None = None) -> dict:
    """FID/KID of ``n`` samples of ``G`` (classes as in the data) against ``n`` fresh real images.

    The real images are a fresh draw (``seed`` differs from training), the fake ones use the
    real draw's labels, so class frequencies match. Returns `fid_kid`'s dict.
    """
    from steerlab.metrics import shapes_features  # noqa: F401  (registers "shapes-classifier")
    from steerlab.metrics.fid import fid_kid
    real, labels, _ = get_dataset(dataset, n, resolution, seed)
    g = torch.Generator().manual_seed(seed)
    fake = torch.cat([G.synthesize(G.sample_z(min(256, n - i), generator=g),
                                   classes=None if labels is None else labels[i:i + 256])
                      for i in range(0, n, 256)])
    return fid_kid(real, fake, features=features or FID_FEATURES.get(dataset, "stlpips-vgg"))
