"""Compare `steerlab discover` runs: realism at matched perceptual change, locality, latent mimicry.

Reads the ``metrics.json`` of runs made with ``--analyze locality,fid,mimic`` (same model, layer
and ``--target``) and prints, per method: FID (its feature network named) at the calibrated
+-T_k, where each direction changes the images by the same mean ST-LPIPS; the FID of the
unshifted generator against itself (the floor); the locality concentration; and the Sec. 4.3
residual ratio of the best single latent shift vs its latent-shift control.

Usage: python bench/paramspace_compare.py runs/faces-svd runs/faces-hessian runs/faces-hybrid ...
Last line: `svd / best other FID ratio: X` (the paper: SVD harms realism most, so X > 1).
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def main(folders: list[str]) -> None:
    by_method = {}
    for f in folders:
        m = json.loads((Path(f) / "metrics.json").read_text())
        by_method[m["method"]] = m
    print(f"{'method':<9} {'n':>3} {'ST-LPIPS@T':>10} {'FID@T med':>9} {'FID@T mean':>10} {'floor':>7} "
          f"{'locality':>8} {'mimic ratio (weight / control) per space'}")
    fid_med = {}
    for method, m in by_method.items():
        rows = m["directions"]
        fids = [r["fid_at_T"] for r in rows if "fid_at_T" in r]
        floor = next((r["fid_unshifted"] for r in rows if "fid_unshifted" in r), float("nan"))
        loc = [r["locality_concentration"] for r in rows if "locality_concentration" in r]
        mim = {}
        for r in rows:
            for x in r.get("mimic", []):
                mim.setdefault(x["space"], []).append((x["ratio"], x["control_ratio"]))
        mtxt = "  ".join(f"{s}: {statistics.median(a for a, _ in v):.2f} / {statistics.median(b for _, b in v):.2f}"
                         for s, v in mim.items())
        pc = statistics.mean(r["perceptual_change_at_T"] for r in rows)
        if fids:
            fid_med[method] = statistics.median(fids)
        print(f"{method:<9} {len(rows):>3} {pc:>10.3f} {statistics.median(fids) if fids else float('nan'):>9.2f} "
              f"{statistics.mean(fids) if fids else float('nan'):>10.2f} {floor:>7.2f} "
              f"{statistics.mean(loc) if loc else float('nan'):>8.3f} {mtxt}")
    feats = {r.get("fid_feature_network") for m in by_method.values() for r in m["directions"]} - {None}
    print(f"FID features: {', '.join(sorted(feats))}; mimic ratio = residual / do-nothing error of the best "
          "single latent shift (median over directions)")
    if "svd" in fid_med and len(fid_med) > 1:
        best = min(v for k, v in fid_med.items() if k != "svd")
        print(f"svd / best other FID ratio: {fid_med['svd'] / best:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
