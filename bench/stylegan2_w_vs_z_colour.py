"""Jahanian et al. Sec. 4.3 on the bundled StyleGAN2: a colour walk in W keeps structure better than in z.

Learns the same colour walk (Eq. 1, masked L2, same seed and steps) in z, w and w+ of
`shapes-stylegan2`, measures on 32 held-out samples how far each moves the mean colour
(colour gain, 1 = as far as the target) and how much structure it changes (edge-map distance
and colour-matched ST-LPIPS to G(z)) at the same alphas and, since the walks reach different
colour changes, also at one common colour change (each walk scaled along its direction); writes
the run folder (strip.png side by side) and prints the ratios z / w and z / w+ of this run.

    python bench/stylegan2_w_vs_z_colour.py [--steps 300] [--out runs/bench-w-vs-z]
"""
from __future__ import annotations

import argparse

from steerlab.jobs.compare_spaces import compare_spaces_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="shapes-stylegan2")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/bench-w-vs-z")
    a = p.parse_args()
    run = compare_spaces_run(a.model, "color", spaces=("z", "w", "w+"), steps=a.steps, seed=a.seed,
                             out=a.out, overwrite=True)
    m = run["metrics"]
    for s in ("z", "w", "w+"):
        print(f"{s:>3}: colour gain {m[s]['colour_gain_mean']:.3f}  edge distance {m[s]['edge_distance_mean']:.4f}  "
              f"ST-LPIPS (colour-matched) {m[s]['lpips_distance_mean']:.4f}")
    print(f"target edit itself: edge distance {m['z']['target_edge_distance_mean']:.4f} (clamping; the floor)")
    for s in ("w", "w+"):
        print(f"z / {s}: edge distance {m['z']['edge_distance_mean'] / m[s]['edge_distance_mean']:.2f}x, "
              f"ST-LPIPS {m['z']['lpips_distance_mean'] / m[s]['lpips_distance_mean']:.2f}x; "
              f"colour gain {s} / z {m[s]['colour_gain_mean'] / max(m['z']['colour_gain_mean'], 1e-6):.2f}x")
    g = m["z"]["matched_colour_gain"]
    print(f"at equal colour gain {g:.2f} (each walk scaled along its direction): edge distance "
          + ", ".join(f"{s} {m[s]['matched_edge_distance']:.4f}" for s in ("z", "w", "w+"))
          + f"; z / w {m['z']['matched_edge_distance'] / m['w']['matched_edge_distance']:.2f}x, "
          f"z / w+ {m['z']['matched_edge_distance'] / m['w+']['matched_edge_distance']:.2f}x")
    for s in ("z", "w", "w+"):
        c = m[s]["matched_curve"]
        print(f"  {s:>3} scale " + " ".join(f"{k:g}:(gain {gg:.2f}, edge {e:.3f})"
                                           for k, gg, e in zip(c["scale"], c["colour_gain"], c["edge_distance"])))
    print(f"strip: {run['out']}/strip.png")


if __name__ == "__main__":
    main()
