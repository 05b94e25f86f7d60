"""`steerlab reproduce latent-parts`: Plumerault et al. Sec. 3.1, Fig. 4.

Which part of a hierarchical latent code holds a spatial factor? On a class-conditional
generator whose z is split into parts fed to different levels (the original BigGAN's
hierarchical z; here the bundled ``shapes-hierarchical``, `steerlab.models.hierarchical`: part 0
feeds the 4x4 input layer, parts 1-3 the conditional batch norms of the 8, 16 and 32 px blocks),
a factor direction u is learned for each edit (trajectories, Algorithm 1, then the encoding
model, Eq. 9) and the squared norm of u in each part, ||u_part||^2, is plotted (they sum to
||u||^2 = 1). The paper finds horizontal / vertical position and scale mainly in the first part.

Beside the norms, each u is checked to *do* something: held-out samples are moved along it
(Sec. 3.1) and the per-sample change of the factor is reported (median, IQR, fraction moving the
asked way), and so is a random unit direction's split (1 / parts per part on average).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from steerlab.core import seeds
from steerlab.core.checkpoint import DEFAULT_EVERY

# edit -> the measure that reads it on the shapes data
MEASURES = {"shift_x": "box:x", "shift_y": "box:y", "zoom": "box:area"}
PAPER_CLAIM = ("horizontal position, vertical position and scale are mainly encoded in the first part of "
               "BigGAN's latent code (Fig. 4); for y the level-5 part contributes more than for x and scale")


def _model(model: str, train_steps: int, seed: int, device: str, progress: bool, subs):
    """The zoo model, or for the bundled name without its weights, one trained here (a sub-run)."""
    from steerlab.models import ZOO, Generator, load_model
    from steerlab.models.hierarchical import HierarchicalGenerator
    from steerlab.reproduce._resume import load_module, module_tensors
    from steerlab.training.shapes_hierarchical import ARCH, NAME, train_shapes_hierarchical
    if isinstance(model, Generator):
        return model, "given"
    if model != NAME or NAME in ZOO:
        return load_model(model, device=device), "loaded"
    saved = subs.done("gan")
    if saved is not None:
        G = HierarchicalGenerator(**ARCH, num_classes=12, name=NAME)
        return load_module(G, saved[0], "G").to(device), f"trained here ({train_steps} steps)"
    G = train_shapes_hierarchical(None, steps=train_steps, seed=seed, device=device, progress=progress)
    subs.finish("gan", module_tensors(G, "G"), {"steps": train_steps})
    return G.to(device), f"trained here ({train_steps} steps)"


def reproduce_latent_parts(out: str | os.PathLike = "runs/latent-parts", *, model="shapes-hierarchical",
                           edits: tuple[str, ...] = ("shift_x", "shift_y", "zoom"), train_steps: int = 1500,
                           n_trajectories: int = 12, T: float = 0.0, n_steps: int = 4, steps_per_target: int = 40,
                           fit_steps: int = 300, n_eval: int = 24, seed: int = 0, overwrite: bool = False,
                           device: str = "cpu", progress: bool = True, resume: bool = False,
                           checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Squared norm of each factor direction per latent part (Fig. 4), with the per-sample effect of u.

    Args:
        out: run folder (``metrics.json``, ``parts.png``, ``sweeps.png``, ``strip_<edit>.png``,
            ``directions/<edit>.safetensors``, ``report.html``).
        model: a generator with ``latent_parts`` (default the bundled ``shapes-hierarchical``;
            trained here, ``train_steps`` steps, when its weights are not installed).
        edits: keys of ``MEASURES``.
        n_trajectories, n_steps, steps_per_target, fit_steps: Algorithm 1 and Eq. 9 settings.
        T: the largest transformation of a trajectory (alpha_g units; 0: each edit's default).
        n_eval: held-out samples of the factor sweep (s in [-2, 2]).
        resume, checkpoint_every: the trained model and each direction are sub-runs (`_resume.SubRuns`).

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``.
    """
    from steerlab.core import checks
    from steerlab.core.runs import Run
    from steerlab.evaluation.trajectories import latent_parts, norm_per_part, sweep_change, sweep_factor
    from steerlab.methods.trajectories import learn_trajectory_direction
    from steerlab.reproduce._resume import SubRuns, direction_from, direction_tensors

    edits = tuple(edits)
    if not edits or any(e not in MEASURES for e in edits):
        raise ValueError(f"edits must be some of {', '.join(MEASURES)}, got {edits}")
    for name, v, lo in (("train_steps", train_steps, 1), ("n_trajectories", n_trajectories, 2),
                        ("n_steps", n_steps, 1), ("steps_per_target", steps_per_target, 1),
                        ("fit_steps", fit_steps, 1), ("n_eval", n_eval, 2)):
        checks.check_int(name, v, lo, checks.MAX_STEPS)
    checks.check_float("T", T, 0, 1e6, lo_open=False)  # 0: the edit's default
    config = dict(model=getattr(model, "name", model), edits=list(edits), train_steps=train_steps,
                  n_trajectories=n_trajectories, T=T, n_steps=n_steps, steps_per_target=steps_per_target,
                  fit_steps=fit_steps, n_eval=n_eval, seed=seed)
    t_start = time.time()
    with Run("reproduce latent-parts", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, config, resume=resume, every=checkpoint_every)
        G, origin = _model(model, train_steps, seed, device, progress, subs)
        parts = latent_parts(G)
        if len(parts) < 2:
            raise ValueError(f"model '{G.name}' has one latent part; Fig. 4 needs a model with latent_parts")
        u_rand = torch.randn(G.z_dim, generator=seeds.generator(seed, seeds.RANDOM_DIRECTION))
        metrics = {"model": G.name, "fingerprint": G.fingerprint, "model_origin": origin,
                   "latent_parts": list(parts), "paper_claim": PAPER_CLAIM, "edits": {},
                   "random_direction": norm_per_part(u_rand / u_rand.norm(), parts),
                   "uniform_share": 1 / len(parts)}
        (tmp / "directions").mkdir()
        sweeps, norms = {}, {}
        for edit in edits:
            saved = subs.done(f"direction-{edit}")
            if saved is not None:
                d, secs = direction_from(saved[0], saved[1]["direction"], "d"), saved[1]["seconds"]
            else:
                t0 = time.time()
                d, _, _ = learn_trajectory_direction(G, edit, n_trajectories=n_trajectories, T=T or None,
                                                     n_steps=n_steps,
                                                     steps_per_target=steps_per_target, fit_steps=fit_steps,
                                                     seed=seed, progress=progress)
                secs = time.time() - t0
                tensors, header = direction_tensors(d, "d")
                subs.finish(f"direction-{edit}", tensors, {"direction": header, "seconds": secs})
            d.save(tmp / "directions" / edit)
            u = d.tensors["u"]
            norms[edit] = norm_per_part(u, parts)
            sweeps[edit] = sweep_factor(G, d, MEASURES[edit], s_values=np.linspace(-2, 2, 7), n=n_eval, seed=seed)
            metrics["edits"][edit] = {"measure": MEASURES[edit], "norm_per_part": norms[edit],
                                      "u_norm_squared": float(u.double().pow(2).sum()),
                                      "largest_part": int(np.argmax(norms[edit])), "learn_seconds": round(secs, 1),
                                      "fit_r2": d.metrics.get("fit_r2"), "change": sweep_change(sweeps[edit]),
                                      "sweep": sweeps[edit]}
        metrics["summary"] = summary(metrics)
        metrics["seconds"] = round(time.time() - t_start, 1)
        metrics = run.write_metrics(metrics)
        _figures(tmp, G, metrics, norms, sweeps, seed)
        _report(tmp, metrics)
    subs.clear()
    return {"out": Path(out), "metrics": metrics, "summary": metrics["summary"]}


def summary(m: dict) -> str:
    lines = [f"{m['model']} ({m['model_origin']}), parts {m['latent_parts']}: ||u_part||^2 per part; per-sample "
             "change of the factor from s = -2 to +2 (median, fraction moving the asked way)"]
    for edit, e in m["edits"].items():
        c = e["change"]
        lines.append(f"  {edit:<8} " + " ".join(f"{v:.2f}" for v in e["norm_per_part"])
                     + f"  (sum {sum(e['norm_per_part']):.3f}); {e['measure']} {_fmt(c['median'], '+.3f')}, "
                       f"{_fmt(c['asked_way'], '.0%')}")
    lines.append("  random u " + " ".join(f"{v:.2f}" for v in m["random_direction"]))
    return "\n".join(lines)


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


@torch.no_grad()
def _strip(G, d, seed: int):
    """Rows: held-out samples moved along u over s in [-2, 2]."""
    from steerlab.core import seeds
    from steerlab.methods.trajectories.control import move_to
    from steerlab.report.plots import grid_image
    g = seeds.generator(seed, seeds.FACTOR_STRIP)
    z, cls = G.sample_z(4, generator=g), G.sample_classes(4, generator=g)
    s = torch.linspace(-2, 2, 7)
    u = d.tensors["u"].to(z)
    rows = [G.synthesize(move_to(z[i:i + 1].expand(len(s), -1), u, s.to(z)),
                         classes=None if cls is None else cls[i:i + 1].expand(len(s))) for i in range(4)]
    return grid_image(rows, col_labels=[f"s={v:+.1f}" for v in s.tolist()], row_labels=[f"sample {i}" for i in range(4)])


def _figures(tmp: Path, G, m: dict, norms: dict, sweeps: dict, seed: int) -> None:
    from steerlab.directions import Direction
    from steerlab.report.plots import save_png
    from steerlab.report.trajectories import plot_factor_sweeps, plot_norm_per_part
    plot_norm_per_part(tmp / "parts.png", {**norms, "random u": m["random_direction"]},
                       title=f"{m['model']}: squared norm of u per latent part")
    plot_factor_sweeps(tmp / "sweeps.png", {f"{e} ({m['edits'][e]['measure']})": sw for e, sw in sweeps.items()},
                       ylabel="measured factor")
    for edit in norms:
        save_png(_strip(G, Direction.load(tmp / "directions" / f"{edit}.safetensors", model=G), seed),
                 tmp / f"strip_{edit}.png")


def _report(tmp: Path, m: dict) -> None:
    from steerlab.report import html
    rows = [[e, *[f"{v:.3f}" for v in x["norm_per_part"]], f"{sum(x['norm_per_part']):.3f}",
             f"{_fmt(x['change']['median'], '+.3f')} [{_fmt(x['change']['q25'], '+.3f')}, "
             f"{_fmt(x['change']['q75'], '+.3f')}]", _fmt(x["change"]["asked_way"], ".0%"),
             _fmt(x["fit_r2"], ".3f")] for e, x in m["edits"].items()]
    rows.append(["random u", *[f"{v:.3f}" for v in m["random_direction"]], f"{sum(m['random_direction']):.3f}",
                 "-", "-", "-"])
    parts = [f"part {i} ({n})" for i, n in enumerate(m["latent_parts"])]
    sections = [
        ("Claim", html.text(f"Plumerault et al. Fig. 4: {m['paper_claim']}.")),
        ("Setting", html.text(f"Model '{m['model']}' ({m['model_origin']}), z split into parts "
                              f"{m['latent_parts']}: part 0 feeds the input layer, part i the conditional batch "
                              "norms of block i. A uniform split would put "
                              f"{m['uniform_share']:.2f} in each part.")),
        ("Summary", html.text(m["summary"])),
        ("Squared norm of u per part (Fig. 4)", html.image("parts.png", "parts")
         + html.table(["edit", *parts, "sum", "median change [IQR], s: -2 -> +2", "asked way", "fit R^2"], rows)),
        ("Does each u move its factor? (Sec. 3.1)", html.image("sweeps.png", "sweeps")),
    ]
    for e in m["edits"]:
        sections.append((f"{e}: samples moved along u", html.image(f"strip_{e}.png", e)))
    html.write_report(tmp / "report.html", "reproduce: factor directions per latent part", sections)
