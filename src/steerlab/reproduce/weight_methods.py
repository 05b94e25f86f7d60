"""`steerlab reproduce weight-methods`: Cherepkov et al. Sec. 4.2, Figs. 5-7 and App. 6.3 (Table 1).

The four ways to find directions in one layer's weights - the SVD baseline (Sec. 4.2), the
optimisation with a reconstructor (Sec. 3.2, Eq. 1-2), the Hessian spectrum (Sec. 3.3) and the
hybrid (Sec. 3.4) - run on the same model, layer and codes and are measured the same way:

- every direction's range T_k is calibrated to the same mean ST-LPIPS change (``target``), so they
  are compared at matched perceptual change (the paper matches "wheel size" by hand);
- FID at -T_k and +T_k against the model's dataset (else fresh G(z); the reference is named);
- per sample, on ``n_eval`` held-out codes, what the shift does (`evaluation.weight_effects`): colour,
  luminance, object position and size, the spatial frequency of the change, its locality, each as a
  paired change against t = 0 with the fraction of samples moving the way of the median;
- strips (rows: directions x codes, columns: t = -T_k .. +T_k), looked at and named in the docs.

The paper's claims: the SVD baseline corrupts realism the most (Fig. 7: its FID rises fastest);
the three others give clearer effects, none a clear winner; the hybrid finds the most effects
(App. Table 1, K = 64 on LSUN-Horse's 4th layer).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from steerlab.core import seeds
from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.core.runs import Run
from steerlab.evaluation import weights as insp
from steerlab.methods.paramspace.shifts import layer_weight
from steerlab.metrics.fid import feature_network
from steerlab.models import load_model
from steerlab.report import html
from steerlab.report.plots import line_plot
from steerlab.reproduce import _weights as W
from steerlab.reproduce._resume import SubRuns

ALL_METHODS = ("svd", "hessian", "optimize", "hybrid")
SIZE_KEYS = ("colour", "luminance", "position", "size", "texture")


def reproduce_weight_methods(out: str | os.PathLike = "runs/weight-methods", *, model: str = "shapes-stylegan2",
                             layer: str = "synthesis.b8.conv1.conv.weight", methods=ALL_METHODS, k: int = 4,
                             target: float = 0.15, limit: float | None = None, steps: int = 150,
                             batch_size: int = 16, n_z: int = 8, eigen: int = 8, overlap: bool = True,
                             n_eval: int = 32, fid_n: int = 128, features: str = "stlpips-vgg",
                             geometry: str = "box", seed: int = 0, overwrite: bool = False, device: str = "cpu",
                             progress: bool = True, resume: bool = False,
                             checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """SVD, Hessian, optimisation and hybrid directions of one layer, measured alike; one run folder.

    Args:
        model, layer: the generator (zoo name or file) and the weight every method shifts.
        methods: any of svd, hessian, optimize, hybrid.
        k: directions per method.
        target: mean ST-LPIPS change at +-T_k every range is calibrated to; ``limit``: one fixed T for
            every direction instead (no calibration: ranges are then not matched).
        steps, batch_size: Eq. 1 training of optimize and hybrid (the paper: 1e5 steps, batch 32).
        n_z: codes of the Hessian (hessian, hybrid; the paper: 512); eigen: the hybrid's span;
            overlap: also solve the Hessian on a second draw of n_z codes and report the top-k overlap.
        n_eval: held-out codes of the per-sample measures; fid_n: images per FID set.
        features: FID feature network; geometry: the measure of position and size ("box" for shapes
            images, "face_box" or "saliency" for others).
        resume, checkpoint_every: each method's directions are a sub-run (`_resume.SubRuns`).

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``.
    """
    methods = tuple(methods)
    bad = [m for m in methods if m not in ALL_METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be some of {', '.join(ALL_METHODS)}, got {list(methods)}")
    if k < 2 or n_eval < 2 or fid_n < 2:
        raise ValueError(f"need k >= 2 (the optimisation learns several), n_eval >= 2 and fid_n >= 2; "
                         f"got k={k}, n_eval={n_eval}, fid_n={fid_n}")
    G = load_model(model, device=device)
    layer_weight(G, layer)  # an unknown layer fails here with the list of layers
    feature_network(features, device)  # an unknown name fails here, before any work
    config = dict(model=model, layer=layer, methods=list(methods), k=k, target=target, limit=limit, steps=steps,
                  batch_size=batch_size, n_z=n_z, eigen=eigen, overlap=overlap, n_eval=n_eval, fid_n=fid_n, features=features,
                  geometry=geometry, seed=seed)
    t_start = time.time()
    with Run("reproduce weight-methods", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, config, resume=resume, every=checkpoint_every)
        z, classes = seeds.held_out(G, n_eval, seed)
        fid = {"n": fid_n, "seed": seed, "features": features, "reference": None, "reference_name": None}
        found, per_method, timing = {}, {}, {}
        for method in methods:
            t0 = time.time()
            dirs, info = W.learned_directions(subs, method, G, method, layer, k, progress, target=target, limit=limit,
                                              steps=steps, batch_size=batch_size, n_z=n_z, eigen=eigen,
                                              overlap=overlap, stable_overlap=0.0, seed=seed,
                                              checkpoint_every=checkpoint_every)
            timing[method] = round(time.time() - t0, 1)
            found[method] = dirs
            rows = [W.measure(G, d, z, classes, geometry=geometry, fid=fid) for d in dirs]
            for d, r in zip(dirs, rows):
                d.save(tmp / "directions" / f"{method}-k{r['index']:02d}")
            per_method[method] = {"info": info, "directions": rows, "summary": _summary(rows)}
        zero = insp.fid_vs_shift(G, layer, found[methods[0]][0].tensors["xi"].to(G.device), [0.0], n=fid_n,
                                 seed=seed, features=features, reference=fid["reference"],
                                 reference_name=fid["reference_name"])["fid"][0]
        metrics = {"model": G.name, "model_text": G.describe(), "layer": layer, "fid_reference": fid["reference_name"],
                   "fid_feature_network": features, "fid_n": fid_n, "fid_unshifted": zero, "n_eval": n_eval,
                   "geometry_measure": geometry, "methods": per_method, "find_seconds": timing,
                   "paper": {"fig7": "FID rises fastest for SVD; no clear winner among the other three",
                             "table1_effects_layer4_k64": {"svd": 1, "optimize": 3, "hessian": 5, "hybrid": 6}}}
        strip_z, strip_c = seeds.held_out(G, 2, seed, stream=seeds.EVAL_HELD_OUT + seeds.HELD_OUT_FIGURE_ROWS)
        for method in methods:
            W.save_strip(tmp / f"strip_{method}.png", G, found[method], [f"k{i}" for i in range(len(found[method]))],
                         strip_z, strip_c, f"{method} on {layer}: rows = direction x code, columns t = -T_k .. +T_k")
        line_plot(tmp / "fid_vs_shift.png",
                  {m: ([-1, 0, 1], [per_method[m]["summary"]["fid_minus_median"], zero,
                                    per_method[m]["summary"]["fid_plus_median"]]) for m in methods},
                  xlabel="t / T_k (T_k: calibrated to the same ST-LPIPS change)",
                  ylabel=f"FID ({features}), median over directions", title=f"{G.name} {layer}: FID vs shift")
        metrics["total_seconds"] = round(time.time() - t_start, 1)
        metrics = run.write_metrics(metrics)
        _report(tmp, metrics)
    subs.clear()
    lines = [f"{m}: FID at +-T median {s['fid_at_T_median']:.2f} (unshifted {zero:.2f}); ST-LPIPS per sample median "
             f"{s['stlpips_median']:.3f}; colour {s['colour']:.3g}, position {s['position']:.3g}, texture "
             f"{s['texture']:.3g}" for m, s in ((m, per_method[m]["summary"]) for m in methods)]
    return {"out": Path(out), "metrics": metrics, "summary": "\n".join(lines)}


def _summary(rows: list[dict]) -> dict:
    """Medians over a method's directions."""
    out = {key: W.median([r["sizes"][key] for r in rows]) for key in SIZE_KEYS}
    out.update(fid_at_T_median=W.median([r["fid_at_T"] for r in rows]),
               fid_at_T_mean=sum(r["fid_at_T"] for r in rows) / len(rows),
               fid_minus_median=W.median([r["fid_minus"] for r in rows]),
               fid_plus_median=W.median([r["fid_plus"] for r in rows]),
               stlpips_median=W.median([r["effects"]["stlpips_median"] for r in rows]),
               locality=W.median([r["effects"]["locality"] for r in rows]),
               limit_min=min(r["limit"] for r in rows), limit_max=max(r["limit"] for r in rows))
    return out


def _report(folder: Path, m: dict) -> None:
    head = ["method", "T_k range", "ST-LPIPS per sample (median)", "FID at +-T (median / mean)", "locality",
            "colour / unit", "luminance / unit", "position / unit", "size / unit", "high-freq share"]
    rows = []
    for name, r in m["methods"].items():
        s = r["summary"]
        rows.append([name, f"{W.fmt(s['limit_min'])} - {W.fmt(s['limit_max'])}", s["stlpips_median"],
                     f"{W.fmt(s['fid_at_T_median'])} / {W.fmt(s['fid_at_T_mean'])}", s["locality"],
                     *[s[key] for key in SIZE_KEYS]])
    detail = []
    for name, r in m["methods"].items():
        for d in r["directions"]:
            p = d["effects"]["properties"]
            detail.append([name, f"k{d['index']}", d["limit"], d["effects"]["stlpips_median"], d["fid_minus"],
                           d["fid_plus"], *[_change(p, key) for key in ("luminance", "chroma", "x", "y", "area")],
                           d["effects"]["high_freq"]])
    info = "; ".join(f"{n}: " + ", ".join(f"{k} {W.fmt(v) if isinstance(v, float) else v}"
                                            for k, v in r["info"].items() if not isinstance(v, list))
                     for n, r in m["methods"].items())
    sections = [
        ("Set-up", html.text(
            f"{m['model_text']}; layer {m['layer']}. Every direction's T_k is calibrated to the same mean ST-LPIPS "
            f"change. FID against {m['fid_reference']} in {m['fid_feature_network']} features ({m['fid_n']} "
            f"shifted images per set; unshifted generator {m['fid_unshifted']:.3g}). Per-sample measures on "
            f"{m['n_eval']} held-out codes; position and size read with the '{m['geometry_measure']}' measure. "
            f"Solver / training: {info}. Total {m['total_seconds']} s.")),
        ("Methods at matched perceptual change", html.text(
            "Medians over each method's directions. '/ unit': |median change from -T to +T| per unit mean ST-LPIPS "
            "change (colour: r + g + b; position: x + y as fractions of the image; size: |log area ratio|); "
            "high-freq share: of the change's power above half Nyquist.") + html.table(head, rows)
         + html.image("fid_vs_shift.png", "FID vs shift")),
        ("Every direction, per sample", html.text(
            "Per property: median paired change from -T to +T over held-out samples, [inter-quartile range], and "
            "the fraction of samples moving the way of the median.") + html.table(
            ["method", "k", "T_k", "ST-LPIPS median", "FID -T", "FID +T", "luminance", "chroma", "x", "y", "area",
             "high-freq"], detail))]
    for name in m["methods"]:
        sections.append((f"Strips: {name}", html.image(f"strip_{name}.png", f"{name} strip")))
    html.write_report(folder / "report.html", "Weight-space methods compared (Cherepkov et al. Sec. 4.2)", sections)


def _change(props: dict, key: str) -> str:
    s = props.get(key, {}).get("span")
    if not s or s["median"] is None:
        return "-"
    return f"{s['median']:+.3f} [{s['iqr']:.3f}] {s['asked_way'] or 0:.0%}"
