"""`steerlab discover --method svd` on `faces`: this checkout vs another one, timed in one run.

Runs the same command with each source tree first on ``PYTHONPATH`` (the other tree first, then
this one), each in a fresh process with one torch thread, and compares the analysis outputs
(per direction: shift range T_k, perceptual change at +-T_k, singular value, locality
concentration). Usage:

    python bench/discover_time.py OTHER_SRC [--layer conv2.weight] [--k 16]

OTHER_SRC is the ``src`` folder of the checkout to compare with (e.g. the main branch).
Each run's CPU time is printed beside its wall time (one thread: on a shared machine the CPU
time does not count what other processes take). The calibrated ranges T_k are found by a root
finder to a relative tolerance of 2^-8, so two root finders agree on them within about 0.4 %,
and the changes at +-T_k within a few times that.
Last lines: `max |difference| of the outputs: X`, `discover CPU-time ratio (this / other): Z` and
`discover time ratio (this / other): Y`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "src"
KEYS = ("limit", "perceptual_change_at_T", "singular_value", "locality_concentration")


def run(src: Path, out: Path, layer: str, k: int) -> tuple[float, float, list[dict] | None]:
    """(wall seconds, CPU seconds of the child process, its directions' metrics or None if it failed)."""
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "steerlab.cli", "discover", "--model", "faces", "--method", "svd",
           "--layer", layer, "--k", str(k), "--out", str(out), "--overwrite"]
    t, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    code = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    seconds, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if code:
        print(f"{src}: discover exited with code {code} after {seconds:.1f} s (its time counts up to there)")
        return seconds, cpu, None
    return seconds, cpu, json.loads((out / "metrics.json").read_text())["directions"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other_src", type=Path)
    ap.add_argument("--layer", default="conv2.weight")
    ap.add_argument("--k", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        other, other_cpu, rows_other = run(args.other_src.resolve(), Path(tmp) / "other", args.layer, args.k)
        this, this_cpu, rows_this = run(HERE, Path(tmp) / "this", args.layer, args.k)
    if rows_this is None:
        raise SystemExit("this checkout's discover failed")
    print(f"faces {args.layer}, svd, k {args.k}, one thread, other: {args.other_src}")
    print(f"other {other:8.1f} s   this {this:8.1f} s   (CPU: other {other_cpu:8.1f} s   this {this_cpu:8.1f} s)")
    limits = ", ".join(f"{r['limit']:.4g}" for r in rows_this)
    print(f"T_k (this): {limits}")
    if rows_other is None:  # e.g. 4c1cc4b^ at k 16 fails while drawing its overview, after every analysis
        print("max |difference| of the outputs: not compared (the other run failed; its time is a lower bound)")
    else:
        diff = {key: max(abs(a[key] - b[key]) for a, b in zip(rows_other, rows_this)) for key in KEYS}
        for key, v in diff.items():
            rel = max(abs(a[key] - b[key]) / max(abs(a[key]), 1e-12) for a, b in zip(rows_other, rows_this))
            print(f"  max |difference| {key:24s} {v:.3g}   (relative {rel:.2e})")
        print(f"max |difference| of the outputs: {max(diff.values()):.3g}")
    print(f"discover CPU-time ratio (this / other): {this_cpu / other_cpu:.3f}")
    print(f"discover time ratio (this / other): {this / other:.3f}")


if __name__ == "__main__":
    main()
