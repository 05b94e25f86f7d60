"""`steerlab trajectory`: learn a factor direction t = g(<u, z>) from inverted trajectories.

    >>> import steerlab
    >>> run = steerlab.trajectory("faces", "shift_x", measure="saliency:x", out="runs/tx")  # doctest: +SKIP
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from steerlab.core import checks, seeds
from steerlab.core.checkpoint import Checkpoint
from steerlab.core.runs import Run, fresh_folder
from steerlab.edits import get_edit
from steerlab.evaluation.trajectories import factor_measure, latent_parts, norm_per_part, sweep_factor
from steerlab.jobs.common import model_of
from steerlab.methods.trajectories import heldout_r2, learn_trajectory_direction, save_trajectories
from steerlab.models import Generator
from steerlab.report import html
from steerlab.report.plots import grid_image, save_png
from steerlab.report.trajectories import plot_factor_sweeps, plot_norm_per_part


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
    lo, hi = d.alpha.alpha_range
    ts = torch.linspace(lo, hi, n_values)
    g = seeds.generator(seed, seeds.FACTOR_STRIP)
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
               overwrite: bool = False, device: str = "cpu", progress: bool = True,
               truncation: float | None = None,
               truncation_cutoff: int | None = None, resume: bool = False, checkpoint_every: int = 1) -> dict:
    """Learn a ``"trajectory"`` direction (Algorithm 1 + Eq. 9), evaluate it, write a run folder.

    Every ``checkpoint_every`` sub-problems of Algorithm 1 the trajectories so far are saved
    beside ``out`` (`steerlab.core.checkpoint`); ``resume=True`` continues a run that died after
    the last saved one, with the same result as an uninterrupted run.

    Writes ``direction.safetensors`` (+ .json), ``trajectories.safetensors`` (+ .json),
    ``strip.png`` (samples moved to factor values across the range), ``sweep.png`` (the
    measured factor along u with its std, Fig. 2), ``parts.png`` (Fig. 4, for split latents),
    ``metrics.json`` and ``report.html``.

    Returns:
        ``{"out", "direction", "metrics"}``.
    """
    get_edit(edit)
    checks.check_int("n_trajectories", n_trajectories, 1, checks.MAX_COUNT)
    checks.check_int("n_steps", n_steps, 1, 1000)
    checks.check_int("steps_per_target", steps_per_target, 1, checks.MAX_STEPS)
    checks.check_float("lr", lr, 0, 100)
    checks.check_float("sigma", sigma, 0, 1000)
    checks.check_int("n_eval", n_eval, 1, checks.MAX_COUNT)
    checks.check_int("checkpoint_every", checkpoint_every, 1, 1000)
    if T is not None:
        checks.check_float("T", T, 0, 1e6)
    measure = measure or default_measure(edit)
    factor_measure(measure)  # fail fast on a bad MEASURE:KEY, before any work
    G = model_of(model, device, truncation, truncation_cutoff)
    out = Path(out or fresh_folder("trajectory", G.name, edit, resume=resume))
    config = dict(model=G.name, edit=edit, n_trajectories=n_trajectories, T=T, n_steps=n_steps,
                  steps_per_target=steps_per_target, lr=lr, loss=loss, sigma=sigma, discard=discard,
                  fit_steps=fit_steps, seed=seed, measure=measure, n_eval=n_eval, truncation=truncation,
                  truncation_cutoff=truncation_cutoff)
    ckpt = Checkpoint.beside(out, {**config, "fingerprint": G.fingerprint}, every=checkpoint_every, resume=resume)
    with Run("trajectory", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        t0 = time.time()
        if not resume:
            ckpt.clear()
        d, data, fit = learn_trajectory_direction(
            G, edit, n_trajectories=n_trajectories, T=T, n_steps=n_steps, steps_per_target=steps_per_target,
            lr=lr, loss=loss, sigma=sigma, discard=discard, fit_steps=fit_steps, seed=seed, progress=progress,
            checkpoint=ckpt)
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
        metrics = {"model": G.name, "edit": edit, "measure": measure, "learn_seconds": round(seconds, 1),
                   "fit_mse": fit.mse, "fit_r2": fit.r2, "cos_linear_fit": float(fit.u @ fit.linear_u),
                   "heldout_r2": held["heldout_r2"], "cos_u_halves": held["cos_u"],
                   "rows": len(data), "rows_kept": int(data.kept.sum()),
                   "error_mean": data.error.mean().item(), "alpha_range": d.alpha.alpha_range,
                   "g": {"knots_x": fit.knots_x.tolist(), "knots_y": fit.knots_y.tolist()},
                   "sweep": sweep, "latent_parts": list(parts), "norm_per_part": norms}
        metrics = run.write_metrics(metrics)
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
    ckpt.clear()
    return {"out": out, "direction": out / "direction.safetensors", "metrics": metrics}
