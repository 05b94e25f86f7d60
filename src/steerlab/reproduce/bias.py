"""`steerlab reproduce bias`: Jahanian et al. Sec. 4.2, Eq. 6, Fig. 6, Table 1.

Is how far a walk moves an attribute limited by how varied that attribute is in each class's
training data? On the biased-shapes model (`steerlab.data.shapes`: 12 classes, each with its own
spread sigma of x, y, scale and luminance), one shared linear walk per attribute is learned over
all classes, then for each class k

    delta_mu_k = mu_k(model(+alpha*)) - mu_k(model(-alpha*))                     (Eq. 6)

is measured on generated samples and correlated (Pearson) with the class's dataset sigma, both
read with the same detector (object box for x, y and area; the object's own colour for luminance).
alpha* is chosen as the paper does: the same for all classes, the largest pair +-alpha of the
training grid whose FID stays below a threshold T (the paper: T = 22 on Inception features; our
feature network differs, so T = ``fid_factor`` x FID(G(z) vs data) - recorded in metrics.json).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.reproduce._resume import SubRuns, direction_from, direction_tensors

# attribute -> (edit whose walk moves it, measure, key); the paper's Table 1 columns
BIAS_ATTRIBUTES = {
    "luminance": ("brightness", "object_colour", "luminance"),
    "shift_x": ("shift_x", "box", "x"),
    "shift_y": ("shift_y", "box", "y"),
    "zoom": ("zoom", "box", "area"),
}
PAPER_TABLE1_LINEAR = {"luminance": 0.59, "shift_x": 0.28, "shift_y": 0.39, "zoom": 0.37}
PAPER_TABLE1_NONLINEAR = {"luminance": 0.49, "shift_x": 0.49, "shift_y": 0.55, "zoom": 0.60}
PAPER_TABLE1 = {"linear": PAPER_TABLE1_LINEAR, "nonlinear": PAPER_TABLE1_NONLINEAR}


def class_sigma(values: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float]:
    """Per-class standard deviation of an attribute (NaNs - failed detections - dropped)."""
    out = []
    for k in range(num_classes):
        v = values[(labels == k) & torch.isfinite(values)]
        out.append(float(v.std()) if v.numel() > 1 else float("nan"))
    return out


def class_means(values: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float]:
    """Per-class mean of an attribute (NaNs dropped)."""
    out = []
    for k in range(num_classes):
        v = values[(labels == k) & torch.isfinite(values)]
        out.append(float(v.mean()) if v.numel() else float("nan"))
    return out


def choose_alpha_star(alphas: list[float], identity: float, fids: list[float],
                      threshold: float) -> tuple[float, float]:
    """The widest pair (alphas[i0 - s], alphas[i0 + s]) around the identity whose two FIDs are both
    <= ``threshold``; the innermost pair if none is. Returns (alpha_low, alpha_high)."""
    i0 = int(np.argmin([abs(a - identity) for a in alphas]))
    pairs = [(i0 - s, i0 + s) for s in range(1, min(i0, len(alphas) - 1 - i0) + 1)]
    if not pairs:
        raise ValueError("the alpha grid needs values on both sides of the identity")
    ok = [(lo, hi) for lo, hi in pairs if fids[lo] <= threshold and fids[hi] <= threshold]
    lo, hi = ok[-1] if ok else pairs[0]
    return alphas[lo], alphas[hi]


class _Identity:
    """A stand-in direction that renders G(z), so `_render_all` serves the baseline too."""

    def render(self, G, z, alpha, classes=None):
        return G.synthesize(z, classes=classes)


@torch.no_grad()
def _render_all(G, d, z, classes, alpha, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([d.render(G, z[i:i + batch_size], alpha, classes=classes[i:i + batch_size])
                      for i in range(0, z.shape[0], batch_size)])


def _walk_for(G, edit: str, walks_dir: Path | None, steps: int, seed: int, progress: bool, kind: str = "linear",
              checkpoint=None):
    from steerlab.directions import Direction
    from steerlab.methods.walks import learn_linear_walk, learn_nonlinear_walk

    if walks_dir is not None:
        for cand in (walks_dir / f"{edit}.safetensors", walks_dir / f"{G.name}-{edit}" / "direction.safetensors"):
            if cand.is_file():
                d = Direction.load(cand, model=G)
                if d.kind != kind:
                    raise ValueError(f"{cand} holds a {d.kind} walk; walk_kind asks for {kind}")
                return d, str(cand)
    if kind == "nonlinear":  # Eq. 2, Table 1's second row (the Euler-step networks; lr as the method's)
        return learn_nonlinear_walk(G, edit, steps=steps, seed=seed, progress=progress, checkpoint=checkpoint), None
    return learn_linear_walk(G, edit, steps=steps, seed=seed, progress=progress, checkpoint=checkpoint), None


def _ground_truth_sigma(attr: str, K: int) -> list[float]:
    """The per-class sigma the shapes data was *drawn* with (before clipping into the frame)."""
    from steerlab.data.shapes import class_spec
    key = {"luminance": "luminance", "shift_x": "x", "shift_y": "y", "zoom": "scale"}[attr]
    return [class_spec(k)[f"{key}_sigma"] for k in range(K)]


def reproduce_bias(out: str | os.PathLike = "runs/bias", *, model: str = "shapes",
                   attributes: tuple[str, ...] = tuple(BIAS_ATTRIBUTES), walk_steps: int = 1000,
                   walks: str | None = None, n_per_class: int = 200, n_data_per_class: int = 200,
                   n_alphas: int = 7, fid_factor: float = 2.0, walk_kind: str = "linear", seed: int = 0,
                   overwrite: bool = False, device: str = "cpu", progress: bool = True, resume: bool = False,
                   checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Dataset sigma vs model delta-mu per class (Eq. 6) for each attribute; Table 1's Pearson r.

    Args:
        out: run folder (``metrics.json``, ``sigma_vs_delta_mu.png``, per-attribute plots and
            strips, ``walks/<edit>.safetensors``, ``report.html``).
        model: a class-conditional model whose card names its dataset (default ``"shapes"``).
        attributes: keys of ``BIAS_ATTRIBUTES``.
        walk_steps: Adam steps per walk when a walk is learned (batch 16, lr 0.01).
        walks: a folder with ``<edit>.safetensors`` walks to load instead of learning them (e.g.
            the ``walks/`` folder of an earlier run).
        n_per_class: generated samples per class and alpha (the paper: 200).
        resume, checkpoint_every: each learned walk is kept in a checkpoint beside ``out``;
            ``resume`` reads finished walks back and continues an unfinished one from its last
            save, every ``checkpoint_every`` steps (`_resume.SubRuns`); the measurements are redone.
        n_data_per_class: dataset images per class for sigma.
        n_alphas: the alpha grid over each edit's training range (identity included).
        fid_factor: FID threshold T = fid_factor x FID(G(z) vs data).
        walk_kind: "linear" (Eq. 1, Table 1's first row) or "nonlinear" (Eq. 2, its second row).

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``; ``metrics["pearson"][attr] = {r, p,
        slope, intercept, n}``, ``paper`` (Table 1, linear), ``alpha_star``, per-attribute FIDs
        and per-class tables.
    """
    from steerlab.attributes import get_measure
    from steerlab.core import seeds
    from steerlab.core.runs import Run
    from steerlab.data.registry import get_dataset
    from steerlab.edits import get_edit
    from steerlab.metrics import shapes_features  # noqa: F401  (registers "shapes-classifier")
    from steerlab.metrics.fid import fid_kid
    from steerlab.metrics.stats import paired_change, pearson, ttest
    from steerlab.models import load_model
    from steerlab.report import html
    from steerlab.report.plots import grid_image, plt, save_figure, save_png

    attributes = tuple(attributes)
    unknown = [a for a in attributes if a not in BIAS_ATTRIBUTES]
    if unknown or not attributes:
        raise ValueError(f"unknown attribute(s) {unknown}; allowed: {', '.join(BIAS_ATTRIBUTES)}")
    if n_per_class < 3 or n_data_per_class < 3:
        raise ValueError("need at least 3 samples per class")
    if walk_kind not in PAPER_TABLE1:
        raise ValueError(f"walk_kind must be one of {', '.join(PAPER_TABLE1)}, got {walk_kind!r}")
    if not fid_factor > 0:
        raise ValueError(f"fid_factor must be > 0, got {fid_factor}")
    walks_dir = Path(walks) if walks else None
    if walks_dir is not None and not walks_dir.is_dir():
        raise FileNotFoundError(f"{walks_dir}: no such folder of walks")
    G = load_model(model, device=device)
    card = getattr(G, "card", {}) or {}
    if not G.num_classes or "dataset" not in card:
        raise ValueError(f"model '{G.name}' must be class-conditional with a dataset in its card")
    K, names = G.num_classes, card.get("class_names") or [str(k) for k in range(G.num_classes)]
    features = card.get("fid_features", "stlpips-vgg")
    t_start = time.time()
    with Run("reproduce bias", out, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, dict(model=model, fingerprint=G.fingerprint, attributes=list(attributes),
                                 walk_steps=walk_steps, walks=walks, n_per_class=n_per_class,
                                 n_data_per_class=n_data_per_class, n_alphas=n_alphas, fid_factor=fid_factor,
                                 walk_kind=walk_kind, seed=seed), resume=resume, every=checkpoint_every)
        data, labels, _ = get_dataset(card["dataset"], n_data_per_class * K,
                                      card.get("resolution_data", G.resolution), seed + seeds.EVAL_HELD_OUT)
        z = G.sample_z(n_per_class * K, generator=seeds.generator(seed, seeds.EVAL_HELD_OUT))
        classes = torch.arange(K, device=G.device).repeat_interleave(n_per_class)
        base = _render_all(G, _Identity(), z, classes, None)
        fid_base = fid_kid(data, base, features=features, device=device)["fid"]
        threshold = fid_factor * fid_base
        metrics: dict = {"model": G.name, "fingerprint": G.fingerprint, "dataset": card["dataset"],
                         "classes": names, "feature_network": features, "fid_base": fid_base,
                         "fid_threshold": threshold, "fid_factor": fid_factor, "n_per_class": n_per_class,
                         "n_data_per_class": n_data_per_class, "paper": PAPER_TABLE1[walk_kind], "walk_kind": walk_kind,
                         "pearson": {}, "alpha_star": {}, "attributes": {}, "seed": seed}
        (tmp / "walks").mkdir()
        scatter = {}
        for attr in attributes:
            edit_name, measure_name, key = BIAS_ATTRIBUTES[attr]
            edit, meas = get_edit(edit_name), get_measure(measure_name)
            t0 = time.time()
            saved = subs.done(f"walk-{attr}")  # a finished walk is read back, an unfinished one continues
            if saved is not None:
                d, loaded = direction_from(saved[0], saved[1]["direction"], "d"), saved[1]["loaded"]
                walk_s = saved[1]["seconds"]
            else:
                d, loaded = _walk_for(G, edit_name, walks_dir, walk_steps, seed, progress, walk_kind,
                                      checkpoint=subs.sub(f"walk-{attr}"))
                walk_s = time.time() - t0
                d_tensors, header = direction_tensors(d, "d")
                subs.finish(f"walk-{attr}", d_tensors, {"direction": header, "loaded": loaded, "seconds": walk_s})
            d.save(tmp / "walks" / edit_name)
            sigma = class_sigma(meas(data)[key], labels, K)
            # The t-test pair is fixed here, from the data alone, before the walk is measured.
            pre_hi, pre_lo = _prechosen(sigma)
            base_v = meas(base)[key].cpu()
            grid = edit.grid(n_alphas).tolist()
            per_alpha, fids = [], []
            for a in grid:
                imgs = _render_all(G, d, z, classes, a)
                per_alpha.append(meas(imgs)[key].cpu())
                fids.append(fid_kid(data, imgs, features=features, device=device)["fid"])
            lo, hi = choose_alpha_star(grid, edit.identity, fids, threshold)
            v_lo, v_hi = per_alpha[grid.index(lo)], per_alpha[grid.index(hi)]
            mu_lo, mu_hi = class_means(v_lo, classes.cpu(), K), class_means(v_hi, classes.cpu(), K)
            delta = [hi_ - lo_ for hi_, lo_ in zip(mu_hi, mu_lo)]
            mu_alpha = [class_means(v, classes.cpu(), K) for v in per_alpha]
            ok = [k for k in range(K) if np.isfinite(sigma[k]) and np.isfinite(delta[k])]
            pr = _safe_pearson(pearson, [sigma[k] for k in ok], [delta[k] for k in ok])
            gt = _ground_truth_sigma(attr, K)
            metrics["pearson"][attr] = {k: pr[k] for k in ("r", "p", "slope", "intercept", "n")}
            metrics["alpha_star"][attr] = [lo, hi]
            metrics["attributes"][attr] = {
                "edit": edit_name, "measure": measure_name, "key": key, "walk": loaded or "learned",
                "walk_steps": None if loaded else walk_steps, "walk_seconds": round(walk_s, 1),
                "alphas": grid, "fid": fids, "alpha_star": [lo, hi],
                "found_rate_at_alpha_star": [float(torch.isfinite(v_lo).float().mean()),
                                             float(torch.isfinite(v_hi).float().mean())],
                "mean_per_alpha": [float(v[torch.isfinite(v)].mean()) for v in per_alpha],
                "pearson_ground_truth_sigma": _safe_pearson(pearson, [gt[k] for k in ok], [delta[k] for k in ok]),
                "per_class": {names[k]: {"sigma_data": sigma[k], "sigma_ground_truth": gt[k],
                                         "mu_low": mu_lo[k], "mu_high": mu_hi[k], "delta_mu": delta[k],
                                         "mu_per_alpha": [m[k] for m in mu_alpha]} for k in range(K)}}
            sep = (v_hi - v_lo).double()  # per sample: the same z at +alpha* and -alpha*
            metrics["attributes"][attr]["per_sample"] = {
                "low": paired_change(base_v, v_lo, sign=-1), "high": paired_change(base_v, v_hi, sign=1),
                "separation_positive": float((sep[torch.isfinite(sep)] > 0).double().mean())
                if torch.isfinite(sep).any() else None}
            metrics["attributes"][attr]["ttest"] = _class_ttests(sep, classes.cpu(), names, (pre_hi, pre_lo),
                                                                 delta, ttest)
            scatter[attr] = (sigma, delta, pr)
            _attr_plots(tmp, attr, metrics["attributes"][attr], names, plt, save_figure)
            save_png(_class_strip(G, d, grid, K, names, seed, grid_image), tmp / f"strip_{attr}.png")
        _scatter_plot(tmp / "sigma_vs_delta_mu.png", scatter, names, plt, save_figure)
        metrics["seconds"] = round(time.time() - t_start, 1)
        metrics["summary"] = table1(metrics)
        metrics = run.write_metrics(metrics)
        _bias_report(tmp, metrics, html)
    subs.clear()
    return {"out": Path(out), "metrics": metrics, "summary": metrics["summary"]}


def _prechosen(sigma: list[float]) -> tuple[int, int]:
    """The classes with the largest and the smallest dataset sigma (NaN classes skipped)."""
    ok = [k for k in range(len(sigma)) if np.isfinite(sigma[k])]
    if len(ok) < 2:
        raise ValueError("fewer than 2 classes have a dataset sigma for this attribute")
    return max(ok, key=lambda k: sigma[k]), min(ok, key=lambda k: sigma[k])


def _class_ttests(sep: torch.Tensor, classes: torch.Tensor, names: list[str], pre: tuple[int, int],
                  delta: list[float], ttest) -> dict:
    """Two-sample t-tests of the per-sample separation (value at +alpha* minus at -alpha*) between
    two classes: the pair chosen before measuring (largest vs smallest dataset sigma) and, beside
    it, the post-hoc pair (most vs least separated classes, picked after measuring)."""
    def test(hi: int, lo: int, choice: str) -> dict:
        a, b = (sep[(classes == k) & torch.isfinite(sep)] for k in (hi, lo))
        try:
            t = ttest(a, b)
        except ValueError as e:
            t = {"t": None, "p": None, "why": str(e)}
        return {"high": names[hi], "low": names[lo], "choice": choice, **t}

    ok = [k for k in range(len(delta)) if np.isfinite(delta[k])]
    out = {"prechosen": test(*pre, "chosen before measuring: largest vs smallest dataset sigma")}
    if len(ok) >= 2:
        post = (max(ok, key=lambda k: delta[k]), min(ok, key=lambda k: delta[k]))
        out["post_hoc"] = test(*post, "post hoc: most vs least separated classes, picked after measuring")
    return out


def _safe_pearson(pearson, x: list, y: list) -> dict:
    """Pearson r, or None values (with the reason) when fewer than 3 classes were measured."""
    try:
        return pearson(x, y)
    except ValueError as e:
        return {"r": None, "p": None, "slope": None, "intercept": None, "n": len(x), "why": str(e)}


def _num(v, fmt: str) -> str:
    return "n/a" if v is None else format(v, fmt)


def table1(m: dict) -> str:
    """Table 1's linear row measured here, beside the paper's."""
    attrs = list(m["pearson"])
    head = f"{'Pearson r':<22}" + "".join(f"{a:>12}" for a in attrs)
    ours = f"{'steerlab (' + m['model'] + ')':<22}" + "".join(f"{_num(m['pearson'][a]['r'], '.2f'):>12}" for a in attrs)
    pval = f"{'  p-value':<22}" + "".join(f"{_num(m['pearson'][a]['p'], '.1e'):>12}" for a in attrs)
    kind = m.get("walk_kind", "linear")
    paper = f"{'paper (BigGAN, ' + kind + ')':<22}" + "".join(f"{PAPER_TABLE1[kind][a]:>12.2f}" for a in attrs)
    return "\n".join([head, ours, pval, paper])


def _attr_plots(folder: Path, attr: str, m: dict, names: list[str], plt, save_figure) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    xs = m["alphas"]
    for name in names:
        axes[0].plot(xs, m["per_class"][name]["mu_per_alpha"], marker="o", ms=2, lw=0.8, label=name)
    axes[0].set_xlabel(f"alpha ({m['edit']})")
    axes[0].set_ylabel(f"class mean {m['key']} ({m['measure']})")
    axes[0].legend(fontsize=5, ncol=2)
    axes[0].grid(alpha=0.3)
    axes[1].plot(xs, m["fid"], "o-")
    for a in m["alpha_star"]:
        axes[1].axvline(a, color="r", ls=":", lw=1)
    axes[1].set_xlabel(f"alpha ({m['edit']})")
    axes[1].set_ylabel("FID (all classes)")
    axes[1].set_title("red: -alpha*, +alpha*", fontsize=8)
    axes[1].grid(alpha=0.3)
    if m["edit"] == "zoom":
        for ax in axes:
            ax.set_xscale("log")
    fig.suptitle(f"{attr}: per-class response and FID", fontsize=10)
    fig.tight_layout()
    save_figure(fig, folder / f"{attr}_per_class.png")


def _scatter_plot(path: Path, scatter: dict, names: list[str], plt, save_figure) -> None:
    fig, axes = plt.subplots(1, len(scatter), figsize=(3.3 * len(scatter), 3.3), dpi=110, squeeze=False)
    for ax, (attr, (sigma, delta, pr)) in zip(axes[0], scatter.items()):
        ax.scatter(sigma, delta, s=14)
        for k, name in enumerate(names):
            if name in ("disc", "square"):  # the robin-like and the laptop-like class
                ax.annotate(name, (sigma[k], delta[k]), fontsize=7)
        if pr["r"] is not None:
            xs = np.linspace(np.nanmin(sigma), np.nanmax(sigma), 10)
            ax.plot(xs, pr["intercept"] + pr["slope"] * xs, "r-", lw=1)
        ax.set_title(f"{attr}: r = {_num(pr['r'], '.2f')}, p = {_num(pr['p'], '.1g')}", fontsize=9)
        ax.set_xlabel("dataset sigma (per class)")
        ax.set_ylabel("model delta mu (Eq. 6)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


@torch.no_grad()
def _class_strip(G, d, grid: list, K: int, names: list[str], seed: int, grid_image):
    """One row per class (one fixed z), walked over the alpha grid."""
    z = G.sample_z(1, generator=torch.Generator().manual_seed(seed)).expand(len(grid), -1)
    rows = [d.render(G, z, torch.tensor(grid), classes=torch.full((len(grid),), k, device=G.device))
            for k in range(K)]
    return grid_image(rows, col_labels=[f"{a:.3g}" for a in grid], row_labels=names, scale=2)


def _bias_report(folder: Path, m: dict, html) -> None:
    rows = [[a, _num(m['pearson'][a]['r'], ".2f"), _num(m['pearson'][a]['p'], ".2g"),
             _num(m['pearson'][a]['slope'], ".3f"),
             f"{m['paper'][a]:.2f}", f"{m['alpha_star'][a][0]:.3g} / {m['alpha_star'][a][1]:.3g}"]
            for a in m["pearson"]]
    ps_rows = []
    for a, am in m["attributes"].items():
        ps, tt = am.get("per_sample"), am.get("ttest", {})
        if ps is None:
            continue
        pre, post = tt.get("prechosen", {}), tt.get("post_hoc", {})
        ps_rows.append([a] + [f"{ps[e]['median']:+.4f} [{ps[e]['q25']:+.4f}, {ps[e]['q75']:+.4f}]; "
                              f"{_num(ps[e]['asked_way'], '.2f')}; {ps[e]['detected']:.2f}"
                              if ps[e]["median"] is not None else "-" for e in ("low", "high")]
                       + [_num(ps["separation_positive"], ".2f"),
                          f"{pre.get('high')} / {pre.get('low')}: p = {_num(pre.get('p'), '.2g')}",
                          f"{post.get('high')} / {post.get('low')}: p = {_num(post.get('p'), '.2g')}"])
    sections = [
        ("Claim", html.text("Jahanian et al. Sec. 4.2: how far a shared walk moves an attribute for a class grows "
                            "with that attribute's spread in the class's training data (Eq. 6, Fig. 6, Table 1). "
                            f"Model '{m['model']}' on dataset '{m['dataset']}', {len(m['classes'])} classes, "
                            f"{m['n_per_class']} samples per class and alpha; FID of those "
                            f"{m['n_per_class'] * len(m['classes'])} samples against "
                            f"{m['n_data_per_class'] * len(m['classes'])} dataset images on '{m['feature_network']}' "
                            f"features, threshold T = {m['fid_threshold']:.2f} ({m['fid_factor']} x FID(G(z)) = "
                            f"{m['fid_base']:.2f}).")),
        (f"Table 1 ({m.get('walk_kind', 'linear')} walks)",
         html.table(["attribute", "Pearson r", "p", "slope", "paper r", "alpha*"], rows)),
        ("Dataset sigma vs model delta mu (Fig. 6)", html.image("sigma_vs_delta_mu.png", "scatter")),
        ("Per sample", html.text(
            "Each sample against itself at alpha's identity, at -alpha* and +alpha*: median change [25th, 75th "
            "percentile]; fraction moving the asked way; fraction detected at both. Separation: fraction of "
            "samples whose value at +alpha* exceeds that at -alpha*. t-tests of the per-sample separation "
            "between two classes: the pair chosen before measuring (largest vs smallest dataset sigma) and the "
            "post-hoc pair (most vs least separated, whose p-value is biased low).")
         + html.table(["attribute", "-alpha* vs identity", "+alpha* vs identity", "separation > 0",
                       "t-test, pre-chosen pair", "t-test, post hoc pair"], ps_rows)),
    ]
    for a in m["pearson"]:
        sections.append((a, html.image(f"{a}_per_class.png", a) + html.text(
            "Rows: classes (one fixed z), columns: alpha.") + html.image(f"strip_{a}.png", a)))
    html.write_report(folder / "report.html", "reproduce: dataset bias limits steerability", sections)
