"""The encoding model of a factor of variation: t = g_theta(<u, z>) (Plumerault et al., Sec. 2.2).

The factor t of a generated image is modelled as a monotone function of the latent's
coordinate along one unit axis u (Eq. 8). t itself is unknown, but the trajectories give
differences dt = f(z_dt) - f(z0), so u and g are fitted on (Eq. 9)

    min_{u, theta}  mean ( g(<u, z_dt>) - g(<u, z0>) - dt )^2,   ||u|| = 1,  g(0) = 0.

g_theta here is piecewise linear on fixed knots s_k (odd count, so 0 is a knot) with
positive slopes softplus(theta_k): increasing by construction, g(0) = 0 by subtracting
its value at 0, extended linearly beyond the outer knots, and invertible in closed form.
u starts from the least-squares linear fit dt ~ <w, z_dt - z0> (u = w / ||w||, slopes ||w||);
both are then refined by full-batch L-BFGS.

For a factor uniform on [-a, a] under z ~ N(0, I), Eq. 7 gives the closed form
g(s) = a erf(s / sqrt(2)) (`erf_g`), a check the fit must recover.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

# g and g^-1 are what a "trajectory" direction renders with, so they live with the kinds
from steerlab.directions.ops import piecewise_linear, piecewise_linear_inverse

__all__ = ["EncodingFit", "PiecewiseLinear", "fit_encoding_model", "heldout_r2", "piecewise_linear",
           "piecewise_linear_inverse", "erf_g", "factor_density"]


def erf_g(s: Tensor, half_range: float = 0.5) -> Tensor:
    """Eq. 7: the g that maps <u, z> ~ N(0, 1) to t ~ U[-half_range, half_range]."""
    return half_range * torch.erf(s / math.sqrt(2.0))


def factor_density(t: Tensor, knots_x: Tensor, knots_y: Tensor) -> Tensor:
    """Eq. 6: density of t = g(<u, z>) under z ~ N(0, I): N(g^-1(t); 0, 1) d/dt g^-1(t)."""
    s = piecewise_linear_inverse(t, knots_x, knots_y)
    eps = 1e-4 * (knots_y[-1] - knots_y[0]).abs().clamp_min(1e-12)
    slope_inv = (piecewise_linear_inverse(t + eps, knots_x, knots_y)
                 - piecewise_linear_inverse(t - eps, knots_x, knots_y)) / (2 * eps)
    return torch.exp(-0.5 * s ** 2) / math.sqrt(2 * math.pi) * slope_inv


class PiecewiseLinear(nn.Module):
    """Monotone increasing piecewise-linear g with g(0) = 0, on ``n_knots`` knots in [-span, span].

    Example:
        >>> g = PiecewiseLinear(n_knots=5, span=2.0)
        >>> g(torch.tensor([0.0])).item()
        0.0
    """

    def __init__(self, n_knots: int = 21, span: float = 3.5, slope: float = 1.0):
        super().__init__()
        if n_knots < 3 or n_knots % 2 == 0 or not span > 0 or not slope > 0:
            raise ValueError(f"need an odd n_knots >= 3, span > 0 and slope > 0 (got {n_knots}, {span}, {slope})")
        self.register_buffer("knots_x", torch.linspace(-span, span, n_knots))
        inv_softplus = slope + math.log(-math.expm1(-slope))  # softplus^-1(slope)
        self.theta = nn.Parameter(torch.full((n_knots - 1,), inv_softplus))

    def slopes(self) -> Tensor:
        return F.softplus(self.theta) + 1e-6  # strictly positive: g is strictly increasing

    def knots_y(self) -> Tensor:
        dx = self.knots_x[1:] - self.knots_x[:-1]
        y = torch.cat([self.knots_x.new_zeros(1), torch.cumsum(self.slopes() * dx, 0)])
        return y - y[self.knots_x.numel() // 2]  # the middle knot is s = 0: g(0) = 0

    def forward(self, s: Tensor) -> Tensor:
        # Dense form of the same interpolation (no gathers: fast to differentiate over many rows):
        # g(s) = sum_k slope_k * clamp(s - x_k, 0, dx_k) + the end slopes beyond the outer knots.
        x, slope = self.knots_x, self.slopes()
        dx = x[1:] - x[:-1]
        r = s.unsqueeze(-1) - x[:-1]  # (..., K-1)
        inner = (slope * torch.minimum(r.clamp_min(0), dx)).sum(-1)
        left = slope[0] * (s - x[0]).clamp_max(0)
        right = slope[-1] * (s - x[-1]).clamp_min(0)
        at0 = (slope * torch.minimum((-x[:-1]).clamp_min(0), dx)).sum()
        return inner + left + right - at0

    def inverse(self, t: Tensor) -> Tensor:
        return piecewise_linear_inverse(t, self.knots_x, self.knots_y())


@dataclass
class EncodingFit:
    """A fitted encoding model t = g(<u, z>).

    Attributes:
        u: (d,) unit axis.
        knots_x, knots_y: (K,) the piecewise-linear g (increasing, g(0) = 0).
        mse: final training MSE of dt; ``r2``: 1 - mse / var(dt).
        linear_u: (d,) the least-squares initial axis, for comparison.
        loss_curve: training MSE per function evaluation.
    """

    u: Tensor
    knots_x: Tensor
    knots_y: Tensor
    mse: float
    r2: float
    linear_u: Tensor
    loss_curve: list = field(default_factory=list)

    def g(self, s: Tensor) -> Tensor:
        return piecewise_linear(s, self.knots_x.to(s), self.knots_y.to(s))

    def g_inv(self, t: Tensor) -> Tensor:
        return piecewise_linear_inverse(t, self.knots_x.to(t), self.knots_y.to(t))

    def f(self, z: Tensor) -> Tensor:
        """The factor t = g(<u, z>) of latents z (N, d)."""
        return self.g(z @ self.u.to(z))


def fit_encoding_model(z0: Tensor, z: Tensor, dt: Tensor, *, n_knots: int = 21, span: float = 3.5,
                       steps: int = 500, progress: bool = False) -> EncodingFit:
    """Fit u and g_theta on trajectory pairs (Eq. 9) by full-batch L-BFGS.

    Args:
        z0, z: (M, d) start latents and their transformed solutions z_dt.
        dt: (M,) transformation amounts.
        n_knots, span: g's knots, ``linspace(-span, span, n_knots)`` (odd count).
        steps: L-BFGS iterations (at most).

    Returns:
        An `EncodingFit`.

    Raises:
        ValueError: mismatched or non-finite inputs, fewer than 2 rows, or all dt equal.
    """
    if z0.dim() != 2 or z0.shape != z.shape or dt.shape != (z0.shape[0],):
        raise ValueError(f"need z0, z of shape (M, d) and dt of shape (M,), got {tuple(z0.shape)}, "
                         f"{tuple(z.shape)}, {tuple(dt.shape)}")
    if z0.shape[0] < 2 or not all(torch.isfinite(t).all() for t in (z0, z, dt)):
        raise ValueError("need at least 2 finite trajectory rows")
    z0, z, dt = z0.double(), z.double(), dt.double()
    var = dt.var(unbiased=False)
    if not var > 0:
        raise ValueError("all dt are equal: nothing to fit")
    diff = z - z0
    # Least squares for the linear model dt ~ <w, z - z0>, with a ridge of 1e-3 times the largest
    # eigenvalue: directions the trajectories barely move along (solver noise) are not fitted.
    gram = diff.T @ diff
    ridge = 1e-3 * torch.linalg.eigvalsh(gram)[-1]
    w = torch.linalg.solve(gram + ridge * torch.eye(diff.shape[1], dtype=diff.dtype), diff.T @ dt)
    if not w.norm() > 0:
        raise ValueError("trajectories do not move along any direction: nothing to fit")
    linear_u = w / w.norm()
    g = PiecewiseLinear(n_knots, span, slope=float(w.norm())).double()
    v = nn.Parameter(linear_u.clone())
    # Full-batch L-BFGS: unlike Adam it does not blow tiny gradients (along directions the data
    # barely constrains) up to full-size steps, so u stays where the trajectories put it.
    opt = torch.optim.LBFGS([v, g.theta], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-15)
    curve: list[float] = []
    bar = tqdm(total=steps, desc="encoding model", disable=not progress, leave=False)

    def closure():
        opt.zero_grad(set_to_none=True)
        u = v / v.norm()
        mse = (g(z @ u) - g(z0 @ u) - dt).pow(2).mean()
        mse.backward()
        curve.append(mse.item())
        bar.update(1)
        return mse

    opt.step(closure)
    bar.close()
    with torch.no_grad():
        u = v / v.norm()
        mse = (g(z @ u) - g(z0 @ u) - dt).pow(2).mean().item()
        return EncodingFit(u=u.float(), knots_x=g.knots_x.float(), knots_y=g.knots_y().float(), mse=mse,
                           r2=1 - mse / var.item(), linear_u=linear_u.float(), loss_curve=curve)


def heldout_r2(z0: Tensor, z: Tensor, dt: Tensor, *, seed: int = 0, **fit_kwargs) -> dict:
    """R^2 of the encoding model on trajectories it was not fitted on.

    Rows sharing a z0 are one trajectory and are strongly correlated, so the training R^2 of
    `fit_encoding_model` says little when the trajectories are few for the latent size: u
    can then fit every trajectory's own wiggles. Here the trajectories (distinct z0) are split
    in two halves at random; the model is fitted on one and scored on the other.

    Args:
        z0, z, dt: as `fit_encoding_model` (at least 4 distinct z0).
        seed: the split.
        fit_kwargs: passed to `fit_encoding_model`.

    Returns:
        ``{"train_r2", "heldout_r2", "cos_u"}``: R^2 on the fitted half, R^2 on the other half,
        and the cosine between the axes fitted on each half (1 when u is determined by the data).
    """
    groups = torch.unique(z0, dim=0, return_inverse=True)[1]
    k = int(groups.max()) + 1 if groups.numel() else 0
    if k < 4:
        raise ValueError(f"need at least 4 distinct trajectories (z0) to hold half out, got {k}")
    perm = torch.randperm(k, generator=torch.Generator().manual_seed(seed))
    first = torch.isin(groups, perm[: k // 2])
    a = fit_encoding_model(z0[first], z[first], dt[first], **fit_kwargs)
    b = fit_encoding_model(z0[~first], z[~first], dt[~first], **fit_kwargs)
    with torch.no_grad():
        t = dt[~first].double()
        pred = (a.f(z[~first].float()) - a.f(z0[~first].float())).double()
        r2 = 1 - (pred - t).pow(2).mean() / t.var(unbiased=False).clamp_min(1e-30)
    return {"train_r2": a.r2, "heldout_r2": float(r2), "cos_u": float(a.u @ b.u)}
