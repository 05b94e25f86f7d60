"""`steerlab walk`: learn a latent walk for an image edit and write its run folder.

    >>> import steerlab
    >>> run = steerlab.walk("faces", "zoom", steps=300, out="runs/zoom")   # doctest: +SKIP
    >>> images = steerlab.apply(run["direction"], seeds=[1, 2], alphas=[0.5, 1, 2])  # doctest: +SKIP
"""
from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from steerlab.core import checks, distributed
from steerlab.core.checkpoint import DEFAULT_EVERY, Checkpoint
from steerlab.core.runs import Run, fresh_folder
from steerlab.directions import Direction
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import GAIN_NEEDED, held_out, target_l2
from steerlab.jobs.common import model_of
from steerlab.methods import METHODS
from steerlab.models import Generator
from steerlab.report import html
from steerlab.report.plots import alpha_label, grid_image, line_plot, save_png


@torch.no_grad()
def walk_strip(G: Generator, d: Direction, *, n_samples: int = 4, n_alphas: int = 9, seed: int = 0):
    """The paper's Fig. 27 layout: per sample, the walk row and under it the target row.

    Undefined target pixels are shown grey. Returns a PIL image.
    """
    edit = get_edit(d.edit)
    z, classes = held_out(G, n_samples, seed)
    alphas = edit.grid(n_alphas if edit.alpha_dim == 1 else 5)  # colour: 5 per channel
    rows, labels = [], []
    for i in range(n_samples):
        zi = z[i:i + 1].expand(len(alphas), -1)
        ci = None if classes is None else classes[i:i + 1].expand(len(alphas))
        src = G.synthesize(G.to_space(zi, d.space, ci), space=d.space, classes=ci)
        target, mask = edit(src, alphas)
        rows += [d.render(G, zi, alphas, classes=ci), target * mask + 0.5 * (1 - mask)]
        labels += [f"walk {i}", f"target {i}"]
    return grid_image(rows, col_labels=[alpha_label(a) for a in alphas.tolist()], row_labels=labels,
                      title=f"alpha ({d.alpha.unit})")


WALK_KINDS = tuple(m.name for m in METHODS.values() if m.family == "walk")  # linear, nonlinear, nn-linear...


def walk(model: str | Generator, edit: str, *, space: str = "z", steps: int = 1000,
         batch_size: int = 16, lr: float | None = None, loss: str = "l2", seed: int = 0,
         out: str | os.PathLike | None = None, overwrite: bool = False, n_eval: int = 64,
         device: str = "cpu", progress: bool = True, kind: str = "linear",
         truncation: float | None = None,
         truncation_cutoff: int | None = None, resume: bool = False, checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Learn a walk and write a run folder (see `steerlab walk --help`).

    ``kind``: a walk method of `steerlab.methods.METHODS`: "linear" (Eq. 1), "nonlinear" (Euler
    steps, Eq. 2) or "nn-linear" (App. A.3); ``lr`` defaults to the method's (0.01 for linear,
    0.001 for the others).

    Every ``checkpoint_every`` steps the training state is saved beside ``out``
    (``.NAME.ckpt.safetensors``, `steerlab.core.checkpoint`); ``resume=True`` continues a run that
    died (kill -9, power loss) from there, with the same result as an uninterrupted run.

    Returns:
        ``{"out": Path, "direction": Path, "metrics": dict}``.
    """
    get_edit(edit)  # fail fast on a bad name, before any work
    checks.check_int("steps", steps, 1, checks.MAX_STEPS)
    checks.check_int("batch_size", batch_size, 1, checks.MAX_BATCH)
    checks.check_int("n_eval", n_eval, 1, checks.MAX_COUNT)
    checks.check_int("checkpoint_every", checkpoint_every, 1, checks.MAX_STEPS)
    if lr is not None:
        checks.check_float("lr", lr, 0, 100)
    if kind not in WALK_KINDS:
        raise ValueError(f"unknown walk kind '{kind}'; allowed: {', '.join(WALK_KINDS)}")
    method = METHODS.get(kind)
    options = dict(edit=edit, space=space, steps=steps, batch_size=batch_size, loss=loss, seed=seed,
                   progress=progress, **({} if lr is None else {"lr": lr}))
    method_config = method.make_config(**options)
    G = model_of(model, device, truncation, truncation_cutoff)
    G.check_space(space)
    out = Path(out or fresh_folder("walk", G.name, edit, resume=resume))
    config = dict(model=G.name, edit=edit, kind=kind, space=space, steps=steps, batch_size=batch_size,
                  lr=method_config.lr, loss=loss, seed=seed, n_eval=n_eval, truncation=truncation, truncation_cutoff=truncation_cutoff)
    ckpt = Checkpoint.beside(out, {**config, "fingerprint": G.fingerprint}, every=checkpoint_every, resume=resume,
                             writer=distributed.is_main())
    # Under torchrun every rank trains and evaluates its shard; rank 0 alone writes the folder.
    with Run("walk", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        t0 = time.time()
        if not resume:
            ckpt.clear()
        [d] = method(G, replace(method_config, checkpoint=ckpt))
        train_s = time.time() - t0
        m = target_l2(G, d, n=n_eval, seed=seed)
        d.metrics.update(walk_l2_mean=m["walk_l2_mean"], baseline_l2_mean=m["baseline_l2_mean"])
        metrics = run.write_metrics({"model": G.name, "edit": edit, "kind": kind, "space": space,
                                     "train_seconds": round(train_s, 1), "final_loss": d.metrics["final_loss"], **m})
        if tmp is None:
            return {"out": out, "direction": out / "direction.safetensors", "metrics": metrics}
        d.save(tmp / "direction")
        save_png(walk_strip(G, d, seed=seed), tmp / "strip.png")
        curve = d.metrics["loss_curve"]
        line_plot(tmp / "loss.png", {"training loss": (range(1, len(curve) + 1), curve)},
                  xlabel="step", ylabel=f"{loss} loss", title=f"{G.name}: {edit} walk", markers=False)
        xs = _plot_axis(m["alphas"])
        line_plot(tmp / "l2_vs_alpha.png", {"walk": (xs, m["walk_l2"]), "do nothing": (xs, m["baseline_l2"])},
                  xlabel=f"alpha ({d.alpha.unit})" if xs == m["alphas"] else f"alpha (R:G:B; {d.alpha.unit})",
                  ylabel="masked L2 to target", title="held-out samples",
                  xticklabels=None if xs == m["alphas"] else [alpha_label(a) for a in m["alphas"]])
        _walk_report(tmp, G, d, metrics)
    ckpt.clear()
    return {"out": out, "direction": out / "direction.safetensors", "metrics": metrics}


def walk_verdict(m: dict) -> str:
    """One sentence on whether the walk beats doing nothing (`evaluation.steerability.beats_doing_nothing`)."""
    numbers = (f"held-out masked L2 walk {m['walk_l2_mean']:.4f} vs do-nothing {m['baseline_l2_mean']:.4f} "
               f"(gain {m['l2_gain']:+.1%}, {GAIN_NEEDED:.0%} needed); better for {m['fraction_samples_better']:.0%} "
               f"of {m['n']} samples, median paired change {m['median_paired_change']:+.4f}")
    if m["beats_doing_nothing"]:
        return f"the walk beats doing nothing: {numbers}"
    return (f"this walk does NOT beat doing nothing: {numbers}. Train longer or with another --lr, or the model "
            "cannot make this edit; do not read the strip as steering")


def _plot_axis(alphas: list) -> list:
    return alphas if not isinstance(alphas[0], list) else list(range(len(alphas)))


def _walk_report(folder: Path, G: Generator, d: Direction, m: dict) -> None:
    ps = m.get("per_sample") or [None] * len(m["alphas"])
    rows = [[alpha_label(a), w, b, "yes" if w < b else "no",
             "-" if p is None or p["asked_way"] is None else f"{p['asked_way']:.2f}"]
            for a, w, b, p in zip(m["alphas"], m["walk_l2"], m["baseline_l2"], ps)]
    verdict = html.flag(walk_verdict(m)) if not m["beats_doing_nothing"] else ""
    html.write_report(folder / "report.html", f"{G.name}: {d.edit} walk", [
        *([("Warning: no better than doing nothing", verdict)] if verdict else []),
        ("Direction", html.text(d.describe()) + html.text(
            f"trained {d.config['steps']} steps, batch {d.config['batch_size']}, lr {d.config['lr']}, "
            f"loss {d.config['loss']}, seed {d.config['seed']} in {m['train_seconds']} s; "
            f"model fingerprint {d.fingerprint}")),
        ("Strip", html.text("Rows: each held-out sample walked along alpha, and under it the target "
                            "edit(G(z), alpha) (grey = undefined pixels).") + html.image("strip.png", "strip")),
        ("Does the walk follow the target?",
         html.text(f"Mean masked L2 over the grid: walk {m['walk_l2_mean']:.4f} vs do-nothing "
                   f"{m['baseline_l2_mean']:.4f} on {m['n']} held-out samples; per sample (mean over alphas) "
                   f"the walk is better for {m['fraction_samples_better']:.0%} of them, median paired change "
                   f"{m['median_paired_change']:+.4f}. A lower L2 alone does not "
                   "prove the attribute moves; see the attribute measurements of `steerlab evaluate`.")
         + verdict
         + html.image("l2_vs_alpha.png", "L2 vs alpha")
         + html.table(["alpha", "walk L2", "do-nothing L2", "walk better (mean)",
                       "samples where the walk is better"], rows)),
        ("Training loss", html.image("loss.png", "loss")),
    ])
