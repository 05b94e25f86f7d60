"""`steerlab reproduce latent-mimic`: Cherepkov et al. Sec. 4.3 (Eq. 5, Fig. 8) and App. 6.4 (Fig. 16), both ways.

On a StyleGAN2 model, every edit calibrated to the same mean ST-LPIPS change (``target``):

- **weight mimics latent**: latent directions (SeFa on every style affine, a direction in W) applied
  in W (every w+ row) and in W+ (the same direction on the rows ``rows`` only); a shift of one layer's
  weights (``layer``, every entry free) is fitted to reproduce each edit's images;
- **latent mimics weight** (the paper's test): the layer's top SVD weight directions; one latent shift
  h, shared by all codes, is fitted in W (w_dim) and in W+ (num_ws x w_dim) to reproduce them;
- **controls** (the fit itself works): a weight shift fitted to a weight direction's images, and a
  W shift fitted to a W edit's images, both reachable by construction.

Every fit: Adam on ``n_fit`` codes (`evaluation.weight_mimic.fit_shift`); judged on ``n_eval``
held-out codes, per sample, by the squared pixel error and ST-LPIPS of the mimic to the target,
beside doing nothing (`mimic_scores`). The paper: latent shifts in Z, W and the activations "failed
to properly mimic" the weight shifts (shown as images, no number).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from steerlab.core import seeds
from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.core.runs import Run
from steerlab.evaluation.weight_mimic import fit_shift, mimic_scores
from steerlab.methods.latent.common import parse_layers
from steerlab.methods.latent.sefa import sefa_directions
from steerlab.methods.paramspace.calibrate import bisect_scale, calibrate_shift, calibration_reference
from steerlab.methods.paramspace.shifts import layer_weight, render_shifted
from steerlab.methods.paramspace.svd import svd_directions
from steerlab.metrics.perceptual import perceptual_distance
from steerlab.models import load_model
from steerlab.report import html
from steerlab.report.plots import grid_image, save_figure, save_png
from steerlab.reproduce._resume import SubRuns


def reproduce_latent_mimic(out: str | os.PathLike = "runs/latent-mimic", *, model: str = "shapes-stylegan2",
                           layer: str = "synthesis.b8.conv1.conv.weight", rows: str = "1-3", k_latent: int = 2,
                           k_weight: int = 2, target: float = 0.15, steps: int = 100, lr_weight: float = 0.01,
                           lr_latent: float = 0.05, n_fit: int = 16, n_eval: int = 24, seed: int = 0,
                           overwrite: bool = False, device: str = "cpu", progress: bool = True, resume: bool = False,
                           checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Latent edits mimicked by a weight shift, weight shifts by a latent shift, in W and W+.

    Args:
        model: a generator with the latent spaces w and w+ (StyleGAN); layer: the weight fitted / shifted.
        rows: the w+ rows the W+ latent edit moves ("A-B" or "A,B"; default: block b8's convs and toRGB).
        k_latent, k_weight: SeFa directions and top SVD weight directions tested.
        target: mean ST-LPIPS change every edit is calibrated to.
        steps, lr_weight, lr_latent: Adam steps and learning rates of the weight and latent fits.
        n_fit, n_eval: codes fitted on and held-out codes judged on.

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``.
    """
    G = load_model(model, device=device)
    if not {"w", "w+"} <= set(G.latent_spaces):
        raise ValueError(f"latent-mimic needs a model with the latent spaces w and w+ (StyleGAN); "
                         f"'{G.name}' has {', '.join(G.latent_spaces)}")
    W0 = layer_weight(G, layer)
    row_list = parse_layers(rows, G)
    if k_latent < 1 or k_weight < 1 or n_fit < 1 or n_eval < 2:
        raise ValueError(f"need k_latent, k_weight, n_fit >= 1 and n_eval >= 2; got {k_latent}, {k_weight}, "
                         f"{n_fit}, {n_eval}")
    config = dict(model=model, layer=layer, rows=row_list, k_latent=k_latent, k_weight=k_weight, target=target,
                  steps=steps, lr_weight=lr_weight, lr_latent=lr_latent, n_fit=n_fit, n_eval=n_eval, seed=seed)
    t_start = time.time()
    with Run("reproduce latent-mimic", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, config, resume=resume, every=checkpoint_every)
        fit_z, fit_c = seeds.held_out(G, n_fit, seed, stream=seeds.MIMIC_FIT)
        ev_z, ev_c = seeds.held_out(G, n_eval, seed, stream=seeds.MIMIC_EVAL)
        wp_fit, wp_ev = G.to_space(fit_z, "w+", fit_c), G.to_space(ev_z, "w+", ev_c)
        with torch.no_grad():
            plain_ev = G.synthesize(wp_ev, space="w+", classes=ev_c)
        _, mats = G.latent_projections(None)
        u, _ = sefa_directions(torch.cat(list(mats.values())), k_latent)            # (k, w_dim)
        row_mask = torch.zeros(G.num_ws, 1, device=wp_fit.device)
        row_mask[row_list] = 1.0

        def latent_edit(wp, classes, vec):                     # vec (num_ws, w_dim): the w+ shift
            return G.synthesize(wp + vec, space="w+", classes=classes)

        def weight_edit(wp, classes, shift):
            return render_shifted(G, wp, layer, shift, space="w+", classes=classes)

        cases = []
        for i in range(k_latent):
            for space, mask in (("W", torch.ones_like(row_mask)), ("W+", row_mask)):
                vec = mask * u[i].to(wp_fit)
                a = _calibrate(lambda s: latent_edit(wp_ev[:8], ev_c[:8] if ev_c is not None else None, s * vec),
                               plain_ev[:8], target)
                cases.append({"name": f"sefa{i} in {space}", "kind": "weight mimics latent", "space": space,
                              "scale": a, "target": lambda wp, c, v=a * vec: latent_edit(wp, c, v),
                              "fit": "weight"})
        ref = calibration_reference(G)
        wdirs, sigma = svd_directions(W0, k_weight)
        for i in range(k_weight):
            T = calibrate_shift(G, layer, wdirs[i], target, reference=ref)
            shift = T * wdirs[i].to(W0)
            for space in ("W", "W+"):
                cases.append({"name": f"svd{i} of {layer.split('.')[1]} by {space}", "kind": "latent mimics weight",
                              "space": space, "scale": T, "target": lambda wp, c, s=shift: weight_edit(wp, c, s),
                              "fit": "latent"})
        controls = [dict(cases[-1], name=f"control: svd{k_weight - 1} by a weight shift", kind="control",
                         fit="weight", space="weight"),
                    dict(cases[0], name="control: sefa0 in W by a W shift", kind="control", fit="latent", space="W")]
        results, examples = [], []
        for j, case in enumerate(cases + controls):
            saved = subs.done(f"case{j}")
            if saved is None:
                with torch.no_grad():
                    tgt_fit = case["target"](wp_fit, fit_c)
                    tgt_ev = case["target"](wp_ev, ev_c)
                p = _fit(case, G, W0, wp_fit, fit_c, tgt_fit, weight_edit, latent_edit, steps, lr_weight, lr_latent,
                         seed)
                with torch.no_grad():
                    mimic = (weight_edit(wp_ev, ev_c, p) if case["fit"] == "weight"
                             else latent_edit(wp_ev, ev_c, _latent_vec(p, G.num_ws)))
                scores = mimic_scores(mimic, tgt_ev, plain_ev)
                state = {k: v for k, v in case.items() if k != "target"}
                state.update(scores=scores, shift_norm=float(p.norm()))
                ex = torch.stack([plain_ev[:3], tgt_ev[:3], mimic[:3]]).cpu()
                subs.finish(f"case{j}", {"examples": ex}, state)
            else:
                ex, state = saved[0]["examples"], saved[1]
            results.append(state)
            examples.append(ex)
        metrics = {"model": G.name, "model_text": G.describe(), "layer": layer, "rows": row_list,
                   "target_perceptual_change": target, "n_fit": n_fit, "n_eval": n_eval, "steps": steps,
                   "cases": results, "total_seconds": round(time.time() - t_start, 1),
                   "paper": "Sec. 4.3 / Fig. 8, 16: latent shifts in Z, W, W+ and the activations fail to mimic a "
                            "weight shift (images only, no number)"}
        _figures(tmp, results, examples)
        metrics = run.write_metrics(metrics)
        _report(tmp, metrics)
    subs.clear()
    summary = "\n".join(f"{r['name']}: ST-LPIPS to target median {r['scores']['stlpips']['median_mimic']:.3f} "
                        f"(do nothing {r['scores']['stlpips']['median_do_nothing']:.3f}), L2 ratio "
                        f"{r['scores']['l2']['ratio']:.2f}, closer for "
                        f"{r['scores']['l2']['paired']['asked_way']:.0%} of samples" for r in results)
    return {"out": Path(out), "metrics": metrics, "summary": summary}


def _latent_vec(p, num_ws: int):
    """A fitted latent shift as a w+ shift: a W shift (w_dim,) is the same on every row."""
    return p[None].expand(num_ws, -1) if p.dim() == 1 else p


def _fit(case, G, W0, wp, classes, targets, weight_edit, latent_edit, steps, lr_weight, lr_latent, seed):
    """The shift (weight-shaped, or (w_dim,) / (num_ws, w_dim) latent) fitted to ``targets``."""
    def cls(idx):
        return None if classes is None else classes[idx]

    if case["fit"] == "weight":
        return fit_shift(lambda idx, p: weight_edit(wp[idx], cls(idx), p), tuple(W0.shape), targets,
                         steps=steps, lr=lr_weight, seed=seed)[0]
    shape = (G.w_dim,) if case["space"] == "W" else (G.num_ws, G.w_dim)
    return fit_shift(lambda idx, p: latent_edit(wp[idx], cls(idx), _latent_vec(p, G.num_ws)), shape, targets,
                     steps=steps, lr=lr_latent, seed=seed)[0]


@torch.no_grad()
def _calibrate(render, plain, target: float) -> float:
    """The edit scale s at which ST-LPIPS(plain, render(s)) averaged over samples and +-s reaches ``target``."""
    def change(s: float) -> float:
        return 0.5 * sum(float(perceptual_distance(plain, render(v)).mean()) for v in (s, -s))
    return bisect_scale(change, target, start=0.5, iters=8, max_scale=1e3)


def _figures(folder: Path, results: list, examples: list) -> None:
    import matplotlib.pyplot as plt

    rows, labels = [], []
    for r, ex in zip(results, examples):
        for name, imgs in zip(("unshifted", "target", "mimic"), ex):
            rows.append(imgs)
            labels.append(f"{r['name']}: {name}")
    save_png(grid_image(rows, row_labels=labels, title="per case: unshifted, the edit to reproduce, the fitted mimic "
                                                       "(3 held-out codes)"), folder / "mimic_examples.png")
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.35 * len(results) + 1.5), dpi=110)
    names = [r["name"] for r in results]
    for ax, key, label in zip(axes, ("l2", "stlpips"), ("squared pixel error", "ST-LPIPS")):
        s = [r["scores"][key] for r in results]
        y = range(len(names))
        ax.barh([v - 0.2 for v in y], [x["median_do_nothing"] for x in s], height=0.4, color="grey", label="do nothing")
        ax.barh([v + 0.2 for v in y], [x["median_mimic"] for x in s], height=0.4, color="tab:blue", label="mimic")
        ax.set_yticks(list(y), names if key == "l2" else [""] * len(names), fontsize=7)
        ax.set_xlabel(f"{label} to the target, median over held-out samples", fontsize=8)
        ax.invert_yaxis()
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, folder / "mimic_errors.png")


def _report(folder: Path, m: dict) -> None:
    head = ["case", "kind", "scale", "L2 mimic median / mean", "L2 do-nothing median / mean", "L2 ratio",
            "ST-LPIPS mimic median / mean", "ST-LPIPS do-nothing median / mean", "samples closer (L2)"]
    rows = []
    for r in m["cases"]:
        s, l2 = r["scores"]["stlpips"], r["scores"]["l2"]
        rows.append([r["name"], r["kind"], r["scale"], f"{l2['median_mimic']:.4f} / {l2['mean_mimic']:.4f}",
                     f"{l2['median_do_nothing']:.4f} / {l2['mean_do_nothing']:.4f}", l2["ratio"],
                     f"{s['median_mimic']:.3f} / {s['mean_mimic']:.3f}",
                     f"{s['median_do_nothing']:.3f} / {s['mean_do_nothing']:.3f}", f"{l2['paired']['asked_way']:.0%}"])
    html.write_report(folder / "report.html", "Latent mimic in W and W+ (Cherepkov et al. Sec. 4.3)", [
        ("Set-up", html.text(
            f"{m['model_text']}; weight layer {m['layer']}; W+ edits move rows {m['rows']}. Every edit calibrated to "
            f"mean ST-LPIPS {m['target_perceptual_change']}; fits: {m['steps']} Adam steps on {m['n_fit']} codes, "
            f"judged on {m['n_eval']} held-out codes. Total {m['total_seconds']} s.")),
        ("Errors to the target, per sample", html.text(
            "scale: the latent edit's length in w units, or the weight shift's Frobenius norm T. ratio: mean mimic "
            "error / mean do-nothing error (0: reproduced, 1: no help). Samples closer: the fraction of held-out "
            "samples the fitted shift brings closer to the target than doing nothing.") + html.table(head, rows)
         + html.image("mimic_errors.png", "errors")),
        ("Examples", html.image("mimic_examples.png", "examples"))])
