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
