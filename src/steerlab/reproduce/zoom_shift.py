"""`steerlab reproduce zoom-shift`: Jahanian et al. App. B.6, Fig. 27.

The paper shows (qualitatively) "a linear walk combining the zoom, shift X, and shift Y
transformations": the target, the walk learned for the transformations jointly, and the
separately trained walks added together. Here, on the biased-shapes model: one walk with two
alphas learned for zoom + shift_x at once (`methods.walks.joint`, target `edits.zoom_shift`),
against the zoom walk and the shift_x walk learned one at a time (Eq. 1) and added. For every
alpha pair (zoom factor f, shift dx) of a grid, on held-out samples, the object box
(`attributes.objects.measure_box`) of each sample is compared with the same sample at (1, 0):
area ratio and x-centre change, beside what the edit asks of that sample (area x f^2, centre
0.5 + f (x - 0.5) + dx; the box is clipped where the object leaves the frame).
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from steerlab.core.checkpoint import DEFAULT_EVERY

KINDS = ("joint", "separate")
PAPER_CLAIM = ("a walk learned for zoom, shift X and shift Y jointly, and the separately trained walks "
               "combined, both transform the image toward the joint target (App. B.6, Fig. 27; qualitative)")


def asked(box: dict, f: float, dx: float) -> dict:
    """What the composite edit asks of each sample's box: area x f^2 and centre 0.5 + f (x - 0.5) + dx.

    Shape: box["area"], box["x"] (N,) -> (N,) each (NaN where the box was not found)."""
    return {"area": box["area"] * f * f, "x": 0.5 + f * (box["x"] - 0.5) + dx}


def _sign(v: float, identity: float) -> int:
    return 0 if math.isclose(v, identity, abs_tol=1e-9) else (1 if v > identity else -1)


def reproduce_zoom_shift(out: str | os.PathLike = "runs/zoom-shift", *, model: str = "shapes", space: str = "z",
                         walk_steps: int = 400, batch_size: int = 16, lr: float = 0.01, n_eval: int = 128,
                         zooms: tuple[float, ...] = (0.5, 0.71, 1.0, 1.41, 2.0),
                         shifts: tuple[float, ...] = (-0.25, -0.125, 0.0, 0.125, 0.25), seed: int = 0,
                         overwrite: bool = False, device: str = "cpu", progress: bool = True, resume: bool = False,
                         checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """A joint zoom + shift_x walk vs separately learned walks added; writes one run folder.

    Args:
        out: run folder (``metrics.json``, ``grid_<i>.png``, ``per_pair.png``, ``walks/``, ``report.html``).
        model: a model whose images show one object on a row-uniform background (default ``shapes``).
        space: latent space of the walks.
        walk_steps, batch_size, lr: Adam schedule of each of the three walks (joint, zoom, shift_x).
        n_eval: held-out samples measured at every alpha pair.
        zooms, shifts: the alpha grid (zoom factors in [0.25, 4] with 1 among them; shifts in
            [-0.5, 0.5] with 0 among them).
        resume, checkpoint_every: as every reproduction (`_resume.SubRuns`).

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``; ``metrics["pairs"][kind]`` lists, per
        alpha pair, the per-sample paired changes of area and x (`metrics.stats.paired_change`)
        and their median error against what the edit asks.
    """
    from steerlab.core import seeds
    from steerlab.core.runs import Run
    from steerlab.edits import get_edit
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.methods.walks.joint import learn_joint_walk
    from steerlab.models import load_model
    from steerlab.reproduce._resume import SubRuns, learned_once

    zooms, shifts = tuple(float(f) for f in zooms), tuple(float(s) for s in shifts)
    for name, grid, identity in (("zoom", zooms, 1.0), ("shift_x", shifts, 0.0)):
        get_edit(name).check(list(grid))  # one-line ValueError naming the edit and its range
        if identity not in grid or len(grid) < 2:
            raise ValueError(f"the {name} grid needs {identity:g} and at least one other value, got {list(grid)}")
    if n_eval < 3:
        raise ValueError(f"n_eval must be >= 3, got {n_eval}")
    G = load_model(model, device=device)
    kw = dict(space=space, steps=walk_steps, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    t_start = time.time()
    with Run("reproduce zoom-shift", out, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, dict(model=model, fingerprint=G.fingerprint, space=space, walk_steps=walk_steps,
                                 batch_size=batch_size, lr=lr, seed=seed), resume=resume, every=checkpoint_every)
        joint, s_joint = learned_once(subs, "walk-joint", lambda ck: learn_joint_walk(
            G, ("zoom", "shift_x"), checkpoint=ck, **kw))
        (zoom_d,), s_zoom = learned_once(subs, "walk-zoom", lambda ck: learn_linear_walk(G, "zoom", checkpoint=ck, **kw))
        (shift_d,), s_shift = learned_once(subs, "walk-shift_x", lambda ck: learn_linear_walk(
            G, "shift_x", checkpoint=ck, **kw))
        walks = {"joint": joint, "separate": [zoom_d, shift_d]}
        (tmp / "walks").mkdir()
        for kind, (dz, ds) in walks.items():
            dz.save(tmp / "walks" / f"{kind}-zoom")
            ds.save(tmp / "walks" / f"{kind}-shift_x")
        z, classes = seeds.held_out(G, n_eval, seed)
        metrics = {"model": G.name, "space": space, "n_eval": n_eval, "zooms": list(zooms), "shifts": list(shifts),
                   "paper": PAPER_CLAIM, "walk_seconds": {"joint": s_joint, "zoom": s_zoom, "shift_x": s_shift},
                   "final_loss": {"joint": joint[0].metrics["final_loss"], "zoom": zoom_d.metrics["final_loss"],
                                  "shift_x": shift_d.metrics["final_loss"]},
                   **_measure(G, walks, z, classes, zooms, shifts)}
        metrics.update(config={"model": model, "space": space, "walk_steps": walk_steps, "batch_size": batch_size,
                               "lr": lr, "n_eval": n_eval, "seed": seed},
                       seconds=round(time.time() - t_start, 1))
        metrics["summary"] = summary(metrics)
        _figures(tmp, G, walks, metrics, seed)
        metrics = run.write_metrics(metrics)
        _report(tmp, metrics)
    subs.clear()
    return {"out": Path(out), "metrics": metrics, "summary": metrics["summary"]}


def render_pair(G, walk: list, z: torch.Tensor, classes, f: float, dx: float) -> torch.Tensor:
    """Images of a (zoom, shift_x) direction pair at (f, dx): their linear offsets add (`steer`)."""
    from steerlab.directions.combine import steer

    return steer(G, [(walk[0], f), (walk[1], dx)], z, classes=classes)


def _median_abs(x: torch.Tensor) -> float | None:
    ok = torch.isfinite(x)
    return float(x[ok].abs().median()) if ok.any() else None


@torch.no_grad()
def _measure(G, walks: dict, z, classes, zooms, shifts, batch_size: int = 128) -> dict:
    from steerlab.attributes.objects import measure_box
    from steerlab.metrics.stats import paired_change

    def boxes(render) -> dict:
        parts = [measure_box(render(slice(i, i + batch_size))) for i in range(0, z.shape[0], batch_size)]
        return {k: torch.cat([p[k] for p in parts]).cpu() for k in ("area", "x")}

    def cls(sl):
        return None if classes is None else classes[sl]

    base = boxes(lambda sl: G.synthesize(z[sl], classes=cls(sl)))
    res = {"found_base": float(torch.isfinite(base["area"]).float().mean()), "pairs": {k: [] for k in KINDS}}
    for kind, walk in walks.items():
        for f in zooms:
            for dx in shifts:
                got = boxes(lambda sl: render_pair(G, walk, z[sl], cls(sl), f, dx))
                want = asked(base, f, dx)
                res["pairs"][kind].append({
                    "zoom": f, "shift": dx,
                    "area": paired_change(base["area"], got["area"], sign=_sign(f, 1.0)),
                    "x": paired_change(base["x"], got["x"], sign=_sign(dx, 0.0)),
                    "asked_area_ratio": f * f,
                    "asked_x_change_median": _median(want["x"] - base["x"]),
                    "x_error_median": _median_abs(got["x"] - want["x"]),
                    "log_area_error_median": _median_abs(torch.log(got["area"] / want["area"]))})
    return res


def _median(x: torch.Tensor) -> float | None:
    ok = torch.isfinite(x)
    return float(x[ok].median()) if ok.any() else None


def _pool(pairs: list, key: str, attr: str, where) -> float | None:
    vals = [p[attr][key] for p in pairs if where(p) and p[attr][key] is not None]
    return float(np.mean(vals)) if vals else None


def summary(m: dict) -> str:
    """Per kind: how often samples move the asked way (area where f != 1, x where dx != 0), the
    median errors against the asked boxes, and the corner pair (largest zoom, largest shift)."""
    lines = []
    f_hi, dx_hi = max(m["zooms"]), max(m["shifts"])
    for kind in KINDS:
        pairs = m["pairs"][kind]
        corner = next(p for p in pairs if p["zoom"] == f_hi and p["shift"] == dx_hi)
        x_err = [p["x_error_median"] for p in pairs if p["x_error_median"] is not None]
        a_err = [p["log_area_error_median"] for p in pairs if p["log_area_error_median"] is not None]
        lines.append(
            f"{kind}: area moves the asked way for {_fmt(_pool(pairs, 'asked_way', 'area', lambda p: p['zoom'] != 1))} "
            f"of samples, x for {_fmt(_pool(pairs, 'asked_way', 'x', lambda p: p['shift'] != 0))} (mean over pairs); "
            f"median |x error| {_fmt(float(np.mean(x_err)) if x_err else None, '.3f')} of the width, "
            f"median |log area error| {_fmt(float(np.mean(a_err)) if a_err else None, '.2f')}; "
            f"at (x{f_hi:g}, {dx_hi:+g}): median area ratio {_fmt(corner['area']['median_ratio'], '.2f')} "
            f"(asked {corner['asked_area_ratio']:.2f}), median x change {_fmt(corner['x']['median'], '+.3f')} "
            f"(asked {_fmt(corner['asked_x_change_median'], '+.3f')})")
    return "\n".join(lines)


def _fmt(v, spec: str = ".0%") -> str:
    return "n/a" if v is None else format(v, spec)


@torch.no_grad()
def _figures(folder: Path, G, walks: dict, m: dict, seed: int) -> None:
    from steerlab.core import seeds
    from steerlab.edits import zoom_shift
    from steerlab.report.plots import grid_image, plt, save_figure, save_png

    zooms, shifts = m["zooms"], m["shifts"]
    z, classes = seeds.held_out(G, 2, seed, seeds.HELD_OUT_FIGURE_ROWS)
    for i in range(z.shape[0]):
        zi = z[i:i + 1].expand(len(zooms), -1)
        ci = None if classes is None else classes[i:i + 1].expand(len(zooms))
        base = G.synthesize(zi, classes=ci)
        rows, labels = [], []
        for dx in shifts:
            target, mask = zoom_shift(base, torch.tensor([[f, dx, 0.0] for f in zooms]))
            rows.append(target + 0.5 * (1 - mask))  # grey where the target is undefined
            labels.append(f"target {dx:+g}")
        for kind in KINDS:
            for dx in shifts:
                rows.append(torch.cat([render_pair(G, walks[kind], zi[j:j + 1], None if ci is None else ci[j:j + 1],
                                                   f, dx) for j, f in enumerate(zooms)]))
                labels.append(f"{kind} {dx:+g}")
        save_png(grid_image(rows, col_labels=[f"x{f:g}" for f in zooms], row_labels=labels, scale=3,
                            title="columns: zoom factor; rows: shift x (fraction of the width)"),
                 folder / f"grid_{i}.png")
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.4), dpi=110)
    for r, (attr, title, centre, spec) in enumerate((("area", "median area ratio", 1.0, ".2f"),
                                                     ("x", "median x-centre change", 0.0, "+.3f"))):
        grids = {kind: _pair_grid(m, kind, attr, zooms, shifts) for kind in ("asked",) + KINDS}
        asked_dev = np.abs(grids["asked"] - centre)  # one colour scale per row: the asked one
        vmax = float(np.nanmax(asked_dev)) if np.isfinite(asked_dev).any() else 1.0
        for c, (kind, grid) in enumerate(grids.items()):
            ax = axes[r, c]
            ax.imshow(grid, cmap="coolwarm", vmin=centre - vmax, vmax=centre + vmax)
            for (y, x), v in np.ndenumerate(grid):
                ax.text(x, y, "-" if np.isnan(v) else format(v, spec), ha="center", va="center", fontsize=7)
            ax.set_xticks(range(len(zooms)), [f"x{f:g}" for f in zooms], fontsize=7)
            ax.set_yticks(range(len(shifts)), [f"{s:+g}" for s in shifts], fontsize=7)
            ax.set_title(f"{kind}: {title}", fontsize=9)
            ax.set_xlabel("zoom factor", fontsize=8)
            ax.set_ylabel("shift x", fontsize=8)
    fig.tight_layout()
    save_figure(fig, folder / "per_pair.png")


def _pair_grid(m: dict, kind: str, attr: str, zooms: list, shifts: list) -> np.ndarray:
    """(shifts, zooms) medians over samples: the area ratio or x change of ``kind``, or what is asked."""
    grid = np.full((len(shifts), len(zooms)), np.nan)
    for p in m["pairs"]["joint" if kind == "asked" else kind]:
        if kind == "asked":
            v = p["asked_area_ratio"] if attr == "area" else p["asked_x_change_median"]
        else:
            v = p[attr]["median_ratio" if attr == "area" else "median"]
        grid[shifts.index(p["shift"]), zooms.index(p["zoom"])] = np.nan if v is None else v
    return grid


def _report(folder: Path, m: dict) -> None:
    from steerlab.report import html

    def cell(st: dict, ratio: bool) -> str:
        if st["median"] is None:
            return "-"
        mid = f"x{st['median_ratio']:.2f}" if ratio and st["median_ratio"] is not None else f"{st['median']:+.3f}"
        return (f"{mid} [{st['q25']:+.3f}, {st['q75']:+.3f}]; {_fmt(st['asked_way'], '.2f')}; "
                f"{st['detected']:.2f}")

    rows = [[kind, f"x{p['zoom']:g}", f"{p['shift']:+g}", cell(p["area"], True), f"x{p['asked_area_ratio']:.2f}",
             cell(p["x"], False), _fmt(p["asked_x_change_median"], "+.3f"), _fmt(p["x_error_median"], ".3f"),
             _fmt(p["log_area_error_median"], ".2f")]
            for kind in KINDS for p in m["pairs"][kind]]
    cfg = m["config"]
    grids = "".join(html.image(f"grid_{i}.png", f"grid {i}") for i in range(2))
    sections = [
        ("Claim", html.text(f"Jahanian et al.: {m['paper']}. Model '{m['model']}', walks in {m['space']}, "
                            f"{cfg['walk_steps']} Adam steps each (batch {cfg['batch_size']}, lr {cfg['lr']}); "
                            f"{m['n_eval']} held-out samples (object found on {m['found_base']:.0%} at (x1, 0)); "
                            f"total {m['seconds']} s.")),
        ("Summary", html.text(m["summary"].replace("\n", "; "))),
        ("Per alpha pair, medians", html.image("per_pair.png", "per pair")),
        ("Grids (Fig. 27 as a 2-D grid)", html.text(
            "Per sample: the target (grey where undefined), the joint walk and the separate walks added; "
            "columns zoom, rows shift.") + grids),
        ("Per sample", html.text(
            "Each sample's box against itself at (x1, 0): area as the median ratio and x as the median change, "
            "[25th, 75th percentile of the change]; fraction moving the asked way; fraction detected at both. "
            "Asked: what the edit asks (median over samples for x). Errors: median over samples of |x - asked x| "
            "and |log(area / asked area)|.")
         + html.table(["walk", "zoom", "shift", "area", "asked", "x change", "asked", "|x error|", "|log area error|"],
                      rows)),
    ]
    html.write_report(folder / "report.html", "A joint zoom + shift walk (Jahanian et al. App. B.6, Fig. 27)",
                      sections)
