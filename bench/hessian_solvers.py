"""Top-k Hessian eigenvectors: every solver on the same operator and the same z, by wall time.

Operator: H = d^2/da^2 mean_z ST-LPIPS(G(z), G_{theta+a}(z)) at a = 0 for one layer of the real
`faces` DCGAN, on one fixed batch of z (seed 0); every solver sees this one matrix.

Success = every one of the top-k eigenvectors has |cosine| >= 0.99 with the same-rank vector of a
converged float64 reference (thick-restart Lanczos with a float64 basis to a relative residual of
1e-5, products from the float32 networks), and every eigenvalue is within 1e-3 relative of it.

Solvers (each starts from its own random vector; the graph of a kept first-order pass is dropped
before each, so its build is counted):
- steerlab: `lanczos_topk` at the package defaults (`HessianConfig`: tol, max_dim).
- steerlab block 4 (with --block): the former default, block Lanczos with full reorthogonalisation.
- ARPACK: scipy.sparse.linalg.eigsh (implicitly restarted Lanczos, default ncv) through a
  LinearOperator over steerlab's HVP (double backward, first-order graph kept). Its tolerance is
  tuned for it: 1e-1, 3e-2, 1e-2, 3e-3, 1e-3 in turn, the first that succeeds is its result.
- GAN-Geometry (Wang & Ponce, written from its description): the HVP by double backward with the
  first-order graph rebuilt for every product, driven by ARPACK eigsh; run at the tolerance that
  made ARPACK succeed (same start, so the same products; each one costs more).
- NaviGAN paper (Cherepkov et al. Sec. 3.3, Eq. 4): deflated power iteration with H v the central
  finite difference of gradients, the paper's eps = 0.1 (step 0.1 ||v||) and 10 iterations per vector.
- NaviGAN tuned: the same iteration with a step of 5e-5 ||W||_F along the unit vector, 10 and then
  20 iterations per vector (--fd-iters).

Cost: wall seconds measured in this run, and gradient-equivalents: grads + HVPs x (one HVP's time /
one gradient's time), each measured here (median of 3) for the HVP kind the solver uses (graph kept
or rebuilt), plus the first-order graph builds. Forward-over-reverse HVPs (torch.func.jvp of
torch.func.grad) are timed too, to show which exact HVP is cheaper.

Last lines: `wall ratio vs best peer: X` = the fastest successful peer's wall time / steerlab's
(the smaller over the layers, each layer's beside it) and `wall ratio vs paper: Y` = the paper's
FD power iteration's wall time / steerlab's, which says whether the paper's solver succeeded.

Usage: python bench/hessian_solvers.py [--layers conv2.weight conv3.weight] [--n-z 8] [--k 8]
       [--threads 1] [--quick]   (--quick: conv3 only, no tuned FD)
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

from steerlab.methods.builtin import HessianConfig
from steerlab.methods.paramspace.hessian import (
    LayerHessian,
    lanczos_topk,
    power_iteration_fd,
)
from steerlab.models import load_model

COS, EIG = 0.99, 1e-3
ARPACK_TOLS = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3)


def timed(f, n: int = 3) -> float:
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def product_costs(op: LayerHessian) -> dict:
    """Seconds of one gradient and of each kind of exact HVP on ``op`` (single chunk of z)."""
    g = torch.Generator().manual_seed(5)
    v = torch.randn(1, *op.shape, generator=g)
    a0 = torch.zeros(op.shape)
    grad = timed(lambda: op.grad(a0))
    op.reset()
    op.hvp(v)
    kept = timed(lambda: op.hvp(v))

    def fresh():
        op._graph = None
        op.hvp(v)
    rebuilt = timed(fresh)
    f = torch.func.grad(lambda a: op._value(a, 0, op.z, op.classes))
    fwd_rev = timed(lambda: torch.func.jvp(f, (a0,), (v[0],)), n=1)
    op.reset()
    return {"grad": grad, "hvp": kept, "hvp_rebuilt": rebuilt, "graph": max(rebuilt - kept, 0.0),
            "fwd_rev": fwd_rev}


def judge(vals, vecs, ref_vals, ref_vecs) -> tuple[bool, float, float]:
    """(success, min |cos| over the top k, max relative eigenvalue error)."""
    vecs = torch.as_tensor(vecs).reshape(ref_vecs.shape[0], -1).double()
    vecs = vecs / vecs.norm(dim=1, keepdim=True)
    cos = (vecs * ref_vecs).sum(1).abs()
    err = ((torch.as_tensor(vals).double() - ref_vals) / ref_vals).abs()
    return bool(cos.min() >= COS and err.max() <= EIG), float(cos.min()), float(err.max())


def arpack(matvec, dim: int, k: int, tol: float, seed: int):
    """eigsh on a float64 LinearOperator over a float32 (1, dim) -> (1, dim) product; largest algebraic."""
    def mv(x):
        y = matvec(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(1, -1))
        return y.reshape(-1).double().numpy()
    lo = LinearOperator((dim, dim), matvec=mv, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(dim)
    w, u = eigsh(lo, k=k, which="LA", tol=tol, v0=v0)
    order = np.argsort(w)[::-1]
    return torch.from_numpy(w[order].copy()), torch.from_numpy(u[:, order].T.copy())


def bench_layer(G, layer: str, args, cfg: HessianConfig) -> dict:
    z = G.sample_z(args.n_z, generator=torch.Generator().manual_seed(0))
    op = LayerHessian(G, layer, z, chunk=args.n_z)
    k = args.k
    c = product_costs(op)
    print(f"\n== faces {layer}: {op.dim} parameters, {args.n_z} z, ST-LPIPS alex, top-{k}, "
          f"threads {torch.get_num_threads()}")
    print(f"one gradient {c['grad']:.3f} s; one HVP by double backward, graph kept {c['hvp']:.3f} s "
          f"({c['hvp'] / c['grad']:.2f} gradients), graph rebuilt {c['hvp_rebuilt']:.3f} s "
          f"({c['hvp_rebuilt'] / c['grad']:.2f}); forward-over-reverse {c['fwd_rev']:.3f} s "
          f"({c['fwd_rev'] / c['grad']:.2f})")

    def geq(grads=0, hvps=0, rebuilt=0, graphs=0) -> float:
        return (grads * c["grad"] + hvps * c["hvp"] + rebuilt * c["hvp_rebuilt"] + graphs * c["graph"]) / c["grad"]

    op.reset()
    t = time.perf_counter()
    ref_vals, ref_vecs, ri = lanczos_topk(lambda x: op.matvec(x.float()).double(), op.dim, k, tol=1e-5,
                                          dtype=torch.float64, max_matvecs=40 * k,
                                          generator=torch.Generator().manual_seed(100))
    print(f"reference (float64 basis, tol 1e-5): {ri['matvecs']} HVPs, {time.perf_counter() - t:.0f} s, "
          f"converged {ri['converged']}, max relative residual {max(ri['residuals']):.1e}")
    print("  eigenvalues: " + " ".join(f"{x:.4g}" for x in ref_vals.tolist()))
    rows = []

    def row(name, vals, vecs, seconds, cost, hvps, grads, peer=True, note=""):
        ok, cmin, emax = judge(vals, vecs, ref_vals, ref_vecs)
        rows.append(dict(name=name, ok=ok, seconds=seconds, cost=cost, peer=peer))
        print(f"{name:34s} {'ok  ' if ok else 'FAIL'} {seconds:7.1f} s {cost:7.1f} grad-eq "
              f"{hvps:4d} HVPs {grads:4d} grads  min|cos| {cmin:.4f}  max eig err {emax:.1e} {note}")

    print(f"{'solver':34s} {'':4s} {'wall':>9s} {'cost':>15s}")
    op.reset()
    t = time.perf_counter()
    vals, vecs, info = lanczos_topk(op.matvec, op.dim, k, tol=cfg.tol,
                                    generator=torch.Generator().manual_seed(1))
    row(f"steerlab (tol {cfg.tol:g})", vals, vecs, time.perf_counter() - t, geq(hvps=op.hvps, graphs=1),
        op.hvps, 0, peer=False, note=f"restarts {info['restarts']}, reorth {info['reorthogonalisations']}")
    if args.block:
        op.reset()
        t = time.perf_counter()
        vals, vecs, info = lanczos_topk(op.matvec, op.dim, k, block=4, tol=cfg.tol,
                                        generator=torch.Generator().manual_seed(1))
        row("steerlab block 4 (former)", vals, vecs, time.perf_counter() - t, geq(hvps=op.hvps, graphs=1),
            op.hvps, 0, peer=False)
    good_tol = None
    for tol in ARPACK_TOLS if "arpack" in args.only else ():
        op.reset()
        t = time.perf_counter()
        vals, vecs = arpack(op.matvec, op.dim, k, tol, seed=3)
        row(f"ARPACK on steerlab's HVP (tol {tol:g})", vals, vecs, time.perf_counter() - t,
            geq(hvps=op.hvps, graphs=1), op.hvps, 0)
        if rows[-1]["ok"]:
            good_tol = tol
            break
    op.reset()

    def rebuilt_matvec(x):
        op._graph = None
        return op.matvec(x)
    gg_tol = good_tol or ARPACK_TOLS[-1]
    if "arpack" in args.only:
        t = time.perf_counter()
        vals, vecs = arpack(rebuilt_matvec, op.dim, k, gg_tol, seed=3)
        row(f"GAN-Geometry (tol {gg_tol:g})", vals, vecs, time.perf_counter() - t, geq(rebuilt=op.hvps),
            op.hvps, 0)
    op.reset()
    paper = len(rows)
    if "fd" in args.only:
        t = time.perf_counter()
        vals, vecs = power_iteration_fd(op.grad, op.shape, k, iters=10, eps=0.1, relative_step=True,
                                        generator=torch.Generator().manual_seed(2))
        row("NaviGAN paper (eps 0.1, 10 it)", vals, vecs, time.perf_counter() - t, geq(grads=op.grads), 0,
            op.grads)
    if not args.quick and "fd" in args.only:
        eps = 5e-5 * float(op.weight.norm())
        for iters in args.fd_iters:
            op.reset()
            t = time.perf_counter()
            vals, vecs = power_iteration_fd(op.grad, op.shape, k, iters=iters, eps=eps, relative_step=False,
                                            generator=torch.Generator().manual_seed(2))
            row(f"NaviGAN tuned (step {eps:.1e}, {iters} it)", vals, vecs, time.perf_counter() - t,
                geq(grads=op.grads), 0, op.grads)
            if rows[-1]["ok"]:
                break
    ours = rows[0]
    peers = [r for r in rows if r["peer"] and r["ok"]]
    best = min(peers, key=lambda r: r["seconds"]) if peers else None
    fd = rows[paper] if paper < len(rows) else {"seconds": float("nan"), "ok": False}
    out = {"ours_ok": ours["ok"], "paper": fd["seconds"] / ours["seconds"], "paper_ok": fd["ok"],
           "peer": best["seconds"] / ours["seconds"] if best else float("nan"),
           "peer_cost": best["cost"] / ours["cost"] if best else float("nan"),
           "best": best["name"] if best else "none succeeded"}
    print(f"{layer}: steerlab {'succeeds' if ours['ok'] else 'FAILS'}; best successful peer {out['best']}: "
          f"wall ratio {out['peer']:.2f}, gradient-equivalents ratio {out['peer_cost']:.2f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", nargs="+", default=["conv2.weight", "conv3.weight"])
    ap.add_argument("--n-z", type=int, default=8)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids stalls on a shared CPU)")
    ap.add_argument("--fd-iters", type=int, nargs="+", default=[10, 20])
    ap.add_argument("--block", action="store_true", help="also run the former block-4 solver")
    ap.add_argument("--quick", action="store_true", help="conv3 only, no tuned FD (for development)")
    ap.add_argument("--only", nargs="+", choices=["arpack", "fd"], default=["arpack", "fd"],
                    help="peer groups to run besides steerlab (default: both; ratios need both)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.layers = ["conv3.weight"]
    G = load_model("faces")
    cfg = HessianConfig()
    res = {layer: bench_layer(G, layer, args, cfg) for layer in args.layers}
    if not all(r["ours_ok"] for r in res.values()):
        print("note: steerlab's solver missed the success criterion on " +
              ", ".join(layer for layer, r in res.items() if not r["ours_ok"]))
    each = ", ".join(f"{layer} {r['peer']:.2f}" for layer, r in res.items())
    print(f"wall ratio vs best peer: {min(r['peer'] for r in res.values()):.2f} ({each})")
    each = ", ".join(f"{layer} {r['paper']:.2f} ({'succeeded' if r['paper_ok'] else 'did not succeed'})"
                     for layer, r in res.items())
    print(f"wall ratio vs paper: {min(r['paper'] for r in res.values()):.2f} ({each})")


if __name__ == "__main__":
    main()
