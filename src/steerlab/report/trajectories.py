"""Figures of the trajectory method (Plumerault et al. Figs. 2, 4, 5): the factor along u, the norm of u per part."""
from __future__ import annotations

import numpy as np

from steerlab.report.plots import plt, save_figure


def plot_factor_sweeps(path, sweeps: dict[str, dict], *, ylabel: str, xlabel: str = "s = <z, u>",
                       ncols: int | None = None):
    """Figs. 2 / 5: per panel, the measured values per s (blue) and their std (red, right axis).

    Panels fill rows of ``ncols`` (default: all in one row)."""
    k = len(sweeps)
    ncols = min(ncols or k, k)
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 3.0 * nrows), dpi=110, squeeze=False)
    for ax in axes.flat[k:]:
        ax.axis("off")
    std_max = max(max(np.nan_to_num(sw["std"])) for sw in sweeps.values()) * 1.15 or 1.0
    for ax, (label, sw) in zip(axes.flat, sweeps.items()):
        s, v = np.array(sw["s"]), np.array(sw["values"])
        width = (s[1] - s[0]) * 0.35 if len(s) > 1 else 0.1
        rng = np.random.default_rng(0)
        for i in range(len(s)):
            jitter = rng.uniform(-width, width, v.shape[1])
            ax.scatter(s[i] + jitter, v[i], s=3, alpha=0.35, color="tab:blue", linewidths=0)
        ax.plot(s, sw["mean"], color="tab:blue", lw=1)
        if "model_t" in sw:
            # g is relative to the factor at s = 0: anchor it at the measured mean there
            at0 = int(np.argmin(np.abs(s)))
            ax.plot(s, np.array(sw["model_t"]) - sw["model_t"][at0] + sw["mean"][at0],
                    color="black", lw=0.8, ls="--", label="g(s) (model)")
        ax.set_title(f"{label}\nmean std {sw['std_mean']:.3f}", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8, color="tab:blue")
        ax.tick_params(labelsize=7)
        ax2 = ax.twinx()
        ax2.plot(s, sw["std"], color="tab:red", marker="o", ms=2.5, lw=1)
        ax2.set_ylim(0, std_max)
        ax2.tick_params(labelsize=7, colors="tab:red")
        ax2.set_ylabel("std per s", fontsize=8, color="tab:red")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_norm_per_part(path, norms: dict[str, list[float]], *, title: str = ""):
    """Fig. 4: squared norm of u per latent part, one group of bars per direction."""
    fig, ax = plt.subplots(figsize=(4.8, 3.0), dpi=110)
    k = len(norms)
    for i, (label, vals) in enumerate(norms.items()):
        x = np.arange(len(vals)) + (i - (k - 1) / 2) * 0.8 / k
        ax.bar(x, vals, width=0.8 / k, label=label)
    ax.set_xlabel("latent part")
    ax.set_ylabel("squared norm of u")
    ax.set_xticks(range(len(next(iter(norms.values())))))
    if title:
        ax.set_title(title, fontsize=10)
    if k > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_class_effects(path, groups: dict[str, dict[str, dict]], *, ylabel: str):
    """Fig. 2, per sample: per class, the median per-sample change with its inter-quartile range
    (bars), one colour per direction; the fraction of samples moving the asked way under each bar.

    ``groups``: label -> {class name -> `steerlab.evaluation.trajectories.sweep_change` dict}."""
    classes = list(dict.fromkeys(c for per in groups.values() for c in per))
    k = len(groups)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(classes) * max(k, 2) / 2), 3.6), dpi=110)
    for i, (label, per) in enumerate(groups.items()):
        xs, med, lo, hi, frac = [], [], [], [], []
        for c, ch in per.items():
            if ch["median"] is None:
                continue
            xs.append(classes.index(c) + (i - (k - 1) / 2) * 0.8 / k)
            med.append(ch["median"])
            lo.append(ch["median"] - ch["q25"])
            hi.append(ch["q75"] - ch["median"])
            frac.append(ch["asked_way"])
        ax.bar(xs, med, width=0.8 / k, yerr=[lo, hi], capsize=2, label=label, error_kw={"lw": 0.7})
        for x, m, f in zip(xs, med, frac):
            ax.annotate(f"{f:.0%}", (x, 0), xytext=(0, -9 if m >= 0 else 3), textcoords="offset points",
                        ha="center", fontsize=5, rotation=90)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, fontsize=7, rotation=30)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.legend(fontsize=6, loc="upper right")
    ax.set_title("median per-sample change [IQR]; % = samples moving the asked way", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_error_vs_sigma(path, table: dict[str, dict], sigmas):
    """Figs. 6-7 as numbers: per yardstick, the median error over images of the blurred loss vs its
    sigma (line, inter-quartile band), inside (solid) and outside (dashed) the norm ball, with MSE
    and DSSIM as horizontal lines. ``table``: ``"LOSS, ball|free"`` -> {yardstick: {median, q25, q75}}."""
    yardsticks = (("stlpips", "ST-LPIPS to the target"), ("pixel_mse", "pixel MSE to the target"),
                  ("z_norm_ratio", "||z|| / sqrt(d)"))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3), dpi=110)
    styles = {"ball": "-", "free": "--"}
    for ax, (y, label) in zip(axes, yardsticks):
        for c, ls in styles.items():
            rows = [table[f"blurred sigma {s:g}, {c}"][y] for s in sigmas]
            med = [r["median"] for r in rows]
            ax.plot(sigmas, med, ls, color="tab:blue", marker="o", ms=3, label=f"blurred, {c}")
            ax.fill_between(sigmas, [r["q25"] for r in rows], [r["q75"] for r in rows], color="tab:blue",
                            alpha=0.12 if c == "ball" else 0.06)
            for loss, colour in (("mse", "tab:red"), ("dssim", "tab:green")):
                ax.axhline(table[f"{loss}, {c}"][y]["median"], color=colour, ls=ls, lw=1, label=f"{loss}, {c}")
        ax.set_xlabel("blur sigma of the loss (px)", fontsize=8)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.suptitle("reconstruction error vs blur sigma (median over images, band: IQR)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
