"""`steerlab reproduce layer-depth`: Cherepkov et al. App. 6.2 (Fig. 20), which layers give which effects.

The paper (StyleGAN2, LSUN-Horse, by eye): early layers give global geometric changes (size, leg
length), intermediate ones localised geometry (head size, thickness), then localised colour, and the
last ones global lighting and colour. Here, for every conv layer of one model (``layers``: all by
default), the top ``k`` directions of ``method`` (SVD by default: the top singular pairs; "hessian":
the top eigenvectors of the perceptual-change Hessian) are calibrated to the same mean ST-LPIPS
change and measured per sample (`evaluation.weight_effects`): colour (r + g + b), luminance,
position (x + y), size (log area), each per unit perceptual change, the high-frequency share of
the change (texture) and its locality. The claim becomes two rank correlations over all directions:
depth vs geometry (the paper: negative) and depth vs colour (the paper: positive).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from steerlab.core import seeds
from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.core.runs import Run
from steerlab.methods.paramspace.shifts import layer_table, layer_weight
from steerlab.models import load_model
from steerlab.report import html
from steerlab.report.plots import save_figure
from steerlab.reproduce import _weights as W
from steerlab.reproduce._resume import SubRuns

EFFECTS = ("colour", "luminance", "position", "size", "texture")


def reproduce_layer_depth(out: str | os.PathLike = "runs/layer-depth", *, model: str = "shapes-stylegan2",
                          layers: tuple = (), method: str = "svd", k: int = 3, target: float = 0.15, n_z: int = 8,
                          n_eval: int = 32, geometry: str = "box", seed: int = 0, overwrite: bool = False,
                          device: str = "cpu", progress: bool = True, resume: bool = False,
                          checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Top directions of every layer, measured alike; one run folder.

    Args:
        model: zoo name or generator file; layers: weight names (default: every conv weight, in order).
        method: "svd" or "hessian"; k: directions per layer; n_z: Hessian codes.
        target: mean ST-LPIPS change every range is calibrated to.
        n_eval: held-out codes of the per-sample measures; geometry: the position / size measure ("box"
            for shapes images, "face_box" or "saliency" for others).

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``.
    """
    if method not in ("svd", "hessian"):
        raise ValueError(f"method must be svd or hessian (directions that need no training), got {method!r}")
    if k < 1 or n_eval < 2:
        raise ValueError(f"need k >= 1 and n_eval >= 2, got k={k}, n_eval={n_eval}")
    G = load_model(model, device=device)
    names = list(layers) or [r["name"] for r in layer_table(G) if r["kind"] == "conv"]
    for name in names:
        layer_weight(G, name)  # an unknown layer fails here, with the list of layers
    config = dict(model=model, layers=names, method=method, k=k, target=target, n_z=n_z, n_eval=n_eval,
                  geometry=geometry, seed=seed)
    t_start = time.time()
    with Run("reproduce layer-depth", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, config, resume=resume, every=checkpoint_every)
        z, classes = seeds.held_out(G, n_eval, seed)
        per_layer, firsts = [], []
        for depth, name in enumerate(names):
            dirs, info = W.learned_directions(subs, f"layer{depth}", G, method, name, k, progress, target=target,
                                              n_z=n_z, overlap=False, seed=seed)
            rows = [W.measure(G, d, z, classes, geometry=geometry) for d in dirs]
            firsts.append(dirs[0])
            per_layer.append({"layer": name, "depth": depth, "info": info, "directions": rows,
                              "median": {e: W.median([r["sizes"][e] for r in rows]) for e in EFFECTS},
                              "locality": W.median([r["effects"]["locality"] for r in rows]),
                              "agree_luminance": W.median([r["effects"]["properties"]["luminance"]["agree"] or 0
                                                           for r in rows])})
        trend = _trend(per_layer)
        metrics = {"model": G.name, "model_text": G.describe(), "method": method, "k": k, "n_eval": n_eval,
                   "target_perceptual_change": target, "geometry_measure": geometry, "layers": per_layer,
                   "trend": trend, "total_seconds": round(time.time() - t_start, 1),
                   "paper": "App. 6.2 / Fig. 20: early layers global geometry, middle localised geometry, then "
                            "localised colour, last layers global lighting / colour (by eye, no number)"}
        _figure(tmp / "effects_vs_depth.png", per_layer, G.name, method)
        strip_z, strip_c = seeds.held_out(G, 2, seed, stream=seeds.EVAL_HELD_OUT + seeds.HELD_OUT_FIGURE_ROWS)
        W.save_strip(tmp / "strip_layers.png", G, firsts, [f"L{i}" for i in range(len(firsts))], strip_z, strip_c,
                     f"{method} top direction of each layer (L0 = first): rows = layer x code, columns t = -T .. +T")
        metrics = run.write_metrics(metrics)
        _report(tmp, metrics)
    subs.clear()
    lines = [f"L{r['depth']} {r['layer']}: " + ", ".join(f"{e} {W.fmt(r['median'][e])}" for e in EFFECTS)
             for r in per_layer]
    lines.append(f"Spearman(depth, geometry) {W.fmt(trend['geometry']['rho'])}, (depth, colour) "
                 f"{W.fmt(trend['colour']['rho'])}, (depth, texture) {W.fmt(trend['texture']['rho'])}")
    return {"out": Path(out), "metrics": metrics, "summary": "\n".join(lines)}


def _trend(per_layer: list) -> dict:
    """Spearman rank correlation of depth with each effect over every direction (NaNs dropped)."""
    import math

    from scipy.stats import spearmanr

    out = {}
    kinds = {"geometry": ("position", "size"), "colour": ("colour",), "luminance": ("luminance",),
             "texture": ("texture",)}
    for name, keys in kinds.items():
        xs, ys = [], []
        for r in per_layer:
            for d in r["directions"]:
                v = sum(d["sizes"][key] for key in keys)
                if math.isfinite(v):
                    xs.append(r["depth"])
                    ys.append(v)
        if len(set(xs)) > 1 and len(set(ys)) > 1:
            res = spearmanr(xs, ys)
            out[name] = {"rho": float(res.statistic), "p": float(res.pvalue), "n": len(xs)}
        else:
            out[name] = {"rho": None, "p": None, "n": len(xs)}
    return out


def _figure(path: Path, per_layer: list, model: str, method: str) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(EFFECTS), figsize=(2.6 * len(EFFECTS), 2.8), dpi=110)
    depth = [r["depth"] for r in per_layer]
    for ax, e in zip(axes, EFFECTS):
        for r in per_layer:  # every direction as a dot, the layer's median as the line
            ax.plot([r["depth"]] * len(r["directions"]), [d["sizes"][e] for d in r["directions"]], "o", ms=3,
                    color="tab:blue", alpha=0.5)
        ax.plot(depth, [r["median"][e] for r in per_layer], "-", color="black")
        ax.set_title(e if e == "texture" else f"{e} / unit ST-LPIPS", fontsize=8)
        ax.set_xlabel("layer (0 = first)", fontsize=8)
        ax.set_xticks(depth)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{model}: {method} directions per layer at matched perceptual change (dots: directions; "
                 "line: median)", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def _report(folder: Path, m: dict) -> None:
    head = ["layer", "name", "T range", *[f"{e}" for e in EFFECTS], "locality", "luminance agree"]
    rows = [[f"L{r['depth']}", r["layer"], f"{W.fmt(min(d['limit'] for d in r['directions']))} - "
             f"{W.fmt(max(d['limit'] for d in r['directions']))}", *[r["median"][e] for e in EFFECTS], r["locality"],
             r["agree_luminance"]] for r in m["layers"]]
    trend = ", ".join(f"depth vs {k}: rho {W.fmt(v['rho'])} (p {W.fmt(v['p'])}, {v['n']} directions)"
                      for k, v in m["trend"].items())
    html.write_report(folder / "report.html", "Effects by layer depth (Cherepkov et al. App. 6.2)", [
        ("Set-up", html.text(
            f"{m['model_text']}; top {m['k']} {m['method']} directions per layer, each calibrated to mean ST-LPIPS "
            f"{m['target_perceptual_change']}, measured on {m['n_eval']} held-out codes (position and size with "
            f"'{m['geometry_measure']}'). Total {m['total_seconds']} s.")),
        ("Effects per layer (medians over directions)", html.text(
            "colour, luminance, position (x + y), size (|log area ratio|): |median change from -T to +T| per unit "
            "mean ST-LPIPS change; texture: share of the change's power above half Nyquist; locality: share of the "
            "mean squared change in the top 10 % pixels; luminance agree: fraction of samples whose luminance moves "
            "the way of the median.") + html.table(head, rows) + html.text(f"Rank correlations: {trend}.")
         + html.image("effects_vs_depth.png", "effects vs depth")),
        ("Top direction of each layer", html.image("strip_layers.png", "strips"))])
