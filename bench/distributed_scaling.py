"""1 -> 2 process scaling of a data-parallel linear walk on `faces` (zoom), measured in one run.

The same training is run twice through torchrun, each on a fresh job:

- 1 process, global batch 2B (WORLD_SIZE=1: no process group, the plain single-process path);
- 2 processes (gloo), batch B each: the same global batch, split, gradients all-reduced.

Each job trains WARMUP steps untimed, then STEPS timed steps between two barriers; rank 0
reports the wall time t. REPEATS jobs of each kind alternate, and the fastest of each is kept
(the least disturbed by other load on a shared machine); all times are printed.

    scaling efficiency = (t_1 / t_2) / 2

i.e. the 2-process speed-up over 1 process divided by the number of processes: 1.0 is perfect
linear scaling, 0.5 means two processes are no faster than one.

Every process runs with OMP_NUM_THREADS=1 (and torch.set_num_threads(1)), so 1 process uses
one core and 2 processes use two: on a 2-core machine this compares one core with two, not a
multi-threaded process with two single-threaded ones.

    python bench/distributed_scaling.py [--batch 8] [--steps 30]
Last line: `scaling efficiency: X`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def worker(batch: int, steps: int, warmup: int) -> None:
    import torch

    from steerlab.core import distributed
    from steerlab.methods.walks.linear import learn_linear_walk
    from steerlab.models import load_model

    torch.set_num_threads(1)
    distributed.init("cpu")
    G = load_model("faces")
    learn_linear_walk(G, "zoom", steps=warmup, batch_size=batch, progress=False)
    distributed.barrier()
    t0 = time.perf_counter()
    learn_linear_walk(G, "zoom", steps=steps, batch_size=batch, seed=1, progress=False)
    distributed.barrier()
    seconds = time.perf_counter() - t0
    if distributed.is_main():
        print("RESULT " + json.dumps({"world": distributed.world(), "batch": batch, "seconds": seconds}))
    distributed.finish()


def launch(nproc: int, batch: int, steps: int, warmup: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           __file__, "--worker", "--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    if res.returncode != 0 or not lines:
        sys.exit(f"torchrun with {nproc} process(es) failed:\n{res.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])["seconds"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8, help="per-process batch B of the 2-process run (default: 8)")
    p.add_argument("--steps", type=int, default=30, help="timed steps (default: 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: 3)")
    p.add_argument("--repeats", type=int, default=2, help="jobs of each kind, alternating (default: 2)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.batch, a.steps, a.warmup)
    t1s, t2s = [], []
    for _ in range(a.repeats):
        t1s.append(launch(1, 2 * a.batch, a.steps, a.warmup))
        t2s.append(launch(2, a.batch, a.steps, a.warmup))
    t1, t2 = min(t1s), min(t2s)
    print(f"faces zoom walk, global batch {2 * a.batch}, {a.steps} steps, OMP_NUM_THREADS=1 per process")
    print(f"1 process  x batch {2 * a.batch}: {a.steps / t1:.2f} steps/s  (runs: {', '.join(f'{t:.2f}' for t in t1s)} s)")
    print(f"2 processes x batch {a.batch}: {a.steps / t2:.2f} steps/s  (runs: {', '.join(f'{t:.2f}' for t in t2s)} s)")
    print(f"speed-up: {t1 / t2:.2f}x")
    print(f"scaling efficiency: {t1 / t2 / 2:.2f}")


if __name__ == "__main__":
    main()
