"""Spectrum-based directions (Cherepkov et al. Sec. 3.3): the top eigenvectors of the Hessian

    H = d^2/da^2  E_z d^2(G_theta(z), G_{theta + a}(z))  at a = 0,

taken w.r.t. one layer's weight, with d^2 the perceptual distance (ST-LPIPS). The directions whose
small moves change the images most, perceptually.

About d^2: LPIPS (and ST-LPIPS) is already a weighted *squared* feature distance, so, as in the
paper's code and Wang & Ponce's, its value is used as d^2. (Squaring it again would make the
function quartic at a = 0 and its Hessian there zero.) At a = 0 the residual vanishes, so H is
exactly 2 E_z J^T W J (J the Jacobian of the normalised ST-LPIPS features w.r.t. the weight,
W the learned channel weights): symmetric positive semi-definite.

Two solvers:

- ``lanczos_topk`` (the default): thick-restart Lanczos, one exact Hessian-vector product per
  step through G and ST-LPIPS (``LayerHessian.hvp``: by default the Gauss-Newton form J^T Q J,
  exact at a = 0, with G's tangent map traced and the feature graph kept once; or double
  backward of the kept first-order graph), a preallocated basis, selective + partial reorthogonalisation
  and residual estimates read off the projected matrix; it stops when every wanted Ritz pair's
  residual ||H y - theta y|| is below ``tol * theta``. ``block_lanczos_topk`` (``block > 1``) is
  the former block solver, kept for comparison.
- ``power_iteration_fd`` (the paper's reference, Eq. 4): deflated power iteration where
  H v is the central finite difference of gradients, (g(eps v) - g(-eps v)) / (2 eps ||v||),
  each eigenvector after a fixed number of iterations, projected off the ones already found.

``dense_hessian`` builds H column by column for layers small enough (tests), and
``subspace_overlap`` and ``prefix_overlaps`` compare subspaces.
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steerlab.core import distributed
from steerlab.methods.paramspace.shifts import layer_weight
from steerlab.metrics.perceptual import STLPIPS, _cached_model
from steerlab.models.base import Generator

__all__ = ["DISTANCES", "HVPS", "LayerHessian", "lanczos_topk", "power_iteration_fd", "dense_hessian",
           "subspace_overlap", "prefix_overlaps", "fix_signs", "hessian_directions"]

DISTANCES = ("stlpips-alex", "stlpips-vgg", "l2")
HVPS = ("gauss-newton", "double-backward")
KEEP_GRAPH_MAX_SIDE = 128  # first-order graphs are kept by default only for images up to this side


def _reference_distance(distance: str, reference: Tensor) -> tuple[Callable, Callable, Callable]:
    """``(embed, compare, linear)`` with d(x) = compare(embed(x)) -> (N,), the distance of images x
    to fixed ``reference`` images; ``compare`` is quadratic in the embedding, 0 at the reference's;
    ``linear(x)`` -> ``(embed(x), dx -> J dx)``, the embedding and its Jacobian-vector product at x.

    ST-LPIPS: embed = the 5 unit-normalised feature maps, compare = the learned channel weights
    on their squared difference (the reference features computed once: half the work of
    ``STLPIPS(x, y)``; the value equals ``STLPIPS(reference, x)``), linear =
    ``STLPIPS.linearized_features``. "l2": embed = [x], compare = the mean squared difference.
    """
    if distance == "l2":
        return ((lambda x: [x]), (lambda f: (f[0] - reference).pow(2).flatten(1).mean(1)),
                (lambda x: ([x], lambda dx: [dx])))
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance '{distance}'; allowed: {', '.join(DISTANCES)}")
    model: STLPIPS = _cached_model(distance.split("-")[1], str(reference.device))
    with torch.no_grad():
        ref = [f.detach() for f in model.features(reference)]

    def compare(feats: list[Tensor]) -> Tensor:
        total = 0.0
        for k, (fr, fx) in enumerate(zip(ref, feats)):
            total = total + getattr(model, f"lin{k}")((fr - fx).pow(2)).mean(dim=(2, 3))  # (N, 1)
        return total[:, 0]
    return model.features, compare, model.linearized_features


class LayerHessian:
    """f(a) = mean_z d^2(G_theta(z), G_{theta+a}(z)) for one layer of ``G`` on a fixed batch of z.

    Args:
        G: any steerlab generator (not modified).
        layer: the weight to differentiate w.r.t. (see ``layer_table``).
        z: (N, z_dim) codes; fixed, so H is one well-defined matrix.
        distance: "stlpips-alex" (default), "stlpips-vgg" or "l2" (pixel MSE, for fast tests).
        chunk: samples per forward pass (memory); results do not depend on it.
        classes: (N,) labels for a conditional model.
        keep_graph: keep the first-order graphs at a = 0 between products (default: when this
            process holds <= 64 codes of at most KEEP_GRAPH_MAX_SIDE px); otherwise they are rebuilt for every block of products.
        hvp: "gauss-newton" (default with ``keep_graph``) or "double-backward" (default without).
            Both are exact at a = 0. f = q(F(a)) with F the embedding of the shifted images
            (ST-LPIPS features) and q quadratic with its minimum 0 at F(0) (the reference's
            embedding, bit for bit), so H = J^T Q J + sum_i dq/dF_i d^2F_i = J^T Q J exactly
            (J = dF/da, Q = d^2q/dF^2). "gauss-newton" takes J v by forward mode (the tangent
            map of F, traced once with ``torch.func.linearize``), Q u as the gradient of q at
            F(0) + u (q is quadratic), and J^T y as one backward through the kept graph of F;
            "double-backward" differentiates the kept first-order gradient again. J v is the
            generator's tangent map (traced once with ``torch.func.linearize``) followed by
            the embedding's (``STLPIPS.linearized_features``: no trace). On `faces` conv3
            (8 z, one thread) a Gauss-Newton product costs about 0.6 of a double-backward one,
            after a one-time trace of about 2 of them (bench/hessian_solvers.py).

    Counters ``passes`` (forward+backward traversals of G and the distance: a gradient is 1, a
    block of b exact HVPs is 1 + b: one shared forward+backward, then one backward-of-backward per
    vector), ``grads`` and ``hvps`` grow with every call. H is taken at the one point a = 0, so
    with ``keep_graph`` the first-order graphs of all chunks are built once and kept: later blocks
    cost b passes (one HVP then costs about 1.7 gradients on faces; rebuilt, 2.6). Without it they
    are rebuilt per block, keeping memory at one chunk's graph.

    Under torchrun (`steerlab.core.distributed`) each rank owns whole chunks of z and every value,
    gradient and HVP is summed over ranks: all ranks get the full-batch result (equal to one
    process up to float summation order), so the solvers run unchanged on each rank.
    """

    def __init__(self, G: Generator, layer: str, z: Tensor, *, distance: str = "stlpips-alex",
                 chunk: int = 8, classes: Tensor | None = None, keep_graph: bool | None = None,
                 hvp: str | None = None):
        self.G, self.layer = G, layer
        self.weight = layer_weight(G, layer)
        self.shape = tuple(self.weight.shape)
        self.dim = self.weight.numel()
        # Data-parallel: at most an equal share of z per chunk, so that every rank gets some.
        share = -(-z.shape[0] // distributed.world())
        self.z, self.classes, self.chunk = z, classes, max(1, min(int(chunk), share))
        self.distance = distance
        # ~26 MB of graph per code on faces conv2: keep it up to 64 codes per process, and only for
        # small images (a 1024 px StyleGAN2's kept Gauss-Newton graphs took 4.2x its forward+backward's memory).
        small = int(getattr(G, "resolution", 0) or 0) <= KEEP_GRAPH_MAX_SIDE
        self.keep_graph = (share <= 64 and small) if keep_graph is None else keep_graph
        if hvp not in (None, *HVPS):
            raise ValueError(f"unknown Hessian-vector product '{hvp}'; allowed: {', '.join(HVPS)}")
        self.hvp_kind = hvp or ("gauss-newton" if self.keep_graph else "double-backward")
        self._refs = []
        with torch.no_grad():
            for zc, cc in self._chunks():
                self._refs.append(_reference_distance(distance, G.synthesize(zc, classes=cc)))
        self.reset()

    def reset(self) -> None:
        """Zero the counters and drop the kept first-order graph (a fresh, fairly counted start)."""
        self.passes = self.grads = self.hvps = 0
        self._graph = None

    def _chunks(self):
        own = distributed.shard(self.z.shape[0], self.chunk)  # all of z in one process
        for i in range(own.start, own.stop, self.chunk):
            i_end = min(i + self.chunk, own.stop)
            yield self.z[i:i_end], None if self.classes is None else self.classes[i:i_end]

    def _embed(self, a: Tensor, j: int, zc: Tensor, cc: Tensor | None) -> list[Tensor]:
        return self._refs[j][0](self.G.synthesize_shifted(zc, {self.layer: a}, classes=cc))

    def _compare(self, feats: list[Tensor], j: int) -> Tensor:
        return self._refs[j][1](feats).sum() / self.z.shape[0]

    def _value(self, a: Tensor, j: int, zc: Tensor, cc: Tensor | None) -> Tensor:
        return self._compare(self._embed(a, j, zc, cc), j)

    def value(self, a: Tensor) -> float:
        """f(a) for a weight-shaped shift ``a``."""
        with torch.no_grad():
            total = sum((self._value(a, j, zc, cc) for j, (zc, cc) in enumerate(self._chunks())),
                        torch.zeros((), device=self.weight.device))
            return float(distributed.all_reduce_sum(total))

    def grad(self, a: Tensor) -> Tensor:
        """g(a) = df/da, weight-shaped (one forward+backward pass)."""
        out = torch.zeros_like(self.weight)
        for j, (zc, cc) in enumerate(self._chunks()):
            a_ = a.detach().to(self.weight).requires_grad_(True)
            out += torch.autograd.grad(self._value(a_, j, zc, cc), a_)[0]
        self.passes += 1
        self.grads += 1
        return distributed.all_reduce_sum(out)

    def _first_order(self, j: int, zc: Tensor, cc: Tensor | None) -> tuple[Tensor, Tensor]:
        """(a, df/da) at a = 0 with its graph, for chunk j (its share of one forward+backward pass)."""
        a = torch.zeros_like(self.weight, requires_grad=True)
        return a, torch.autograd.grad(self._value(a, j, zc, cc), a, create_graph=True)[0]

    def _tangent_map(self, j: int, zc: Tensor, cc: Tensor | None):
        """(a, F(a) with its graph, v -> J v) at a = 0 for chunk j: one forward, one trace of G.

        J v = J_embed (J_G v): the generator's tangent map is traced (``torch.func.linearize``:
        any generator), the embedding's is ``linear`` (its activations kept from the forward)."""
        a = torch.zeros_like(self.weight, requires_grad=True)
        with warnings.catch_warnings():  # torch.fx notes its tracing internals; nothing to act on
            warnings.simplefilter("ignore")
            _, image_jvp = torch.func.linearize(
                lambda b: self.G.synthesize_shifted(zc, {self.layer: b}, classes=cc), torch.zeros_like(self.weight))
        feats, embed_jvp = self._refs[j][2](self.G.synthesize_shifted(zc, {self.layer: a}, classes=cc))
        return a, feats, lambda v: embed_jvp(image_jvp(v))

    def _gauss_newton(self, graph, j: int, v: Tensor) -> Tensor:
        """J^T Q J v for chunk j (see the class notes)."""
        a, feats, jvp = graph
        u = [(f.detach() + t).requires_grad_(True) for f, t in zip(feats, jvp(v))]  # F(0) + J v
        y = torch.autograd.grad(self._compare(u, j), u)                            # Q J v
        return torch.autograd.grad(feats, a, y, retain_graph=True)[0]              # J^T Q J v

    def hvp(self, v: Tensor) -> Tensor:
        """Exact H v at a = 0 for a block v (b, *weight_shape) -> (b, *weight_shape)."""
        v = v.to(self.weight)
        out = torch.zeros_like(v)
        if not self.keep_graph or self._graph is None:
            self.passes += 1  # the first-order forward+backward with graph
        graphs = []
        gauss_newton = self.hvp_kind == "gauss-newton"
        for j, (zc, cc) in enumerate(self._chunks()):
            if self.keep_graph and self._graph is not None:
                graph = self._graph[j]
            else:
                try:
                    graph = self._tangent_map(j, zc, cc) if gauss_newton else self._first_order(j, zc, cc)
                except RuntimeError:
                    if not gauss_newton or j:
                        raise
                    # G runs Python control flow on tensor values (e.g. a label check) that forward-mode
                    # tracing cannot follow: exact double-backward products instead
                    self.hvp_kind, gauss_newton = "double-backward", False
                    graph = self._first_order(j, zc, cc)
                graphs.append(graph)
            for i in range(v.shape[0]):
                if gauss_newton:
                    out[i] += self._gauss_newton(graph, j, v[i])
                else:
                    a, g = graph
                    out[i] += torch.autograd.grad(g, a, v[i], retain_graph=self.keep_graph or i + 1 < v.shape[0])[0]
        if self.keep_graph and self._graph is None:
            self._graph = graphs
        self.passes += v.shape[0]
        self.hvps += v.shape[0]
        return distributed.all_reduce_sum(out)

    def matvec(self, x: Tensor) -> Tensor:
        """Flat interface for the solvers: (b, dim) -> (b, dim)."""
        return self.hvp(x.reshape(-1, *self.shape)).reshape(x.shape[0], -1)


def _orthonormalize(x: Tensor, basis: Tensor | None) -> Tensor:
    """Rows of ``x`` made orthonormal and orthogonal to the rows of ``basis`` (twice is enough)."""
    for _ in range(2):
        if basis is not None and basis.shape[0]:
            x = x - (x @ basis.T) @ basis
        q, r = torch.linalg.qr(x.T)
        x = q.T * torch.sign(torch.diagonal(r)).clamp_min(0).mul(2).sub(1)[:, None]
    return x


def _project_out(w: Tensor, basis: Tensor) -> Tensor:
    """``w`` (dim,) minus its components along the orthonormal rows of ``basis``, two passes."""
    if basis.shape[0]:
        for _ in range(2):
            w = w - (basis @ w) @ basis
    return w


def lanczos_topk(matvec: Callable[[Tensor], Tensor], dim: int, k: int, *, block: int = 1,
                 tol: float = 1e-2, max_dim: int | None = None, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                 progress: bool = False, max_matvecs: int | None = None,
                 callback: Callable[[int, Tensor], None] | None = None) -> tuple[Tensor, Tensor, dict]:
    """Top-``k`` eigenpairs of a symmetric operator: thick-restart Lanczos (Wu & Simon 2000).

    One product per step. The basis lives in one preallocated (max_dim + 1, dim) buffer; the
    projected matrix T (at most max_dim square, float64) is tridiagonal plus, after a restart, an
    arrow row coupling the kept Ritz vectors to the next Lanczos vector. Orthogonality is kept
    cheaply: each new vector is orthogonalised against its two predecessors (the recurrence) and
    the kept Ritz vectors (selective: loss of orthogonality grows along converged Ritz vectors),
    and against the whole basis only when Simon's recurrence estimate of the lost orthogonality
    exceeds sqrt(machine eps) (partial reorthogonalisation). Residuals come from T for free:
    ||H y_i - theta_i y_i|| = beta_m |s_{m,i}| (s_i the Ritz vector in T's coordinates).
    When the basis is full, the top ``k + (max_dim - k) // 2`` Ritz vectors are kept and the
    iteration goes on from the last Lanczos vector.

    Args:
        matvec: (b, dim) -> (b, dim), the operator on a block of row vectors (called with b = 1).
        dim: the operator's size.
        k: eigenpairs wanted (largest algebraic eigenvalues).
        block: 1 (this solver) or > 1: block Lanczos with full reorthogonalisation and exact
            residuals (`block_lanczos_topk`, kept for comparison; slower, see bench/hessian_solvers.py).
        tol: stop when every wanted Ritz pair has ||H y - theta y|| <= tol * |theta| (its own
            eigenvalue; the eigenvalue error is then about tol^2 theta^2 / gap).
        max_dim: basis size before a thick restart (default: min(dim, max(3k, k + 16))).
        dtype: of the basis and the products (float32; float64 for a reference).
        max_matvecs: stop (``converged`` False) after this many products (default 100 * k).
        callback: called as ``callback(matvecs, ritz_vectors (min(k, m), dim))`` after each step.

    Returns:
        ``(eigenvalues (k,) descending, eigenvectors (k, dim) orthonormal, info)`` with
        ``info = {"matvecs", "basis", "residuals", "converged", "history", "restarts",
        "reorthogonalisations"}``; ``history`` lists (matvecs so far, max relative residual) per step.
    """
    if not 1 <= k <= dim:
        raise ValueError(f"k must be in [1, {dim}], got {k}")
    if block > 1:
        return block_lanczos_topk(matvec, dim, k, block=block, tol=tol, max_dim=max_dim, generator=generator,
                                  dtype=dtype, device=device, progress=progress, callback=callback)
    m_max = min(dim, max_dim or max(3 * k, k + 16))
    if m_max <= k and m_max < dim:
        raise ValueError(f"max_dim must exceed k = {k} (or equal dim = {dim}), got {m_max}")
    g = generator or torch.Generator().manual_seed(0)
    # Rounding of the products sets how fast orthogonality is lost: the networks run in float32
    # even when the basis is float64 (a reference), so model at least float32's eps.
    eps = max(torch.finfo(dtype).eps, torch.finfo(torch.float32).eps)
    V = torch.empty(m_max + 1, dim, dtype=dtype, device=device)             # (m + 1, dim) basis
    T = torch.zeros(m_max + 1, m_max + 1, dtype=torch.float64)             # projected operator
    v = torch.randn(dim, generator=g, dtype=dtype).to(device)
    V[0] = v / v.norm()
    p = 0                      # kept Ritz vectors at the front of V (0 before the first restart)
    j = 0                      # index of the vector being multiplied
    # Simon's estimates of v_j . v_i for the Lanczos vectors since the last restart (i >= p).
    w_prev = torch.zeros(m_max + 1, dtype=torch.float64)
    w_cur = torch.zeros(m_max + 1, dtype=torch.float64)
    force = False              # reorthogonalise the next vector too (Simon: always in pairs)
    history, matvecs, restarts, reorths = [], 0, 0, 0
    done, kk = False, 0
    theta = torch.zeros(0, dtype=torch.float64)
    S = torch.zeros(0, 0, dtype=torch.float64)
    bar = tqdm(total=k, desc="lanczos", disable=not progress, leave=False)
    while True:
        w = matvec(V[j:j + 1])[0].to(dtype)
        matvecs += 1
        alpha = float(V[j] @ w)
        w = w - alpha * V[j]
        if j == p:          # first vector of a cycle: couple to the kept Ritz vectors (arrow of T)
            if p:
                w = w - T[:p, p].to(dtype).to(device) @ V[:p]
        else:
            w = w - T[j - 1, j] * V[j - 1]
        w = w - float(V[j] @ w) * V[j]      # local reorthogonalisation against v_j
        if p:
            w = _project_out(w, V[:p])       # selective: against the kept (converging) Ritz vectors
        beta = float(w.norm())
        T[j, j] = alpha
        # Partial reorthogonalisation: update the estimates of v_{j+1} . v_i, i in [p, j).
        anorm = float(T[:j + 1, :j + 1].abs().sum(0).max())
        w_new = torch.zeros(m_max + 1, dtype=torch.float64)
        if beta > 0 and j > p:
            i = torch.arange(p, j)
            up = T[i, i + 1] * w_cur[i + 1] + (T[i, i] - alpha) * w_cur[i] - T[j - 1, j] * w_prev[i]
            low = torch.where(i > p, T[i - 1, i] * w_cur[(i - 1).clamp_min(0)], torch.zeros_like(up))
            est = (up + low) / beta
            w_new[p:j] = est + torch.sign(est) * 2 * eps * anorm / beta
        w_new[j] = eps
        w_new[j + 1] = 1.0
        if force or (j > p and float(w_new[p:j].abs().max()) > math.sqrt(eps)):
            w = _project_out(w, V[:j + 1])
            beta = float(w.norm())
            w_new[:j + 1] = eps
            reorths += 1
            force = not force
        if beta <= 100 * eps * max(anorm, 1e-30):   # invariant subspace: continue from a fresh vector
            w = _project_out(torch.randn(dim, generator=g, dtype=dtype).to(device), V[:j + 1])
            w, beta = w / w.norm(), 0.0
        else:
            w = w / beta
        T[j, j + 1] = T[j + 1, j] = beta
        V[j + 1] = w
        w_prev, w_cur = w_cur, w_new
        m = j + 1
        theta, S = torch.linalg.eigh(T[:m, :m])
        theta, S = theta.flip(0), S.flip(1)
        kk = min(k, m)
        resid = beta * S[m - 1, :kk].abs()
        rel = resid / theta[:kk].abs().clamp_min(1e-30)
        done = kk == k and bool((rel <= tol).all())
        history.append((matvecs, float(rel.max())))
        if callback is not None:
            callback(matvecs, S[:, :kk].T.to(dtype).to(device) @ V[:m])
        bar.n = int((rel <= tol).sum())
        bar.set_postfix(matvecs=matvecs, resid=f"{float(rel.max()):.1e}", refresh=True)
        if done or m >= dim or matvecs >= (max_matvecs or 100 * k):
            break
        if m < m_max:
            j += 1
            continue
        # Thick restart: keep the top Ritz vectors, go on from v_{m}.
        p_new = min(m - 1, k + (m_max - k) // 2)
        Y = S[:, :p_new].T.to(dtype).to(device) @ V[:m]                    # (p_new, dim)
        V[:p_new] = Y
        V[p_new] = V[m]
        T.zero_()
        T[range(p_new), range(p_new)] = theta[:p_new]
        T[:p_new, p_new] = T[p_new, :p_new] = beta * S[m - 1, :p_new]
        p = j = p_new
        w_prev.zero_()
        w_cur.zero_()
        force = True                      # the first vectors after a restart: full orthogonalisation
        restarts += 1
    bar.close()
    m = j + 1
    vecs = S[:, :kk].T.to(dtype).to(device) @ V[:m]
    return (theta[:k].to(dtype), vecs[:k], {"matvecs": matvecs, "basis": m, "residuals": rel.tolist(),
                                            "converged": done, "history": history, "restarts": restarts,
                                            "reorthogonalisations": reorths})


def block_lanczos_topk(matvec: Callable[[Tensor], Tensor], dim: int, k: int, *, block: int = 4,
                       tol: float = 1e-3, max_dim: int | None = None, generator: torch.Generator | None = None,
                       dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                       progress: bool = False,
                       callback: Callable[[int, Tensor], None] | None = None) -> tuple[Tensor, Tensor, dict]:
    """Top-``k`` eigenpairs by block Lanczos with full reorthogonalisation (the former default).

    The Krylov basis V grows by ``block`` orthonormal rows per step; H V is kept, so the
    Rayleigh-Ritz matrix V H V^T and every Ritz pair's residual ||H y - theta y|| are exact.
    Same arguments and returns as `lanczos_topk` (``max_dim`` default min(dim, max(8k, 64)); no
    restart: it stops when the basis is full).
    """
    if not 1 <= k <= dim:
        raise ValueError(f"k must be in [1, {dim}], got {k}")
    block = max(1, min(int(block), dim))
    max_dim = min(dim, max_dim or max(8 * k, 64))
    g = generator or torch.Generator().manual_seed(0)
    x = _orthonormalize(torch.randn(block, dim, generator=g, dtype=dtype).to(device), None)
    V = torch.empty(0, dim, dtype=dtype, device=device)
    HV = torch.empty(0, dim, dtype=dtype, device=device)
    T = torch.empty(0, 0, dtype=torch.float64)
    history, matvecs = [], 0
    bar = tqdm(total=k, desc="lanczos", disable=not progress, leave=False)
    while True:
        hx = matvec(x).to(dtype)
        matvecs += x.shape[0]
        # Extend T = V H V^T with the new rows/columns (symmetrised: H is symmetric).
        cross = (torch.cat([V, x]) @ hx.T).double()                       # (m + b, b)
        m = V.shape[0]
        T_new = torch.zeros(m + x.shape[0], m + x.shape[0], dtype=torch.float64)
        T_new[:m, :m] = T
        T_new[:, m:] = cross
        T_new[m:, :m] = cross[:m].T
        T_new[m:, m:] = 0.5 * (cross[m:] + cross[m:].T)
        T, V, HV = T_new, torch.cat([V, x]), torch.cat([HV, hx])
        theta, S = torch.linalg.eigh(T)
        theta, S = theta.flip(0), S.flip(1)
        kk = min(k, V.shape[0])
        Y = S[:, :kk].to(dtype).T                                           # (kk, m)
        resid = ((Y @ HV) - theta[:kk, None].to(dtype) * (Y @ V)).norm(dim=1)
        rel = (resid / theta[:kk].abs().clamp_min(1e-30).to(dtype)).double()
        done = kk == k and bool((rel <= tol).all())
        history.append((matvecs, float(rel.max())))
        if callback is not None:
            callback(matvecs, Y @ V)
        bar.n = int((rel <= tol).sum())
        bar.set_postfix(matvecs=matvecs, resid=f"{float(rel.max()):.1e}", refresh=True)
        if done or V.shape[0] >= max_dim:
            break
        nb = min(block, max_dim - V.shape[0])
        x = _orthonormalize(hx[:nb] - (hx[:nb] @ V.T) @ V, V)  # next block: the new Krylov directions
    bar.close()
    vecs = Y @ V
    return (theta[:k].to(dtype), vecs[:k], {"matvecs": matvecs, "basis": V.shape[0],
                                            "residuals": rel.tolist(), "converged": done,
                                            "history": history})


def power_iteration_fd(grad: Callable[[Tensor], Tensor], shape: tuple[int, ...], k: int, *,
                       iters: int = 10, eps: float = 0.1, relative_step: bool = True,
                       generator: torch.Generator | None = None, progress: bool = False,
                       callback: Callable[[int, Tensor], None] | None = None) -> tuple[Tensor, Tensor]:
    """The paper's reference solver (Sec. 3.3, Eq. 4): deflated power iteration, finite differences.

    For each eigenvector in turn, from v ~ N(0, I) projected off those already found,
    ``iters`` times: v <- P[(g(eps v) - g(-eps v)) / (2 eps ||v||)], g the gradient of the
    perceptual change and P the projection onto the complement of the found eigenvectors.

    Args:
        grad: g(a), weight-shaped in and out (e.g. ``LayerHessian.grad``).
        shape: the weight's shape.
        k: eigenvectors wanted.
        iters: power steps per eigenvector (the paper: 10); each costs two gradients.
        eps: finite-difference scale (the paper: 0.1, in StyleGAN2's weight units).
        relative_step: True (Eq. 4 as printed): the difference is taken at +-eps v, a step of
            eps ||v||; False: at +-eps v/||v||, a step of exactly eps (same iteration, a step
            length that does not follow the eigenvalue's scale).
        callback: called as ``callback(i, vectors_so_far)`` after each eigenvector.

    Returns:
        ``(eigenvalues (k,), eigenvectors (k, *shape))``, unit-norm eigenvectors; the
        eigenvalue estimate is ||v|| after the last step.
    """
    g = generator or torch.Generator().manual_seed(0)
    found: list[Tensor] = []
    values: list[float] = []

    def project(v: Tensor) -> Tensor:
        for u in found:
            v = v - (v * u).sum() * u
        return v

    for i in tqdm(range(k), desc="power-fd", disable=not progress, leave=False):
        v = project(torch.randn(shape, generator=g))
        for _ in range(iters):
            norm = v.norm()
            step = v if relative_step else v / norm
            h = eps * step
            hv = (grad(h) - grad(-h)) / (2 * eps) / (norm if relative_step else 1.0)
            v = project(hv.cpu())
        values.append(float(v.norm()))
        found.append(v / v.norm())
        if callback is not None:
            callback(i, torch.stack(found))
    return torch.tensor(values), torch.stack(found)


def dense_hessian(op: LayerHessian, block: int = 64) -> Tensor:
    """The full (dim, dim) Hessian from ``dim`` exact HVPs (only for small layers), float64."""
    if op.dim > 20_000:
        raise ValueError(f"layer has {op.dim} parameters; a dense Hessian is only built for <= 20000")
    eye = torch.eye(op.dim, dtype=op.weight.dtype, device=op.weight.device)
    cols = [op.matvec(eye[i:i + block]) for i in range(0, op.dim, block)]
    H = torch.cat(cols).double()
    return 0.5 * (H + H.T)


def subspace_overlap(a: Tensor, b: Tensor) -> float:
    """Mean squared cosine of the principal angles between span(a) and span(b), in [0, 1].

    ``a`` (k, ...) and ``b`` (k', ...) are sets of vectors (any shape after the first dim); the
    value is ||Q_a Q_b^T||_F^2 / min(k, k') with Q orthonormal bases: 1 for equal subspaces.
    """
    qa, qb = _basis(a), _basis(b)
    return float((qa.T @ qb).pow(2).sum() / min(qa.shape[1], qb.shape[1]))


def _basis(a: Tensor) -> Tensor:
    """An orthonormal basis (dim, k) of the span of the k vectors ``a`` (k, ...), float64, by QR:
    its first j columns span the first j vectors."""
    return torch.linalg.qr(a.reshape(a.shape[0], -1).double().T)[0]


def fix_signs(vecs: Tensor) -> Tensor:
    """``vecs`` (k, ...) with each row's sign chosen so that its largest-magnitude entry is positive.

    An eigenvector's sign is arbitrary (the solver's start decides it); fixing it this way makes
    "+" and "-" of a direction the same in every run whose vectors agree, whatever the start.
    """
    flat = vecs.reshape(vecs.shape[0], -1)
    peak = flat.gather(1, flat.abs().argmax(1, keepdim=True))
    return vecs * torch.where(peak < 0, -1.0, 1.0).to(vecs.dtype).reshape(-1, *[1] * (vecs.dim() - 1))


def prefix_overlaps(a: Tensor, b: Tensor) -> list[float]:
    """``subspace_overlap(a[:j], b[:j])`` for j = 1 .. k of two ordered sets of k vectors (k, ...).

    One QR each: the first j columns of Q span the first j vectors, so every prefix's overlap is
    the squared Frobenius norm of the leading j x j block of Q_a^T Q_b, over j.
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"prefix overlaps need sets of the same size, got {a.shape[0]} and {b.shape[0]}")
    m = (_basis(a).T @ _basis(b)).pow(2)
    return [float(m[:j, :j].sum() / j) for j in range(1, m.shape[0] + 1)]


def hessian_directions(G: Generator, layer: str, k: int, *, n_z: int = 32, seed: int = 0,
                       distance: str = "stlpips-alex", solver: str = "lanczos", block: int = 1,
                       tol: float = 1e-2, chunk: int = 8, iters: int = 10, eps: float = 0.1,
                       overlap: bool = False, progress: bool = True) -> tuple[Tensor, Tensor, dict]:
    """Top-``k`` eigenvectors of the perceptual-change Hessian of one layer of ``G``.

    Args:
        G: any steerlab generator.
        layer: the weight (see ``layer_table``).
        k: number of directions.
        n_z: latent codes in the fixed batch that estimates E_z (the paper: 512).
        seed: seeds z and the solver's start.
        distance: "stlpips-alex" (default), "stlpips-vgg" or "l2".
        solver: "lanczos" (exact HVPs, default) or "power-fd" (the paper's Eq. 4).
        block, tol: Lanczos block size (1: thick-restart Lanczos) and relative residual tolerance.
        iters, eps: power-iteration steps per vector and finite-difference scale.
        overlap: also solve on a second batch of ``n_z`` codes drawn after the first (disjoint)
            and report ``subspace_overlap`` of the two top-k subspaces in [0, 1] (1: the
            directions do not depend on the draw of z), and ``overlap_prefix``, that overlap of
            the top-j subspaces for j = 1 .. k; costs a second solve.

    Returns:
        ``(eigenvalues (k,), directions (k, *weight_shape) unit-norm, each with its largest entry
        positive (`fix_signs`), info)``; ``info`` has the pass counts, wall time, residuals
        (Lanczos), the settings and, with ``overlap``, ``overlap``, ``overlap_prefix`` and
        ``overlap_seconds``.
    """
    if solver not in ("lanczos", "power-fd"):
        raise ValueError(f"unknown solver '{solver}'; allowed: lanczos, power-fd")
    g = torch.Generator().manual_seed(seed)
    z = G.sample_z(n_z, generator=g)
    classes = G.sample_classes(n_z, generator=g)
    if overlap:  # drawn before any solver start, so the batches are the stream's first 2 n_z codes
        z2, c2 = G.sample_z(n_z, generator=g), G.sample_classes(n_z, generator=g)
    progress = progress and distributed.is_main()

    def solve(z: Tensor, classes: Tensor | None) -> tuple[Tensor, Tensor, dict]:
        op = LayerHessian(G, layer, z, distance=distance, chunk=chunk, classes=classes)
        t0 = time.time()
        if solver == "lanczos":
            vals, vecs, info = lanczos_topk(op.matvec, op.dim, k, block=block, tol=tol,
                                            generator=g, device=op.weight.device, progress=progress)
            vecs = vecs.reshape(k, *op.shape)
        else:
            vals, vecs = power_iteration_fd(op.grad, op.shape, k, iters=iters, eps=eps, generator=g,
                                            progress=progress)
            info = {}
        vecs = fix_signs(vecs)
        info.update(solver=solver, distance=distance, n_z=n_z, seed=seed, passes=op.passes,
                    hvps=op.hvps, grads=op.grads, seconds=round(time.time() - t0, 2))
        if not all(math.isfinite(v) for v in vals.tolist()):
            raise ValueError("Hessian eigenvalues are not finite (NaN in the generator or distance?)")
        return vals, vecs, info

    vals, vecs, info = solve(z, classes)
    if overlap:
        _, vecs2, info2 = solve(z2, c2)
        prefix = [round(o, 4) for o in prefix_overlaps(vecs, vecs2)]
        info.update(overlap=prefix[-1], overlap_prefix=prefix, overlap_seconds=info2["seconds"])
    return vals, vecs, info
