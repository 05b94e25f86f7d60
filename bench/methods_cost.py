"""Discovery cost of every latent-family method (and, for scale, a few others) in one unit: one
generator forward+backward pass of a batch, measured in the same run.

    python bench/methods_cost.py --model shapes --batch 16

Each method runs once with the settings shown (small, so the bench stays short; the iterative ones
scale linearly with their steps: the per-step ratio is printed too).
"""
from __future__ import annotations

import argparse
import time

import torch

from steerlab.methods import learn
from steerlab.models import load_model


def forward_backward_seconds(G, batch: int, reps: int = 5) -> float:
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(reps + 1):
        z = G.sample_z(batch, generator=g).requires_grad_(True)
        c = G.sample_classes(batch, generator=g)
        t = time.perf_counter()
        G.synthesize(z, classes=c).sum().backward()
        times.append(time.perf_counter() - t)
    return sorted(times[1:])[len(times[1:]) // 2]  # median, first call dropped


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="shapes")
    p.add_argument("--batch", type=int, default=16, help="batch of the reference forward+backward pass")
    p.add_argument("--steps", type=int, default=50, help="steps of the iterative methods")
    args = p.parse_args()
    torch.set_num_threads(1)
    G = load_model(args.model).requires_grad_(False)
    unit = forward_backward_seconds(G, args.batch)
    print(f"{G.name}: one forward+backward of a batch of {args.batch}: {unit * 1000:.1f} ms (median of 5)")
    runs = [
        ("sefa", {"k": 8}, None),
        ("ganspace", {"k": 8, "n_samples": 5000}, None),
        ("boundary", {"attribute": "box:x", "n_samples": 2000}, None),
        ("latent-discovery", {"k": 8, "steps": args.steps, "batch_size": args.batch}, args.steps),
        ("linear", {"edit": "shift_x", "steps": args.steps, "batch_size": args.batch}, args.steps),
        ("svd", {"k": 8, "limit": 1.0}, None),
    ]
    import sklearn.svm  # noqa: F401  (imports and the fingerprint hash are not the methods' cost)

    import steerlab.methods.latent.boundary  # noqa: F401
    import steerlab.methods.latent.discovery  # noqa: F401
    import steerlab.methods.latent.ganspace  # noqa: F401
    import steerlab.methods.latent.sefa  # noqa: F401
    import steerlab.methods.paramspace.learn  # noqa: F401
    import steerlab.methods.walks.linear  # noqa: F401
    G.fingerprint
    print(f"{'method':<17} {'settings':<44} {'seconds':>8} {'x fwd+bwd':>10} {'per step':>9}")
    for name, options, steps in runs:
        t = time.perf_counter()
        learn(name, G, progress=False, **options)
        s = time.perf_counter() - t
        per = f"{s / steps / unit:9.1f}" if steps else f"{'-':>9}"
        settings = ", ".join(f"{k}={v}" for k, v in options.items())
        print(f"{name:<17} {settings:<44} {s:8.2f} {s / unit:10.1f} {per}")


if __name__ == "__main__":
    main()
