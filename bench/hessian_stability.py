"""How much do the top Hessian directions depend on the draw of z? Overlap of two disjoint batches.

For each layer and batch size n_z: the top-(K+1) eigenpairs of the ST-LPIPS Hessian (steerlab's
default solver and tolerance; K the largest of --k) on the first n_z codes of a seeded stream and
on the next n_z codes. Printed per (layer, n_z): for every k in --k, `subspace_overlap` (mean
squared cosine of the principal angles, 1 = same subspace) of the two top-k subspaces and the
eigen-gap lambda_k / lambda_{k+1} of each batch (near 1: the k-th and (k+1)-th eigenvectors can
swap between draws, so no n_z makes the top-k subspace stable); the HVPs and wall seconds of each
solve. Issue 19 item 6 asks for the n_z at which the overlap reaches 0.9 on `faces` conv2 and conv4
(the paper uses 512 z). With --jsonl, one JSON record per (layer, n_z) is appended to that file.

A solve whose two halves together would exceed --max-seconds (estimated from the previous n_z of
the same layer: cost grows linearly in n_z) is skipped and said so.

Usage: python bench/hessian_stability.py [--layers conv4.weight conv2.weight] [--n-z 32 64 128 256]
       [--k 16 4 8] [--threads 1] [--jsonl FILE] [--max-seconds 1800] [--keep-graph] [--parallel]
       [--save DIR]
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from safetensors.torch import save_file

from steerlab.methods.builtin import HessianConfig
from steerlab.methods.paramspace.hessian import LayerHessian, fix_signs, lanczos_topk, subspace_overlap
from steerlab.models import load_model


def solve(G, layer: str, z: torch.Tensor, k: int, tol: float, keep_graph: bool | None = None) -> dict:
    """Top-k eigenpairs of one batch's Hessian, with its cost."""
    t = time.perf_counter()
    op = LayerHessian(G, layer, z, keep_graph=keep_graph)
    vals, vecs, info = lanczos_topk(op.matvec, op.dim, k, tol=tol, generator=torch.Generator().manual_seed(1))
    return {"values": vals, "vectors": fix_signs(vecs), "hvps": info["matvecs"], "seconds": time.perf_counter() - t}


def solve_in_worker(layer: str, z: torch.Tensor, k: int, tol: float, keep_graph: bool | None, threads: int) -> dict:
    """`solve` in a fresh process (its own model and thread count), for --parallel."""
    torch.set_num_threads(threads)
    return solve(load_model("faces"), layer, z, k, tol, keep_graph)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", nargs="+", default=["conv4.weight", "conv2.weight"])
    ap.add_argument("--n-z", type=int, nargs="+", default=[32, 64, 128, 256])
    ap.add_argument("--k", type=int, nargs="+", default=[HessianConfig().k, 4, 8])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jsonl", help="append one JSON record per (layer, n_z) to this file")
    ap.add_argument("--keep-graph", action="store_true",
                    help="keep the first-order graphs (Gauss-Newton products) at any n_z: about 26 MB per code "
                         "on conv2 (default: only up to 64 codes, above that products are rebuilt per block)")
    ap.add_argument("--max-seconds", type=float, default=1800.0, help="skip a pair of solves estimated longer")
    ap.add_argument("--save", metavar="DIR", help="write each solve's eigenpairs to DIR/<layer>_<n_z>_<A|B>.safetensors")
    ap.add_argument("--parallel", action="store_true",
                    help="solve the two batches at the same time in two processes of --threads threads each")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    G = load_model("faces")
    tol, top = HessianConfig().tol, max(args.k) + 1  # one more: the gap lambda_K / lambda_{K+1}
    for layer in args.layers:
        last = None  # (n_z, seconds of both solves)
        for n in sorted(args.n_z):
            if last and last[1] * n / last[0] > args.max_seconds:
                print(f"{layer} n_z {n:4d}: skipped (estimated {last[1] * n / last[0]:.0f} s > --max-seconds)",
                      flush=True)
                continue
            z = G.sample_z(2 * n, generator=torch.Generator().manual_seed(0))
            keep = True if args.keep_graph else None
            if args.parallel:
                with ProcessPoolExecutor(2) as pool:
                    jobs = [pool.submit(solve_in_worker, layer, half, top, tol, keep, args.threads)
                            for half in (z[:n], z[n:])]
                    a, b = (job.result() for job in jobs)
            else:
                a, b = solve(G, layer, z[:n], top, tol, keep), solve(G, layer, z[n:], top, tol, keep)
            last = (n, a["seconds"] + b["seconds"])
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                for half, s in zip("AB", (a, b)):
                    save_file({"eigenvalues": s["values"].contiguous(), "directions": s["vectors"].contiguous()},
                              str(Path(args.save) / f"{layer.split('.')[0]}_{n}_{half}.safetensors"))
            rec = {"layer": layer, "n_z": n, "hvps": [a["hvps"], b["hvps"]],
                   "seconds": [round(a["seconds"], 1), round(b["seconds"], 1)],
                   "eigenvalues": [a["values"].tolist(), b["values"].tolist()], "k": {}}
            for k in sorted(args.k):
                gap = [float(s["values"][k - 1] / s["values"][k]) for s in (a, b)]
                rec["k"][k] = {"overlap": subspace_overlap(a["vectors"][:k], b["vectors"][:k]), "gap": gap}
            print(f"{layer} n_z {n:4d}: " + "; ".join(
                f"top-{k} overlap {r['overlap']:.3f} (gap l{k}/l{k + 1} {r['gap'][0]:.3f}, {r['gap'][1]:.3f})"
                for k, r in rec["k"].items())
                + f"; lambda_1 {a['values'][0]:.3g} / {b['values'][0]:.3g}; HVPs {a['hvps']} + {b['hvps']}; "
                  f"{a['seconds']:.0f} + {b['seconds']:.0f} s", flush=True)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
