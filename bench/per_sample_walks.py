"""Per-sample truth behind the walk sentences of the README and docs: for each direction file,
the mean attribute per alpha beside each sample's paired change against itself at alpha's
identity (median, IQR, median ratio, fraction moving the asked way, fraction detected), on
held-out samples (`steerlab.evaluation.steerability.per_sample_attribute`; no FID, no ST-LPIPS).

    PYTHONPATH=src python bench/per_sample_walks.py DIRECTION.safetensors [...] \\
        [--measure face_box] [--key width] [--n 48] [--alphas 1,1.41,2,2.83,4] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import time

from steerlab.directions import Direction
from steerlab.evaluation.steerability import per_sample_attribute
from steerlab.models import load_model


def _f(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("directions", nargs="+")
    p.add_argument("--measure", default=None)
    p.add_argument("--key", default=None)
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--alphas", default=None, help="comma-separated, in the edit's units (colour: R:G:B)")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    results = {}
    for path in a.directions:
        t0 = time.time()
        d = Direction.load(path)
        G = load_model(d.model)
        alphas = None if a.alphas is None else [[float(c) for c in x.split(":")] if ":" in x else float(x)
                                                for x in a.alphas.split(",")]
        r = per_sample_attribute(G, d, alphas=alphas, measure=a.measure, key=a.key, n=a.n)
        results[path] = r
        print(f"\n{path}: {d.model} {d.edit}, {r['primary']} ({r['measure']}), n = {r['n']} "
              f"({time.time() - t0:.0f} s)")
        print(f"{'alpha':>8} {'mean':>7} {'found':>6} | {'median chg':>10} {'q25':>8} {'q75':>8} "
              f"{'med ratio':>9} {'asked way':>9} {'rose':>5} {'fell':>5} {'detected':>8}")
        for mean, found, ps in zip(r["mean"], r["found_rate"], r["per_sample"]):
            al = format(ps["alpha"], ".3g") if not isinstance(ps["alpha"], list) else ":".join(f"{c:g}" for c in ps["alpha"])
            print(f"{al:>8} {mean:>7.4f} {found:>6.2f} | {_f(ps['median'], '+10.4f')} "
                  f"{_f(ps['q25'], '+8.4f')} {_f(ps['q75'], '+8.4f')} {_f(ps['median_ratio'], '9.3f')} "
                  f"{_f(ps['asked_way'], '9.2f')} {_f(ps['increased'], '5.2f')} {_f(ps['decreased'], '5.2f')} "
                  f"{ps['detected']:>8.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
