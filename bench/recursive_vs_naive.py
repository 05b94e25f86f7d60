"""Recursive (Eq. 5) vs naive (Eq. 4) optimisation on the same targets (Plumerault et al. App. D-F, Fig. 10).

For S samples z0 of a model, the target is edit(G(z0), T). Both methods start at z0 with the same
budget of N x K Adam steps (lr 0.1, as in Fig. 10): the recursive one solves the N intermediate
targets edit(G(z0), nT/N) in turn, K steps each; the naive one optimises the final target
directly. At every step the loss on the final target is recorded; "steps to r" is the first
step where it falls to r times its value at z0 (budget + 1 when never).

    python bench/recursive_vs_naive.py [--model faces] [--edit shift_x] [--T 0.25] [--loss l2,blurred]
                                       [--samples 8] [--n-steps 10] [--steps-per-target 30]
                                       [--measure pixels:x] [--out DIR]

Prints per loss: median steps to each level, the fraction of targets reaching it, the final
losses and the ratio naive / recursive; writes fig10-<loss>.png (rows: recursive, naive; columns:
every K steps) and metrics.json into --out.

Second comparison, the cost of Algorithm 1 itself (``compare_trajectory_with_naive``): every one
of the N targets of a trajectory must be solved. Each method gets K steps per target; the
recursive one starts target n from its solution of n - 1, the naive one starts each from z0.
Printed: steps summed over the trajectory to bring every target to each level (mean over the
S trajectories; a target not reached counts K + 1) and the ratio naive / recursive.

A lower loss is not the point of App. F: for a large transformation the naive solver can stop in
a poor local minimum where the object has not moved (the gradient vanishes once the object and
its target no longer overlap, App. D). With ``--measure`` (e.g. ``pixels:x`` on dSprites) the
factor is also measured on each method's final image and on the target itself, and the mean
absolute error and the fraction within ``--tolerance`` are printed.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from steerlab.core.io import write_json
from steerlab.edits import get_edit
from steerlab.evaluation.trajectories import factor_measure
from steerlab.methods.trajectories import compare_trajectory_with_naive, compare_with_naive
from steerlab.models import load_model
from steerlab.report.plots import grid_image, save_png


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="faces")
    p.add_argument("--edit", default="shift_x")
    p.add_argument("--T", type=float, default=0.25)
    p.add_argument("--loss", default="l2,blurred")
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--n-steps", type=int, default=10)
    p.add_argument("--steps-per-target", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--measure", default="", help="MEASURE:KEY read on the final images, e.g. pixels:x")
    p.add_argument("--tolerance", type=float, default=0.05, help="a target counts as reached within this")
    p.add_argument("--out", default="runs/bench-recursive-vs-naive")
    a = p.parse_args()
    G = load_model(a.model)
    gen = torch.Generator().manual_seed(a.seed)
    z0 = G.sample_z(a.samples, generator=gen)
    classes = G.sample_classes(a.samples, generator=gen)
    folder = Path(a.out)
    record = {"model": G.name, "edit": a.edit, "T": a.T, "samples": a.samples, "n_steps": a.n_steps,
              "steps_per_target": a.steps_per_target, "measure": a.measure, "losses": {}}
    if a.measure:
        measure = factor_measure(a.measure)
        edit = get_edit(a.edit)
        with torch.no_grad():  # the factor on the true target: the edit of G(z0), nothing masked
            ident = edit.to_g(torch.tensor(edit.identity, dtype=torch.float64))
            alpha = edit.to_t(torch.full((a.samples,), float(ident) + a.T, dtype=torch.float64)).float()
            images0 = G.synthesize(z0, classes=classes)
            shifted = edit(images0, alpha)[0]
            target_value = measure(shifted)
            if a.measure.startswith("pixels:"):
                # only targets whose object is still whole in the frame: a sliver at the border is a
                # target the generator cannot produce (Sec. 2.1.2), not a test of the optimiser
                from steerlab.data.dsprites import pixel_stats
                whole = pixel_stats(shifted)["area"] >= 0.9 * pixel_stats(images0)["area"]
                target_value = torch.where(whole, target_value, torch.full_like(target_value, float("nan")))
    print(f"{G.name}, {a.edit} by T={a.T}, {a.samples} targets, budget {a.n_steps} x {a.steps_per_target} Adam steps")
    for loss in a.loss.split(","):
        out = compare_with_naive(G, a.edit, z0, T=a.T, n_steps=a.n_steps, steps_per_target=a.steps_per_target,
                                 loss=loss, classes=classes, levels=(0.5, 0.25, 0.1, 0.05),
                                 snapshot_every=a.steps_per_target)
        rec, nai = np.array(out["recursive_steps"]), np.array(out["naive_steps"])
        print(f"\nloss {loss}:  level  recursive steps (reached)  naive steps (reached)  naive/recursive")
        rows = {}
        for i, r in enumerate(out["levels"]):
            mr, mn = float(np.median(rec[i])), float(np.median(nai[i]))
            rows[str(r)] = {"recursive_median_steps": mr, "naive_median_steps": mn,
                            "recursive_reached": out["recursive_reached"][i], "naive_reached": out["naive_reached"][i]}
            print(f"{'':>12}{r:>5}  {mr:>8.0f} ({out['recursive_reached'][i]:.0%}){'':>12}{mn:>6.0f} "
                  f"({out['naive_reached'][i]:.0%}){'':>10}{mn / max(mr, 1):>6.2f}")
        fr, fn = np.mean(out["recursive_final"]), np.mean(out["naive_final"])
        print(f"{'':>12}final loss on the target after the budget: recursive {fr:.5f}, naive {fn:.5f} "
              f"(naive / recursive {fn / fr:.2f})")
        record["losses"][loss] = {"levels": rows, "recursive_final_mean": fr, "naive_final_mean": fn}
        if a.measure:
            valid = torch.isfinite(target_value)  # a target pushed (partly) out of the frame is left out
            record["losses"][loss]["factor_targets"] = int(valid.sum())
            for name in ("recursive", "naive"):
                err = (measure(out[f"{name}_images"][-1]) - target_value).abs()[valid]
                lost = torch.isnan(err)  # a reconstruction with nothing measurable missed its target
                within = (err <= a.tolerance).float().mean().item()  # NaN counts as a miss
                median = torch.nan_to_num(err, nan=float("inf")).median().item()
                record["losses"][loss].update({f"{name}_factor_error_median": median,
                                               f"{name}_factor_within_tolerance": within,
                                               f"{name}_factor_unmeasurable": lost.float().mean().item()})
                print(f"{'':>12}{name:>9}: |{a.measure} - target| median {median:.4f} (inf: unmeasurable), "
                      f"within {a.tolerance:g}: {within:.0%} of {int(valid.sum())} targets, "
                      f"unmeasurable {lost.float().mean():.0%}")
        traj = compare_trajectory_with_naive(G, a.edit, z0, T=a.T, n_steps=a.n_steps,
                                             steps_per_target=a.steps_per_target, loss=loss, classes=classes,
                                             levels=(0.5, 0.25, 0.1, 0.05))
        print(f"{'':>12}whole trajectory ({a.n_steps} targets x {a.steps_per_target} steps each): level  "
              f"recursive steps (reached)  naive steps (reached)  naive/recursive")
        trows = {}
        for i, r in enumerate(traj["levels"]):
            tr, tn = float(np.mean(traj["recursive_total"][i])), float(np.mean(traj["naive_total"][i]))
            trows[str(r)] = {"recursive_mean_total_steps": tr, "naive_mean_total_steps": tn,
                             "recursive_reached": traj["recursive_reached"][i], "naive_reached": traj["naive_reached"][i]}
            print(f"{'':>12}{r:>5}  {tr:>8.1f} ({traj['recursive_reached'][i]:.0%}){'':>12}{tn:>6.1f} "
                  f"({traj['naive_reached'][i]:.0%}){'':>10}{tn / max(tr, 1):>6.2f}")
        print(f"{'':>12}final loss per target, recursive: " + " ".join(f"{v:.4f}" for v in traj["recursive_final"]))
        print(f"{'':>12}final loss per target, naive:     " + " ".join(f"{v:.4f}" for v in traj["naive_final"]))
        record["losses"][loss]["trajectory"] = {"levels": trows, "recursive_final": traj["recursive_final"],
                                                "naive_final": traj["naive_final"]}
        # Fig. 10: one target, images every K steps (with --measure, the first target still in the frame)
        k = int(torch.isfinite(target_value).float().argmax()) if a.measure else 0
        ri, ni = out["recursive_images"][:, k], out["naive_images"][:, k]
        save_png(grid_image([torch.cat([out["final_target"][k:k + 1], ri]), torch.cat([out["final_target"][k:k + 1], ni])],
                            row_labels=["recursive", "naive"],
                            col_labels=["target"] + [str(j * a.steps_per_target) for j in range(ri.shape[0])], scale=2),
                 folder / f"fig10-{loss}.png")
    write_json(folder / "metrics.json", record)
    print(f"\nwrote {folder}/metrics.json and fig10-*.png")


if __name__ == "__main__":
    main()
