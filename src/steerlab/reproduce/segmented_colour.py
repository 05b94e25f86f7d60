"""`steerlab reproduce segmented-colour`: Jahanian et al. App. B.6, Fig. 26 left.

The paper learns a colour walk whose target recolours only a segmented region ("when learning a
walk for cars, we only modify pixels in segmented car region when generating edit(G(z), alpha)")
and reports that StyleGAN "is able to roughly localize the color transformation to this region".

Here the region is, on the biased-shapes model, the object (``segment="object"``:
`attributes.objects.object_mask` of the source image G(z), grown by ``grow`` px over its
antialiased rim) or, on a face model, the Haar face box (``segment="face"``:
`attributes.faces.face_mask`): two colour walks (Eq. 1,
three vectors w_R, w_G, w_B) are learned with the same seed and schedule, one for the usual
whole-image target and one for the segmented target (`edits.segmented.segmented_edit`). On
held-out samples, each sample's mean colour change in the asked channel is read inside the
region and outside it (the pixels further than 2 px from the region),
against the same sample at alpha's identity. Localisation per sample: |change inside| /
(|change inside| + |change outside|) (1 = only the object changed, 0.5 = both alike).
"""
from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import torch

from steerlab.core.checkpoint import DEFAULT_EVERY

CHANNELS = ("red", "green", "blue")
WALKS = ("segmented", "whole")  # the B.6 walk and the usual colour walk
PAPER_CLAIM = ("StyleGAN is able to roughly localize the color transformation to this region "
               "(App. B.6, Fig. 26 left; qualitative, no number given)")


SEGMENTS = ("object", "face")


def segmenter(segment: str, grow: int = 1):
    """``images (N, C, H, W) -> region (N, 1, H, W)`` for ``segment``: "object" (`object_mask`,
    grown by ``grow`` px) or "face" (`face_mask`)."""
    from steerlab.attributes.faces import face_mask
    from steerlab.attributes.objects import object_mask

    if segment not in SEGMENTS:
        raise ValueError(f"segment must be one of {', '.join(SEGMENTS)}, got {segment!r}")
    return partial(object_mask, grow=grow) if segment == "object" else face_mask


def region_means(images: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean of each channel over a region, per sample.

    Shape: images (N, C, H, W), region (N, 1, H, W) in [0, 1] -> (N, C); NaN where the region is empty.
    """
    area = region.sum(dim=(2, 3))  # (N, 1)
    total = (images * region).sum(dim=(2, 3))  # (N, C)
    return torch.where(area > 0, total / area.clamp(min=1e-12), torch.nan)


def localisation(d_in: torch.Tensor, d_out: torch.Tensor) -> torch.Tensor:
    """|d_in| / (|d_in| + |d_out|) per sample, in [0, 1] (NaN where both are 0 or not found)."""
    a, b = d_in.abs(), d_out.abs()
    return torch.where(a + b > 0, a / (a + b), torch.nan)


def reproduce_segmented_colour(out: str | os.PathLike = "runs/segmented-colour", *, model: str = "shapes",
                               space: str = "z", walk_steps: int = 400, batch_size: int = 16, lr: float = 0.01,
                               n_eval: int = 128, alpha: float = 0.5, segment: str = "object", grow: int = 1,
                               seed: int = 0,
                               overwrite: bool = False, device: str = "cpu", progress: bool = True,
                               resume: bool = False, checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Segmented vs whole-image colour walks: where does the colour change? Writes one run folder.

    Args:
        out: run folder (``metrics.json``, ``strip.png``, ``inside_outside.png``, ``walks/``, ``report.html``).
        model: an RGB model: with ``segment="object"`` its images show one object on a row-uniform
            background (default ``shapes``); with ``"face"`` they show a face (e.g. ``faces``).
        space: latent space the walks live in ("z", or "w" where the model has it, as the paper's StyleGAN).
        walk_steps, batch_size, lr: Adam schedule of each of the two walks.
        n_eval: held-out samples measured.
        alpha: the colour offset measured per channel, at -alpha and +alpha (in (0, 0.5]).
        segment: the region: "object" (`object_mask`) or "face" (`face_mask`, the Haar box).
        grow: pixels the object mask is grown by (the segmented target and the inside region).
        resume, checkpoint_every: as every reproduction (`_resume.SubRuns`).

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``; ``metrics["walks"][walk][channel][sign]``
        holds the per-sample paired changes inside and outside (`metrics.stats.paired_change`), the
        median localisation and the fraction of samples changing more inside than outside.
    """
    from steerlab.core import seeds
    from steerlab.core.runs import Run
    from steerlab.edits import get_edit
    from steerlab.edits.segmented import segmented_edit
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.models import load_model
    from steerlab.reproduce._resume import SubRuns, learned_once

    if not 0 < alpha <= 0.5:
        raise ValueError(f"alpha must be in (0, 0.5] (the colour edit's range), got {alpha}")
    if grow < 0 or grow > 8:
        raise ValueError(f"grow must be in 0..8 pixels, got {grow}")
    if n_eval < 3:
        raise ValueError(f"n_eval must be >= 3, got {n_eval}")
    region = segmenter(segment, grow)
    G = load_model(model, device=device)
    if G.channels != 3:
        raise ValueError(f"model '{G.name}' has {G.channels} channels; a colour walk needs RGB images")
    edits = {"segmented": segmented_edit(get_edit("color"), region), "whole": get_edit("color")}
    t_start = time.time()
    with Run("reproduce segmented-colour", out, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, dict(model=model, fingerprint=G.fingerprint, space=space, walk_steps=walk_steps,
                                 batch_size=batch_size, lr=lr, segment=segment, grow=grow, seed=seed), resume=resume,
                       every=checkpoint_every)
        dirs, walk_s = {}, {}
        (tmp / "walks").mkdir()
        for name in WALKS:
            (dirs[name],), walk_s[name] = learned_once(subs, f"walk-{name}", lambda ck, e=edits[name]: learn_linear_walk(
                G, e, space=space, steps=walk_steps, batch_size=batch_size, lr=lr, seed=seed, progress=progress,
                checkpoint=ck))
            dirs[name].save(tmp / "walks" / name)
        z, classes = seeds.held_out(G, n_eval, seed)
        metrics = {"model": G.name, "space": space, "n_eval": n_eval, "alpha": alpha, "segment": segment, "grow": grow,
                   "paper": PAPER_CLAIM, "walk_seconds": walk_s,
                   "final_loss": {k: d.metrics["final_loss"] for k, d in dirs.items()},
                   **_measure(G, dirs, edits["segmented"], z, classes, alpha, region)}
        metrics.update(config={"model": model, "space": space, "walk_steps": walk_steps, "batch_size": batch_size,
                               "lr": lr, "n_eval": n_eval, "alpha": alpha, "segment": segment, "grow": grow,
                               "seed": seed},
                       seconds=round(time.time() - t_start, 1))
        metrics["summary"] = summary(metrics)
        _figures(tmp, G, dirs, edits["segmented"], metrics, seed)
        metrics = run.write_metrics(metrics)
        _report(tmp, metrics)
    subs.clear()
    return {"out": Path(out), "metrics": metrics, "summary": metrics["summary"]}


def _colour(c: int, a: float) -> list[float]:
    v = [0.0, 0.0, 0.0]
    v[c] = a
    return v


@torch.no_grad()
def _measure(G, dirs: dict, seg_edit, z, classes, alpha: float, region) -> dict:
    """Per walk (and the segmented target), channel and sign: changes inside and outside, per sample."""
    from steerlab.metrics.stats import paired_change

    base = dirs["whole"].render(G, z, _colour(0, 0.0), classes=classes)
    inside = region(base)
    outside = 1 - torch.nn.functional.max_pool2d(inside, 5, stride=1, padding=2)  # 2 px away from the region
    found = inside.sum(dim=(1, 2, 3)) > 0
    base_in, base_out = region_means(base, inside), region_means(base, outside)
    res = {"found": float(found.float().mean()), "region_fraction": float(inside[found].mean()) if found.any() else None,
           "walks": {}}
    for name in (*WALKS, "target"):
        res["walks"][name] = {}
        for c, channel in enumerate(CHANNELS):
            res["walks"][name][channel] = {}
            for sign in (-1, 1):
                a = _colour(c, sign * alpha)
                images = seg_edit(base, a)[0] if name == "target" else dirs[name].render(G, z, a, classes=classes)
                v_in, v_out = region_means(images, inside)[:, c], region_means(images, outside)[:, c]
                d_in, d_out = v_in - base_in[:, c], v_out - base_out[:, c]
                loc = localisation(d_in, d_out)
                ok = torch.isfinite(loc)
                res["walks"][name][channel]["+" if sign > 0 else "-"] = {
                    "inside": paired_change(base_in[:, c], v_in, sign=sign),
                    "outside": paired_change(base_out[:, c], v_out, sign=sign),
                    "localisation_median": float(loc[ok].median()) if ok.any() else None,
                    "more_inside": float((d_in.abs() > d_out.abs())[ok].float().mean()) if ok.any() else None}
    return res


def _pooled(m: dict, walk: str, key: str) -> float | None:
    vals = [s[key] for ch in m["walks"][walk].values() for s in ch.values() if s[key] is not None]
    return sum(vals) / len(vals) if vals else None


def summary(m: dict) -> str:
    """One line per walk: localisation and inside / outside medians at +alpha, averaged over the channels."""
    lines = []
    for walk in (*WALKS, "target"):
        per = m["walks"][walk]
        med_in = [per[ch]["+"]["inside"]["median"] for ch in CHANNELS]
        med_out = [per[ch]["+"]["outside"]["median"] for ch in CHANNELS]
        lines.append(f"{walk}: median localisation {_fmt(_pooled(m, walk, 'localisation_median'), '.2f')}, "
                     f"more change inside than outside for {_fmt(_pooled(m, walk, 'more_inside'), '.0%')} of samples; "
                     f"at +{m['alpha']:g} median change inside R/G/B "
                     + "/".join(_fmt(v, '+.3f') for v in med_in) + ", outside "
                     + "/".join(_fmt(v, '+.3f') for v in med_out))
    return "\n".join(lines)


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


@torch.no_grad()
def _figures(folder: Path, G, dirs: dict, seg_edit, m: dict, seed: int) -> None:
    from steerlab.core import seeds
    from steerlab.report.plots import grid_image, plt, save_figure, save_png

    a = m["alpha"]
    cols = [_colour(c, s * a) for c in range(3) for s in (-1, 1)]
    labels = [f"{ch[0].upper()}{s * a:+g}" for ch in CHANNELS for s in (-1, 1)]
    z, classes = seeds.held_out(G, 3, seed, seeds.HELD_OUT_FIGURE_ROWS)
    rows, names = [], []
    for i in range(z.shape[0]):
        zi, ci = z[i:i + 1].expand(len(cols), -1), None if classes is None else classes[i:i + 1].expand(len(cols))
        base = dirs["whole"].render(G, zi[:1], _colour(0, 0.0), classes=None if ci is None else ci[:1])
        rows.append(torch.cat([base, seg_edit(base.expand(len(cols), -1, -1, -1), torch.tensor(cols))[0]]))
        names.append(f"target {i}")
        for walk in WALKS:
            rows.append(torch.cat([base, dirs[walk].render(G, zi, torch.tensor(cols), classes=ci)]))
            names.append(f"{walk} {i}")
    save_png(grid_image(rows, col_labels=["G(z)"] + labels, row_labels=names, scale=3,
                        title="colour offset (channel, alpha)"), folder / "strip.png")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110, sharey=True)  # one scale: sizes compare
    for ax, where in zip(axes, ("inside", "outside")):
        for walk, colour in zip((*WALKS, "target"), ("tab:red", "tab:blue", "grey")):
            xs, ys, lo, hi = [], [], [], []
            for k, ch in enumerate(CHANNELS):
                for s in ("-", "+"):
                    st = m["walks"][walk][ch][s][where]
                    if st["median"] is None:  # no sample had an object
                        continue
                    xs.append(2 * k + (s == "+"))
                    ys.append(st["median"])
                    lo.append(st["median"] - st["q25"])
                    hi.append(st["q75"] - st["median"])
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", color=colour, label=walk, capsize=2, ms=4)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(range(6), labels, fontsize=8)
        ax.set_ylabel(f"change of the asked channel, {where}")
        ax.set_title(f"{'segmented region' if where == 'inside' else 'outside it'}: median [IQR] per sample", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, folder / "inside_outside.png")


def _report(folder: Path, m: dict) -> None:
    from steerlab.report import html

    rows = []
    for walk in (*WALKS, "target"):
        for ch in CHANNELS:
            for s in ("-", "+"):
                st = m["walks"][walk][ch][s]
                rows.append([walk, f"{ch} {s}{m['alpha']:g}"] + [
                    f"{st[w]['median']:+.3f} [{st[w]['q25']:+.3f}, {st[w]['q75']:+.3f}]; {_fmt(st[w]['asked_way'], '.2f')}"
                    if st[w]["median"] is not None else "-" for w in ("inside", "outside")]
                    + [_fmt(st["localisation_median"], ".2f"), _fmt(st["more_inside"], ".2f")])
    cfg = m["config"]
    sections = [
        ("Claim", html.text(f"Jahanian et al.: {m['paper']}. Model '{m['model']}', walks in {m['space']}, "
                            f"{cfg['walk_steps']} Adam steps each (batch {cfg['batch_size']}, lr {cfg['lr']}; "
                            f"{m['walk_seconds']['segmented']:.0f} s and {m['walk_seconds']['whole']:.0f} s); "
                            f"{m['n_eval']} held-out samples, the {m['segment']} found on {m['found']:.0%} of them, "
                            f"its region covers {_fmt(m['region_fraction'], '.1%')} of the image; total {m['seconds']} s.")),
        ("Summary", html.text(m["summary"].replace("\n", "; "))),
        ("Strips", html.image("strip.png", "strips") + html.text(
            "Per sample: the segmented target, the walk learned for it, and the usual whole-image colour walk.")),
        ("Inside vs outside", html.image("inside_outside.png", "inside vs outside")),
        ("Per sample", html.text(
            "Change of the asked channel against the same sample at alpha 0: median [25th, 75th percentile]; "
            "fraction moving the asked way. Localisation: median over samples of |inside| / (|inside| + |outside|); "
            "more inside: fraction of samples whose region changed more than the rest of the image.")
         + html.table(["walk", "offset", "inside", "outside", "localisation", "more inside"], rows)),
    ]
    html.write_report(folder / "report.html", "Segmented colour walks (Jahanian et al. App. B.6, Fig. 26 left)",
                      sections)
