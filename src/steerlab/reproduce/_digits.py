"""Pieces shared by the digit experiments: the data, the GAN recipe, measurements and figures."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from steerlab.data.digits import digits_dataset
from steerlab.directions import Direction
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import held_out
from steerlab.metrics.digit_features import digit_accuracy, digit_classifier
from steerlab.metrics.fid import fid_kid
from steerlab.models import Generator, save_generator
from steerlab.report.plots import grid_image, save_figure
from steerlab.training import GANConfig

FEATURES = "digits-cnn"


def digits_card(description: str, **extra) -> dict:
    """Model card of a digits GAN: `steerlab evaluate` then compares with the digits data."""
    return {"description": description, "dataset": "digits", "fid_features": FEATURES,
            "class_names": [str(k) for k in range(10)], **extra}


def load_data(resolution: int, procedural: int, mnist, seed: int) -> tuple[Tensor, Tensor, str]:
    images, labels = digits_dataset(resolution, procedural=procedural, mnist=mnist, seed=seed)
    what = f"MNIST from {mnist}" if mnist else "scikit-learn's real handwritten digits"
    if procedural:
        what += f" + {procedural} font-rendered digits"
    return images, labels, f"{what}: {images.shape[0]} images at {resolution} px"


def gan_config(steps: int, batch_size: int, seed: int, **kw) -> GANConfig:
    return GANConfig(steps=steps, batch_size=batch_size, lr=2e-4, beta1=0.5, seed=seed,
                     checkpoint_every=max(steps, 1), **kw)


def save_model(G: Generator, folder: Path, card: dict) -> str:
    G.card = card
    save_generator(G, folder / "models" / G.name, card=card)
    return f"models/{G.name}.safetensors"


@torch.no_grad()
def sample_images(G: Generator, n: int, seed: int, batch_size: int = 128) -> Tensor:
    z, c = held_out(G, n, seed)
    return torch.cat([G.synthesize(z[i:i + batch_size], classes=None if c is None else c[i:i + batch_size])
                      for i in range(0, n, batch_size)]).cpu()


def reference_subset(real: Tensor, n: int, seed: int) -> Tensor:
    """A seeded subset of the real images for FID: 4 per generated image (at least 64, at most
    all). FID runs once per alpha and walk; the reference features are recomputed every time."""
    k = min(real.shape[0], max(64, 4 * n))
    return real[torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(seed))[:k]]


def fid_floor(real: Tensor, n: int, seed: int, device="cpu") -> float | None:
    """FID of ``n`` real images outside `reference_subset` against it: what a perfect generator
    would score at this sample size (None if the data are too few)."""
    k = min(real.shape[0], max(64, 4 * n))
    perm = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(seed))
    if real.shape[0] - k < 2:
        return None
    other = real[perm[k:k + n]]
    return fid_kid(real[perm[:k]], other, features=FEATURES, device=device,
                   kid_subset_size=min(100, other.shape[0]))["fid"]


@torch.no_grad()
def per_alpha(G: Generator, d: Direction, *, n: int, seed: int, real: Tensor | None = None,
              fid: bool = True, batch_size: int = 128) -> dict:
    """On ``n`` held-out (z, class): per alpha of the edit's 9-point grid, the digit CNN's
    accuracy on the walked images and on the targets (w.r.t. the conditioning class), and the
    FID of the walked images against ``real`` (if given; pass a `reference_subset`)."""
    edit = get_edit(d.edit)
    z, classes = held_out(G, n, seed)
    out = {"alphas": edit.grid(9).tolist(), "identity_walk": [], "identity_target": [], "fid": [],
           "attribute_walk": [], "attribute_target": []}
    key = ATTRIBUTE.get(d.edit, (None,))[0]
    if key == "angle":
        base_angle = torch.cat([ink_moments(G.synthesize(z[i:i + batch_size], classes=None if classes is None
                                                         else classes[i:i + batch_size]))["angle"]
                                for i in range(0, n, batch_size)])
    walk_values = []  # per alpha, the walk's attribute of every sample (for the per-sample changes)
    for a in edit.grid(9):
        walked, targets = [], []
        for i in range(0, n, batch_size):
            zb, cb = z[i:i + batch_size], None if classes is None else classes[i:i + batch_size]
            walked.append(d.render(G, zb, a, classes=cb))
            targets.append(edit(G.synthesize(zb, classes=cb), a)[0])
        walked, targets = torch.cat(walked), torch.cat(targets)
        if key is not None:
            for name, imgs in (("attribute_walk", walked), ("attribute_target", targets)):
                v = ink_moments(imgs)[key]
                if key == "angle":  # turn relative to the sample's own axis, wrapped to (-90, 90]
                    v = torch.remainder(v - base_angle + 90, 180) - 90
                out[name].append(v.mean().item())
                if name == "attribute_walk":
                    walk_values.append(v.detach().cpu())
        if classes is not None:
            out["identity_walk"].append(digit_accuracy(walked, classes))
            out["identity_target"].append(digit_accuracy(targets, classes))
        if fid and real is not None:
            out["fid"].append(fid_kid(real, walked.cpu(), features=FEATURES, device=G.device,
                                      kid_subset_size=min(100, n))["fid"])
    out["attribute_per_sample"] = per_sample_at_alphas(walk_values, out["alphas"], edit.identity)
    return out


def per_sample_at_alphas(values: list[Tensor], alphas: list[float], identity: float) -> list[dict]:
    """`metrics.stats.paired_change` of each alpha's per-sample values against the identity
    alpha's (the same z), the asked way being the sign of alpha - identity; [] without values."""
    from steerlab.metrics.stats import paired_change

    if not values:
        return []
    i0 = min(range(len(alphas)), key=lambda j: abs(alphas[j] - identity))
    return [{"alpha": a, **paired_change(values[i0], v, sign=(a > identity) - (a < identity))}
            for a, v in zip(alphas, values)]


def fid_of(G: Generator, real: Tensor, n: int, seed: int) -> float:
    return fid_kid(real, sample_images(G, n, seed), features=FEATURES, device=G.device,
                   kid_subset_size=min(100, n))["fid"]


def classifier_accuracy(device) -> float:
    return float(digit_classifier(device=device).accuracy)


# The attribute each edit moves, read from the ink (pixel intensity) of a digit image.
ATTRIBUTE = {"zoom": ("spread", "ink spread (px, RMS radius)"), "shift_x": ("x", "ink centre x (px)"),
             "shift_y": ("y", "ink centre y (px)"), "rotate2d": ("angle", "turn of the ink principal axis vs G(z) (degrees)")}


def ink_moments(images: Tensor) -> dict[str, Tensor]:
    """Intensity moments of (N, C, H, W) images in [0, 1]: centre ``x``, ``y`` (pixels), RMS radius
    ``spread`` (pixels) and principal-axis ``angle`` (degrees, counter-clockwise, in (-90, 90]).
    A shift moves x, a zoom scales spread, a rotation turns angle: the walk's *measured* effect,
    which the masked L2 alone does not show (a walk can lower it by hiding the digit under the
    mask instead of moving it)."""
    w = images.mean(1).clamp_min(0)  # (N, H, W)
    h, wd = w.shape[-2:]
    ys = torch.arange(h, dtype=w.dtype, device=w.device)[:, None]
    xs = torch.arange(wd, dtype=w.dtype, device=w.device)[None, :]
    m = w.sum((1, 2)).clamp_min(1e-6)
    cx, cy = (w * xs).sum((1, 2)) / m, (w * ys).sum((1, 2)) / m
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    mxx, myy, mxy = ((w * dx * dx).sum((1, 2)) / m, (w * dy * dy).sum((1, 2)) / m, (w * dx * dy).sum((1, 2)) / m)
    angle = torch.rad2deg(0.5 * torch.atan2(-2 * mxy, mxx - myy))  # y points down: flip for CCW
    return {"x": cx, "y": cy, "spread": (mxx + myy).sqrt(), "angle": angle}


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def ends(values: Sequence[float]) -> float:
    """Mean of the first and last grid values: the two ends of the range (largest |alpha_g|)."""
    return (values[0] + values[-1]) / 2


@torch.no_grad()
def strip_rows(G: Generator, d: Direction, z: Tensor, classes: Tensor | None, alphas: Tensor):
    """(walk row, target row) for each sample: (len(alphas), C, H, W) each; grey = undefined."""
    edit = get_edit(d.edit)
    rows = []
    for i in range(z.shape[0]):
        zi = z[i:i + 1].expand(len(alphas), -1)
        ci = None if classes is None else classes[i:i + 1].expand(len(alphas))
        target, mask = edit(G.synthesize(zi, classes=ci), alphas)
        rows.append((d.render(G, zi, alphas, classes=ci), target * mask + 0.5 * (1 - mask)))
    return rows


def alpha_labels(alphas: Tensor) -> list[str]:
    return [f"{a:.3g}" for a in alphas.tolist()]


def save_strip(rows: list[Tensor], labels: list[str], alphas: Tensor, path: Path) -> None:
    from steerlab.report.plots import save_png
    save_png(grid_image(rows, col_labels=alpha_labels(alphas), row_labels=labels, scale=2), path)


def panel_plot(path: Path, panels: list[dict], *, ncols: int, sharey: bool = False) -> Path:
    """Several line plots in one PNG. Each panel: ``{"title", "xlabel", "ylabel", "series":
    {label: (x, y, style)}}`` with style a dict of matplotlib kwargs."""
    import matplotlib.pyplot as plt

    nrows = (len(panels) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), dpi=110, squeeze=False,
                             sharey=sharey)
    for ax, p in zip(axes.flat, panels):
        for label, (x, y, style) in p["series"].items():
            ax.plot(list(x), list(y), label=label, **({"marker": "o", "ms": 3} | style))
        ax.set_title(p["title"], fontsize=10)
        ax.set_xlabel(p["xlabel"])
        ax.set_ylabel(p["ylabel"])
        if p.get("logx"):
            ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path)


def _ps_cell(p: dict | None) -> str:
    if not p or p.get("median") is None:
        return "-"
    way = "" if p["asked_way"] is None else f"; {p['asked_way']:.2f} asked way"
    return f"{p['median']:+.3g} [{p['q25']:+.3g}, {p['q75']:+.3g}]{way}; {p['detected']:.2f} detected"


def per_sample_rows(edit: str, curves: dict, labels: dict) -> list[list]:
    """Report rows, per walk kind, of the per-sample numbers at the two ends of the grid: the
    attribute's paired change against the identity alpha (median [IQR]; fraction moving the asked
    way; fraction detected) and the fraction of samples the walk brings closer to the target than
    doing nothing."""
    rows = []
    for kind, c in curves.items():
        a, l2 = c.get("attribute_per_sample") or [], c.get("l2_per_sample") or []
        better = ["-" if not l2 or l2[j]["asked_way"] is None else f"{l2[j]['asked_way']:.2f}" for j in (0, -1)]
        rows.append([edit, labels[kind], _ps_cell(a[0] if a else None), _ps_cell(a[-1] if a else None), *better])
    return rows


PER_SAMPLE_HEAD = ["edit", "walk", "attribute change, low end (per sample)", "attribute change, high end (per sample)",
                   "samples closer than doing nothing, low end", "..., high end"]
PER_SAMPLE_TEXT = ("Per sample, against the same (z, class) at alpha's identity: the change of the measured "
                   "attribute (median [25th, 75th percentile]; the fraction of samples moving the way the edit "
                   "asks; the fraction measured at both alphas), and the fraction of samples whose masked L2 to "
                   "the target is lower than doing nothing's.")
