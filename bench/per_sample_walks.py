"""Per-sample truth behind the walk sentences of the README and docs/methods.md.

Learns the documented walks on the zoo models (the docs' step counts) and runs `steerlab
evaluate` on each, then prints, per alpha, the mean attribute beside the per-sample paired change
against alpha's identity (median, IQR, median ratio, fraction moving the asked way, fraction
detected). Writes the run folders under OUT (default runs/per-sample).

    PYTHONPATH=src python bench/per_sample_walks.py [OUT] [--n 96]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from steerlab.jobs.evaluate import evaluate
from steerlab.jobs.walk import walk

# (model, edit, walk options, evaluate options): the walks the docs describe
CASES = [
    ("faces", "zoom", dict(steps=400), dict(measure="face_box", key="width")),
    ("faces", "shift_x", dict(steps=300), dict(measure="face_box", key="x")),
    ("shapes", "shift_x", dict(steps=400, loss="blurred"), dict(n_alphas=7)),
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out", nargs="?", default="runs/per-sample")
    p.add_argument("--n", type=int, default=96)
    p.add_argument("--only", default=None, help="model/edit to run, e.g. faces/zoom")
    a = p.parse_args()
    out = Path(a.out)
    for model, edit, wopt, eopt in CASES:
        if a.only and a.only != f"{model}/{edit}":
            continue
        t0 = time.time()
        folder = out / f"{model}-{edit}"
        run = walk(model, edit, out=folder / "walk", overwrite=True, progress=False, **wopt)
        m = evaluate(run["direction"], out=folder / "evaluate", overwrite=True, n=a.n, fid=False,
                     progress=False, **eopt)["metrics"]
        print(f"\n{model} {edit} ({time.time() - t0:.0f} s): {m['primary']} ({m['measure']}), n = {m['n']}")
        print(f"{'alpha':>8} {'mean':>7} {'found':>6} | {'median chg':>10} {'q25':>8} {'q75':>8} "
              f"{'med ratio':>9} {'asked way':>9} {'detected':>8}")
        for s, ps in zip(m["attribute"][m["primary"]], m["per_sample"]):
            f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
            print(f"{ps['alpha']:>8.3g} {s['mean']:>7.4f} {s['found_rate']:>6.2f} | {f(ps['median'], '+10.4f')} "
                  f"{f(ps['q25'], '+8.4f')} {f(ps['q75'], '+8.4f')} {f(ps['median_ratio'], '9.3f')} "
                  f"{f(ps['asked_way'], '9.2f')} {ps['detected']:>8.2f}")
        (folder / "per_sample.json").write_text(json.dumps(m["per_sample"], indent=1))


if __name__ == "__main__":
    main()
