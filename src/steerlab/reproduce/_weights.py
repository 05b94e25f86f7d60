"""What the Cherepkov et al. reproductions share: learn weight directions as resumable sub-runs,
measure each one the same way (`evaluation.weight_effects`, FID at +-T against data), show them.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch

from steerlab.directions import Direction
from steerlab.evaluation import weights as insp
from steerlab.evaluation.weight_effects import effect_sizes, shift_effects
from steerlab.methods import METHODS
from steerlab.models.base import Generator
from steerlab.report.plots import grid_image, save_png
from steerlab.reproduce._resume import SubRuns, direction_from, direction_tensors

TRAINING_KEYS = ("held_out_accuracy", "chance_accuracy", "held_out_t_error", "seconds")


def learned_directions(subs: SubRuns, name: str, G: Generator, method: str, layer: str, k: int,
                       progress: bool, **options) -> tuple[list[Direction], dict]:
    """``k`` calibrated weight directions of ``method`` on ``layer`` (a finished sub-run is read back).

    ``options``: the method's Config fields (target, steps, n_z, eigen, ...); those it lacks are ignored.
    Returns ``(directions, info)``, info holding the numbers worth keeping (singular values,
    eigenvalues, the Hessian overlap, the reconstructor's held-out accuracy), not the curves.
    """
    saved = subs.done(name)
    if saved is not None:
        tensors, state = saved
        return [direction_from(tensors, h, f"d{i}") for i, h in enumerate(state["headers"])], state["info"]
    entry = METHODS.get(method)
    stem = subs.ckpt.stem  # Eq. 1's own checkpoint: "<stem>.<name>-eq1.{json,safetensors}", cleared with the run's
    cfg = entry.make_config(strict=False, layer=layer, k=k, progress=progress,
                            checkpoint=str(stem.with_name(f"{stem.name}.{name}-eq1.x")), **options)
    learned = entry(G, cfg)
    raw = learned.info
    info = {key: raw[key] for key in ("singular_values", "eigenvalues", "train_limit") if key in raw}
    if "overlap" in raw.get("solver", {}):
        info["hessian_overlap"] = raw["solver"]["overlap"]
    info.update({key: raw["training"][key] for key in TRAINING_KEYS if key in raw.get("training", {})})
    tensors, headers = {}, []
    for i, d in enumerate(learned):
        t, h = direction_tensors(d, f"d{i}")
        tensors.update(t)
        headers.append(h)
    subs.finish(name, tensors, {"headers": headers, "info": info})
    return list(learned), info


def measure(G: Generator, d: Direction, z, classes, *, geometry: str | None, fid: dict | None = None) -> dict:
    """One direction's row: its range T, `shift_effects` on ``z`` and `effect_sizes`; with ``fid``
    (``{"n", "seed", "reference", "reference_name", "features"}``) the FID at -T and +T too."""
    layer, xi, T = d.config["layer"], d.tensors["xi"].to(G.device), d.alpha.alpha_range[1]
    e = shift_effects(G, layer, xi, T, z, classes, geometry=geometry)
    row = {"index": d.config.get("index"), "layer": layer, "limit": T, "effects": e, "sizes": effect_sizes(e)}
    if fid is not None:
        res = insp.fid_vs_shift(G, layer, xi, [-T, T], n=fid["n"], seed=fid["seed"], features=fid["features"],
                                reference=fid["reference"], reference_name=fid["reference_name"])
        fid["reference"], fid["reference_name"] = res["reference"], res["reference_name"]
        row["fid_minus"], row["fid_plus"] = res["fid"]
        row["fid_at_T"] = sum(res["fid"]) / 2
    return row


def median(values: Sequence[float]) -> float:
    v = sorted(x for x in values if x is not None and math.isfinite(x))
    if not v:
        return math.nan
    m = len(v) // 2
    return v[m] if len(v) % 2 else 0.5 * (v[m - 1] + v[m])


@torch.no_grad()
def direction_rows(G: Generator, directions: Sequence[Direction], z, classes, n_shifts: int = 7) -> list:
    """For each direction and each code, the images over t in linspace(-T, T, n_shifts): one row each."""
    from steerlab.methods.paramspace.shifts import render_shifts

    rows = []
    for d in directions:
        xi, T = d.tensors["xi"].to(G.device), d.alpha.alpha_range[1]
        ts = torch.linspace(-T, T, n_shifts)
        imgs = render_shifts(G, z, d.config["layer"], ts.view(-1, *[1] * xi.dim()).to(xi) * xi, classes=classes)
        rows.extend(imgs.transpose(0, 1))                                    # n_z rows of (S, C, H, W)
    return rows


def save_strip(path: Path, G: Generator, directions: Sequence[Direction], labels: Sequence[str], z, classes,
               title: str, n_shifts: int = 7) -> Path:
    """A strip figure: per direction, one row per code, columns t = -T .. +T."""
    rows = direction_rows(G, directions, z, classes, n_shifts)
    row_labels = [f"{lab} z{j}" for lab in labels for j in range(z.shape[0])]
    cols = ["-T"] + [""] * (n_shifts - 2) + ["+T"]
    cols[n_shifts // 2] = "0"
    return save_png(grid_image(rows, row_labels=row_labels, col_labels=cols, title=title), path)


def fmt(v, spec: str = ".3g") -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)
