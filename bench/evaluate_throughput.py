"""`steerlab evaluate` vs the generator's raw throughput and vs its own floor, measured in one run.

Raw: ``G.synthesize`` of the same number of images, same batch, no grad. Evaluate renders every
held-out z at every alpha and, per image, measures the attribute, scores FID/KID features and an
ST-LPIPS distance to the previous alpha; it also renders G(z) and the reference set once. The
throughput ratio is (evaluate images/s) / (raw images/s): how much slower measuring is than generating.

The floor is the least work those numbers need: one G forward per image (G(z) and every
alpha; the reference set too when it is sampled from G), plus one pass per image of each
metric asked: the attribute measure (also on a dataset reference), the FID feature network
(also on the reference) and the ST-LPIPS trunk. Each part is timed on its own here, on the
same numbers of images at the same batch; `floor / evaluate` is how close evaluate comes to
it (1 = nothing but the necessary passes). Evaluate without FID is printed with its own floor.
Usage: ``python bench/evaluate_throughput.py [model] [edit]`` (default: shapes shift_x if the
shapes model is bundled, else faces zoom).
Last lines: `evaluate / raw throughput ratio: X` and `evaluate floor / time ratio: Y` (target >= 0.6).
"""
from __future__ import annotations

import sys
import time

import torch

from steerlab.attributes import get_measure
from steerlab.directions import Direction, alpha_spec
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import attribute_of, reference_images, steerability
from steerlab.metrics.fid import feature_network, image_features
from steerlab.metrics.perceptual import perceptual_features
from steerlab.models import ZOO, load_model

N, N_ALPHAS, BATCH = 64, 5, 50


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


@torch.no_grad()
def floor_parts(G, d, r: dict) -> dict[str, float]:
    """Seconds of each necessary pass, on the image counts one `steerability` call processes."""
    total = N * (1 + N_ALPHAS)  # G(z) and every alpha
    z = G.sample_z(total, generator=torch.Generator().manual_seed(1))
    c = G.sample_classes(total, generator=torch.Generator().manual_seed(1))
    batches = range(0, total, BATCH)
    imgs = []
    parts = {"G forward": timed(lambda: imgs.extend(
        G.synthesize(z[i:i + BATCH], classes=None if c is None else c[i:i + BATCH]) for i in batches))}
    imgs = torch.cat(imgs)
    ref = reference_images(G, N, 0)
    if not ref["is_data"]:  # the reference set is sampled from G: its forwards are necessary too
        parts["G forward"] += timed(lambda: reference_images(G, N, 0))
    name, _ = attribute_of(G, d)
    m = get_measure(name)
    measured = torch.cat([imgs, ref["images"].to(imgs)]) if ref["is_data"] else imgs
    parts["measure"] = timed(lambda: [m(measured[i:i + BATCH]) for i in range(0, measured.shape[0], BATCH)])
    net = feature_network(r["feature_network"], G.device)
    both = torch.cat([imgs, ref["images"].to(imgs)])
    parts["FID features"] = timed(lambda: image_features(net, both, BATCH, G.device))
    parts["ST-LPIPS features"] = timed(lambda: [perceptual_features(imgs[i:i + BATCH], r["perceptual_net"])
                                                for i in batches])
    return parts


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
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    steerability(G, d, n=N, n_alphas=N_ALPHAS, batch_size=BATCH, fid=False, progress=False)
    seconds_nofid = time.perf_counter() - t
    parts = floor_parts(G, d, r)
    floor = sum(parts.values())
    floor_nofid = floor - parts["FID features"]
    print(f"model {name} ({G.resolution} px), edit {edit.name}, {N} samples x {N_ALPHAS} alphas, "
          f"measure {r['measure']}, FID features {r['feature_network']}, torch threads {torch.get_num_threads()}")
    print(f"raw generator: {raw:.1f} images/s")
    print(f"evaluate:      {total / seconds:.1f} images/s  (without FID: {total / seconds_nofid:.1f} images/s)")
    print("floor parts:   " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    print(f"evaluate {seconds:.2f} s vs floor {floor:.2f} s; without FID {seconds_nofid:.2f} s vs {floor_nofid:.2f} s "
          f"(ratio {floor_nofid / seconds_nofid:.3f})")
    print(f"evaluate / raw throughput ratio: {total / seconds / raw:.4f}")
    print(f"evaluate floor / time ratio: {floor / seconds:.3f}")


if __name__ == "__main__":
    main()
