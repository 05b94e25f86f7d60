"""`steerlab evaluate`'s images per second vs the generator's raw throughput, measured in one run.

Raw: ``G.synthesize`` of the same number of images, same batch, no grad. Evaluate renders every
held-out z at every alpha and, per image, measures the attribute, scores FID/KID features and an
ST-LPIPS distance to the previous alpha; it also renders G(z) and the reference set once. The
ratio is (evaluate images/s) / (raw images/s): how much slower measuring is than generating.
Evaluate without FID is printed too. Usage: ``python bench/evaluate_throughput.py [model] [edit]``
(default: shapes shift_x if the shapes model is bundled, else faces zoom).
Last line: `evaluate / raw throughput ratio: X`.
"""
from __future__ import annotations

import sys
import time

import torch

from steerlab.directions import Direction, alpha_spec
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import steerability
from steerlab.models import ZOO, load_model

N, N_ALPHAS, BATCH = 64, 5, 50


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else ("shapes" if "shapes" in ZOO else "faces")
    edit = get_edit(sys.argv[2] if len(sys.argv) > 2 else ("shift_x" if name == "shapes" else "zoom"))
    G = load_model(name)
    # a random fixed direction: the cost of evaluate does not depend on what the walk learned
    w = 0.3 * torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0))
    d = Direction(kind="linear", space="z", tensors={"w": w}, model=G.name, fingerprint=G.fingerprint,
                  alpha=alpha_spec(edit), edit=edit.name)
    total = N * N_ALPHAS
    z = G.sample_z(total, generator=torch.Generator().manual_seed(1))
    c = G.sample_classes(total, generator=torch.Generator().manual_seed(1))
    steerability(G, d, n=8, n_alphas=2, progress=False)  # warm-up: load feature nets and ST-LPIPS
    with torch.no_grad():
        t = time.perf_counter()
        for i in range(0, total, BATCH):
            G.synthesize(z[i:i + BATCH], classes=None if c is None else c[i:i + BATCH])
        raw = total / (time.perf_counter() - t)
    t = time.perf_counter()
    r = steerability(G, d, n=N, n_alphas=N_ALPHAS, batch_size=BATCH, progress=False)
    ev = total / (time.perf_counter() - t)
    t = time.perf_counter()
    steerability(G, d, n=N, n_alphas=N_ALPHAS, batch_size=BATCH, fid=False, progress=False)
    ev_nofid = total / (time.perf_counter() - t)
    print(f"model {name} ({G.resolution} px), edit {edit.name}, {N} samples x {N_ALPHAS} alphas, "
          f"measure {r['measure']}, FID features {r['feature_network']}, torch threads {torch.get_num_threads()}")
    print(f"raw generator: {raw:.1f} images/s")
    print(f"evaluate:      {ev:.1f} images/s  (without FID: {ev_nofid:.1f} images/s)")
    print(f"evaluate / raw throughput ratio: {ev / raw:.4f}")


if __name__ == "__main__":
    main()
