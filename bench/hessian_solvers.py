"""Top-16 Hessian subspace: block Lanczos with exact HVPs vs the paper's finite-difference power iteration.

Operator: H = d^2/da^2 mean_z ST-LPIPS(G(z), G_{theta+a}(z)) at a = 0 for one layer of the real
`faces` DCGAN, on one fixed batch of z (so both solvers see the same matrix).

- reference: block Lanczos run to a tight tolerance (every top-16 Ritz residual <= 1e-3 theta);
  a residual bound makes it the true top-16 subspace whatever algorithm produced it.
- fast: block Lanczos (block 4, default tolerance 1e-2) from another random start.
- paper: deflated power iteration, Eq. 4, H v by central differences of gradients, with N power
  steps per eigenvector; N starts at the paper's 10 and doubles (then bisects) to the smallest N
  whose subspace overlap with the reference reaches 0.95 (and 0.99, reported beside it).
  The difference step is eps = 5e-5 ||W||_F along the unit vector (relative_step=False): with the
  paper's rule (step 0.1 ||v||, ||v|| -> lambda_1 ~ 25 here) the step is ~2.5 weight units, and the
  bench prints how far one such finite-difference product is from the exact one.
- the fast solver's passes to a level are read off its own run (overlap after every block).

Passes = forward+backward traversals of G and ST-LPIPS over the z batch: a gradient counts 1
(a power step needs 2), a block of b exact HVPs counts 1 + b (one shared forward+backward with
graph, then one backward-of-backward per vector; the graph at a = 0 is built once per solver run and
kept, so later blocks cost b). Overlap = mean squared cosine of the principal
angles. Wall times are measured in this run on this machine (noisy when shared).
Last line: `passes ratio: X` = paper passes / fast passes at overlap 0.95 (target X >= 10; the
README gives what we measured on `faces` conv2 and conv3).

Usage: python bench/hessian_solvers.py [--layer conv2.weight] [--n-z 4] [--k 16] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import torch

from steerlab.methods.paramspace.hessian import (
    LayerHessian,
    dense_hessian,
    lanczos_topk,
    power_iteration_fd,
    subspace_overlap,
)
from steerlab.models import load_model


def dense_check() -> None:
    """The correctness claim on a layer small enough for a dense Hessian (ST-LPIPS, exact HVPs)."""
    from steerlab.models import DCGANGenerator
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=8, resolution=16, width=2, name="tiny").eval().requires_grad_(False)
    z = G.sample_z(2, generator=torch.Generator().manual_seed(0))
    op = LayerHessian(G, "conv3.weight", z)
    t = time.perf_counter()
    H = dense_hessian(op)
    ev, evec = torch.linalg.eigh(H)
    ev, evec = ev.flip(0), evec.flip(1)
    vals, vecs, info = lanczos_topk(op.matvec, op.dim, 8, block=4, tol=1e-3)
    rel = float(((vals.double() - ev[:8]).abs() / ev[:8]).max())
    print(f"dense check (tiny DCGAN conv3, {op.dim} params, ST-LPIPS): top-8 max relative eigenvalue "
          f"error {rel:.2e}, subspace overlap {subspace_overlap(vecs, evec[:, :8].T):.6f}, "
          f"{info['matvecs']} HVPs vs {op.dim} for the dense matrix ({time.perf_counter() - t:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layer", default="conv2.weight")
    ap.add_argument("--n-z", type=int, default=4)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids stalls on a shared CPU)")
    ap.add_argument("--skip-dense", action="store_true")
    ap.add_argument("--levels", type=float, nargs="+", default=[0.95, 0.99],
                    help="subspace overlaps to compare at (the last line is always 0.95)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.skip_dense:
        dense_check()

    G = load_model("faces")
    z = G.sample_z(args.n_z, generator=torch.Generator().manual_seed(0))
    op = LayerHessian(G, args.layer, z)
    k = args.k
    eps = 5e-5 * float(op.weight.norm())
    print(f"faces {args.layer}: {op.dim} parameters, {args.n_z} z, ST-LPIPS alex, top-{k}, "
          f"threads {torch.get_num_threads()}")

    def run_lanczos(tol: float, seed: int, ref=None):
        op.reset()  # counts the fast solver's own first-order graph too
        t = time.perf_counter()
        trace = []  # (passes, seconds, overlap with the reference) after each block

        def watch(matvecs, ritz):
            if ref is not None and ritz.shape[0] == k:
                trace.append((op.passes, time.perf_counter() - t, subspace_overlap(ritz, ref)))
        vals, vecs, info = lanczos_topk(op.matvec, op.dim, k, block=4, tol=tol, callback=watch,
                                        generator=torch.Generator().manual_seed(seed))
        return vals, vecs, info, op.passes, time.perf_counter() - t, trace

    ref_vals, ref, rinfo, rp, rt, _ = run_lanczos(1e-3, 100)
    print(f"reference: Lanczos tol 1e-3: {rinfo['matvecs']} HVPs, {rp} passes, {rt:.0f} s, converged "
          f"{rinfo['converged']}, max relative residual {max(rinfo['residuals']):.1e}")
    print("  eigenvalues: " + " ".join(f"{x:.3g}" for x in ref_vals.tolist()))
    # How good is one finite-difference product along the top eigenvector? (the FD solver's floor)
    v = ref[0].reshape(op.shape)
    exact = op.hvp(v[None])[0]
    for name, step in (("ours, 5e-5 ||W||", eps), ("the paper's 0.1 ||v|| at ||v|| = lambda_1",
                                                     0.1 * float(ref_vals[0]))):
        fd = (op.grad(step * v) - op.grad(-step * v)) / (2 * step)
        print(f"  one FD product, step {step:.2e} ({name}): relative error "
              f"{float((fd - exact).norm() / exact.norm()):.3f}")
    vals, vecs, finfo, own_passes, own_s, trace = run_lanczos(1e-2, 1, ref)
    print(f"fast: block Lanczos (block 4), its own stop (tol 1e-2): {finfo['matvecs']} HVPs, {own_passes} passes, "
          f"{own_s:.1f} s, overlap {subspace_overlap(vecs, ref):.4f}, max eigenvalue error "
          f"{float(((vals - ref_vals).abs() / ref_vals).max()):.1e}")
    print("  overlap after each block: " + ", ".join(f"{p} passes {o:.3f}" for p, _, o in trace))

    def fast_to(level: float):
        return next(((p, s_) for p, s_, o in trace if o >= level), None)

    results: dict[int, tuple] = {}

    def run_power(iters: int):
        if iters not in results:
            op.reset()
            t = time.perf_counter()
            _, pv = power_iteration_fd(op.grad, op.shape, k, iters=iters, eps=eps, relative_step=False,
                                       generator=torch.Generator().manual_seed(2))
            results[iters] = (subspace_overlap(pv, ref), op.passes, time.perf_counter() - t)
            print(f"paper: FD power iteration, {iters} steps/vector: {results[iters][1]} passes, "
                  f"{results[iters][2]:.0f} s, overlap {results[iters][0]:.4f}")
        return results[iters]

    def paper_to(level: float):
        """The smallest steps/vector whose overlap reaches ``level`` (start at the paper's 10)."""
        lo, n = 0, 10
        while run_power(n)[0] < level:
            lo, n = n, n * 2
            if n > 640:
                return None, lo
        hi = n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if run_power(mid)[0] < level else (lo, mid)
        return hi, lo

    for level in args.levels:
        steps, below = paper_to(level)
        fast = fast_to(level)
        if steps is None or fast is None:
            print(f"overlap {level}: not reached by {'the paper' if steps is None else 'the fast solver'}")
            continue
        ov, paper_passes, paper_s = results[steps]
        note = f"; {below} steps gave {results[below][0]:.4f}" if below else ""
        print(f"overlap >= {level}: paper {steps} steps/vector = {paper_passes} passes, {paper_s:.0f} s "
              f"(overlap {ov:.4f}{note}); fast {fast[0]} passes, {fast[1]:.0f} s; "
              f"passes ratio {paper_passes / fast[0]:.1f}, wall ratio {paper_s / fast[1]:.1f}")
    steps, _ = paper_to(0.95)
    fast = fast_to(0.95)
    print(f"passes ratio: {results[steps][1] / fast[0]:.1f}")


if __name__ == "__main__":
    main()
