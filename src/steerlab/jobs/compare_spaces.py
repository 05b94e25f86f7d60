"""`steerlab compare-spaces`: the same walk learned in several latent spaces, side by side.

The run folder holds one direction per space (``direction-<space>.safetensors``, the space in
its header), ``strip.png`` (per held-out sample: one row per space, then the target),
``structure.png`` (edge distance per alpha and space), ``matched.png`` (edge distance against the
colour change reached, each walk scaled along its direction), ``metrics.json`` and ``report.html``.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from steerlab.core import checks
from steerlab.core.runs import Run, fresh_folder
from steerlab.directions import Direction
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import held_out
from steerlab.jobs.common import model_of
from steerlab.methods.walks.spaces import PHOTOMETRIC, compare_spaces
from steerlab.models import Generator
from steerlab.report import html
from steerlab.report.plots import alpha_label, grid_image, line_plot, save_png


@torch.no_grad()
def spaces_strip(G: Generator, directions: dict[str, Direction], *, n_samples: int = 3, seed: int = 0):
    """Per sample, one row per space (the walk) and the target row; columns: the edit's grid."""
    first = next(iter(directions.values()))
    edit = get_edit(first.edit)
    z, classes = held_out(G, n_samples, seed)
    alphas = edit.grid(5 if edit.alpha_dim == 3 else 7)
    rows, labels = [], []
    for i in range(n_samples):
        zi = z[i:i + 1].expand(len(alphas), -1)
        ci = None if classes is None else classes[i:i + 1].expand(len(alphas))
        for space, d in directions.items():
            rows.append(d.render(G, zi, alphas, classes=ci))
            labels.append(f"{space} walk {i}")
        src = G.synthesize(zi, classes=ci)
        rows.append(edit(src, alphas)[0])
        labels.append(f"target {i}")
    return grid_image(rows, col_labels=[alpha_label(a) for a in alphas.tolist()], row_labels=labels, scale=2)


def compare_spaces_run(model: str | Generator, edit: str = "color", *, spaces=("z", "w"), steps: int = 300,
                       batch_size: int = 16, lr: float = 0.01, loss: str = "l2", seed: int = 0,
                       n_eval: int = 32, out: str | os.PathLike | None = None, overwrite: bool = False,
                       device: str = "cpu", progress: bool = True, truncation: float | None = None,
                       truncation_cutoff: int | None = None) -> dict:
    """Learn ``edit`` in each of ``spaces`` and write a comparison run folder.

    Returns:
        ``{"out": Path, "metrics": {space: {...}}}`` (see `steerlab.methods.walks.spaces.measure_structure`).
    """
    if edit not in PHOTOMETRIC:
        raise ValueError(f"compare-spaces needs a photometric edit; allowed: {', '.join(PHOTOMETRIC)} (got {edit!r})")
    checks.check_int("steps", steps, 1, checks.MAX_STEPS)
    checks.check_int("batch_size", batch_size, 1, checks.MAX_BATCH)
    checks.check_float("lr", lr, 0, 100)
    checks.check_int("n_eval", n_eval, 1, checks.MAX_COUNT)
    G = model_of(model, device, truncation, truncation_cutoff)
    spaces = tuple(spaces)
    for s in spaces:
        G.check_space(s)
    out = Path(out or fresh_folder("compare-spaces", G.name, edit))
    config = dict(model=G.name, edit=edit, spaces=list(spaces), steps=steps, batch_size=batch_size, lr=lr,
                  loss=loss, seed=seed, n_eval=n_eval, truncation=truncation, truncation_cutoff=truncation_cutoff)
    with Run("compare-spaces", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        directions, metrics = compare_spaces(G, edit, spaces, steps=steps, batch_size=batch_size, lr=lr,
                                             loss=loss, seed=seed, n_eval=n_eval, progress=progress)
        for s, d in directions.items():
            d.save(tmp / f"direction-{s}")
        save_png(spaces_strip(G, directions, seed=seed), tmp / "strip.png")
        xs = list(range(len(metrics[spaces[0]]["alphas"])))
        series = {f"walk in {s}": (xs, metrics[s]["edge_distance"]) for s in spaces}
        series["target edit (floor)"] = (xs, metrics[spaces[0]]["target_edge_distance"])
        line_plot(tmp / "structure.png", series, xlabel="alpha index (see metrics.json)",
                  ylabel="edge-map distance to G(z)", title=f"{G.name}: {edit} walk, structure change")
        line_plot(tmp / "matched.png", {f"walk in {s}": (metrics[s]["matched_curve"]["colour_gain"],
                                                         metrics[s]["matched_curve"]["edge_distance"]) for s in spaces},
                  xlabel="colour gain reached (1 = the target's colour change)",
                  ylabel="edge-map distance to G(z)", title="structure change at equal colour change")
        summary = {"model": G.name, "edit": edit, "spaces": list(spaces), "steps": steps, "seed": seed,
                   "n_eval": n_eval, "metrics": metrics}
        run.write_metrics(summary)
        rows = [[s, directions[s].describe(), metrics[s]["colour_gain_mean"], metrics[s]["edge_distance_mean"],
                 metrics[s]["lpips_distance_mean"], metrics[s]["target_edge_distance_mean"],
                 metrics[s]["matched_edge_distance"]] for s in spaces]
        g_star = metrics[spaces[0]]["matched_colour_gain"]
        html.write_report(tmp / "report.html", f"{G.name}: {edit} walk in {' vs '.join(spaces)}", [
            ("Directions", html.table(["space", "direction", "colour gain", "edge distance",
                                       "ST-LPIPS (colour-matched)", "target edge distance",
                                       f"edge distance at colour gain {g_star:.2f}"], rows)
             + html.text("colour gain: how far the walk moves the mean colour, relative to the target (1 = as "
                         "far). Edge distance and ST-LPIPS: structure change after colour normalisation, "
                         f"between G(z) and the walked image; lower keeps structure. A walk that barely changes "
                         f"colour also barely changes structure, so the last column compares the walks at the same "
                         f"colour change ({g_star:.2f}, the most every space reaches; walks scaled by up to 8x). "
                         f"{n_eval} held-out samples, {steps} steps per walk, seed {seed}.")),
            ("Strip", html.text("Per held-out sample: one row per space, then the target edit(G(z), alpha).")
             + html.image("strip.png", "strip")),
            ("Structure change per alpha", html.image("structure.png", "structure")),
            ("Structure change at equal colour change", html.image("matched.png", "matched")),
        ])
    return {"out": out, "metrics": metrics}
