"""`steerlab compare-methods`: every method's best direction for one target effect, side by side.

For one model and one target (an image edit such as ``shift_x`` / ``zoom``, read with the edit's
attribute, or an attribute ``MEASURE:KEY``), each method runs with small settings and is timed:

- walks (linear, nonlinear) learn the edit itself (skipped for an attribute target: they need an edit);
  the iterative methods (walks, latent-discovery) train with their own defaults (1000 steps of 16)
  unless ``steps`` / ``batch_size`` set one equal budget for all of them;
- sefa, ganspace, latent-discovery and the weight-space svd / hessian find k unnamed directions:
  the one that moves the target attribute most per unit of perceptual change on a small screening
  set is picked, and turned the way that raises it; the screening codes are drawn from a stream of
  their own, so the samples the table reports never chose the direction they judge;
- boundary fits the target attribute directly (InterFaceGAN).

Each chosen direction is then measured on the same held-out samples
(`steerlab.evaluation.comparison.effect_per_change`): attribute change per unit ST-LPIPS change
with per-sample medians and the share moving the asked way, how much other attributes move per
unit change, and FID against G(z) at a matched effect (the alpha whose mean attribute change is
closest to the median over methods of the largest effect each reaches). ``report.html`` shows the table and one strip
per method.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import torch

from steerlab.attributes import ATTRIBUTE_FOR_EDIT, attribute_for_edit
from steerlab.core import checks, seeds
from steerlab.core.runs import Run
from steerlab.directions import Direction
from steerlab.edits import EDITS
from steerlab.evaluation.comparison import effect_per_change
from steerlab.jobs.common import model_of
from steerlab.methods import METHODS
from steerlab.methods.latent.boundary import parse_attribute
from steerlab.metrics.fid import fid_kid
from steerlab.models import Generator
from steerlab.report import html
from steerlab.report.plots import grid_image, save_png

__all__ = ["COMPARED", "compare_methods", "target_attribute"]

COMPARED = ("linear", "nonlinear", "sefa", "ganspace", "boundary", "latent-discovery", "svd", "hessian")
_OTHERS = ("x", "y", "area")  # geometric keys read beside the target, with colour:luminance


def _geometric(G: Generator, measure: str | None) -> str:
    """The measure that reads geometric keys (x, y, area): ``measure``, else the model card's, else ``box``."""
    return measure or ((getattr(G, "card", None) or {}).get("measures", {})).get("box", "box")


def target_attribute(G: Generator, target: str, measure: str | None = None) -> tuple[str | None, str]:
    """(edit or None, ``MEASURE:KEY``) of a target: an edit (read with its attribute) or an attribute.

    ``measure`` swaps the measure a geometric edit is read with (e.g. ``face_box`` for faces)."""
    if target in EDITS:
        default = ATTRIBUTE_FOR_EDIT.get(target)
        if default is None or isinstance(default[1], tuple):
            raise ValueError(f"edit '{target}' has no single attribute to read it with; give an attribute "
                             "MEASURE:KEY as the target instead")
        name = _geometric(G, measure) if default[0] == "box" else default[0]
        name, key = attribute_for_edit(target, name)
        return target, f"{name}:{key}"
    if ":" not in target:
        raise ValueError(f"target must be an edit ({', '.join(sorted(EDITS))}) or an attribute MEASURE:KEY, "
                         f"got {target!r}")
    name, key = parse_attribute(target)
    return None, f"{name}:{key}"


def _first_conv(G: Generator) -> str:
    """The weight-space methods' layer: the first conv weight (not a class embedding), else the first weight."""
    weights = G.shiftable_weights()
    return next((n for n, w in weights.items() if w.dim() > 2), next(iter(weights)))


def _options(G: Generator, method: str, edit: str | None, attribute: str, *, k: int, steps: int | None,
             batch_size: int | None, seed: int) -> dict:
    """Each method's settings: its own defaults except k, the target, and (when given) one shared step budget."""
    budget = {key: v for key, v in (("steps", steps), ("batch_size", batch_size)) if v is not None}
    small = {
        "linear": {"edit": edit, **budget},
        "nonlinear": {"edit": edit, **budget},
        "sefa": {"k": k},
        "ganspace": {"k": k, "n_samples": 2000},
        "boundary": {"attribute": attribute, "n_samples": 1000},
        "latent-discovery": {"k": k, **budget},
        "svd": {"k": k, "layer": _first_conv(G)},
        "hessian": {"k": min(k, 4), "n_z": 4, "tol": 0.1, "stable_overlap": 0.0, "layer": _first_conv(G)},
    }[method]
    return {**small, "seed": seed, "progress": False}


def _alphas(d: Direction, sign: float, fractions: Sequence[float]) -> list[float]:
    """Alphas moving ``d`` the asked way: fractions of the way from identity to the range's end."""
    lo, hi = d.alpha.alpha_range
    end = hi if sign > 0 else lo
    return [d.alpha.identity + f * (end - d.alpha.identity) for f in fractions]


def _pick(G: Generator, dirs: Sequence[Direction], attribute: str, n: int, seed: int) -> tuple[int, float, list]:
    """The direction (and sign) whose median attribute change at 60 % of its range is largest.

    The median, not the mean and not a ratio: a direction that barely changes the image has a noisy,
    sometimes huge ratio, and one sample's outlier can carry a mean."""
    scores = []
    for d in dirs:
        r = effect_per_change(G, d, attribute, _alphas(d, 1.0, [0.6]) + _alphas(d, -1.0, [0.6]), n=n,
                              seed=seed + seeds.FIGURE_ROWS)["rows"]
        up, down = r[0]["median_delta"], r[1]["median_delta"]  # the rise reached by moving + and by moving -
        best = max(up, down, key=lambda v: v if v == v else -float("inf"))
        scores.append((best if best == best else -float("inf"), 1.0 if best == up else -1.0, best))
    i = max(range(len(dirs)), key=lambda j: scores[j][0])
    return i, scores[i][1], [s[2] for s in scores]


def compare_methods(model: str | Generator, target: str = "shift_x", *, methods: Sequence[str] = COMPARED,
                    k: int = 6, steps: int | None = None, batch_size: int | None = None, n: int = 48, n_screen: int = 12,
                    fid_n: int = 128, out: str | os.PathLike | None = None, overwrite: bool = False,
                    seed: int = 0, device: str = "cpu", progress: bool = True,
                    truncation: float | None = None, truncation_cutoff: int | None = None, fid_features: str | None = None,
                    measure: str | None = None) -> dict:
    """Compare the methods on one target effect and write a run folder (`steerlab compare-methods`).

    Args:
        target: an edit (shift_x, zoom, brightness...) or an attribute MEASURE:KEY.
        methods: registered method names (default: the walks, the latent family, svd and hessian).
        k: directions each unnamed method finds (the best one is compared).
        steps, batch_size: one training budget for the iterative methods (walks, latent-discovery);
            None: each method's own default (1000 steps, batch 16).
        n: held-out samples each chosen direction is measured on; n_screen: samples picking it.
        fid_n: samples of the FID at matched effect.
        fid_features: FID feature network (default: the model card's, else stlpips-vgg).
        measure: the measure geometric targets and the other attributes are read with (``box``,
            ``face_box``, ``saliency``; default: the model card's, else ``box``).

    Returns:
        ``{"out": Path, "metrics": dict}`` (``metrics["methods"]``: one row per method).
    """
    for name, v, lo, hi in (("k", k, 1, 256), ("steps", steps, 1, checks.MAX_STEPS),
                            ("batch_size", batch_size, 1, checks.MAX_BATCH), ("n", n, 2, checks.MAX_COUNT),
                            ("n_screen", n_screen, 2, checks.MAX_COUNT), ("fid_n", fid_n, 2, checks.MAX_COUNT)):
        if v is not None or name not in ("steps", "batch_size"):
            checks.check_int(name, v, lo, hi)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown method '{unknown[0] if unknown else ''}'; allowed: {', '.join(METHODS.names())}")
    G = model_of(model, device, truncation, truncation_cutoff)
    edit, attribute = target_attribute(G, target, measure)
    out = Path(out or f"runs/compare-{G.name}-{target.replace(':', '_')}")
    geometric = _geometric(G, measure)
    parse_attribute(f"{geometric}:x")  # an unknown measure: one line listing them
    config = dict(model=G.name, target=target, attribute=attribute, methods=list(methods), k=k, steps=steps,
                  batch_size=batch_size, n=n, n_screen=n_screen, fid_n=fid_n, seed=seed, truncation=truncation,
                  truncation_cutoff=truncation_cutoff, measure=geometric)
    others = [o for o in [f"{geometric}:{key}" for key in _OTHERS] + ["colour:luminance"] if o != attribute]
    rows, chosen = [], {}
    with Run("compare-methods", out, config=config, device=device, overwrite=overwrite) as run:
        for name in methods:
            m = METHODS.get(name)
            if m.family == "walk" and edit is None:
                rows.append({"method": name, "skipped": "a walk needs an edit as the target"})
                continue
            opts = _options(G, name, edit, attribute, k=k, steps=steps, batch_size=batch_size, seed=seed) \
                if name in COMPARED else {"seed": seed, "progress": False}
            t0 = time.time()
            dirs = m(G, **opts)
            seconds = time.time() - t0
            if len(dirs) > 1:
                i, sign, screen = _pick(G, dirs, attribute, n_screen, seed)
            else:
                i, sign, screen = 0, 1.0, []
            d = dirs[i]
            res = effect_per_change(G, d, attribute, _alphas(d, sign, (0.25, 0.5, 1.0)), n=n, seed=seed,
                                    others=others, asked=1.0)
            chosen[name] = (d, sign, res)
            rows.append({"method": name, "family": m.family, "seconds": round(seconds, 2), "picked": i,
                         "name": d.config.get("name", name), "sign": sign, "screen_median_change": screen,
                         "rows": res["rows"]})
            if progress:
                print(f"{name}: {seconds:.1f} s, picked #{i}", flush=True)
        # matched effect: the median over methods of the largest mean attribute change each reaches; a
        # method that does not reach it is compared at its largest (and flagged)
        reach = sorted(max((r["mean_delta"] for r in res["rows"] if r["mean_delta"] == r["mean_delta"]),
                           default=0.0) for _, _, res in chosen.values()) or [0.0]
        effect = reach[(len(reach) - 1) // 2]
        z, c = seeds.held_out(G, fid_n, seed + seeds.HELD_OUT_FRESH)
        with torch.no_grad():
            ref = torch.cat([G.synthesize(z[i:i + 64], classes=None if c is None else c[i:i + 64])
                             for i in range(0, fid_n, 64)]).cpu()
        features = fid_features or (getattr(G, "card", None) or {}).get("fid_features", "stlpips-vgg")
        if features == "shapes-classifier":
            from steerlab.metrics import shapes_features  # noqa: F401  (registers it)
        for row in rows:
            if "skipped" in row:
                continue
            d, sign, res = chosen[row["method"]]
            best = min(res["rows"], key=lambda r: abs(r["mean_delta"] - effect)
                       if r["mean_delta"] == r["mean_delta"] else float("inf"))
            row["reaches_matched_effect"] = max((r["mean_delta"] for r in res["rows"] if r["mean_delta"] == r["mean_delta"]),
                                                default=0.0) >= effect
            zz, cc = seeds.held_out(G, fid_n, seed + seeds.HELD_OUT_FRESH)
            with torch.no_grad():
                moved = torch.cat([d.render(G, zz[i:i + 64], best["alpha"], classes=None if cc is None else cc[i:i + 64])
                                   for i in range(0, fid_n, 64)]).cpu()
            fid = fid_kid(ref, moved, features=features, device=G.device)
            row["matched"] = {**best, "fid": fid["fid"], "fid_features": fid["feature_network"]}
        if run.folder is None:
            return {"out": out, "metrics": run.record({"methods": rows})}
        for name, (d, sign, _) in chosen.items():
            save_png(_strip(G, d, sign, seed), run.folder / f"strip_{name}.png")
        metrics = run.write_metrics({"model": G.name, "fingerprint": G.fingerprint, "target": target,
                                     "attribute": attribute, "matched_effect": effect, "methods": rows})
        _report(run.folder, G, metrics)
    return {"out": out, "metrics": metrics}


@torch.no_grad()
def _strip(G: Generator, d: Direction, sign: float, seed: int, n_z: int = 3):
    z, c = seeds.held_out(G, n_z, seed + seeds.HELD_OUT_FIGURE_ROWS)
    alphas = _alphas(d, -sign, (1.0, 0.5)) + [d.alpha.identity] + _alphas(d, sign, (0.5, 1.0))  # lowers ... raises
    grid = list(torch.stack([d.render(G, z, a, classes=c) for a in alphas], 1))
    return grid_image(grid, col_labels=[f"{a:+.2g}" for a in alphas], scale=2)


def _fmt(v, digits: int = 3) -> str:
    return "-" if v is None or v != v else f"{v:.{digits}g}"


def _report(folder: Path, G: Generator, m: dict) -> None:
    head = ["method", "direction", "seconds", "alpha", "mean change", "median change", "ST-LPIPS",
            "change / LPIPS", "median paired", "moving asked way", "others |change| / LPIPS", "FID"]
    table = []
    for r in m["methods"]:
        if "skipped" in r:
            table.append([r["method"], f"skipped: {r['skipped']}", *[""] * (len(head) - 2)])
            continue
        x = r["matched"]
        others = ", ".join(f"{k} {_fmt(v)}" for k, v in x["others"].items())
        flag = "" if r.get("reaches_matched_effect", True) else " (does not reach it)"
        table.append([r["method"], r["name"], r["seconds"], _fmt(x["alpha"]) + flag, _fmt(x["mean_delta"]),
                      _fmt(x["median_delta"]), _fmt(x["mean_change"]), _fmt(x["ratio"]),
                      _fmt(x["median_paired_ratio"]), _fmt(x["moving_asked_way"], 2), others, _fmt(x["fid"])])
    intro = (f"{G.name}, target {m['target']} read as {m['attribute']}. Each method's chosen direction at the "
             f"alpha whose mean attribute change is closest to {m['matched_effect']:.3g} (the median over methods of "
             "the largest change each reaches); change / LPIPS = mean attribute change per mean ST-LPIPS change; "
             "median paired = median of the per-sample ratios; FID against G(z) on the same codes, features "
             f"{next((r['matched']['fid_features'] for r in m['methods'] if 'matched' in r), '-')}.")
    strips = "".join(html.text(f"{r['method']}: {r['name']} (rows: held-out samples; columns: alpha)")
                     + html.image(f"strip_{r['method']}.png") for r in m["methods"] if "skipped" not in r)
    html.write_report(folder / "report.html", f"{G.name}: methods compared on {m['target']}",
                      [("Side by side", html.text(intro) + html.table(head, table)), ("Strips", strips)])
