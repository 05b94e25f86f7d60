"""`steerlab discover --method sefa|ganspace|boundary|latent-discovery`: latent directions in one run folder.

    >>> from steerlab.jobs.latent import discover_latent
    >>> run = discover_latent("shapes", "boundary", attribute="box:x", out="runs/bx")   # doctest: +SKIP

The folder holds ``directions/k00.safetensors`` ... (one linear `Direction` per file, readable
``.json`` beside each; ``config.name`` names it, ``config.index`` is k), ``overview.png`` (one
row per direction: one sample over alpha in [-limit, limit] standard deviations),
``strip_k00.png`` ... (rows = samples, columns = alpha), ``metrics.json`` (the method's run-level
results: eigenvalues, component spreads, SVM accuracy, reconstructor accuracy) and ``report.html``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from steerlab.core import checks, seeds
from steerlab.core.runs import Run
from steerlab.directions import Direction
from steerlab.jobs.common import model_of
from steerlab.methods import METHODS as REGISTRY
from steerlab.models import Generator
from steerlab.report import html
from steerlab.report.plots import grid_image, save_png

__all__ = ["LATENT_METHODS", "discover_latent", "latent_strips"]

LATENT_METHODS = tuple(m.name for m in REGISTRY.values() if m.family == "latent")


@torch.no_grad()
def latent_strips(G: Generator, d: Direction, *, n_z: int = 3, n_alphas: int = 7, seed: int = 0) -> tuple[list, list]:
    """Rows = ``n_z`` held-out samples, columns = alpha in linspace(-limit, limit): images for `grid_image`."""
    z, classes = seeds.held_out(G, n_z, seed + seeds.HELD_OUT_FIGURE_ROWS)
    lo, hi = d.alpha.alpha_range
    alphas = torch.linspace(lo, hi, n_alphas).tolist()
    cols = [d.render(G, z, a, classes=classes) for a in alphas]          # n_alphas x (N, C, H, W)
    return list(torch.stack(cols, 1)), [f"{a:+.2g}" if abs(a) > 1e-9 else "0" for a in alphas]


def discover_latent(model: str | Generator, method: str, *, k: int = 8, out: str | os.PathLike | None = None,
                    overwrite: bool = False, seed: int = 0, device: str = "cpu", progress: bool = True,
                    truncation: float | None = None, truncation_cutoff: int | None = None, n_grid_z: int = 3, **options: Any) -> dict:
    """Find latent directions with a "latent"-family method and write a run folder.

    Args:
        model: zoo name, generator file or a `Generator`.
        method: "sefa", "ganspace", "boundary", "latent-discovery" (or a plugin's latent method).
        k: number of directions (boundary: always one).
        options: the method's Config fields (attribute, condition, layers, space, n_samples, fraction,
            feature_layer, limit, steps, batch_size, lr, lam, shift, width...); a name the method
            does not take is refused with the allowed list.

    Returns:
        ``{"out": Path, "directions": [Path, ...], "metrics": dict}``.
    """
    if method not in LATENT_METHODS:
        raise ValueError(f"unknown latent method '{method}'; allowed: {', '.join(LATENT_METHODS)}")
    checks.check_int("k", k, 1, 4096)
    checks.check_int("n_grid_z", n_grid_z, 1, 64)
    entry = REGISTRY.get(method)
    names = {o.name for o in entry.options()}
    opts = {"k": k, **options} if "k" in names else dict(options)
    config = entry.make_config(seed=seed, progress=progress, **opts)   # unknown option: one line
    G = model_of(model, device, truncation, truncation_cutoff)
    out = Path(out or f"runs/{G.name}-{method}")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    run_config = {"model": G.name, "method": method, "truncation": truncation,
                  "truncation_cutoff": truncation_cutoff, **opts, "seed": seed}
    with Run("discover", out, config=run_config, device=device, overwrite=overwrite) as run:
        t0 = time.time()
        directions = entry(G, config)
        seconds = time.time() - t0
        if run.folder is None:  # a data-parallel worker: rank 0 writes
            return {"out": out, "directions": [], "metrics": run.record({"method": method, "find_seconds": seconds})}
        folder = run.folder
        paths = [d.save(folder / "directions" / f"k{i:02d}") for i, d in enumerate(directions)]
        overview, labels, rows = [], [], []
        for i, d in enumerate(directions):
            grid, cols = latent_strips(G, d, n_z=n_grid_z, seed=seed)
            save_png(grid_image(grid, col_labels=cols, scale=2), folder / f"strip_k{i:02d}.png")
            overview.append(grid[0])
            labels.append(f"k{i:02d}")
            rows.append({"index": i, "name": d.config.get("name"), "file": f"directions/k{i:02d}.safetensors",
                         "space": d.space, "sigma": d.config.get("sigma"),
                         **{key: v for key, v in d.metrics.items() if not isinstance(v, (list, dict))}})
        save_png(grid_image(overview, row_labels=labels, col_labels=cols, scale=2), folder / "overview.png")
        metrics = {"model": G.name, "fingerprint": G.fingerprint, "method": method, "k": len(directions),
                   "find_seconds": round(seconds, 2), "seed": seed, "alpha_unit": directions[0].alpha.unit,
                   "info": _jsonable(directions.info), "directions": rows}
        metrics = run.write_metrics(metrics)
        _report(folder, G, directions, metrics)
    return {"out": out, "directions": [out / "directions" / p.name for p in paths], "metrics": metrics}


def _jsonable(info: dict) -> dict:
    """The run-level results that are numbers, strings or lists of numbers (training curves dropped)."""
    keep = {}
    for key, v in info.items():
        if isinstance(v, (int, float, str)) or (isinstance(v, list) and all(isinstance(x, (int, float, str)) for x in v)):
            keep[key] = v
        elif isinstance(v, dict):
            keep[key] = _jsonable(v)
    return keep


def _report(folder: Path, G: Generator, directions: Sequence[Direction], m: dict) -> None:
    lo, hi = directions[0].alpha.alpha_range
    keys = sorted({key for r in m["directions"] for key in r} - {"index", "name", "file", "space"})
    table = html.table(["k", "name", "space", *keys],
                       [[f"k{r['index']:02d}", r["name"], r["space"], *[r.get(key, "") for key in keys]]
                        for r in m["directions"]])
    settings = (f"{m['method']} on {G.name} (fingerprint {m['fingerprint']}): {m['k']} direction(s) found in "
                f"{m['find_seconds']} s. alpha in [{lo:g}, {hi:g}] {m['alpha_unit']}.")
    sections = [("Directions", html.text(settings) + table),
                ("Overview", html.text("One held-out sample per direction (rows) over alpha.")
                 + html.image("overview.png", "overview"))]
    strips = "".join(html.text(f"k{i:02d} ({d.config.get('name')}): rows = held-out samples, columns = alpha")
                     + html.image(f"strip_k{i:02d}.png") for i, d in enumerate(directions))
    sections.append(("Strips", strips))
    html.write_report(folder / "report.html", f"{G.name}: {m['method']} latent directions", sections)
