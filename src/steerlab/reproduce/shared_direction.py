"""`steerlab reproduce shared-direction`: Plumerault et al. Sec. 3.1, Fig. 2 (both halves).

Is the latent direction of a continuous factor (here the object's horizontal position) the same
for every category? On the conditional shapes model (12 classes), trajectories (Algorithm 1,
Eq. 5) are computed for 6 *training* classes; then

- per class: the encoding model t = g(<u, z>) (Eq. 9) is fitted on that class's trajectories
  alone and tested on that class (Fig. 2 top);
- shared: the trajectories of the 6 classes are merged and ONE (u, g) is fitted, then tested on
  the 6 training classes and on the 6 *held-out* classes it never saw (Fig. 2 bottom);
- control: a random unit u with the shared g, tested on every class (what "no direction" reads).

A test moves held-out z (one class at a time) along u, ``z - <z, u> u + s u`` for s in
[-s_max, s_max] (Sec. 3.1), and reads the factor with a detector. Beside the per-s mean and std
(the paper's blue / red curves), the per-sample change from s = -s_max to +s_max is reported
(`steerlab.evaluation.trajectories.sweep_change`): median, inter-quartile range, the fraction of
samples moving the asked way, and the median measured change over the modelled one g(s_max) - g(-s_max).
"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import torch

from steerlab.core import seeds
from steerlab.core.checkpoint import DEFAULT_EVERY

TRAJ_KEYS = ("z0", "z", "dt", "error", "kept", "classes")


def _save_traj(data) -> dict[str, torch.Tensor]:
    return {f"traj.{k}": getattr(data, k).to(torch.uint8) if k == "kept" else getattr(data, k) for k in TRAJ_KEYS}


def _load_traj(tensors: dict[str, torch.Tensor], meta: dict):
    from steerlab.methods.trajectories import Trajectories
    t = {k: tensors[f"traj.{k}"] for k in TRAJ_KEYS}
    return Trajectories(t["z0"], t["z"], t["dt"], t["error"], t["kept"].bool(), t["classes"], meta)


def _rows_of(data, classes: list[int]):
    keep = data.kept & torch.isin(data.classes, torch.tensor(classes))
    return data.z0[keep], data.z[keep], data.dt[keep]


def _summary_row(label: str, ch: dict) -> dict:
    return {"label": label, "median": ch["median"], "q25": ch["q25"], "q75": ch["q75"],
            "asked_way": ch["asked_way"], "median_over_asked": ch["median_over_asked"]}


def reproduce_shared_direction(out: str | os.PathLike = "runs/shared-direction", *, model="shapes",
                               edit: str = "shift_x", measure: str = "box:x",
                               train_classes: tuple[int, ...] = (0, 2, 4, 6, 8, 10),
                               n_trajectories: int = 8, T: float = 0.0, n_steps: int = 4, steps_per_target: int = 40,
                               lr: float = 0.1, sigma: float = 3.0, fit_steps: int = 300,
                               n_eval: int = 24, s_max: float = 2.0, n_s: int = 7, seed: int = 0,
                               overwrite: bool = False, device: str = "cpu", progress: bool = True,
                               resume: bool = False, checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Per-class vs shared factor directions, the shared one tested on held-out classes (Fig. 2).

    Args:
        out: run folder (``metrics.json``, ``sweeps_*.png``, ``effects.png``, ``strip_heldout.png``,
            ``directions/*.safetensors``, ``report.html``).
        model: a class-conditional model (default the bundled ``shapes``, 12 classes).
        edit, measure: the factor's image transformation and the ``MEASURE:KEY`` that reads it.
        train_classes: the classes whose trajectories are computed; every other class is held out.
        n_trajectories: trajectories (z0) per training class.
        T: the largest transformation of a trajectory in the edit's alpha_g units (0: the edit's
            default, `steerlab.methods.trajectories.default_T`; shift: 0.25 of the width).
        n_steps, steps_per_target, lr, sigma: Algorithm 1 / inversion settings (blurred loss).
        fit_steps: L-BFGS iterations of each encoding-model fit.
        n_eval: held-out samples per class and s; s runs over ``linspace(-s_max, s_max, n_s)``.
        resume, checkpoint_every: the trajectories are one sub-run (`_resume.SubRuns`), checkpointed
            every ``checkpoint_every`` sub-problems; the fits and tests are redone.

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``.
    """
    from steerlab.core import checks
    from steerlab.core.runs import Run
    from steerlab.edits import get_edit
    from steerlab.evaluation.trajectories import factor_measure, sweep_change, sweep_factor
    from steerlab.methods.trajectories import fit_encoding_model, recursive_trajectories
    from steerlab.methods.trajectories.control import trajectory_direction
    from steerlab.models import Generator, load_model
    from steerlab.reproduce._resume import SubRuns

    for name, v, lo in (("n_trajectories", n_trajectories, 2), ("n_steps", n_steps, 1),
                        ("steps_per_target", steps_per_target, 1), ("fit_steps", fit_steps, 1),
                        ("n_eval", n_eval, 2), ("n_s", n_s, 2)):
        checks.check_int(name, v, lo, checks.MAX_STEPS)
    checks.check_float("s_max", s_max, 0, 10)
    checks.check_float("T", T, 0, 1e6, lo_open=False)  # 0: the edit's default
    ed = get_edit(edit)
    factor_measure(measure)  # a bad MEASURE:KEY fails before any work
    G = model if isinstance(model, Generator) else load_model(model, device=device)
    K = G.num_classes
    train = sorted({int(k) for k in train_classes})
    if K < 2 or not train or min(train) < 0 or max(train) >= K or len(train) == K:
        raise ValueError(f"train_classes must be some, not all, of the classes 0..{K - 1} of a class-conditional "
                         f"model; got {tuple(train_classes)} for '{G.name}' ({K} classes)")
    held = [k for k in range(K) if k not in train]
    names = (getattr(G, "card", {}) or {}).get("class_names") or [str(k) for k in range(K)]
    s_values = np.linspace(-s_max, s_max, n_s).tolist()
    config = dict(model=G.name, fingerprint=G.fingerprint, edit=edit, measure=measure, train_classes=train,
                  n_trajectories=n_trajectories, T=T, n_steps=n_steps, steps_per_target=steps_per_target,
                  lr=lr, sigma=sigma, fit_steps=fit_steps, n_eval=n_eval, s_max=s_max, n_s=n_s, seed=seed)
    t_start = time.time()
    with Run("reproduce shared-direction", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, config, resume=resume, every=checkpoint_every)
        saved = subs.done("trajectories")
        if saved is not None:
            data, traj_s = _load_traj(saved[0], saved[1]["meta"]), saved[1]["seconds"]
        else:
            g = torch.Generator().manual_seed(seed)
            z0 = G.sample_z(n_trajectories * len(train), generator=g)
            cls = torch.tensor(train).repeat_interleave(n_trajectories)
            t0 = time.time()
            data = recursive_trajectories(G, ed, z0=z0, classes=cls, T=T or None, n_steps=n_steps,
                                          steps_per_target=steps_per_target, lr=lr, sigma=sigma, seed=seed,
                                          progress=progress, checkpoint=subs.sub("trajectories"))
            traj_s = time.time() - t0
            subs.finish("trajectories", _save_traj(data), {"meta": data.meta, "seconds": traj_s})
        data.classes = data.classes.cpu()

        def direction(fit, label: str):
            return trajectory_direction(G, fit, ed, config={"name": f"trajectory {edit} ({label})"})

        fits = {k: fit_encoding_model(*_rows_of(data, [k]), steps=fit_steps) for k in train}
        shared_fit = fit_encoding_model(*_rows_of(data, train), steps=fit_steps)
        u_rand = torch.randn(G.z_dim, generator=seeds.generator(seed, seeds.RANDOM_DIRECTION))
        random_fit = dataclasses.replace(shared_fit, u=u_rand / u_rand.norm())
        dirs = {"shared": direction(shared_fit, "shared"), "random": direction(random_fit, "random control")}
        dirs.update({f"class {names[k]}": direction(f, f"class {names[k]}") for k, f in fits.items()})
        (tmp / "directions").mkdir()
        for label, d in dirs.items():
            d.save(tmp / "directions" / label.replace(" ", "_"))

        def test(d, k: int) -> dict:
            sw = sweep_factor(G, d, measure, s_values=s_values, n=n_eval, seed=seed, classes=k)
            return {"sweep": sw, "change": sweep_change(sw)}

        tests = {"per_class": {names[k]: test(dirs[f"class {names[k]}"], k) for k in train},
                 "shared_train": {names[k]: test(dirs["shared"], k) for k in train},
                 "shared_heldout": {names[k]: test(dirs["shared"], k) for k in held},
                 "random": {names[k]: test(dirs["random"], k) for k in range(K)}}
        metrics = {"model": G.name, "fingerprint": G.fingerprint, "edit": edit, "measure": measure,
                   "classes": names, "train_classes": [names[k] for k in train],
                   "heldout_classes": [names[k] for k in held], "s": s_values,
                   "trajectory_rows": len(data), "trajectory_rows_kept": int(data.kept.sum()),
                   "trajectory_seconds": round(traj_s, 1),
                   "fit": {"shared": {"r2": shared_fit.r2, "mse": shared_fit.mse},
                           **{names[k]: {"r2": f.r2, "mse": f.mse, "cos_shared": float(f.u @ shared_fit.u)}
                              for k, f in fits.items()}},
                   "cos_random_shared": float(random_fit.u @ shared_fit.u),
                   "tests": tests, "pooled": {}}
        for group, per in tests.items():
            metrics["pooled"][group] = _pooled(per)
        metrics["summary"] = summary(metrics)
        metrics["seconds"] = round(time.time() - t_start, 1)
        metrics = run.write_metrics(metrics)
        _figures(tmp, G, dirs["shared"], metrics, held, s_values, seed)
        _report(tmp, metrics)
    subs.clear()
    return {"out": Path(out), "metrics": metrics, "summary": metrics["summary"]}


def _pooled(per: dict) -> dict:
    """The per-class tests of one group pooled: per-sample change of every sample of every class,
    and the spread of the per-class medians."""
    from steerlab.metrics.stats import paired_change
    first = np.concatenate([np.asarray(t["sweep"]["values"])[0] for t in per.values()])
    last = np.concatenate([np.asarray(t["sweep"]["values"])[-1] for t in per.values()])
    medians = [t["change"]["median"] for t in per.values() if t["change"]["median"] is not None]
    asked = [t["change"]["asked_way"] for t in per.values() if t["change"]["asked_way"] is not None]
    return {**paired_change(first, last, sign=1),
            "class_median_min": min(medians) if medians else None,
            "class_median_max": max(medians) if medians else None,
            "class_asked_way_min": min(asked) if asked else None,
            "std_mean": float(np.mean([t["sweep"]["std_mean"] for t in per.values()]))}


GROUPS = {"per_class": "per-class u, its own class (train)", "shared_train": "shared u, training classes",
          "shared_heldout": "shared u, held-out classes", "random": "random u, every class"}


def summary(m: dict) -> str:
    """One line per test group: the per-sample change from s = -s_max to +s_max, pooled over its classes."""
    lines = [f"{m['edit']} read by {m['measure']}, s in [{m['s'][0]:g}, {m['s'][-1]:g}]: median change "
             "[IQR], fraction of samples moving the asked way (worst class)"]
    for g, label in GROUPS.items():
        p = m["pooled"][g]
        if p["median"] is None:
            lines.append(f"  {label:<36} nothing measured")
            continue
        lines.append(f"  {label:<36} {p['median']:+.3f} [{p['q25']:+.3f}, {p['q75']:+.3f}]  "
                     f"{p['asked_way']:.0%} ({p['class_asked_way_min']:.0%})")
    return "\n".join(lines)


@torch.no_grad()
def _strip(G, d, classes: list[int], names: list[str], s_values: list[float], seed: int):
    """One row per class (one fixed z each): z moved along u over the s grid."""
    from steerlab.methods.trajectories.control import move_to
    from steerlab.report.plots import grid_image
    z = G.sample_z(len(classes), generator=seeds.generator(seed, seeds.FACTOR_STRIP))
    u = d.tensors["u"].to(z)
    rows = [G.synthesize(move_to(z[i:i + 1].expand(len(s_values), -1), u, torch.tensor(s_values).to(z)),
                         classes=torch.full((len(s_values),), k, device=G.device)) for i, k in enumerate(classes)]
    return grid_image(rows, col_labels=[f"s={s:+.1f}" for s in s_values], row_labels=[names[k] for k in classes])


def _figures(tmp: Path, G, shared, m: dict, held: list[int], s_values: list[float], seed: int) -> None:
    from steerlab.report.plots import save_png
    from steerlab.report.trajectories import plot_class_effects, plot_factor_sweeps
    for group in ("per_class", "shared_train", "shared_heldout"):
        plot_factor_sweeps(tmp / f"sweeps_{group}.png", {k: t["sweep"] for k, t in m["tests"][group].items()},
                           ylabel=f"measured {m['measure']}", ncols=6)
    plot_class_effects(tmp / "effects.png", {GROUPS[g]: {k: t["change"] for k, t in m["tests"][g].items()}
                                             for g in GROUPS}, ylabel=f"change of {m['measure']}, s: -max -> +max")
    save_png(_strip(G, shared, held, m["classes"], s_values, seed), tmp / "strip_heldout.png")


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def _report(tmp: Path, m: dict) -> None:
    from steerlab.report import html
    rows = []
    for g, label in GROUPS.items():
        for k, t in m["tests"][g].items():
            c = t["change"]
            rows.append([label, k, _fmt(c["median"], "+.3f"), f"[{_fmt(c['q25'], '+.3f')}, {_fmt(c['q75'], '+.3f')}]",
                         _fmt(c["asked_way"], ".0%"), _fmt(c["asked"], "+.3f"), _fmt(c["median_over_asked"], ".2f"),
                         f"{t['sweep']['std_mean']:.3f}", f"{t['sweep']['nan_fraction']:.0%}"])
    fits = [[k, f"{v['r2']:.3f}", _fmt(v.get("cos_shared"), ".3f")] for k, v in m["fit"].items()]
    sections = [
        ("Claim", html.text(
            "Plumerault et al. Sec. 3.1, Fig. 2: a direction learned on the merged trajectories of some categories "
            "controls the factor in categories it never saw, about as well as in those it was learned on. "
            f"Model '{m['model']}', edit {m['edit']} read by {m['measure']}; trajectories of "
            f"{', '.join(m['train_classes'])} ({m['trajectory_rows_kept']} of {m['trajectory_rows']} rows kept); "
            f"held-out classes {', '.join(m['heldout_classes'])}.")),
        ("Summary", html.text(m["summary"])),
        ("Encoding-model fits", html.text("R^2 of each fit on its own trajectories and the cosine of each "
                                          f"class's u with the shared u (random u: {m['cos_random_shared']:+.3f}).")
         + html.table(["fit", "R^2", "cos(u, shared u)"], fits)),
        ("Per class, per sample", html.text(
            "Each held-out sample moved from s = -s_max to +s_max: median change of the measure [25th, 75th "
            "percentile], fraction moving the asked way (up), the modelled change g(+s_max) - g(-s_max), their "
            "ratio, the mean std of the measure per s, and the fraction unmeasurable.")
         + html.table(["direction", "class", "median", "IQR", "asked way", "modelled", "median / modelled",
                       "mean std", "NaN"], rows) + html.image("effects.png", "effects")),
        ("Fig. 2 top: per-class directions", html.image("sweeps_per_class.png", "per class")),
        ("Shared direction on the training classes", html.image("sweeps_shared_train.png", "shared train")),
        ("Fig. 2 bottom: shared direction on held-out classes", html.image("sweeps_shared_heldout.png", "held out")
         + html.text("Rows: held-out classes (one z each) moved along the shared u.")
         + html.image("strip_heldout.png", "strip")),
    ]
    html.write_report(tmp / "report.html", "reproduce: one factor direction shared across classes", sections)
