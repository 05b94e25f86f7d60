"""Batched inversion throughput vs the generator's own forward+backward throughput, in one run.

An inversion step is one generator forward + backward to z, the loss (blurred L2 by default),
an Adam update and the norm-ball projection. Its floor is the generator's forward+backward at
the same batch; the ratio says how much the rest costs, and the batch sweep how well many
targets at once use the machine.

    python bench/invert_throughput.py [--model faces] [--batches 1,8,32] [--steps 10] [--loss blurred]

Prints, per batch size: target-steps/s of `invert`, images/s of G forward+backward, their ratio.
"""
from __future__ import annotations

import argparse
import time

import torch

from steerlab.methods.trajectories import invert
from steerlab.models import load_model


def fwd_bwd_rate(G, batch: int, reps: int) -> float:
    z = G.sample_z(batch, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    G.synthesize(z).sum().backward()  # warm-up
    t0 = time.perf_counter()
    for _ in range(reps):
        z.grad = None
        G.synthesize(z).sum().backward()
    return batch * reps / (time.perf_counter() - t0)


def invert_rate(G, batch: int, steps: int, loss: str) -> float:
    with torch.no_grad():
        targets = G.synthesize(G.sample_z(batch, generator=torch.Generator().manual_seed(1)))
    invert(G, targets, steps=1, loss=loss, progress=False)  # warm-up
    t0 = time.perf_counter()
    invert(G, targets, steps=steps, loss=loss, progress=False)
    # `steps` updates plus one final forward for the final loss
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="faces")
    p.add_argument("--batches", default="1,8,32")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--loss", default="blurred")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    G = load_model(a.model, device=a.device)
    print(f"model {G.name} ({G.describe()}), device {a.device}, torch threads {torch.get_num_threads()}, "
          f"loss {a.loss}, {a.steps} steps")
    print(f"{'batch':>5} {'invert target-steps/s':>22} {'G fwd+bwd images/s':>19} {'ratio':>6}")
    for b in (int(x) for x in a.batches.split(",")):
        inv = invert_rate(G, b, a.steps, a.loss)
        fb = fwd_bwd_rate(G, b, a.steps)
        print(f"{b:>5} {inv:>22.1f} {fb:>19.1f} {inv / fb:>6.2f}")


if __name__ == "__main__":
    main()
