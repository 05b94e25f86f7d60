"""What one slider release costs on the server: `steer` with several directions vs a plain render.

    python bench/ui_steer.py [--model faces] [--repeats 50]

Prints milliseconds per image (batch 1, the UI's case) and the ratios, all measured in this run:
- plain:        G.synthesize(z), the floor;
- steer:        zoom + colour (4 knobs) combined, fingerprint known (what the UI does);
- steer+hash:   the same, re-hashing the model's weights to check the directions every time
                (why the UI computes the fingerprint once per model).
The walks are random unit vectors: their cost does not depend on how well they were trained.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from steerlab.directions import Direction, alpha_spec
from steerlab.edits import get_edit
from steerlab.models import load_model
from steerlab.ui import steer


def interleaved_ms(fns: list, repeats: int) -> list[list[float]]:
    """Per-call times (ms) of each fn, calls interleaved so that every fn sees the same load."""
    for fn in fns:
        fn()  # warm-up
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="faces")
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args()
    G = load_model(args.model)
    g = torch.Generator().manual_seed(0)
    dirs = [Direction(kind="linear", space="z", model=G.name, fingerprint=G.fingerprint, edit=e,
                      alpha=alpha_spec(get_edit(e)),
                      tensors={"w": torch.nn.functional.normalize(torch.randn(k, G.z_dim, generator=g), dim=1)})
            for e, k in (("zoom", 1), ("color", 3))]
    knobs = [(dirs[0], 2.0), (dirs[1], [0.3, -0.1, 0.2])]
    z = G.sample_z(1, generator=g)
    fp = G.fingerprint
    with torch.no_grad():
        plain, fast, slow = interleaved_ms([lambda: G.synthesize(z), lambda: steer(G, knobs, z, fingerprint=fp),
                                            lambda: steer(G, knobs, z)], args.repeats)
    print(f"{G.name} ({G.resolution} px), batch 1, {torch.get_num_threads()} threads, {args.repeats} interleaved "
          "rounds; median ms, and the median over rounds of the ratio to the plain render:")
    for name, ts in (("plain G.synthesize", plain), ("steer, 4 knobs", fast), ("steer, re-hash each time", slow)):
        ratio = statistics.median(t / p for t, p in zip(ts, plain))
        print(f"  {name:<26} {statistics.median(ts):7.2f} ms   {ratio:.2f}x")


if __name__ == "__main__":
    main()
