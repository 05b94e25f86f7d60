"""`steerlab reproduce zoom-objectives`: which walk objective zooms the *faces* in, face by face.

Jahanian et al. learn a zoom walk with the masked L2 of Eq. 1. On the bundled `faces` DCGAN that
loss can be lowered by a low-frequency route: the walk turns every face into a similar bright,
long-haired face whose blur matches the blurred, zoomed target, while the face itself does not
grow (per face the Haar width barely moves). This experiment trains one zoom walk per objective
on the same generator with the same steps, batch, learning rate per walk kind and seed, and
measures each on the same held-out faces:

- per face, the Haar face-box width (`attributes.faces`) at each zoom against the same face at
  x1: the fraction of faces whose width grows, the median width ratio and its inter-quartile
  range, and the fraction of faces detected at both zooms (`metrics.stats.paired_change`);
- the FID of the walked images at each FID zoom against fresh G(z) (x1, other codes than the
  held-out ones), with a bootstrap interval of each objective's FID minus the default's
  (`metrics.fid.fid_difference_ci`); the held-out G(z) itself and the target zoom(G(z)) are
  measured the same way, as the floor and as what a perfect walk would give;
- strips: for a few held-out faces, the target row and one row per objective.

The verdict keeps the paper's loss unless another objective makes more faces grow at *every*
FID zoom with an FID not measurably worse (the bootstrap interval of the difference reaches 0 or
below).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from steerlab.attributes import measure_face_box
from steerlab.core import seeds
from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.core.runs import Run
from steerlab.directions import Direction
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import held_out
from steerlab.metrics.fid import feature_network, fid_difference_ci, frechet_distance, image_features
from steerlab.metrics.stats import paired_change
from steerlab.models import Generator, load_model
from steerlab.report import html
from steerlab.report.plots import grid_image, save_png
from steerlab.reproduce import _digits as dg
from steerlab.reproduce._resume import SubRuns, direction_from, direction_tensors

__all__ = ["OBJECTIVES", "learn_objective", "width_changes", "reproduce_zoom_objectives"]

OBJECTIVES: dict[str, tuple[str, str, str]] = {
    # name: (walk method, loss of `metrics.losses`, what it is)
    "l2": ("linear", "l2", "masked L2, Eq. 1 (the paper's; the default)"),
    "edges": ("linear", "edges", "masked L2 + masked L2 of Sobel gradients"),
    "perceptual": ("linear", "perceptual", "masked ST-LPIPS (AlexNet), App. B.4.1's perceptual loss"),
    "dssim": ("linear", "dssim", "masked DSSIM: a structure (local mean, contrast, correlation) term"),
    "nonlinear-l2": ("nonlinear", "l2", "the nonlinear Euler-step walk (Eq. 2) with masked L2"),
}
DEFAULT = "l2"


def learn_objective(G: Generator, objective: str, *, steps: int, batch_size: int, seed: int = 0,
                    progress: bool = False, checkpoint=None) -> Direction:
    """A zoom walk of ``G`` learned with ``objective`` (a key of ``OBJECTIVES``), at the walk
    method's default learning rate (0.01 linear, 0.001 nonlinear, as `steerlab walk`)."""
    from steerlab.methods.walks import learn_linear_walk, learn_nonlinear_walk

    if objective not in OBJECTIVES:
        raise ValueError(f"unknown zoom objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")
    kind, loss, _ = OBJECTIVES[objective]
    learn = learn_nonlinear_walk if kind == "nonlinear" else learn_linear_walk
    return learn(G, "zoom", steps=steps, batch_size=batch_size, loss=loss, seed=seed, progress=progress,
                 checkpoint=checkpoint)


def width_changes(base: Tensor, moved: Tensor) -> dict:
    """Per-face change of the face width at one zoom against the same face at x1.

    Args:
        base, moved: (N,) Haar face widths (fraction of the image width, NaN where no face was found).

    Returns:
        `paired_change` (with ``asked_way`` = fraction of paired faces that grow) plus
        ``ratio_q25`` / ``ratio_q75``, the quartiles of the width ratio (None without pairs).
    """
    out = paired_change(base, moved, sign=1)
    a, b = base.double().cpu().numpy(), moved.double().cpu().numpy()
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0)
    q25, q75 = (None, None) if not ok.any() else (float(q) for q in np.percentile(b[ok] / a[ok], [25, 75]))
    return {**out, "ratio_q25": q25, "ratio_q75": q75}


def _measure(images_at: Callable[[float], Tensor], zooms: Sequence[float], fid_zooms: Sequence[float],
             base_width: Tensor, ref_feats: Tensor, net) -> tuple[dict, dict]:
    """Widths and FIDs of one image source at each zoom: ``(metrics, {zoom: features})``."""
    per_zoom, feats = [], {}
    for a in zooms:
        imgs = images_at(a)  # (N, 3, H, W)
        box = measure_face_box(imgs)
        row = {"zoom": a, "found": float(box["found"].mean()), "mean_width": _nanmean(box["width"]),
               **width_changes(base_width, box["width"])}
        if a in fid_zooms:
            feats[a] = image_features(net, imgs)
            row["fid"] = frechet_distance(ref_feats, feats[a])
        per_zoom.append(row)
    return {"per_zoom": per_zoom}, feats


def _nanmean(v: Tensor) -> float | None:
    v = v[torch.isfinite(v)]
    return float(v.mean()) if v.numel() else None


def _renderer(G: Generator, source: Direction | None, z: Tensor, batch_size: int = 32) -> Callable[[float], Tensor]:
    """images_at(zoom): the walked images of ``z`` (``source`` a direction) or, for None, the
    target zoom(G(z)) with undefined pixels grey."""
    edit = get_edit("zoom")

    @torch.no_grad()
    def images_at(a: float) -> Tensor:
        parts = []
        for i in range(0, z.shape[0], batch_size):
            zb = z[i:i + batch_size]
            if source is None:
                target, mask = edit(G.synthesize(zb), torch.full((zb.shape[0],), float(a), device=zb.device))
                parts.append(target * mask + 0.5 * (1 - mask))
            else:
                parts.append(source.render(G, zb, a))
        return torch.cat(parts).clamp(0, 1).cpu()
    return images_at


def reproduce_zoom_objectives(out="runs/zoom-objectives", *, model: str = "faces",
                              objectives=("l2", "edges", "perceptual", "dssim", "nonlinear-l2"),
                              steps: int = 100, batch_size: int = 8, n_eval: int = 64,
                              zooms=(1.41, 2.0, 2.83, 4.0), fid_zooms=(2.0, 4.0), features: str = "stlpips-vgg",
                              strip_faces: int = 3, n_boot: int = 200, seed: int = 0, overwrite: bool = False,
                              device: str = "cpu", progress: bool = True, resume: bool = False,
                              checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Zoom walks learned with each objective, measured face by face; writes one run folder.

    Args:
        model: a zoo name or generator file of face images (the Haar detector reads faces).
        objectives: keys of ``OBJECTIVES``; ``l2`` (the default objective) is always included.
        steps, batch_size: the same Adam budget for every objective (fresh z each step).
        n_eval: held-out faces for widths and FID (and fresh G(z) in the FID reference).
        zooms: zoom factors (> 1) measured; fid_zooms: those also scored with FID (a subset).
        features: FID feature network. n_boot: bootstrap resamples of the FID differences.
        strip_faces: held-out faces shown in ``strips.png``.
        resume, checkpoint_every: each learned walk is a sub-run (`_resume.SubRuns`).

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``.
    """
    objectives = tuple(dict.fromkeys((DEFAULT, *objectives)))
    for o in objectives:
        if o not in OBJECTIVES:
            raise ValueError(f"unknown zoom objective {o!r}; allowed: {', '.join(OBJECTIVES)}")
    zooms, fid_zooms = tuple(float(a) for a in zooms), tuple(float(a) for a in fid_zooms)
    top = get_edit("zoom").alpha_range[1]
    if not zooms or min(zooms) <= 1 or max(zooms) > top:
        raise ValueError(f"zooms must be in (1, {top:g}], got {zooms}")
    if not set(fid_zooms) <= set(zooms):
        raise ValueError(f"fid_zooms {fid_zooms} must be among zooms {zooms}")
    if n_eval < 4 or steps < 1 or batch_size < 1 or strip_faces < 1:
        raise ValueError(f"need n_eval >= 4, steps, batch_size, strip_faces >= 1; got {n_eval}, {steps}, "
                         f"{batch_size}, {strip_faces}")
    t_start = time.time()
    G = load_model(model, device=device)
    with Run("reproduce zoom-objectives", out, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, dict(model=model, objectives=list(objectives), steps=steps, batch_size=batch_size,
                                 seed=seed), resume=resume, every=checkpoint_every)
        dirs, timing = {}, {}
        for o in objectives:
            saved = subs.done(o)
            if saved is None:
                t0 = time.time()
                d = learn_objective(G, o, steps=steps, batch_size=batch_size, seed=seed, progress=progress,
                                    checkpoint=subs.sub(o))
                timing[o] = round(time.time() - t0, 1)
                tensors, header = direction_tensors(d, "d")
                subs.finish(o, tensors, {"direction": header, "seconds": timing[o]})
            else:
                d, timing[o] = direction_from(saved[0], saved[1]["direction"], "d"), saved[1]["seconds"]
            d.save(tmp / "directions" / o)
            dirs[o] = d
        metrics = _compare(G, dirs, zooms, fid_zooms, features, n_eval, n_boot, seed)
        metrics.update(model=G.name, model_text=G.describe(), train_seconds=timing,
                       objectives={o: OBJECTIVES[o][2] for o in objectives},
                       config=dict(model=model, objectives=list(objectives), steps=steps, batch_size=batch_size,
                                   n_eval=n_eval, zooms=list(zooms), fid_zooms=list(fid_zooms), features=features,
                                   n_boot=n_boot, seed=seed, lr={o: dirs[o].config["lr"] for o in objectives}),
                       total_seconds=round(time.time() - t_start, 1))
        _figures(tmp, G, dirs, metrics, strip_faces, seed)
        metrics = run.write_metrics(metrics)
        _report(tmp, metrics)
    subs.clear()
    return {"out": Path(out), "metrics": metrics, "summary": summary(metrics)}


def _compare(G: Generator, dirs: dict[str, Direction], zooms, fid_zooms, features: str, n_eval: int,
             n_boot: int, seed: int) -> dict:
    """Every objective, the target and doing nothing measured on the same held-out faces."""
    z, _ = held_out(G, n_eval, seed)
    z_ref, _ = held_out(G, n_eval, seed + seeds.HELD_OUT_FRESH)  # fresh codes: the FID reference
    net = feature_network(features, G.device)
    ref_feats = image_features(net, _renderer(G, None, z_ref)(1.0))
    base_imgs = _renderer(G, None, z)(1.0)
    base = measure_face_box(base_imgs)
    floor = frechet_distance(ref_feats, image_features(net, base_imgs))
    rows, feats = {}, {}
    for name, source in [("target", None), *dirs.items()]:
        rows[name], feats[name] = _measure(_renderer(G, source, z), zooms, fid_zooms, base["width"], ref_feats, net)
    for o in dirs:
        if o == DEFAULT:
            continue
        # FID(objective) - FID(default) with a bootstrap interval, at each FID zoom
        rows[o]["fid_vs_default"] = {str(a): fid_difference_ci(ref_feats, feats[o][a], feats[DEFAULT][a],
                                                               n_boot=n_boot, seed=seed) for a in fid_zooms}
    return {"n": n_eval, "base_found": float(base["found"].mean()), "fid_floor": floor,
            "reference": f"{n_eval} fresh samples G(z) at x1 (codes disjoint from the held-out faces)",
            "feature_network": features, "results": rows, "verdict": verdict(rows, fid_zooms)}


def verdict(rows: dict, fid_zooms: Sequence[float]) -> dict:
    """The objectives that make more faces grow than the default at every FID zoom with an FID
    not measurably worse (bootstrap interval of the difference reaching 0 or below); the best
    of them (most faces growing at the largest zoom) becomes the choice, else the default."""
    def grow(o: str, a: float) -> float:
        row = next(r for r in rows[o]["per_zoom"] if r["zoom"] == a)
        return -1.0 if row["asked_way"] is None else row["asked_way"]

    better = [o for o in rows if o not in ("target", DEFAULT)
              and all(grow(o, a) > grow(DEFAULT, a) for a in fid_zooms)
              and all(rows[o]["fid_vs_default"][str(a)]["low"] <= 0 for a in fid_zooms)]
    choice = max(better, key=lambda o: grow(o, max(fid_zooms)), default=DEFAULT)
    return {"better_than_default": better, "choice": choice, "default": DEFAULT,
            "rule": "more faces growing than the default at every FID zoom, FID not measurably worse"}


def _cell(row: dict) -> list:
    med = row["median_ratio"]
    iqr = "-" if row["ratio_q25"] is None else f"[{row['ratio_q25']:.3f}, {row['ratio_q75']:.3f}]"
    return [f"{row['asked_way']:.2f}" if row["asked_way"] is not None else "-",
            "-" if med is None else f"{med:.3f}", iqr, f"{row['detected']:.2f}",
            dg.fmt(row.get("fid"))]


def table_rows(metrics: dict) -> list[list]:
    """One row per (objective, zoom): faces growing, median width ratio [IQR], detected, FID."""
    rows = []
    for name, r in metrics["results"].items():
        for row in r["per_zoom"]:
            rows.append([name, f"x{row['zoom']:g}", *_cell(row)])
    return rows


TABLE_HEAD = ["objective", "zoom", "faces growing", "median width ratio", "ratio IQR", "detected (both)", "FID"]


def summary(m: dict) -> str:
    lines = [f"{m['model']}, {m['config']['steps']} steps x batch {m['config']['batch_size']}, {m['n']} held-out "
             f"faces; FID vs {m['reference']} ({m['feature_network']}), floor {m['fid_floor']:.1f}"]
    for name, r in m["results"].items():
        cells = "; ".join(f"x{row['zoom']:g}: {_cell(row)[0]} grow, ratio {_cell(row)[1]} {_cell(row)[2]}, "
                          f"FID {_cell(row)[4]}" for row in r["per_zoom"] if row["zoom"] in m["config"]["fid_zooms"])
        lines.append(f"  {name}: {cells}")
    v = m["verdict"]
    lines.append(f"verdict: {v['choice']} ({v['rule']}; better than {v['default']}: "
                 f"{', '.join(v['better_than_default']) or 'none'})")
    return "\n".join(lines)


@torch.no_grad()
def _figures(folder: Path, G: Generator, dirs: dict[str, Direction], m: dict, strip_faces: int, seed: int) -> None:
    zooms = [1.0, *m["config"]["zooms"]]
    alphas = torch.tensor(zooms)
    z, _ = held_out(G, strip_faces, seed + seeds.HELD_OUT_FIGURE_ROWS)
    per = {o: dg.strip_rows(G, d, z, None, alphas) for o, d in dirs.items()}
    rows, labels = [], []
    for i in range(strip_faces):
        rows.append(next(iter(per.values()))[i][1])
        labels.append(f"target {i}")
        for o in dirs:
            rows.append(per[o][i][0])
            labels.append(f"{o} {i}")
    save_png(grid_image(rows, col_labels=[f"x{a:g}" for a in zooms], row_labels=labels, scale=2,
                        title="zoom"), folder / "strips.png")
    panels = []
    for key, ylabel in (("asked_way", "fraction of faces growing"), ("median_ratio", "median width ratio")):
        # a point read from under a quarter of the faces (the target at x4: the face fills the frame) is left out
        series = {name: ([row["zoom"] for row in r["per_zoom"]],
                         [row[key] if row["detected"] >= 0.25 and row[key] is not None else float("nan")
                          for row in r["per_zoom"]],
                         {"color": "grey", "ls": ":"} if name == "target" else {})
                  for name, r in m["results"].items()}
        panels.append({"title": ylabel, "xlabel": "zoom", "ylabel": ylabel, "series": series, "logx": True})
    dg.panel_plot(folder / "faces_growing.png", panels, ncols=2)


def _report(folder: Path, m: dict) -> None:
    cfg, v = m["config"], m["verdict"]
    ci_rows = [[o, f"x{a}", f"{c['difference']:+.1f}", f"[{c['low']:+.1f}, {c['high']:+.1f}]"]
               for o, r in m["results"].items() if "fid_vs_default" in r for a, c in r["fid_vs_default"].items()]
    html.write_report(folder / "report.html", "Zoom objectives on faces: which one grows the face?", [
        ("Set-up", html.text(
            f"Model: {m['model_text']}. Every objective: {cfg['steps']} Adam steps at batch {cfg['batch_size']}, "
            f"seed {cfg['seed']}, learning rate per walk kind {cfg['lr']}. Measured on {m['n']} held-out faces "
            f"(Haar face box found on {m['base_found']:.0%} of them at x1). FID of the walked images vs "
            f"{m['reference']} in {m['feature_network']} features; the held-out G(z) themselves score "
            f"{m['fid_floor']:.1f} (the floor at this n). Total {m['total_seconds']} s.")
         + html.table(["objective", "what it is", "train s"],
                      [[o, t, m["train_seconds"][o]] for o, t in m["objectives"].items()])),
        ("Per face", html.text(
            "Per face, against the same face at x1: the fraction whose Haar width grows, the median width "
            "ratio and its inter-quartile range, the fraction detected at both zooms, and the FID. "
            "'target' is zoom(G(z)) itself: what a perfect walk would give.")
         + html.table(TABLE_HEAD, table_rows(m)) + html.image("faces_growing.png", "faces growing vs zoom")),
        ("FID against the default", html.text(
            f"FID(objective) - FID({v['default']}) on the same reference, with a 95% bootstrap interval "
            f"({cfg['n_boot']} resamples of the three feature sets); an interval reaching 0 or below means "
            "not measurably worse.")
         + html.table(["objective", "zoom", "difference", "95% interval"], ci_rows)),
        ("Strips", html.text("Per held-out face: the target row, then one row per objective.")
         + html.image("strips.png", "strips")),
        ("Verdict", html.text(f"Rule: {v['rule']}. Better than {v['default']}: "
                              f"{', '.join(v['better_than_default']) or 'none'}; choice: {v['choice']}.")),
    ])
