"""Python API of the trajectory commands (`steerlab invert`, `steerlab trajectory`, `apply --latent`).

    >>> import steerlab.jobs.invert as ta
    >>> run = ta.invert_images(["face.png"], "faces", out="runs/inv")                 # doctest: +SKIP
    >>> run = ta.trajectory("faces", "shift_x", measure="saliency:x", out="runs/tx")  # doctest: +SKIP

Files: a latent file is ``<stem>.safetensors`` with tensor ``z`` (N, d) (and ``classes``) and
the JSON header (format, model, fingerprint, loss...) in its metadata, beside a readable
``<stem>.json``. Images are read with Pillow, centre-cropped to a square and resized to the
model's resolution.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from steerlab._version import __version__
from steerlab.core.io import FileFormatError, read_header, read_tensors, write_json, write_tensors
from steerlab.core import distributed
from steerlab.jobs.walk import _model, run_folder
from steerlab.directions import DirectionMismatch
from steerlab.edits import get_edit
from steerlab.models import Generator
from steerlab.report import html
from steerlab.report.plots import grid_image, line_plot, save_png
from steerlab.methods.trajectories import (factor_measure, heldout_r2, invert, latent_parts, learn_trajectory_direction,
                           norm_per_part, save_trajectories, sweep_factor)
from steerlab.evaluation.trajectories import plot_factor_sweeps, plot_norm_per_part

LATENT_FORMAT = "steerlab-latent/1"
MIN_SIDE = 8


# --------------------------------------------------------------------------- images and latents
def load_image(path: str | os.PathLike, resolution: int, channels: int = 3) -> torch.Tensor:
    """Read an image file as (1, channels, resolution, resolution) float32 in [0, 1].

    The image is centre-cropped to a square and resized (Lanczos) to ``resolution``.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not a readable image, or smaller than 8 px.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            im = im.convert("RGB" if channels == 3 else "L")
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise FileFormatError(f"{path}: not a readable image ({e.__class__.__name__})") from None
    w, h = im.size
    if min(w, h) < MIN_SIDE:
        raise FileFormatError(f"{path}: image is {w}x{h} px; need at least {MIN_SIDE} px a side")
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.LANCZOS)
    x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)
    x = x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None]
    return x.contiguous()


def save_latent(path: str | os.PathLike, z: torch.Tensor, G: Generator, *, classes: torch.Tensor | None = None,
                meta: dict | None = None) -> Path:
    """Write latents (N, d) of ``G`` as ``<stem>.safetensors`` + ``<stem>.json``."""
    stem = Path(path)
    stem = stem.with_suffix("") if stem.suffix in (".safetensors", ".json") else stem
    head = {"format": LATENT_FORMAT, "model": G.name, "fingerprint": G.fingerprint, "space": "z",
            "shape": list(z.shape), "steerlab_version": __version__, **(meta or {})}
    tensors = {"z": z} | ({"classes": classes} if classes is not None else {})
    out = write_tensors(stem.with_name(stem.name + ".safetensors"), tensors,
                        metadata={"steerlab": json.dumps(head, default=str)})
    write_json(stem.with_name(stem.name + ".json"), head)
    return out


def load_latent(path: str | os.PathLike, G: Generator | None = None, *, force: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """Read a latent file; with ``G``, refuse latents of another model (unless ``force``).

    Returns:
        ``(z (N, d), classes or None, header)``.
    """
    path = Path(path)
    path = path.with_suffix(".safetensors") if path.suffix == ".json" else path
    t = read_tensors(path)
    head = read_header(path)
    if head.get("format") != LATENT_FORMAT or "z" not in t:
        raise FileFormatError(f"{path}: not a steerlab latent file (no {LATENT_FORMAT} header)")
    z = t["z"]
    if z.dim() != 2 or list(z.shape) != head.get("shape"):
        raise FileFormatError(f"{path}: latent tensor does not match its header (corrupted file)")
    if not torch.isfinite(z).all():
        raise FileFormatError(f"{path}: latent contains NaN or inf")
    if G is not None:
        if head.get("fingerprint") != G.fingerprint and not force:
            raise DirectionMismatch(f"latent was found for model '{head.get('model')}' (fingerprint "
                                    f"{head.get('fingerprint')}), not '{G.name}'; use force to override")
        if z.shape[1] != G.z_dim:
            raise FileFormatError(f"{path}: latent has {z.shape[1]} dims, model '{G.name}' needs {G.z_dim}")
    return z, t.get("classes"), head


# --------------------------------------------------------------------------- invert
def invert_images(images: Sequence[str | os.PathLike] | torch.Tensor, model: str | Generator, *,
                  loss: str = "blurred", sigma: float = 3.0, steps: int = 1000, lr: float = 0.1,
                  restarts: int = 4, seed: int = 0, classes: Sequence[int] | None = None,
                  out: str | os.PathLike | None = None, overwrite: bool = False, device: str = "cpu",
                  progress: bool = True, batch_size: int | None = None) -> dict:
    """Find latents for real images (Eq. 2) and write a run folder (see `steerlab invert --help`).

    Each image is inverted from ``restarts`` random starts at once (one batch, or chunks of
    ``batch_size`` image-starts) and the start with the lowest final loss is kept. Under
    torchrun the image-starts are split over the ranks and gathered; rank 0 writes the folder.

    Args:
        images: image paths, or a tensor (N, C, R, R) in [0, 1].
        model: zoo name, generator file, or a `Generator`.
        loss, sigma, steps, lr, seed: inversion settings (`steerlab.methods.trajectories.invert`).
        classes: one label per image for a class-conditional model.
        out: run folder (written only when given): ``latent.safetensors`` (+ .json),
            ``reconstruction.png``, ``loss.png``, ``metrics.json``.

    Returns:
        ``{"out", "latent", "z", "reconstruction", "targets", "metrics"}``.
    """
    G = _model(model, device)
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    if torch.is_tensor(images):
        targets, names = images.float(), [f"image {i}" for i in range(images.shape[0])]
    else:
        if not images:
            raise ValueError("give at least one image")
        targets = torch.cat([load_image(p, G.resolution, G.channels) for p in images])
        names = [str(p) for p in images]
    n = targets.shape[0]
    cls = None if classes is None else torch.as_tensor(list(classes), dtype=torch.long)
    cls = G.check_classes(cls, n)
    t0 = time.time()
    rep = lambda x: None if x is None else x.repeat_interleave(restarts, 0)  # noqa: E731
    inv = invert(G, rep(targets.to(G.device)), loss=loss, sigma=sigma, steps=steps, lr=lr, seed=seed,
                 classes=rep(cls), progress=progress, batch_size=batch_size, data_parallel=True)
    best = inv.loss.reshape(n, restarts).argmin(1) + torch.arange(n, device=inv.loss.device) * restarts
    z, curve = inv.z[best], inv.curve[:, best]
    seconds = time.time() - t0
    with torch.no_grad():
        recon = G.synthesize(z, classes=cls).cpu()
    metrics = {"model": G.name, "loss": loss, "sigma": sigma, "steps": steps, "lr": lr, "restarts": restarts,
               "seed": seed, "images": names, "final_loss": inv.loss[best].tolist(),
               "mse": ((recon - targets.cpu()) ** 2).flatten(1).mean(1).tolist(),
               "z_norm": z.norm(dim=1).tolist(), "radius": inv.radius, "seconds": round(seconds, 1),
               "steerlab_version": __version__}
    metrics["perceptual"] = _perceptual_or_none(recon, targets.cpu())
    result = {"out": None, "latent": None, "z": z.cpu(), "reconstruction": recon, "targets": targets.cpu(),
              "metrics": metrics}
    if out is None or not distributed.is_main():
        return result if out is None else {**result, "out": Path(out), "latent": Path(out) / "latent.safetensors"}
    out = Path(out)
    with run_folder(out, overwrite) as tmp:
        save_latent(tmp / "latent", z, G, classes=cls, meta={k: metrics[k] for k in
                                                             ("loss", "sigma", "steps", "images", "final_loss")})
        write_json(tmp / "metrics.json", metrics)
        save_png(grid_image([targets.cpu(), recon], row_labels=["target", "inverted"], scale=3),
                 tmp / "reconstruction.png")
        c = curve.cpu()
        line_plot(tmp / "loss.png", {f"image {i}": (range(c.shape[0]), c[:, i].tolist()) for i in range(n)},
                  xlabel="Adam step", ylabel=f"{loss} loss", title=f"inversion into {G.name}", logy=True,
                  markers=False)
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


# --------------------------------------------------------------------------- trajectory
def default_measure(edit: str) -> str:
    """``MEASURE:KEY`` that reads an edit: saliency for geometric edits, colour otherwise."""
    from steerlab.attributes import ATTRIBUTE_FOR_EDIT
    spec = ATTRIBUTE_FOR_EDIT.get(edit)
    if spec is None:
        raise ValueError(f"edit '{edit}' has no attribute measure; pass one, e.g. --measure saliency:x")
    name, key = spec
    if isinstance(key, tuple):
        key = key[0]
    return f"saliency:{key}" if key in ("x", "y", "area") else f"{name}:{key}"


@torch.no_grad()
def factor_strip(G: Generator, d, *, n_samples: int = 4, n_values: int = 9, seed: int = 0):
    """Rows: held-out samples moved to n_values factor values across the calibrated range."""
    lo, hi = d.alpha["alpha_range"]
    ts = torch.linspace(lo, hi, n_values)
    g = torch.Generator().manual_seed(seed + 3_000_017)
    z = G.sample_z(n_samples, generator=g)
    cls = G.sample_classes(n_samples, generator=g)
    rows = []
    for i in range(n_samples):
        ci = None if cls is None else cls[i:i + 1].expand(n_values)
        rows.append(d.render(G, z[i:i + 1].expand(n_values, -1), ts, classes=ci))
    return grid_image(rows, col_labels=[f"{t:+.2f}" for t in ts.tolist()],
                      row_labels=[f"sample {i}" for i in range(n_samples)])


def trajectory(model: str | Generator, edit: str, *, n_trajectories: int = 64, T: float | None = None,
               n_steps: int = 10, steps_per_target: int = 100, lr: float = 0.1, loss: str = "blurred",
               sigma: float = 3.0, discard: float = 0.1, fit_steps: int = 500, seed: int = 0,
               measure: str | None = None, n_eval: int = 32, out: str | os.PathLike | None = None,
               overwrite: bool = False, device: str = "cpu", progress: bool = True) -> dict:
    """Learn a ``"trajectory"`` direction (Algorithm 1 + Eq. 9), evaluate it, write a run folder.

    Writes ``direction.safetensors`` (+ .json), ``trajectories.safetensors`` (+ .json),
    ``strip.png`` (samples moved to factor values across the range), ``sweep.png`` (the
    measured factor along u with its std, Fig. 2), ``parts.png`` (Fig. 4, for split latents),
    ``metrics.json`` and ``report.html``.

    Returns:
        ``{"out", "direction", "metrics"}``.
    """
    get_edit(edit)
    measure = measure or default_measure(edit)
    factor_measure(measure)  # fail fast on a bad MEASURE:KEY, before any work
    G = _model(model, device)
    out = Path(out or f"runs/{G.name}-trajectory-{edit}")
    with run_folder(out, overwrite) as tmp:
        t0 = time.time()
        d, data, fit = learn_trajectory_direction(
            G, edit, n_trajectories=n_trajectories, T=T, n_steps=n_steps, steps_per_target=steps_per_target,
            lr=lr, loss=loss, sigma=sigma, discard=discard, fit_steps=fit_steps, seed=seed, progress=progress)
        seconds = time.time() - t0
        sweep = sweep_factor(G, d, measure, n=n_eval, seed=seed)
        kept = data.selected()
        try:  # does u generalise to trajectories it was not fitted on?
            held = heldout_r2(kept.z0, kept.z, kept.dt, seed=seed, steps=fit_steps)
        except ValueError:
            held = {"train_r2": float("nan"), "heldout_r2": float("nan"), "cos_u": float("nan")}
        parts = latent_parts(G)
        norms = norm_per_part(d.tensors["u"], parts)
        d.metrics.update(std_mean=sweep["std_mean"], spearman=sweep["spearman_all"],
                         spearman_per_sample=sweep["spearman_per_sample"])
        d.save(tmp / "direction")
        save_trajectories(data, tmp / "trajectories")
        metrics = {"model": G.name, "edit": edit, "measure": measure, "seconds": round(seconds, 1),
                   "fit_mse": fit.mse, "fit_r2": fit.r2, "cos_linear_fit": float(fit.u @ fit.linear_u),
                   "heldout_r2": held["heldout_r2"], "cos_u_halves": held["cos_u"],
                   "rows": len(data), "rows_kept": int(data.kept.sum()),
                   "error_mean": data.error.mean().item(), "alpha_range": d.alpha["alpha_range"],
                   "g": {"knots_x": fit.knots_x.tolist(), "knots_y": fit.knots_y.tolist()},
                   "sweep": sweep, "latent_parts": list(parts), "norm_per_part": norms,
                   "steerlab_version": __version__}
        write_json(tmp / "metrics.json", metrics)
        save_png(factor_strip(G, d, seed=seed), tmp / "strip.png")
        plot_factor_sweeps(tmp / "sweep.png", {f"{G.name}: {edit}": sweep}, ylabel=f"measured {measure}")
        sections = [
            ("Direction", html.text(d.describe()) + html.text(
                f"{len(data)} trajectory rows ({metrics['rows_kept']} kept after discarding the worst "
                f"{discard:.0%}) in {seconds:.0f} s; encoding-model fit R^2 {fit.r2:.3f}; fitted on half "
                f"of the trajectories, R^2 {held['heldout_r2']:.3f} on the other half, and the two "
                f"halves' axes have cosine {held['cos_u']:.3f} (both near 1: u is determined by the "
                f"data; far lower: too few trajectories for the latent size).")),
            ("Strip", html.text("Rows: held-out samples moved to the factor value above each column "
                                "(z - <z,u>u + g^-1(t)u).") + html.image("strip.png", "strip")),
            ("Measured factor along u (Sec. 3.1)",
             html.text(f"{measure} on {n_eval} held-out samples per s: blue, the values; red, their std. "
                       f"Mean std {sweep['std_mean']:.4f}. Rank correlation of s with the factor: "
                       f"per sample (median) {sweep['spearman_per_sample']:.3f}, of the per-s means "
                       f"{sweep['spearman_mean']:.3f}, of all values pooled {sweep['spearman_all']:.3f}; "
                       f"the factor rises with s in {sweep['positive_fraction']:.0%} of samples, ends "
                       f"higher than it starts in {sweep['ends_ordered']:.0%}, never falls (1% "
                       f"tolerance) in {sweep['monotone_fraction']:.0%}; "
                       f"{sweep['nan_fraction']:.0%} unmeasurable.")
             + html.image("sweep.png", "sweep"))]
        if len(parts) > 1:
            plot_norm_per_part(tmp / "parts.png", {edit: norms}, title="squared norm of u per latent part")
            sections.append(("Latent parts (Fig. 4)", html.image("parts.png", "parts")))
        html.write_report(tmp / "report.html", f"{G.name}: trajectory direction for {edit}", sections)
    return {"out": out, "direction": out / "direction.safetensors", "metrics": metrics}
