"""`steerlab invert`: find latents for real images; the latent file `apply --latent` reads.

    >>> import steerlab.jobs.invert as ta
    >>> run = ta.invert_images(["face.png"], "faces", out="runs/inv")                 # doctest: +SKIP

Files: a latent file is ``<stem>.safetensors`` with tensor ``z`` (N, *code shape in its space) (and ``classes``) and
the JSON header (format, model, fingerprint, loss...) in its metadata, beside a readable
``<stem>.json`` (`steerlab.models.latents`). Images are read by `steerlab.core.images.load_image`:
centre-cropped to a square and resized to the model's resolution.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Sequence

import torch

from steerlab.core import checks, distributed
from steerlab.core.checkpoint import DEFAULT_EVERY, Checkpoint
from steerlab.core.images import load_image
from steerlab.core.runs import Run
from steerlab.jobs.common import class_ids, model_of
from steerlab.methods.trajectories import invert
from steerlab.models import Generator
from steerlab.models.latents import save_latent
from steerlab.report.plots import grid_image, line_plot, save_png

__all__ = ["invert_images"]


# --------------------------------------------------------------------------- invert
def invert_images(images: Sequence[str | os.PathLike] | torch.Tensor, model: str | Generator, *,
                  loss: str = "blurred", sigma: float = 3.0, steps: int = 1000, lr: float = 0.1,
                  restarts: int = 4, seed: int = 0, classes: Sequence[int] | None = None,
                  out: str | os.PathLike | None = None, overwrite: bool = False, device: str = "cpu",
                  progress: bool = True, batch_size: int | None = None,
                  truncation: float | None = None, truncation_cutoff: int | None = None, resume: bool = False,
                  checkpoint_every: int = DEFAULT_EVERY, space: str = "z") -> dict:
    """Find latents for real images (Eq. 2) and write a run folder (see `steerlab invert --help`).

    Each image is inverted from ``restarts`` random starts at once (one batch, or chunks of
    ``batch_size`` image-starts) and the start with the lowest final loss is kept. Under
    torchrun the image-starts are split over the ranks and gathered; rank 0 writes the folder.

    Args:
        images: image paths, or a tensor (N, C, R, R) in [0, 1].
        model: zoo name, generator file, or a `Generator`.
        loss, sigma, steps, lr, seed: inversion settings (`steerlab.methods.trajectories.invert`).
        classes: one label per image (or one for all) for a class-conditional model: numbers or the
            model card's class names.
        space: latent space to invert into: "z" (default, in the norm ball), or "w" / "w+" for StyleGAN
            models (w+ reconstructs best; the latent file records the space, and `apply` brings it to
            each direction's space).
        out: run folder (written only when given): ``latent.safetensors`` (+ .json),
            ``reconstruction.png``, ``loss.png``, ``metrics.json``.
        resume, checkpoint_every: with ``out``, the inversion is saved beside it every
            ``checkpoint_every`` Adam steps (`steerlab.core.checkpoint`); ``resume=True`` continues
            a run that died from there, with the same result (one process only).

    Returns:
        ``{"out", "latent", "z", "reconstruction", "targets", "metrics"}``.
    """
    checks.check_int("restarts", restarts, 1, 1000)
    checks.check_int("steps", steps, 1, checks.MAX_STEPS)
    checks.check_float("lr", lr, 0, 100)
    checks.check_float("sigma", sigma, 0, 1000)
    if batch_size is not None:
        checks.check_int("batch_size", batch_size, 1, checks.MAX_BATCH)
    checks.check_int("checkpoint_every", checkpoint_every, 1, checks.MAX_STEPS)
    G = model_of(model, device, truncation, truncation_cutoff)
    G.check_space(space)  # one line naming the model's spaces, before any image is read
    if torch.is_tensor(images):
        targets, names = images.float(), [f"image {i}" for i in range(images.shape[0])]
    else:
        if not images:
            raise ValueError("give at least one image")
        targets = torch.cat([load_image(p, G.resolution, G.channels) for p in images])
        names = [str(p) for p in images]
    n = targets.shape[0]
    classes = class_ids(G, classes)  # numbers or the model card's names
    cls = None if classes is None else torch.as_tensor(list(classes), dtype=torch.long)
    cls = G.check_classes(cls, n)
    config = dict(model=G.name, loss=loss, sigma=sigma, steps=steps, lr=lr, restarts=restarts, seed=seed,
                  batch_size=batch_size, truncation=truncation, truncation_cutoff=truncation_cutoff, space=space)

    def solve(checkpoint: Checkpoint | None = None) -> dict:
        t0 = time.time()
        rep = lambda x: None if x is None else x.repeat_interleave(restarts, 0)  # noqa: E731
        inv = invert(G, rep(targets.to(G.device)), loss=loss, sigma=sigma, steps=steps, lr=lr, seed=seed,
                     classes=rep(cls), progress=progress, batch_size=batch_size, data_parallel=True,
                     checkpoint=checkpoint, space=space)
        best = inv.loss.reshape(n, restarts).argmin(1) + torch.arange(n, device=inv.loss.device) * restarts
        z, curve = inv.z[best], inv.curve[:, best]
        seconds = time.time() - t0
        with torch.no_grad():
            recon = G.synthesize(z, space=space, classes=cls).cpu()
        metrics = {"model": G.name, "space": space, "loss": loss, "sigma": sigma, "steps": steps, "lr": lr, "restarts": restarts,
                   "seed": seed, "images": names, "final_loss": inv.loss[best].tolist(),
                   "mse": ((recon - targets.cpu()) ** 2).flatten(1).mean(1).tolist(),
                   "z_norm": z.flatten(1).norm(dim=1).tolist(), "radius": inv.radius, "invert_seconds": round(seconds, 1)}
        metrics["perceptual"] = _perceptual_or_none(recon, targets.cpu())
        return {"out": None, "latent": None, "z": z.cpu(), "reconstruction": recon, "targets": targets.cpu(),
                "metrics": metrics, "curve": curve}

    if out is None:
        result = solve()
        del result["curve"]
        return result
    out = Path(out)
    digest = hashlib.sha256(targets.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]
    ckpt = Checkpoint.beside(out, {**config, "fingerprint": G.fingerprint, "images": names, "targets_sha256": digest,
                                   "classes": None if cls is None else cls.tolist()},
                             every=checkpoint_every, resume=resume, writer=distributed.is_main())
    with Run("invert", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        if not resume:
            ckpt.clear()
        result = solve(ckpt)
        curve, z, recon = result.pop("curve"), result["z"], result["reconstruction"]
        metrics = result["metrics"] = run.write_metrics(result["metrics"])
        if tmp is None:  # another rank of a torchrun job: rank 0 writes
            return {**result, "out": out, "latent": out / "latent.safetensors"}
        save_latent(tmp / "latent", z, G, classes=cls, space=space,
                    meta={k: metrics[k] for k in ("loss", "sigma", "steps", "images", "final_loss")})
        save_png(grid_image([targets.cpu(), recon], row_labels=["target", "inverted"], scale=3),
                 tmp / "reconstruction.png")
        c = curve.cpu()
        line_plot(tmp / "loss.png", {f"image {i}": (range(c.shape[0]), c[:, i].tolist()) for i in range(n)},
                  xlabel="Adam step", ylabel=f"{loss} loss", title=f"inversion into {G.name} ({space})", logy=True,
                  markers=False)
    ckpt.clear()
    result.update(out=out, latent=out / "latent.safetensors")
    return result


def _perceptual_or_none(x: torch.Tensor, y: torch.Tensor):
    """ST-LPIPS distance per image, or None when its weights are not installed."""
    try:
        from steerlab.metrics.perceptual import perceptual_distance
        with torch.no_grad():
            return perceptual_distance(x, y).tolist()
    except FileNotFoundError:
        return None
