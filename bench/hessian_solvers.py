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

Peers, run as their authors run them (the "best peer" is the fastest of these that succeeds):
- GAN-Geometry (Wang & Ponce; Animadversio/GAN-Geometry, `hessian_compute(..., "BackwardIter")`):
  its `GANHVPOperator` builds the first-order gradient (create_graph) once and takes every HVP
  as a backward of it with the graph retained, so here: steerlab's HVP with the graph kept (the
  same operator, at a = 0; the original sits at a 1e-4 random offset, which changes nothing at
  this scale). Its `lanczos` calls scipy `eigsh` with which="LM", tol=1e-6, maxiter=20,
  ncv=min(2k, dim - 1) and a start vector uniform in [0, 1); so does this one. If ARPACK stops
  at maxiter unconverged (the original then raises), it counts as failed, with the products it spent.
- NaviGAN paper (Cherepkov et al. Sec. 3.3, Eq. 4): deflated power iteration with H v the central
  finite difference of gradients, the paper's eps = 0.1 (step 0.1 ||v||) and 10 iterations per vector.
- NaviGAN tuned: the same iteration with a step of 5e-5 ||W||_F along the unit vector, 10 and then
  20 iterations per vector (--fd-iters; --fd-iters 0 skips it).

Diagnostic, not a peer (nobody runs it this way): ARPACK (scipy eigsh, largest algebraic, default
ncv) driving steerlab's own HVP with its tolerance tuned by the oracle: 1e-1, 3e-2, 1e-2, 3e-3,
1e-3 in turn (--arpack-tols), the first that succeeds is its result. It shows how steerlab's
Lanczos compares with ARPACK on the very same products.

Cost: wall seconds and CPU seconds of this process (one thread: CPU time does not count the time
other processes on a shared machine take) measured in this run, and gradient-equivalents: grads +
HVPs x (one HVP's time / one gradient's time), each measured here (median of 3), plus the
first-order graph builds. Forward-over-reverse HVPs (torch.func.jvp of torch.func.grad) are
timed too, to show which exact HVP is cheaper.

Last lines: `wall ratio vs best peer: X` = the fastest successful peer's wall time / steerlab's
(the smaller over the layers, each layer's beside it) and `wall ratio vs paper: Y` = the paper's
FD power iteration's wall time / steerlab's, which says whether the paper's solver succeeded.
Before them: the same ratios in CPU time, and the diagnostic's.

Usage: python bench/hessian_solvers.py [--layers conv2.weight conv3.weight] [--n-z 8] [--k 8]
       [--threads 1] [--quick] [--fd-iters 10 20] [--arpack-tols ...]   (--quick: conv3 only, no tuned FD)
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

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
    """Median CPU seconds of ``f()`` over ``n`` calls after one warm-up (CPU: steady on a shared machine)."""
    f()
    ts = []
    for _ in range(n):
        t = time.process_time()
        f()
        ts.append(time.process_time() - t)
    return statistics.median(ts)


def product_costs(op: LayerHessian, fwd_rev: bool = True) -> dict:
    """CPU seconds of one gradient, of one exact HVP of ``op``'s kind with its graph kept, of
    building that graph, and (``fwd_rev``) of a forward-over-reverse HVP; single chunk of z."""
    g = torch.Generator().manual_seed(5)
    v = torch.randn(1, *op.shape, generator=g)
    a0 = torch.zeros(op.shape)
    grad = timed(lambda: op.grad(a0))
    op.reset()
    op.hvp(v)
    kept = timed(lambda: op.hvp(v))
    f = torch.func.grad(lambda a: op._value(a, 0, op.z, op.classes))
    fwd_rev = timed(lambda: torch.func.jvp(f, (a0,), (v[0],)), n=1) if fwd_rev else float("nan")
    graph = timed(lambda: (op.reset(), op.hvp(v)), n=1) - kept  # the first product also builds the graph
    op.reset()
    return {"grad": grad, "hvp": kept, "graph": max(graph, 0.0), "fwd_rev": fwd_rev}


def judge(vals, vecs, ref_vals, ref_vecs) -> tuple[bool, float, float]:
    """(success, min |cos| over the top k, max relative eigenvalue error); fewer than k pairs fail."""
    n = min(len(vals), ref_vecs.shape[0])
    if n == 0:
        return False, 0.0, float("inf")
    vecs = torch.as_tensor(vecs)[:n].reshape(n, -1).double()
    vecs = vecs / vecs.norm(dim=1, keepdim=True)
    cos = (vecs * ref_vecs[:n]).sum(1).abs()
    err = ((torch.as_tensor(vals)[:n].double() - ref_vals[:n]) / ref_vals[:n]).abs()
    ok = n == ref_vecs.shape[0] and bool(cos.min() >= COS and err.max() <= EIG)
    return ok, float(cos.min()), float(err.max())


def arpack(matvec, dim: int, k: int, tol: float, seed: int, **settings):
    """eigsh on a float64 LinearOperator over a float32 (1, dim) -> (1, dim) product.

    Default: largest algebraic, scipy's ncv and maxiter, a normal start; ``settings`` override
    (which, ncv, maxiter, v0). Returns (values (k,) descending, vectors (k, dim), converged);
    unconverged (maxiter reached), the pairs ARPACK did converge, possibly fewer than k.
    """
    def mv(x):
        y = matvec(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(1, -1))
        return y.reshape(-1).double().numpy()
    lo = LinearOperator((dim, dim), matvec=mv, dtype=np.float64)
    settings = {"which": "LA", "v0": np.random.default_rng(seed).standard_normal(dim), **settings}
    try:
        w, u = eigsh(lo, k=k, tol=tol, **settings)
        converged = True
    except ArpackNoConvergence as e:
        w, u, converged = e.eigenvalues, e.eigenvectors, False
    order = np.argsort(w)[::-1]
    return torch.from_numpy(w[order].copy()), torch.from_numpy(u[:, order].T.copy()), converged


def gan_geometry(matvec, dim: int, k: int, seed: int):
    """GAN-Geometry's eigsh settings (its `lanczos`): which LM, tol 1e-6, maxiter 20, ncv 2k, v0 ~ U[0, 1)."""
    return arpack(matvec, dim, k, 1e-6, seed, which="LM", maxiter=20, ncv=min(2 * k, dim - 1),
                  v0=np.random.default_rng(seed).random(dim))


def bench_layer(G, layer: str, args, cfg: HessianConfig) -> dict:
    z = G.sample_z(args.n_z, generator=torch.Generator().manual_seed(0))
    op = LayerHessian(G, layer, z, chunk=args.n_z)
    k = args.k
    op_db = LayerHessian(G, layer, z, chunk=args.n_z, hvp="double-backward")  # GAN-Geometry's product
    c, c_db = product_costs(op), product_costs(op_db, fwd_rev=False)
    print(f"\n== faces {layer}: {op.dim} parameters, {args.n_z} z, ST-LPIPS alex, top-{k}, "
          f"threads {torch.get_num_threads()}")
    for name, cc in (("Gauss-Newton (steerlab's default)", c), ("double backward, graph kept", c_db)):
        print(f"one gradient {cc['grad']:.3f} s; one HVP by {name} {cc['hvp']:.3f} s "
              f"({cc['hvp'] / cc['grad']:.2f} gradients), building its graph {cc['graph']:.3f} s "
              f"({cc['graph'] / cc['grad']:.2f})")
    print(f"forward-over-reverse HVP {c['fwd_rev']:.3f} s ({c['fwd_rev'] / c['grad']:.2f} gradients)")

    def geq(grads=0, hvps=0, graphs=0, cc=c) -> float:
        return (grads * cc["grad"] + hvps * cc["hvp"] + graphs * cc["graph"]) / cc["grad"]

    op_db.reset()  # the reference takes the other product: an independent check of the default one
    t = time.perf_counter()
    ref_vals, ref_vecs, ri = lanczos_topk(lambda x: op_db.matvec(x.float()).double(), op.dim, k, tol=1e-5,
                                          dtype=torch.float64, max_matvecs=40 * k,
                                          generator=torch.Generator().manual_seed(100))
    print(f"reference (float64 basis, tol 1e-5): {ri['matvecs']} HVPs, {time.perf_counter() - t:.0f} s, "
          f"converged {ri['converged']}, max relative residual {max(ri['residuals']):.1e}")
    print("  eigenvalues: " + " ".join(f"{x:.4g}" for x in ref_vals.tolist()))
    rows = []

    print(f"{'solver':44s} {'':4s} {'wall':>9s} {'cpu':>9s} {'cost':>15s}")

    def run(name, solve, cost, hvps=True, on=op, **kw):
        """Time ``solve()`` -> (vals, vecs, note) from a fresh state of operator ``on``; record a row."""
        on.reset()
        t, c0 = time.perf_counter(), time.process_time()
        vals, vecs, note = solve()
        seconds, cpu = time.perf_counter() - t, time.process_time() - c0
        ok, cmin, emax = judge(vals, vecs, ref_vals, ref_vecs)
        rows.append(dict(name=name, ok=ok, seconds=seconds, cpu=cpu, cost=cost(), **kw))
        count = f"{on.hvps:4d} HVPs" if hvps else f"{on.grads:4d} grads"
        print(f"{name:44s} {'ok  ' if ok else 'FAIL'} {seconds:7.1f} s {cpu:7.1f} s {rows[-1]['cost']:7.1f} "
              f"grad-eq {count}  min|cos| {cmin:.4f}  max eig err {emax:.1e} {note}")
        return rows[-1]

    def ours(block=1, on=op):
        vals, vecs, info = lanczos_topk(on.matvec, op.dim, k, block=block, tol=cfg.tol,
                                        generator=torch.Generator().manual_seed(1))
        return vals, vecs, f"restarts {info.get('restarts', 0)}, reorth {info.get('reorthogonalisations', 0)}"

    kept = lambda: geq(hvps=op.hvps, graphs=1)  # noqa: E731
    kept_db = lambda: geq(hvps=op_db.hvps, graphs=1, cc=c_db)  # noqa: E731
    run(f"steerlab (tol {cfg.tol:g}, Gauss-Newton HVP)", ours, kept, kind="ours")
    run("steerlab, double-backward HVP", lambda: ours(on=op_db), kept_db, on=op_db, kind="ours-db")
    if args.block:
        run("steerlab block 4 (former)", lambda: ours(4), kept, kind="ours-block")
    if "arpack" in args.only:
        def gg():
            vals, vecs, conv = gan_geometry(op_db.matvec, op.dim, k, seed=3)
            return vals, vecs, "" if conv else f"(maxiter 20 reached: {len(vals)} of {k} pairs converged)"
        run("GAN-Geometry (LM, tol 1e-6, ncv 2k, maxiter 20)", gg, kept_db, on=op_db, kind="peer")
    paper = len(rows)
    if "fd" in args.only:
        def fd(iters, eps, relative):
            vals, vecs = power_iteration_fd(op.grad, op.shape, k, iters=iters, eps=eps, relative_step=relative,
                                            generator=torch.Generator().manual_seed(2))
            return vals, vecs, ""
        grads = lambda: geq(grads=op.grads)  # noqa: E731
        run("NaviGAN paper (eps 0.1, 10 it)", lambda: fd(10, 0.1, True), grads, hvps=False, kind="peer")
        eps = 5e-5 * float(op.weight.norm())
        for iters in ([] if args.quick else [i for i in args.fd_iters if i > 0]):
            r = run(f"NaviGAN tuned (step {eps:.1e}, {iters} it)", lambda: fd(iters, eps, False), grads,
                    hvps=False, kind="peer")
            if r["ok"]:
                break
    if "arpack" in args.only:
        print("diagnostic, not a peer: ARPACK driving steerlab's own HVP, tolerance tuned by the oracle")
        for tol in args.arpack_tols:
            def ar():
                vals, vecs, _ = arpack(op.matvec, op.dim, k, tol, seed=3)
                return vals, vecs, ""
            if run(f"  ARPACK on steerlab's HVP (tol {tol:g})", ar, kept, kind="diagnostic")["ok"]:
                break
    me = rows[0]

    def best(kind):
        done = [r for r in rows if r["kind"] == kind and r["ok"]]
        return min(done, key=lambda r: r["seconds"]) if done else None

    peer, diag = best("peer"), best("diagnostic")
    fd_row = rows[paper] if paper < len(rows) and rows[paper]["name"].startswith("NaviGAN paper") else None
    nan = float("nan")
    out = {"ours_ok": me["ok"], "paper": fd_row["seconds"] / me["seconds"] if fd_row else nan,
           "paper_cpu": fd_row["cpu"] / me["cpu"] if fd_row else nan, "paper_ok": bool(fd_row and fd_row["ok"]),
           "peer": peer["seconds"] / me["seconds"] if peer else nan,
           "peer_cpu": peer["cpu"] / me["cpu"] if peer else nan,
           "peer_cost": peer["cost"] / me["cost"] if peer else nan,
           "diag": diag["seconds"] / me["seconds"] if diag else nan,
           "diag_cpu": diag["cpu"] / me["cpu"] if diag else nan,
           "best": peer["name"] if peer else "none succeeded"}
    print(f"{layer}: steerlab {'succeeds' if me['ok'] else 'FAILS'}; best successful peer {out['best']}: "
          f"wall ratio {out['peer']:.2f}, CPU ratio {out['peer_cpu']:.2f}, gradient-equivalents ratio "
          f"{out['peer_cost']:.2f}; diagnostic (ARPACK on steerlab's HVP, oracle tol) wall ratio {out['diag']:.2f}, "
          f"CPU ratio {out['diag_cpu']:.2f}")
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
    ap.add_argument("--arpack-tols", type=float, nargs="+", default=list(ARPACK_TOLS),
                    help="oracle-tuned tolerances of the ARPACK diagnostic, tried in turn")
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

    def line(label, key, fmt=lambda r: ""):
        each = ", ".join(f"{layer} {r[key]:.2f}{fmt(r)}" for layer, r in res.items())
        print(f"{label}: {min(r[key] for r in res.values()):.2f} ({each})")
    line("diagnostic: wall ratio vs ARPACK on steerlab's HVP (oracle tol)", "diag")
    line("diagnostic: CPU ratio vs ARPACK on steerlab's HVP (oracle tol)", "diag_cpu")
    line("CPU ratio vs best peer", "peer_cpu")
    line("CPU ratio vs paper", "paper_cpu")
    line("wall ratio vs best peer", "peer")
    line("wall ratio vs paper", "paper", lambda r: f" ({'succeeded' if r['paper_ok'] else 'did not succeed'})")

if __name__ == "__main__":
    main()
