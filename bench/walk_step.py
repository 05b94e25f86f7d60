"""One linear-walk training step vs its floor, on `faces` at batch 32, measured in one run.

floor = one generator forward without grad (the source image) + one forward+backward through
the generator at the same batch (the walked image); the step adds sampling, the edit, the
masked loss and Adam. Timings interleave step and floor; the ratio uses the fastest of the repeats of each (the least
disturbed by other load on a noisy machine); medians are printed too.
Last line: `walk step / floor ratio: X` (target <= 1.15).
"""
from __future__ import annotations

import statistics
import time

import torch

from steerlab.edits import get_edit
from steerlab.methods.walks.linear import walk_step
from steerlab.metrics.losses import masked_l2
from steerlab.models import load_model

BATCH, REPEATS = 32, 20


def main() -> None:
    G = load_model("faces")
    edit = get_edit("zoom")
    w = torch.zeros(1, G.z_dim, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.01)
    g = torch.Generator().manual_seed(0)

    def step():
        opt.zero_grad(set_to_none=True)
        walk_step(G, edit, w, masked_l2, space="z", batch_size=BATCH, generator=g).backward()
        opt.step()

    def floor():
        z = torch.randn(BATCH, G.z_dim)
        with torch.no_grad():
            G.synthesize(z)
        zz = z.clone().requires_grad_(True)
        G.synthesize(zz).mean().backward()

    def edit_only():
        x = torch.rand(BATCH, 3, 64, 64)
        edit.fn(x, edit.sample(BATCH, generator=g))

    times = {"step": [], "floor": [], "edit": []}
    for fn in (step, floor, edit_only):  # warm up
        fn()
    for _ in range(REPEATS):
        for name, fn in (("step", step), ("floor", floor), ("edit", edit_only)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"threads {torch.get_num_threads()}, batch {BATCH}, {REPEATS} interleaved repeats: best / median")
    print(f"walk step   {best['step'] * 1e3:8.1f} / {med['step'] * 1e3:8.1f} ms")
    print(f"floor       {best['floor'] * 1e3:8.1f} / {med['floor'] * 1e3:8.1f} ms  (forward no-grad + forward/backward)")
    print(f"the edit    {best['edit'] * 1e3:8.1f} / {med['edit'] * 1e3:8.1f} ms  (part of the step's extra)")
    print(f"median ratio: {med['step'] / med['floor']:.3f}")
    print(f"walk step / floor ratio: {best['step'] / best['floor']:.3f}")


if __name__ == "__main__":
    main()
