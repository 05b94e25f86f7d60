"""`steerlab reproduce svd-realism`: Cherepkov et al. Sec. 4.2, Fig. 7, re-judged against real data.

The paper's claim: at the same strength of effect, weight shifts along the SVD baseline's
directions hurt realism (FID) more than those of the optimisation, Hessian and hybrid methods
("the SVD baseline is inferior to three advanced methods").

The protocol here, on a model with a dataset (default: the bundled ``shapes``):

1. each method finds ``k`` directions in one layer (svd, hessian, optimize by default);
2. every direction's range T_k is calibrated on ``n_calibrate`` fixed codes so that the mean
   ST-LPIPS change G_theta(z) -> G_{theta +- T_k xi_k}(z) equals ``target`` (the matched effect;
   the paper matched "wheel size" by hand); the change actually reached is then measured per
   sample on the FID codes (median, IQR), so the match is checked, not assumed;
3. FID against ``n_data`` images of the model's dataset (a draw the model was not trained on),
   ``n_fid`` generated samples per direction and signed shift t in {+-f T_k} (f in ``fractions``),
   on the model card's feature network; per method, the samples of its k directions at +-T_k are
   pooled and the FID difference SVD - other method gets a bootstrap confidence interval
   (`steerlab.metrics.fid.fid_difference_ci`): the claim holds for a pair when the interval lies
   above 0, is contradicted when it lies below 0, and is undecided otherwise;
4. per sample: each sample's distance to the real feature manifold (`steerlab.metrics.precision`),
   paired against the same z unshifted - the fraction of samples a shift pushes further from the
   data and the fraction inside the manifold (k-NN precision).

Writes metrics.json, ``fid_per_method.png`` (pooled FID per method with its CI, each direction's
FID as a dot), ``fid_vs_shift.png`` (Fig. 7's curves: FID vs t / T_k), ``strip_<method>.png`` and
report.html.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import Tensor

from steerlab.core import seeds
from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.reproduce._resume import SubRuns

PAPER_CLAIM = ("SVD directions hurt realism more than the optimisation, Hessian and hybrid directions at the same "
               "effect (Cherepkov et al. Sec. 4.2, Fig. 7: FID of 'wheel size' shifts on StyleGAN2 LSUN-Cars, "
               "5e4 samples per point)")
COLOURS = {"svd": "tab:red", "hessian": "tab:blue", "optimize": "tab:green", "hybrid": "tab:purple"}


def find_weight_directions(G, method: str, layer: str, k: int, *, train_limit: float, hessian_n_z: int,
                           optimize_steps: int, seed: int, progress: bool) -> tuple[Tensor, dict]:
    """``(xi (k, *weight_shape) unit-norm, run-level info)`` of one registered weight method.

    ``train_limit`` is the one shift range T the methods that train (Eq. 1) train with; the
    ranges the comparison uses are calibrated afterwards, per direction, by the caller (so the
    method's own 8-code calibration is skipped).
    """
    from steerlab.methods import METHODS

    entry = METHODS.get(method)
    if entry.family != "weight":
        raise ValueError(f"'{method}' is not a weight-space method; allowed: "
                         + ", ".join(m.name for m in METHODS.values() if m.family == "weight"))
    cfg = entry.make_config(strict=False, layer=layer, k=k, limit=train_limit, n_z=hessian_n_z, stable_overlap=0.0,
                            steps=optimize_steps, seed=seed, progress=progress)
    learned = entry(G, cfg)
    return torch.stack([d.tensors["xi"] for d in learned]), learned.info


def fid_ci(reference: Tensor, x: Tensor, *, n_boot: int, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of FID(reference, x) (both feature sets resampled with replacement)."""
    from steerlab.metrics.fid import frechet_distance

    g = torch.Generator().manual_seed(seed)
    vals = [frechet_distance(reference[torch.randint(0, len(reference), (len(reference),), generator=g)],
                             x[torch.randint(0, len(x), (len(x),), generator=g)]) for _ in range(n_boot)]
    lo, hi = torch.tensor(vals, dtype=torch.float64).quantile(
        torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)).tolist()
    return lo, hi


def verdict(ci: dict) -> str:
    """'holds' (SVD worse: interval above 0), 'contradicted' (below 0) or 'undecided' (contains 0)."""
    return "holds" if ci["low"] > 0 else "contradicted" if ci["high"] < 0 else "undecided"


@torch.no_grad()
def _render(G, z: Tensor, classes: Tensor | None, layer: str, shift: Tensor | None, batch: int = 250) -> Tensor:
    from steerlab.directions.ops import render_shifted

    out = []
    for i in range(0, z.shape[0], batch):
        c = None if classes is None else classes[i:i + batch]
        out.append(G.synthesize(z[i:i + batch], classes=c) if shift is None
                   else render_shifted(G, z[i:i + batch], layer, shift, classes=c))
    return torch.cat(out)


def reproduce_svd_realism(out: str | os.PathLike = "runs/svd-realism", *, model: str = "shapes",
                          layer: str = "conv2.weight", methods: tuple[str, ...] = ("svd", "hessian", "optimize"),
                          k: int = 4, target: float = 0.15, fractions: tuple[float, ...] = (0.5, 1.0),
                          n_fid: int = 1000, n_data: int = 2000, n_calibrate: int = 32, n_lpips: int = 256,
                          n_boot: int = 200, hessian_n_z: int = 32, optimize_steps: int = 300,
                          seed: int = 0, overwrite: bool = False, device: str = "cpu", progress: bool = True,
                          resume: bool = False, checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """SVD vs the other weight methods' directions: FID against the data at matched perceptual change.

    Args:
        out: run folder.
        model: a zoo name or generator file whose card names a registered dataset.
        layer: the weight every method shifts (see `steerlab layers`).
        methods: registered weight methods; the first is compared with each of the others
            (default: svd first).
        k: directions per method (the top k of svd and hessian; optimize learns k).
        target: the matched effect, mean ST-LPIPS change at +-T_k, in (0, 1).
        fractions: t / T_k at which FID is measured (each at + and -; 1.0 must be among them).
        n_fid: generated samples per direction and signed shift (>= 1000 for the re-judged claim).
        n_data: dataset images of the FID reference (a second draw of ``n_fid`` gives the floor).
        n_calibrate: codes T_k is calibrated on; n_lpips: FID codes the reached change is measured on.
        n_boot: bootstrap resamples of each confidence interval (95 %).
        hessian_n_z: codes of the Hessian's batch; optimize_steps: Adam steps of the optimisation.
        resume, checkpoint_every: each method's directions are kept as a finished sub-run beside
            ``out`` (`_resume.SubRuns`); ``resume`` reads them back.

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``.
    """
    from steerlab.core.runs import Run
    from steerlab.data.registry import DATASETS, get_dataset
    from steerlab.methods.paramspace.calibrate import calibrate_shift, calibration_codes, calibration_reference
    from steerlab.methods.paramspace.shifts import layer_weight
    from steerlab.methods.paramspace.svd import svd_directions
    from steerlab.metrics import shapes_features  # noqa: F401  (registers "shapes-classifier")
    from steerlab.metrics.fid import feature_network, fid_difference_ci, frechet_distance, image_features
    from steerlab.metrics.perceptual import perceptual_compare, perceptual_features
    from steerlab.metrics.precision import manifold_radii, realism_scores
    from steerlab.metrics.stats import paired_change
    from steerlab.models import load_model

    methods = tuple(methods)
    fractions = tuple(sorted({float(f) for f in fractions}))
    if len(methods) < 2 or len(set(methods)) != len(methods):
        raise ValueError(f"methods must name >= 2 different weight methods (the first is compared with the others), "
                         f"got {list(methods)}")
    if 1.0 not in fractions or not all(0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must lie in (0, 1] and include 1.0, got {list(fractions)}")
    if not 0 < target < 1:
        raise ValueError(f"target perceptual change must be in (0, 1), got {target}")
    for name, v, lo in (("k", k, 1), ("n_fid", n_fid, 10), ("n_data", n_data, 10), ("n_calibrate", n_calibrate, 1),
                        ("n_lpips", n_lpips, 1), ("n_boot", n_boot, 10), ("hessian_n_z", hessian_n_z, 1),
                        ("optimize_steps", optimize_steps, 1)):
        if int(v) < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v}")
    G = load_model(model, device=device)
    card = getattr(G, "card", None) or {}
    if card.get("dataset") not in DATASETS:
        raise ValueError(f"model '{G.name}' names no registered dataset in its card (allowed: "
                         f"{', '.join(DATASETS.names())}); svd-realism measures FID against real data")
    features = card.get("fid_features", "stlpips-vgg")
    t_start = time.time()
    with Run("reproduce svd-realism", out, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, dict(model=model, fingerprint=G.fingerprint, layer=layer, methods=list(methods), k=k,
                                 target=target, hessian_n_z=hessian_n_z, optimize_steps=optimize_steps, seed=seed),
                       resume=resume, every=checkpoint_every)
        net = feature_network(features, device)
        res = card.get("resolution_data", G.resolution)
        data, _, _ = get_dataset(card["dataset"], n_data + n_fid, res, seed + seeds.EVAL_HELD_OUT)
        ref = image_features(net, data[:n_data], device=device).cpu()
        radii = manifold_radii(ref)
        floor = frechet_distance(ref, image_features(net, data[n_data:], device=device).cpu())
        z, classes = seeds.held_out(G, n_fid, seed)
        base_img = _render(G, z, classes, layer, None)
        base = image_features(net, base_img, device=device).cpu()
        base_score = realism_scores(ref, base, radii=radii)
        base_lp = perceptual_features(base_img[:n_lpips])
        zc, cc = calibration_codes(G, n_calibrate)
        cal_ref = calibration_reference(G, zc, cc)
        m: dict = {"model": G.name, "fingerprint": G.fingerprint, "layer": layer, "dataset": card["dataset"],
                   "feature_network": features, "paper_claim": PAPER_CLAIM, "target_perceptual_change": target,
                   "reference": f"{n_data} images of the dataset '{card['dataset']}' (seed stream EVAL_HELD_OUT)",
                   "n_fid": n_fid, "n_data": n_data, "fid_real_floor": floor,
                   "fid_unshifted": frechet_distance(ref, base), "fid_unshifted_ci": fid_ci(ref, base, n_boot=n_boot,
                                                                                          seed=seed),
                   "precision_unshifted": float((base_score <= 1).double().mean()),
                   "config": dict(methods=list(methods), k=k, fractions=list(fractions), n_calibrate=n_calibrate,
                                  n_lpips=n_lpips, n_boot=n_boot, hessian_n_z=hessian_n_z,
                                  optimize_steps=optimize_steps, seed=seed, device=str(device)),
                   "methods": {}, "comparisons": {}}
        # Eq. 1's one training range, as the optimisation method picks it: the calibrated T of the
        # top singular direction (here on the n_calibrate codes)
        svd_basis = svd_directions(layer_weight(G, layer), k)[0].flatten(1)  # (k, dim): how far each method is from SVD
        top = svd_basis[0].reshape(layer_weight(G, layer).shape)
        m["train_limit"] = calibrate_shift(G, layer, top, target, reference=cal_ref)
        pooled, dirs_of = {}, {}
        for method in methods:
            t0 = time.time()
            saved = subs.done(method)
            if saved is None:
                xi, info = find_weight_directions(G, method, layer, k, train_limit=m["train_limit"],
                                                  hessian_n_z=hessian_n_z,
                                                  optimize_steps=optimize_steps, seed=seed, progress=progress)
                seconds = round(time.time() - t0, 1)
                solver = info.get("solver", {})
                kept = {"seconds": seconds, "hessian_overlap": solver.get("overlap"),
                        "eigenvalues": info.get("eigenvalues"), "singular_values": info.get("singular_values")}
                subs.finish(method, {"xi": xi}, kept)
            else:
                xi, kept = saved[0]["xi"], saved[1]
            xi = xi.to(G.device)
            rows, feats_T = [], []
            for i in range(xi.shape[0]):
                T = calibrate_shift(G, layer, xi[i], target, reference=cal_ref)
                row = {"index": i, "T": T, "max_abs_cos_to_svd": float((svd_basis @ xi[i].flatten()).abs().max()),
                       "fid": {}, "per_sample": {}}
                for f in fractions:
                    for sign in (-1, 1):
                        img = _render(G, z, classes, layer, sign * f * T * xi[i])
                        feats = image_features(net, img, device=device).cpu()
                        key = f"{sign * f:+.2f}"
                        row["fid"][key] = frechet_distance(ref, feats)
                        if f == 1.0:
                            feats_T.append(feats)
                            change = perceptual_compare(base_lp, perceptual_features(img[:n_lpips])).cpu()
                            score = realism_scores(ref, feats, radii=radii)
                            row["per_sample"][key] = {
                                "perceptual_change": paired_change(torch.zeros_like(change), change, sign=1),
                                "realism_score": paired_change(base_score, score, sign=None),
                                "precision": float((score <= 1).double().mean())}
                both = torch.cat(feats_T[-2:])
                row["fid_at_T"] = frechet_distance(ref, both)
                rows.append(row)
            pooled[method] = torch.cat(feats_T)
            dirs_of[method] = (xi.cpu(), [r["T"] for r in rows])
            lo, hi = fid_ci(ref, pooled[method], n_boot=n_boot, seed=seed)
            m["methods"][method] = {"directions": rows, "fid_pooled_at_T": frechet_distance(ref, pooled[method]),
                                    "fid_pooled_ci": [lo, hi], "n_pooled": int(pooled[method].shape[0]), **kept}
        first = methods[0]
        for other in methods[1:]:
            ci = fid_difference_ci(ref, pooled[first], pooled[other], n_boot=n_boot, seed=seed)
            m["comparisons"][f"{first}-{other}"] = {**ci, "verdict": verdict(ci)}
        m["seconds"] = round(time.time() - t_start, 1)
        m["summary"] = summary(m)
        _figures(tmp, G, layer, m, dirs_of, seed)
        m = run.write_metrics(m)
        _report(tmp, m)
    subs.clear()
    return {"out": Path(out), "metrics": m, "summary": m["summary"]}


def summary(m: dict) -> str:
    """One line per compared pair: the pooled FIDs, the difference with its CI and the verdict."""
    lines = [f"FID vs {m['reference']} on '{m['feature_network']}' (real-vs-real floor {m['fid_real_floor']:.1f}, "
             f"unshifted G {m['fid_unshifted']:.1f}); every direction at +-T_k, matched ST-LPIPS change "
             f"{m['target_perceptual_change']}:"]
    for pair, c in m["comparisons"].items():
        a, b = pair.split("-", 1)
        lines.append(f"  {a} {c['fid_a']:.1f} vs {b} {c['fid_b']:.1f}: difference {c['difference']:+.1f} "
                     f"[{c['low']:+.1f}, {c['high']:+.1f}] ({c['level']:.0%} CI) -> 'SVD hurts realism more' "
                     f"{c['verdict']}")
    return "\n".join(lines)


def _figures(folder: Path, G, layer: str, m: dict, dirs_of: dict, seed: int) -> None:
    from steerlab.report.plots import grid_image, plt, save_figure, save_png

    methods = list(m["methods"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    ax = axes[0]
    labels = ["unshifted"] + methods
    vals = [m["fid_unshifted"]] + [m["methods"][x]["fid_pooled_at_T"] for x in methods]
    cis = [m["fid_unshifted_ci"]] + [m["methods"][x]["fid_pooled_ci"] for x in methods]
    for j, (v, (lo, hi)) in enumerate(zip(vals, cis)):
        colour = COLOURS.get(labels[j], "grey")
        ax.bar(j, v, color=colour, alpha=0.5)
        ax.errorbar(j, v, yerr=[[v - lo], [hi - v]], color="k", capsize=4)
        if j:
            per = [r["fid_at_T"] for r in m["methods"][labels[j]]["directions"]]
            ax.scatter([j + 0.25] * len(per), per, s=12, color=colour, zorder=3)
    ax.axhline(m["fid_real_floor"], color="grey", ls=":", lw=1, label="real vs real (floor)")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel(f"FID vs data ({m['feature_network']})")
    ax.set_title("pooled at +-T_k, 95% bootstrap CI; dots: each direction", fontsize=8)
    ax.legend(fontsize=7)
    ax = axes[1]
    for x in methods:
        for r in m["methods"][x]["directions"]:
            ts = sorted(float(t) for t in r["fid"])
            ys = [r["fid"][f"{t:+.2f}"] for t in ts]
            ts, ys = ts[:len(ts) // 2] + [0.0] + ts[len(ts) // 2:], ys[:len(ys) // 2] + [m["fid_unshifted"]] + ys[len(ys) // 2:]
            ax.plot(ts, ys, "o-", ms=3, lw=1, color=COLOURS.get(x, "grey"), label=x if r["index"] == 0 else None)
    ax.axhline(m["fid_real_floor"], color="grey", ls=":", lw=1)
    ax.set_xlabel("t / T_k (T_k: matched ST-LPIPS change)")
    ax.set_ylabel("FID vs data")
    ax.set_title("Fig. 7: FID vs shift, one line per direction", fontsize=8)
    ax.legend(fontsize=7)
    fig.suptitle(f"{m['model']} {layer}: realism at matched effect (target ST-LPIPS {m['target_perceptual_change']})",
                 fontsize=9)
    fig.tight_layout()
    save_figure(fig, folder / "fid_per_method.png")
    z, classes = seeds.held_out(G, 2, seed + seeds.HELD_OUT_FIGURE_ROWS)
    fracs = [i / 3 for i in range(-3, 4)]  # -T .. +T, 0 exactly (linspace gives -3e-08)
    for x, (xi, Ts) in dirs_of.items():
        rows, row_labels = [], []
        for i, T in enumerate(Ts):
            for s in range(z.shape[0]):
                c = None if classes is None else classes[s:s + 1]
                rows.append(torch.cat([_render(G, z[s:s + 1], c, layer, float(f) * T * xi[i].to(G.device))
                                       for f in fracs]))
                row_labels.append(f"k{i} z{s}")
        save_png(grid_image(rows, col_labels=["0" if f == 0 else f"{f:+.2g}T" for f in fracs], row_labels=row_labels, scale=2,
                            title=f"{x}: each direction over t in [-T_k, T_k]"), folder / f"strip_{x}.png")


def _report(folder: Path, m: dict) -> None:
    from steerlab.report import html

    def ps(r: dict, key: str) -> str:
        p = r["per_sample"][key]
        lp, sc = p["perceptual_change"], p["realism_score"]
        return (f"{lp['median']:.3f} [{lp['q25']:.3f}, {lp['q75']:.3f}]; score {sc['median']:+.3f}, "
                f"{sc['increased']:.2f} further out; precision {p['precision']:.2f}")

    rows = [[x, f"k{r['index']}", f"{r['T']:.4g}", *[f"{r['fid'][key]:.1f}" for key in sorted(r["fid"], key=float)],
             f"{r['fid_at_T']:.1f}", ps(r, "-1.00"), ps(r, "+1.00")]
            for x, mm in m["methods"].items() for r in mm["directions"]]
    keys = sorted(next(iter(m["methods"].values()))["directions"][0]["fid"], key=float)
    comp = [[pair, f"{c['fid_a']:.1f}", f"{c['fid_b']:.1f}", f"{c['difference']:+.1f}",
             f"[{c['low']:+.1f}, {c['high']:+.1f}]", c["verdict"]] for pair, c in m["comparisons"].items()]
    sections = [
        ("Claim", html.text(m["paper_claim"] + ". Here: " + m["summary"].replace("\n", " "))),
        ("Set-up", html.text(
            f"Model {m['model']} ({m['fingerprint']}), layer {m['layer']}. Reference: {m['reference']}; "
            f"{m['n_fid']} generated samples per direction and signed shift (the same held-out z for every "
            f"direction); features '{m['feature_network']}' (not Inception). Real-vs-real floor "
            f"{m['fid_real_floor']:.1f} ({m['n_fid']} vs {m['n_data']} images); unshifted G {m['fid_unshifted']:.1f}, "
            f"k-NN precision {m['precision_unshifted']:.2f}. T_k calibrated on {m['config']['n_calibrate']} codes to "
            f"a mean ST-LPIPS change of {m['target_perceptual_change']}; {m['seconds']} s in all.")),
        ("Method comparison (pooled +-T_k)", html.table(["pair", "FID a", "FID b", "a - b", "95% CI", "verdict"], comp)
         + html.image("fid_per_method.png", "FID per method")),
        ("Per direction", html.text(
            "FID per signed t / T_k; per sample at -T_k and +T_k on the same z: ST-LPIPS change to the unshifted "
            "image, median [25th, 75th percentile] (the matched effect, checked per sample); the median paired change "
            "of the realism score (distance to the real k-NN manifold, <= 1 inside) and the fraction of samples "
            "pushed further from the data; k-NN precision (fraction inside).")
         + html.table(["method", "k", "T_k", *[f"FID {key}" for key in keys], "FID +-T", "per sample at -T",
                       "per sample at +T"], rows))]
    for x in m["methods"]:
        sections.append((f"{x} strips", html.image(f"strip_{x}.png", x)))
    html.write_report(folder / "report.html", "reproduce: does SVD hurt realism more? (Cherepkov et al. Fig. 7)",
                      sections)
