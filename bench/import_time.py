"""Import time of steerlab's entry points relative to `import torch` alone, measured in one run.

Each statement runs in a fresh interpreter, interleaved with the torch-only baseline, ``--repeats``
times; the ratio is of the medians. Target (architecture issue): ``import steerlab`` <= 1.3.

    python bench/import_time.py [--repeats 7]
"""
import argparse
import statistics
import subprocess
import sys

BASELINE = "import torch"
STATEMENTS = {
    "import steerlab": "import torch; import steerlab",
    "import steerlab.edits": "import torch; import steerlab.edits",
    "import steerlab.directions": "import torch; import steerlab.directions",
    "import steerlab.models": "import torch; import steerlab.models",
    "from steerlab import walk": "import torch; from steerlab import walk",
}
HEAVY = ("matplotlib", "gradio", "cv2", "sklearn")


def timed(stmt: str) -> tuple[float, list[str]]:
    code = ("import time, sys; t = time.perf_counter(); " + stmt +
            "; dt = time.perf_counter() - t; print(dt); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    return float(out[0]), [m for m in out[1].split(",") if m]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="fresh interpreters per statement (default: 7)")
    args = ap.parse_args()
    base, times, heavy = [], {k: [] for k in STATEMENTS}, {}
    for _ in range(args.repeats):
        base.append(timed(BASELINE)[0])
        for name, stmt in STATEMENTS.items():
            dt, loaded = timed(stmt)
            times[name].append(dt)
            heavy[name] = loaded
    b = statistics.median(base)
    print(f"{'statement':<28} {'median s':>9} {'ratio to import torch':>22}  heavy modules loaded")
    print(f"{BASELINE:<28} {b:>9.3f} {1.0:>22.2f}")
    for name in STATEMENTS:
        m = statistics.median(times[name])
        print(f"{name:<28} {m:>9.3f} {m / b:>22.2f}  {', '.join(heavy[name]) or '-'}")
    print(f"import ratio (import steerlab / import torch): {statistics.median(times['import steerlab']) / b:.2f}")


if __name__ == "__main__":
    main()
