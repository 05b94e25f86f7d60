"""How much do the top Hessian directions depend on the draw of z? Overlap of two disjoint batches.

For each layer and batch size n_z: the top-k eigenvectors of the ST-LPIPS Hessian (steerlab's
default solver and tolerance) on the first n_z codes of a seeded stream and on the next n_z codes;
printed: `subspace_overlap` (mean squared cosine of the principal angles, 1 = same subspace) of the
top-k and of the top-4 (prefixes), the eigenvalues, products and seconds. Issue 19 item 6 asks for
the n_z at which the overlap reaches 0.9 on `faces` conv2 and conv4 (the paper uses 512 z).

Usage: python bench/hessian_stability.py [--layers conv4.weight conv2.weight] [--n-z 8 16 32 64]
       [--k 8] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import torch

from steerlab.methods.builtin import HessianConfig
from steerlab.methods.paramspace.hessian import LayerHessian, lanczos_topk, subspace_overlap
from steerlab.models import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", nargs="+", default=["conv4.weight", "conv2.weight"])
    ap.add_argument("--n-z", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    G = load_model("faces")
    tol = HessianConfig().tol
    for n in args.n_z:
        for layer in args.layers:
            z = G.sample_z(2 * n, generator=torch.Generator().manual_seed(0))
            sols, t = [], time.perf_counter()
            for half in (z[:n], z[n:]):
                op = LayerHessian(G, layer, half)
                vals, vecs, info = lanczos_topk(op.matvec, op.dim, args.k, tol=tol,
                                                generator=torch.Generator().manual_seed(1))
                sols.append((vals, vecs, info["matvecs"]))
            (va, a, ma), (vb, b, mb) = sols
            print(f"{layer} n_z {n:4d}: overlap top-{args.k} {subspace_overlap(a, b):.3f}, top-4 "
                  f"{subspace_overlap(a[:4], b[:4]):.3f}; eigenvalues A " + " ".join(f"{x:.3g}" for x in va.tolist())
                  + " | B " + " ".join(f"{x:.3g}" for x in vb.tolist())
                  + f"; {ma}+{mb} HVPs, {time.perf_counter() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
