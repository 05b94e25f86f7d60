"""Python API of the parameter-space commands (`steerlab layers`, `discover`, `analyze-weights`).

    >>> import steerlab.jobs.discover as pa
    >>> pa.layers("faces")[2]["name"]                                              # doctest: +SKIP
    'conv3.weight'
    >>> run = pa.discover("faces", "hessian", "conv3.weight", k=16, out="runs/h3")  # doctest: +SKIP

A `discover` run folder holds ``directions/k00.safetensors`` ... (one "weight" `Direction`
per file, readable ``.json`` beside each; ``config.index`` is k), ``overview.png`` (one row per
direction), ``grid_k00.png`` ... (Sec. 3.5: rows = samples, columns = t in [-T_k, T_k]),
the analyses asked for (``locality.png``, ``fid_vs_shift.png``, ``mimic`` numbers),
``metrics.json`` and ``report.html``.

Shift magnitudes: t is the Frobenius norm of the weight shift. Unless ``limit`` fixes one T for
all, each direction's range T_k is *calibrated*: the t at which the mean ST-LPIPS change of
G_theta(z) -> G_{theta +- t xi_k}(z) reaches ``target`` (default 0.15), so every grid shows a
comparable, visible change and methods are compared at matched perceptual change. The
optimisation and hybrid methods train with one T (Eq. 1): the shift at which their first basis
direction (top singular vector / top eigenvector) reaches ``target``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import torch

from steerlab.core import checks
from steerlab.core.runs import Run, fresh_folder
from steerlab.directions import Direction
from steerlab.directions.ops import ShiftRenderer
from steerlab.evaluation import weights as insp
from steerlab.jobs.common import model_of
from steerlab.methods import METHODS as REGISTRY
from steerlab.methods.paramspace.shifts import layer_table, layer_weight
from steerlab.models import Generator
from steerlab.report import html
from steerlab.report.plots import grid_image, line_plot, save_figure, save_png

METHODS = tuple(m.name for m in REGISTRY.values() if m.family == "weight")  # svd, optimize, hessian, hybrid...
ANALYSES = ("locality", "fid", "mimic")


def layers(model: str | Generator, device: str = "cpu") -> list[dict]:
    """The weights of ``model`` a direction may shift (see `paramspace.shifts.layer_table`)."""
    return layer_table(model_of(model, device))


def _check_analyses(what: Sequence[str]) -> list[str]:
    what = [w.strip() for w in what if w.strip()]
    bad = [w for w in what if w not in ANALYSES]
    if bad:
        raise ValueError(f"unknown analysis {bad[0]!r}; allowed: {', '.join(ANALYSES)}")
    return what


def find_directions(G: Generator, method: str, layer: str, k: int, *, checkpoint: str | Path | None = None,
                    progress: bool = True, **options) -> list[Direction]:
    """Run one weight-space method of the registry (`steerlab.methods.METHODS`) on ``layer``.

    ``options``: the method's Config fields (limit, target, steps, lam, n_z, eigen...); options
    another method takes are ignored, so one set of options serves every method.

    Returns:
        ``k`` calibrated "weight" Directions (a `steerlab.methods.Learned` list: ``.info`` holds
        the run-level results); no files but the optimisation's checkpoint.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method '{method}'; allowed: {', '.join(METHODS)}")
    entry = REGISTRY.get(method)
    config = entry.make_config(strict=False, layer=layer, k=k, progress=progress,
                               checkpoint=None if checkpoint is None else str(checkpoint), **options)
    return entry(G, config)


def discover(model: str | Generator, method: str, layer: str | None = None, *, k: int = 16,
             out: str | os.PathLike | None = None, overwrite: bool = False, limit: float | None = None,
             target: float = 0.15, steps: int = 1000, batch_size: int = 16, lr: float = 1e-3,
             lam: float = 0.25, n_z: int = 32, eigen: int | None = None, tol: float = 1e-2,
             block: int = 1, overlap: bool = True, seed: int = 0, analyze: Sequence[str] = ("locality",),
             stable_overlap: float = 0.9, max_n_z: int = 1024, stable_k: int = 4,
             n_grid_z: int = 3, n_shifts: int = 7, device: str = "cpu", resume: bool = True,
             progress: bool = True, analysis_kw: dict | None = None,
             truncation: float | None = None,
             truncation_cutoff: int | None = None, checkpoint_every: int = 100, **latent_options) -> dict:
    """Discover ``k`` weight directions of one layer and write a run folder (`steerlab discover`).

    A method of the "latent" family (sefa, ganspace, boundary, latent-discovery) takes no ``layer``
    and runs `steerlab.jobs.latent.discover_latent` instead, with ``k``, ``steps``, ``batch_size``,
    ``lr``, ``lam``, ``limit`` (its alpha range, in standard deviations) and ``latent_options``
    (attribute, condition, layers, space, n_samples, fraction, feature_layer, shift, width).

    Args:
        model: zoo name, generator file or a `Generator`.
        method: "svd" (Sec. 4.2), "optimize" (Sec. 3.2), "hessian" (Sec. 3.3), "hybrid" (Sec. 3.4).
        layer: a weight name from `layers`.
        k: number of directions.
        limit: one shift range T for every direction; default: calibrated per direction.
        target: perceptual change (mean ST-LPIPS) that calibrates T.
        steps, batch_size, lr, lam: Eq. 1 training (optimize, hybrid).
        n_z, tol, block: Hessian batch of z, Lanczos tolerance and block (hessian, hybrid).
        overlap: hessian: also solve on a second, disjoint batch of n_z codes; metrics.json's
            ``hessian_overlap`` is the top-k subspace overlap of the two (1: stable),
            ``hessian_overlap_prefix`` the top-j ones (j = 1 .. k), ``hessian_n_z`` the batch
            they were measured at. Off: one solve at ``n_z``, no growth.
        stable_overlap, max_n_z, stable_k: hessian: grow n_z until the top-``stable_k`` overlap
            reaches ``stable_overlap`` (in [0, 1]; 0: off; default 0.9), up to ``max_n_z``
            (`paramspace.stable`); every try is in metrics.json's ``hessian_overlap_history``.
            On a CPU a large layer can take hours (`faces` conv2 needs 1024 z).
        eigen: eigenvectors spanning the hybrid's subspace (default k).
        analyze: any of "locality", "fid", "mimic" (see `paramspace.inspect`).
        resume: continue an interrupted optimisation from its checkpoint (beside ``out``).
        checkpoint_every: Eq. 1 steps between two checkpoints (optimize, hybrid).

    Under torchrun the Eq. 1 training (optimize, hybrid) and the Hessian products (hessian,
    hybrid) are data-parallel (`steerlab.core.distributed`); calibration, grids and analyses then run
    on rank 0, which alone writes.

    Returns:
        ``{"out": Path, "directions": [Path, ...], "metrics": dict}``.
    """
    from steerlab.jobs.latent import LATENT_METHODS, discover_latent

    if method in LATENT_METHODS:
        if layer is not None:
            raise ValueError(f"--layer names a weight; the latent method '{method}' takes none (StyleGAN w+ rows: "
                             "--layers)")
        takes = {o.name for o in REGISTRY.get(method).options()}
        shared = {"steps": steps, "batch_size": batch_size, "lr": lr, "lam": lam, "limit": limit,
                  "checkpoint_every": checkpoint_every}
        latent_options.update({key: v for key, v in shared.items() if key in takes and v is not None})
        return discover_latent(model, method, k=k, out=out, overwrite=overwrite, seed=seed, device=device,
                               progress=progress, truncation=truncation, truncation_cutoff=truncation_cutoff, **latent_options)
    if method not in METHODS:  # fail fast, before any work
        raise ValueError(f"unknown method '{method}'; allowed: {', '.join(METHODS + LATENT_METHODS)}")
    if layer is None:
        raise ValueError(f"the weight method '{method}' needs a layer (see `steerlab layers`)")
    if latent_options:
        raise ValueError(f"the weight method '{method}' takes no option '{next(iter(latent_options))}' "
                         "(options of the latent methods)")
    what = _check_analyses(analyze)
    checks.check_int("k", k, 1, 4096)
    checks.check_int("steps", steps, 1, checks.MAX_STEPS)
    checks.check_int("batch_size", batch_size, 1, checks.MAX_BATCH)
    checks.check_float("lr", lr, 0, 100)
    checks.check_float("target", target, 0, 1e3)
    checks.check_int("n_z", n_z, 1, checks.MAX_BATCH)
    checks.check_int("max_n_z", max_n_z, 1, checks.MAX_BATCH)
    checks.check_float("stable_overlap", stable_overlap, 0, 1, lo_open=False)
    checks.check_int("stable_k", stable_k, 0, 4096)
    checks.check_int("checkpoint_every", checkpoint_every, 1, checks.MAX_STEPS)
    if limit is not None:
        checks.check_float("limit (--shift)", limit, 0, 1e6)
    if eigen is not None:
        checks.check_int("eigen", eigen, 1, 4096)
    G = model_of(model, device, truncation, truncation_cutoff)
    layer_weight(G, layer)
    out = Path(out or f"runs/{G.name}-{method}-{layer.replace('.', '_')}")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    ckpt = out.parent / f".{out.name}.ckpt"  # beside the run folder: survives an interrupted run
    config = dict(model=G.name, method=method, layer=layer, k=k, limit=limit, target=target, steps=steps,
                  batch_size=batch_size, lr=lr, lam=lam, n_z=n_z, eigen=eigen, tol=tol, block=block, seed=seed,
                  analyze=what, truncation=truncation, truncation_cutoff=truncation_cutoff, overlap=overlap,
                  stable_overlap=stable_overlap, max_n_z=max_n_z, stable_k=stable_k)
    with Run("discover", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        t0 = time.time()
        directions = find_directions(G, method, layer, k, limit=limit, target=target, steps=steps,
                                     batch_size=batch_size, lr=lr, lam=lam, n_z=n_z, eigen=eigen, tol=tol,
                                     block=block, overlap=overlap, stable_overlap=stable_overlap, max_n_z=max_n_z,
                                     stable_k=stable_k,
                                     seed=seed, checkpoint=ckpt, resume=resume,
                                     progress=progress, checkpoint_every=checkpoint_every)
        info = directions.info
        seconds = time.time() - t0
        if tmp is None:  # data-parallel: the directions are found; rank 0 calibrates and writes
            return {"out": out, "directions": [], "metrics": run.record({"method": method, "layer": layer,
                                                                         "find_seconds": seconds})}
        paths = [d.save(tmp / "directions" / f"k{i:02d}") for i, d in enumerate(directions)]
        metrics = {"model": G.name, "fingerprint": G.fingerprint, "method": method, "layer": layer,
                   "k": k, "find_seconds": round(seconds, 1), "target_perceptual_change": target,
                   "fixed_limit": limit, "seed": seed,
                   **{key: v for key, v in info.items() if key not in ("method", "layer")}}
        if "overlap" in info.get("solver", {}):  # the Hessian's stability under a new draw of z
            metrics["hessian_overlap"] = info["solver"]["overlap"]
            metrics["hessian_overlap_prefix"] = info["solver"]["overlap_prefix"]
            metrics["hessian_stable_k"] = info["solver"]["stable_k"]
            metrics["hessian_n_z"] = info["solver"]["n_z"]
            metrics["hessian_gaps"] = info["solver"].get("gaps")
            if "overlap_history" in info["solver"]:  # stable_overlap: every batch size tried
                metrics["hessian_overlap_history"] = info["solver"]["overlap_history"]
                metrics["hessian_stable"] = info["solver"]["stable"]
        metrics["directions"] = analyze_directions(G, directions, tmp, what=what, n_grid_z=n_grid_z,
                                                   n_shifts=n_shifts, seed=seed, progress=progress,
                                                   **(analysis_kw or {}))
        metrics = run.write_metrics(metrics)
        _report(tmp, G, directions, metrics, what)
    for suffix in (".safetensors", ".json"):
        ckpt.with_suffix(suffix).unlink(missing_ok=True)
    return {"out": out, "directions": [out / "directions" / p.name for p in paths], "metrics": metrics}


def analyze_directions(G: Generator, directions: Sequence[Direction], folder: Path, *,
                       what: Sequence[str] = ("locality",), n_grid_z: int = 3, n_shifts: int = 7,
                       seed: int = 0, fid_n: int = 200, fid_shifts: int = 3, locality_n: int = 64,
                       mimic_count: int = 5, mimic_steps: int = 150, progress: bool = True) -> list[dict]:
    """Grids for every direction and the analyses in ``what``, written into ``folder``.

    Returns one dict of numbers per direction (also stored in ``metrics.json``).
    """
    from tqdm.auto import tqdm

    rows, overview, labels = [], [], []
    fid_ref, fid_series, heats, mimic_spaces = None, {}, [], [*G.latent_spaces, insp.ACTIVATION_SPACE]
    fid_zero, fid_ref_name, locality_base, pictures = None, None, None, {}
    for i, d in enumerate(tqdm(directions, desc="analyse", disable=not progress, leave=False)):
        layer, xi, T = d.config["layer"], d.tensors["xi"].to(G.device), d.alpha.alpha_range[1]
        row = {"index": d.config.get("index", i), "file": f"directions/k{i:02d}.safetensors",
               "limit": T, **{k: v for k, v in d.metrics.items() if not isinstance(v, list)}}
        if layer not in pictures:  # the grid's codes and the overview's one, rendered together, once per layer
            (zg, cg), (z1, c1) = insp.sample_codes(G, n_grid_z, seed), insp.sample_codes(G, 1, seed)
            pictures[layer] = ShiftRenderer(G, layer, torch.cat([zg, z1]),
                                            classes=None if cg is None else torch.cat([cg, c1]))
        ts = torch.linspace(-T, T, n_shifts)
        imgs = torch.stack([pictures[layer](xi, t) for t in ts.tolist()])  # (n_shifts, n_grid_z + 1, C, H, W)
        save_png(grid_image(list(imgs[:, :n_grid_z].transpose(0, 1)), col_labels=insp.shift_labels(ts, T), scale=2,
                            title=f"k{i:02d}: shift along the direction"), folder / f"grid_k{i:02d}.png")
        overview.append(imgs[:, n_grid_z])
        labels.append(f"k{i:02d}")
        if "locality" in what:
            if locality_base is None or locality_base[0].layer != layer:  # G(z) once for every direction
                locality_base = insp.shift_renderers(G, layer, locality_n, seed)
            heat, conc = insp.locality_heatmap(G, layer, xi, [t for t in ts.tolist() if t != 0],
                                               n=locality_n, seed=seed, renderers=locality_base)
            heats.append(heat)
            row["locality_concentration"] = conc
        if "fid" in what:
            fts = [t for t in torch.linspace(-T, T, fid_shifts).tolist() if abs(t) > 1e-12 * T]
            res = insp.fid_vs_shift(G, layer, xi, fts, n=fid_n, seed=seed, reference=fid_ref,
                                    reference_name=fid_ref_name)
            fid_ref, fid_ref_name = res["reference"], res["reference_name"]
            if fid_zero is None:
                fid_zero = insp.fid_vs_shift(G, layer, xi, [0.0], n=fid_n, seed=seed, reference=fid_ref)["fid"][0]
            xs, ys = res["t"] + [0.0], res["fid"] + [fid_zero]
            order = sorted(range(len(xs)), key=lambda j: xs[j])
            fid_series[f"k{i:02d}"] = ([xs[j] / T for j in order], [ys[j] for j in order])
            row.update(fid_t=[xs[j] for j in order], fid=[ys[j] for j in order], fid_at_T=(res["fid"][0] + res["fid"][-1]) / 2,
                       fid_unshifted=fid_zero, fid_feature_network=res["feature_network"], fid_n=fid_n,
                       fid_reference=fid_ref_name)
        if "mimic" in what and i < mimic_count:
            row["mimic"] = [insp.latent_mimic(G, layer, xi, T, space=s, steps=mimic_steps, seed=seed)
                            for s in mimic_spaces]
        rows.append(row)
    ends = ["-T"] + [""] * (n_shifts - 2) + ["+T"] if n_shifts > 1 else ["0"]
    if n_shifts % 2 and n_shifts > 1:
        ends[n_shifts // 2] = "0"
    save_png(grid_image(overview, row_labels=labels, col_labels=ends,
                        title="one row per direction, shifted from -T to +T (T: its range)"), folder / "overview.png")
    if heats:
        _heatmap_figure(heats, rows, folder / "locality.png")
    if fid_series:
        line_plot(folder / "fid_vs_shift.png", fid_series, xlabel="t / T_k (T_k: calibrated range)",
                  ylabel="FID vs unshifted G (stlpips-vgg)", title=f"{G.name}: FID vs shift")
    return rows


def _heatmap_figure(heats, rows, path) -> Path:
    import matplotlib.pyplot as plt

    n = len(heats)
    cols = min(n, 8)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(1.6 * cols, 1.9 * nrows), dpi=110, squeeze=False,
                             subplot_kw={"xticks": [], "yticks": []})  # no ticks to lay out: 3x faster
    for ax in axes.flat:
        ax.axis("off")
    for i, (h, r) in enumerate(zip(heats, rows)):
        ax = axes.flat[i]
        ax.imshow(h.numpy(), cmap="inferno")
        ax.set_title(f"k{i:02d} c={r.get('locality_concentration', 0):.2f}", fontsize=7)
    fig.suptitle("mean per-pixel squared change (c: share in the top 10% pixels)", fontsize=8)
    fig.tight_layout(h_pad=1.2)  # room for the titles of the second row
    return save_figure(fig, path)


def _report(folder: Path, G: Generator, directions: Sequence[Direction], m: dict, what) -> None:
    d0 = directions[0]
    head = ["k", "T_k", "ST-LPIPS at +-T"]
    extra = [("eigenvalue", "eigenvalue"), ("singular_value", "sigma"),
             ("locality_concentration", "locality c"), ("fid_at_T", "FID at +-T")]
    present = [(key, name) for key, name in extra if any(key in r for r in m["directions"])]
    head += [name for _, name in present]
    rows = []
    for r in m["directions"]:
        rows.append([f"k{r['index']:02d}", r["limit"], r.get("perceptual_change_at_T", float("nan")),
                     *[r.get(key, "") for key, _ in present]])
    settings = (f"{m['method']} on {m['layer']} of {G.name} (fingerprint {m['fingerprint']}), "
                f"k={m['k']}, found in {m.get('find_seconds', '-')} s. Shift t = Frobenius norm of the weight shift; "
                + ("each T_k calibrated so that the mean ST-LPIPS change at +-T_k is "
                   f"{m['target_perceptual_change']}." if m["fixed_limit"] is None
                   else f"T fixed at {m['fixed_limit']}."))
    sections = [("Directions", html.text(settings) + html.text(d0.describe())
                 + html.table(head, rows)),
                ("Overview", html.text("One sample per direction (rows) over t = -T_k ... +T_k.")
                 + html.image("overview.png", "overview"))]
    grids = "".join(html.text(f"k{i:02d}: rows = samples, columns = t in [-T_k, T_k] "
                              f"(T_k = {d.alpha.alpha_range[1]:.4g})") + html.image(f"grid_k{i:02d}.png")
                    for i, d in enumerate(directions))
    sections.append(("Inspection grids (Sec. 3.5)", grids))
    if "locality" in what:
        sections.append(("Locality (Sec. 4.6)", html.image("locality.png", "locality heatmaps")))
    if "fid" in what:
        r0 = next(r for r in m["directions"] if "fid" in r)
        sections.append(("FID vs shift (Sec. 4.5)", html.text(
            f"FID between the reference, {r0.get('fid_reference', 'the unshifted generator')}, and "
            f"{r0['fid_n']} shifted samples on features '{r0['fid_feature_network']}' (not Inception); "
            f"t = 0 gives the unshifted generator's FID against it ({r0['fid_unshifted']:.3g}; the "
            "finite-sample floor when the reference is G(z) itself).")
            + html.image("fid_vs_shift.png", "FID vs shift")))
    if "mimic" in what:
        mrows = [[f"k{r['index']:02d}", x["space"], x["ratio"], x["control_ratio"], x["do_nothing"]]
                 for r in m["directions"] for x in r.get("mimic", [])]
        sections.append(("Can a latent shift do it? (Sec. 4.3)", html.text(
            "residual / do-nothing error of the best single latent shift h (Eq. 5) on held-out samples, "
            "beside a control whose target is itself a latent shift of the same size: 0 = perfect mimicry, "
            "1 = h does not help.") + html.table(["k", "space", "weight shift ratio", "control ratio",
                                                 "do-nothing MSE"], mrows)))
    html.write_report(folder / "report.html", f"{G.name}: {m['method']} directions in {m['layer']}", sections)


def analyze(directions: str | os.PathLike | Sequence[str | os.PathLike], *,
            what: Sequence[str] = ANALYSES, out: str | os.PathLike | None = None, overwrite: bool = False,
            model: str | Generator | None = None, force: bool = False, device: str = "cpu",
            progress: bool = True, truncation: float | None = None, truncation_cutoff: int | None = None, **kw) -> dict:
    """Analyse saved weight directions (a `discover` run folder or direction files) into ``out``.

    Returns:
        ``{"out": Path, "metrics": dict}``.
    """
    what = _check_analyses(what)
    if isinstance(directions, (str, os.PathLike)):
        p = Path(directions)
        files = sorted((p / "directions").glob("k*.safetensors")) if p.is_dir() else [p]
    else:
        files = [Path(f) for f in directions]
    if not files:
        raise FileNotFoundError(f"no direction files under {directions}")
    dirs = [Direction.load(f) for f in files]
    if any(d.kind != "weight" for d in dirs):
        raise ValueError("analyze-weights takes weight directions (kind 'weight')")
    G = model_of(model or dirs[0].model, device, truncation, truncation_cutoff)
    for d in dirs:
        d.check_model(G, force)
    out = Path(out or fresh_folder("analyze-weights"))
    config = dict(model=G.name, files=[str(f) for f in files], what=list(what), truncation=truncation,
                  truncation_cutoff=truncation_cutoff, **kw)
    with Run("analyze-weights", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        rows = analyze_directions(G, dirs, tmp, what=what, progress=progress, **kw)
        metrics = {"model": G.name, "files": [str(f) for f in files], "directions": rows,
                   "method": dirs[0].config.get("method"), "layer": dirs[0].config.get("layer"),
                   "k": len(dirs), "target_perceptual_change":
                   dirs[0].config.get("target_perceptual_change"), "fixed_limit": None,
                   "fingerprint": G.fingerprint}
        metrics = run.write_metrics(metrics)
        _report(tmp, G, dirs, metrics, what)
    return {"out": out, "metrics": metrics}
