"""`steerlab evaluate`: the plots and report of `evaluation.steerability` (Jahanian et al.
Figs. 4, 5, 10, 11).

Pictures written: ``strip.png`` (samples along alpha), ``attribute_hist.png`` (the attribute
distribution under model(alpha) beside G(z) and the dataset), ``attribute_vs_alpha.png`` (mean and
spread, per class for conditional models), ``intersection.png``, ``fid.png``,
``perceptual_steps.png`` and ``per_class_box.png`` (conditional models).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from steerlab.directions import Direction
from steerlab.evaluation.steerability import held_out
from steerlab.models import Generator
from steerlab.report import html
from steerlab.report.plots import alpha_label, grid_image, line_plot, plt, save_figure


def _vals(v) -> np.ndarray:
    a = np.array([np.nan if x is None else x for x in v], dtype=float)
    return a[np.isfinite(a)]


def _xs(r: dict) -> tuple[list, str]:
    if isinstance(r["alphas"][0], list):
        return list(range(len(r["alphas"]))), f"alpha (R:G:B sweeps; {r['alpha_unit']})"
    return r["alphas"], f"alpha ({r['alpha_unit']})"


def plot_histograms(r: dict, path) -> Path:
    """Fig. 5 top row / Fig. 10: attribute distributions under model(alpha), G(z) and the data."""
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    allv = np.concatenate([_vals(v) for v in r["values"]] + [_vals(r["base"]["values"])]
                          + ([_vals(r["dataset"]["values"])] if r["dataset"] else []))
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    bins = np.linspace(lo, hi + 1e-9, 40)
    if r["dataset"]:
        ax.hist(_vals(r["dataset"]["values"]), bins=bins, density=True, color="0.8", label="dataset")
    cmap = plt.get_cmap("coolwarm")
    k = len(r["values"])
    for j, v in enumerate(r["values"]):
        ax.hist(_vals(v), bins=bins, density=True, histtype="step", color=cmap(j / max(k - 1, 1)),
                label=f"alpha {alpha_label(r['alphas'][j])}" if j in (0, k // 2, k - 1) else None)
    ax.hist(_vals(r["base"]["values"]), bins=bins, density=True, histtype="step", color="k", ls="--", lw=1.5,
            label="G(z)")
    ax.set_xlabel(f"{r['primary']} ({r['measure']})")
    ax.set_ylabel("density")
    ax.set_title(f"{r['model']}: {r['edit'] or r['kind']} - attribute under model(alpha)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_attribute(r: dict, path) -> Path:
    """Mean attribute vs alpha with a +-1 std band; thin lines per class for conditional models."""
    xs, xl = _xs(r)
    st = r["attribute"][r["primary"]]
    mean = np.array([s["mean"] for s in st])
    std = np.array([s["std"] for s in st])
    fig, ax = plt.subplots(figsize=(5.4, 3.6), dpi=110)
    for name, c in (r.get("per_class") or {}).items():
        ax.plot(xs, [np.nan if m is None else m for m in c["attribute_mean"]], lw=0.7, alpha=0.6)
    ax.fill_between(xs, mean - std, mean + std, color="C0", alpha=0.2)
    ax.plot(xs, mean, "o-", color="C0", lw=2, ms=3, label="all samples (mean, +-1 std)")
    ax.axhline(r["base"]["mean"], color="k", ls="--", lw=1, label="G(z)")
    if r["dataset"]:
        ax.axhline(r["dataset"]["mean"], color="0.5", ls=":", lw=1, label="dataset")
    ax.set_xlabel(xl)
    ax.set_ylabel(f"{r['primary']} ({r['measure']})")
    ax.set_title("thin lines: per-class means" if r.get("per_class") else "", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_per_class_box(r: dict, path) -> Path:
    """Fig. 4 boxplots: perceptual distance G(z) -> model(alpha) at the high end, per class."""
    pc = r["per_class"]
    names = sorted(pc, key=lambda k: np.mean(pc[k]["perceptual_high"]))
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(names) + 1.5), 3.6), dpi=110)
    ax.boxplot([pc[k]["perceptual_high"] for k in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=60, fontsize=7)
    ax.set_ylabel(f"ST-LPIPS({r['perceptual_net']}) G(z) vs alpha={alpha_label(r['alphas'][-1])}")
    ax.set_title("how much the one shared walk changes each class", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


@torch.no_grad()
def evaluation_strip(G: Generator, d: Direction, alphas: list, *, n_samples: int = 6, seed: int = 0):
    """Rows: held-out samples walked over the evaluation grid (PIL image)."""
    z, classes = held_out(G, n_samples, seed)
    grid = d.knob.check(alphas)
    rows = []
    for i in range(n_samples):
        zi = z[i:i + 1].expand(len(grid), -1)
        ci = None if classes is None else classes[i:i + 1].expand(len(grid))
        rows.append(d.render(G, zi, grid, classes=ci))
    return grid_image(rows, col_labels=[alpha_label(a) for a in alphas], scale=3 if G.resolution <= 32 else 2,
                      row_labels=[f"sample {i}" for i in range(n_samples)], title=f"alpha ({d.alpha.unit})")


def write_plots(r: dict, folder: Path) -> list[str]:
    xs, xl = _xs(r)
    pics = []
    plot_histograms(r, folder / "attribute_hist.png")
    plot_attribute(r, folder / "attribute_vs_alpha.png")
    series = {"vs G(z)": (xs, [np.nan if v is None else v for v in r["intersection_model"]])}
    if r["intersection_data"]:
        series["vs dataset"] = (xs, [np.nan if v is None else v for v in r["intersection_data"]])
    ticks = [alpha_label(a) for a in r["alphas"]] if isinstance(r["alphas"][0], list) else None
    line_plot(folder / "intersection.png", series, xlabel=xl, ylabel="intersection area", xticklabels=ticks,
              title=f"{r['primary']}: overlap of model(alpha) with G(z) / the data")
    pics += ["attribute_hist.png", "attribute_vs_alpha.png", "intersection.png"]
    if r["fid"]:
        line_plot(folder / "fid.png", {"model(alpha)": (xs, r["fid"]), "G(z)": (xs, [r["fid_base"]] * len(xs))},
                  xlabel=xl, ylabel=f"FID ({r['feature_network']})", title=f"reference: {r['reference']}",
                  xticklabels=ticks)
        pics.append("fid.png")
    px = r.get("perceptual_mid_t") or r["perceptual_mid"]  # in the direction's units, like the other plots
    line_plot(folder / "perceptual_steps.png", {"consecutive alphas": (px, r["perceptual_steps"])},
              xlabel=(f"midpoint of consecutive alphas ({r['alpha_unit']})" if "perceptual_mid_t" in r
                      else "midpoint between consecutive grid points"),
              ylabel=f"ST-LPIPS ({r['perceptual_net']})", title="perceptual distance between consecutive alphas")
    pics.append("perceptual_steps.png")
    if r.get("per_class"):
        plot_per_class_box(r, folder / "per_class_box.png")
        pics.append("per_class_box.png")
    return pics


def attribute_sentence(s: dict) -> str:
    """How the mean attribute moved, from `summarize`'s numbers (which are None when the measure
    found the attribute in no image at any alpha)."""
    if s["attribute_start"] is None:
        return "was not found in any image at any alpha (the measure does not apply to these images)"
    trend = "increasing" if s["monotonic_increasing"] else "decreasing" if s["monotonic_decreasing"] else "no"
    return (f"moves from {s['attribute_start']:.4f} to {s['attribute_end']:.4f} "
            f"(span {s['attribute_span']:.4f}); monotonic: {trend}")


def _f(v, fmt: str = ".3f") -> str:
    return "-" if v is None else format(v, fmt)


def per_sample_sentence(p: dict) -> str:
    """What happened to each sample at one alpha, from `metrics.stats.paired_change`'s numbers."""
    if not p["n_paired"]:
        return f"alpha {alpha_label(p['alpha'])}: no sample was detected at both alphas"
    way = ("" if p["asked_way"] is None else
           f", {100 * p['asked_way']:.0f} % moved the asked way ({'up' if p['asked'] > 0 else 'down'})")
    ratio = "" if p["median_ratio"] is None else f", median ratio {p['median_ratio']:.3f}"
    return (f"alpha {alpha_label(p['alpha'])}: per sample, median change {p['median']:+.4f} "
            f"(IQR {p['q25']:+.4f} to {p['q75']:+.4f}){ratio}{way}; {100 * p['increased']:.0f} % rose, "
            f"{100 * p['decreased']:.0f} % fell; detected at both alphas: {100 * p['detected']:.0f} % "
            f"of {p['n']}")


def summarize(r: dict) -> dict:
    """Headline numbers: attribute range moved, monotonicity, where the perceptual steps peak."""
    means = [s["mean"] for s in r["attribute"][r["primary"]]]
    finite = [m for m in means if m is not None and math.isfinite(m)]
    diffs = np.diff([m for m in means if m is not None and math.isfinite(m)])
    steps = r["perceptual_steps"]
    out = {"attribute_start": finite[0] if finite else None, "attribute_end": finite[-1] if finite else None,
           "attribute_span": (max(finite) - min(finite)) if finite else None,
           "monotonic_increasing": bool(len(diffs) and (diffs > 0).all()),
           "monotonic_decreasing": bool(len(diffs) and (diffs < 0).all()),
           "perceptual_step_max_at": r["perceptual_mid"][int(np.argmax(steps))] if steps else None,
           "perceptual_step_ends_over_centre": (
               (steps[0] + steps[-1]) / 2 / max(steps[len(steps) // 2 - 1:len(steps) // 2 + 1])
               if len(steps) >= 3 else None)}
    if r["fid"]:
        out["fid_min"], out["fid_max"] = min(r["fid"]), max(r["fid"])
    if r.get("per_sample"):  # the per-sample truth at both ends of the grid, beside the means
        out["per_sample_low"], out["per_sample_high"] = r["per_sample"][0], r["per_sample"][-1]
    return out


def write_report(folder: Path, r: dict, pics: list[str]) -> None:
    """``report.html`` of an evaluate run folder."""
    st = r["attribute"][r["primary"]]
    rows = []
    ps = r.get("per_sample") or [None] * len(r["alphas"])
    for j, a in enumerate(r["alphas"]):
        p = ps[j]
        rows.append([alpha_label(a), f"{st[j]['mean']:.4f}", f"{st[j]['std']:.4f}", f"{st[j]['found_rate']:.2f}",
                     "-" if p is None or p["median"] is None else
                     f"{p['median']:+.4f} [{p['q25']:+.4f}, {p['q75']:+.4f}]",
                     "-" if p is None else _f(p["median_ratio"]),
                     "-" if p is None else _f(p["asked_way"], ".2f"),
                     "-" if p is None else f"{p['detected']:.2f}",
                     "-" if r["intersection_model"][j] is None else f"{r['intersection_model'][j]:.3f}",
                     f"{r['intersection_data'][j]:.3f}" if r["intersection_data"] and r["intersection_data"][j] is not None else "-",
                     f"{r['fid'][j]:.2f}" if r["fid"] else "-"])
    s = r["summary"]
    intro = html.markup(
        "{direction}. {n} held-out samples, the same z at every alpha. Attribute: <b>{primary}</b> from measure "
        "<b>{measure}</b> ({description}). FID/KID feature network: <b>{features}</b>, on {n} walked "
        "samples per alpha against the reference: {reference}. "
        "FID values from different feature networks are not comparable, nor with published Inception FIDs.",
        direction=r["direction"], n=r["n"], primary=r["primary"], measure=r["measure"],
        description=r["measure_description"], features=r["feature_network"] or "not computed",
        reference=r["reference"])
    t = r.get("target_l2")
    first, after_strip = [], []  # a failed check goes first; a passed one beside the samples
    if t:  # the walk vs leaving the image as it is, on the same held-out samples
        from steerlab.evaluation.steerability import GAIN_NEEDED
        numbers = (f"masked L2 to the edit's target, walk {t['walk_l2_mean']:.4f} vs do-nothing "
                   f"{t['baseline_l2_mean']:.4f} (gain {t['l2_gain']:+.1%}, {GAIN_NEEDED:.0%} needed) on {t['n']} "
                   f"held-out samples; better for {t['fraction_samples_better']:.0%} of them, median paired change "
                   f"{t['median_paired_change']:+.4f}")
        if t["beats_doing_nothing"]:
            after_strip = [("Walk vs doing nothing", html.text(f"The walk beats doing nothing: {numbers}."))]
        else:
            first = [("Warning: no better than doing nothing", html.flag(
                f"This walk does NOT beat doing nothing: {numbers}. Do not read the attribute changes below as "
                "steering."))]
    sections = [
        *first,
        ("What was measured", intro),
        ("Samples along alpha", html.image("strip.png", "strip")),
        *after_strip,
        ("Attribute under model(alpha)", html.text(
            f"Mean {r['primary']} {attribute_sentence(s)}.")
         + "".join(html.text(per_sample_sentence(s[k]) + ".") for k in ("per_sample_low", "per_sample_high")
                   if k in s)
         + html.image("attribute_hist.png", "histograms") + html.image("attribute_vs_alpha.png", "attribute")
         + html.text("Per sample: the change of each sample's attribute against the same z at alpha's identity "
                     "(median [25th, 75th percentile]), the median ratio (positive attributes), the fraction "
                     "of samples moving the way the edit asks, and the fraction detected at both alphas.")
         + html.table(["alpha", "mean", "std", "found", "median change [IQR]", "median ratio", "asked way",
                       "detected", "intersection G(z)", "intersection data", "FID"], rows)),
        ("Overlap and realism", "".join(html.image(p, p) for p in pics if p in ("intersection.png", "fid.png"))),
        ("Perceptual distance between consecutive alphas (Fig. 11)", html.text(
            "Large steps near the identity and small ones at the extremes mean the walk stops changing "
            "the image there (the transformation limit); a flat curve means a steady rate.")
         + html.image("perceptual_steps.png", "perceptual")),
    ]
    if r.get("per_class"):
        t, tp = r.get("per_class_ttest"), r.get("per_class_ttest_prechosen")
        sections.append(("Per class (Fig. 4)", html.image("per_class_box.png", "per class")
                         + (html.text(f"Two-sample t-test, distance at the high end, pair chosen before measuring "
                                      f"(largest vs smallest dataset spread of {r['primary']}): "
                                      f"'{tp['high_sigma']}' vs '{tp['low_sigma']}': t = {tp['t']:.2f}, "
                                      f"p = {tp['p']:.2g}.") if tp else "")
                         + (html.text(f"Post hoc (the most vs the least moved class, picked after measuring, so "
                                      f"its p-value is biased low): '{t['most']}' vs '{t['least']}': "
                                      f"t = {t['t']:.2f}, p = {t['p']:.2g}.") if t else "")))
    html.write_report(folder / "report.html", f"{r['model']}: evaluate {r['edit'] or r['kind']}", sections)
