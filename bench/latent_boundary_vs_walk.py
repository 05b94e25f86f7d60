"""On `shapes`: the InterFaceGAN boundary for the object's x-position vs the self-supervised shift_x walk.

Both directions are read the same way (`steerlab.evaluation.comparison.effect_per_change`): on the
same held-out samples, the object box's x-centre change (fraction of the width) per unit of ST-LPIPS
change, at several alphas of each; the summary compares them at a matched mean perceptual change.
Per-sample evidence is printed beside each mean: the median paired change, the median of the
per-sample ratios and the fraction of samples that moved right. Strips of both directions (same
samples) are written to --out.

    python bench/latent_boundary_vs_walk.py --walk runs/shapes-shift_x/direction.safetensors
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from steerlab.directions import Direction
from steerlab.evaluation.comparison import at_matched_change, effect_per_change
from steerlab.methods import learn
from steerlab.models import load_model
from steerlab.report.plots import grid_image, save_png


def strip(G, d, alphas, n=4, seed=0):
    from steerlab.core import seeds
    z, c = seeds.held_out(G, n, seed)
    with torch.no_grad():
        return list(torch.stack([d.render(G, z, a, classes=c) for a in alphas], 1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--walk", required=True, help="a shift_x linear walk of shapes (steerlab walk --edit shift_x)")
    p.add_argument("--n", type=int, default=100, help="held-out samples")
    p.add_argument("--n-samples", type=int, default=2000, help="samples the boundary is fitted on")
    p.add_argument("--out", default="runs/bench-boundary-vs-walk")
    args = p.parse_args()
    torch.set_num_threads(1)
    G = load_model("shapes")
    walk = Direction.load(args.walk, model=G)
    t0 = time.time()
    [boundary] = learn("boundary", G, attribute="box:x", n_samples=args.n_samples, progress=False)
    seconds = time.time() - t0
    print(f"boundary box:x on shapes: {seconds:.1f} s, SVM held-out accuracy "
          f"{boundary.metrics['held_out_accuracy']:.3f} on the top/bottom quarter of {args.n_samples} samples")
    others = ("box:y", "box:area", "object_colour:luminance")
    fr = (0.25, 0.5, 0.75, 1.0)
    results = {}
    for name, d in (("walk", walk), ("boundary", boundary)):
        hi = d.alpha.alpha_range[1]
        results[name] = effect_per_change(G, d, "box:x", [f * hi for f in fr], n=args.n, others=others)
        print(f"\n{name} ({d.alpha.unit}):")
        print(f"{'alpha':>7} {'mean dx':>8} {'median dx':>9} {'ST-LPIPS':>8} {'dx/LPIPS':>8} "
              f"{'median paired':>13} {'right':>6} {'found':>6}  others |d|/LPIPS")
        for r in results[name]["rows"]:
            print(f"{r['alpha']:7.3g} {r['mean_delta']:8.4f} {r['median_delta']:9.4f} {r['mean_change']:8.4f} "
                  f"{r['ratio']:8.4f} {r['median_paired_ratio']:13.4f} {r['moving_asked_way']:6.2f} "
                  f"{r['found']:6.2f}  " + ", ".join(f"{k} {v:.3f}" for k, v in r["others"].items()))
    target = min(max(r["mean_change"] for r in results[k]["rows"]) for k in results)
    w, b = at_matched_change(results["walk"], target), at_matched_change(results["boundary"], target)
    print(f"\nat a matched mean ST-LPIPS change (~{target:.3f}): walk {w['ratio']:.4f} (alpha {w['alpha']:.3g}, "
          f"LPIPS {w['mean_change']:.3f}), boundary {b['ratio']:.4f} (alpha {b['alpha']:.3g}, LPIPS "
          f"{b['mean_change']:.3f}); boundary / walk = {b['ratio'] / w['ratio']:.3f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, d in (("walk", walk), ("boundary", boundary)):
        lo, hi = d.alpha.alpha_range
        alphas = torch.linspace(-hi, hi, 7).tolist()
        save_png(grid_image(strip(G, d, alphas), col_labels=[f"{a:+.2g}" if abs(a) > 1e-6 else "0" for a in alphas], scale=3),
                 out / f"strip_{name}.png")
    (out / "results.json").write_text(json.dumps(results))
    print(f"strips: {out}/strip_walk.png, {out}/strip_boundary.png")


if __name__ == "__main__":
    main()
