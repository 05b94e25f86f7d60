"""Looking at and measuring weight directions (Cherepkov et al. Sec. 3.5, 4.3, 4.5, 4.6; Figs. 7, 11, 14).

- ``shift_grid``: the inspection grid of Sec. 3.5, G_{theta + t xi}(z) for several z (rows) over
  t in [-T, T] (columns).
- ``perceptual_change`` / ``calibrate_shift``: mean ST-LPIPS between G_theta(z) and
  G_{theta + t xi}(z), and the shift t at which it reaches a target (to compare methods at
  matched perceptual change, as the paper calibrates its Fig. 7 "manually").
- ``fid_vs_shift``: realism vs shift magnitude. There is no real face data set here, so the
  reference set is the *unshifted* generator on other z: the FID at t = 0 is the finite-sample
  floor, and the curve measures how far the shifted generator moves away from the original
  distribution. Features: a named network of ``steerlab.metrics.fid`` ("stlpips-vgg" by default,
  not Inception; numbers are comparable only with each other).
- ``locality_heatmap``: mean per-pixel squared change (Sec. 4.6), with a concentration score.
- ``latent_mimic``: Sec. 4.3, Eq. 5 -- optimise one latent shift h (shared by all z) in a latent
  space, or in the activations entering the shifted layer, so that G(z + h) matches
  G_{theta + t xi}(z); the residual is reported beside a control whose target is itself a
  latent shift of the same initial size (which a latent shift can, by construction, reproduce).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from steerlab.metrics.fid import _feature_network
from steerlab.metrics.perceptual import perceptual_distance
from steerlab.models.base import Generator
from steerlab.report.plots import grid_image
from steerlab.methods.paramspace.shifts import layer_weight, render_shifted, render_shifts

__all__ = ["shift_grid", "perceptual_change", "calibrate_shift", "features_of", "frechet_distance",
           "fid_vs_shift", "locality_heatmap", "latent_mimic", "ACTIVATION_SPACE"]

ACTIVATION_SPACE = "activations"  # the input of the shifted layer's module


def _z(G: Generator, n: int, seed: int) -> tuple[Tensor, Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    return G.sample_z(n, generator=g), G.sample_classes(n, generator=g)


@torch.no_grad()
def shift_grid(G: Generator, layer: str, xi: Tensor, limit: float, *, n_z: int = 3, n_shifts: int = 7,
               seed: int = 0, scale: int = 2):
    """Sec. 3.5 inspection grid: rows = ``n_z`` samples, columns = t in linspace(-T, T).

    Returns:
        a PIL image (the centre column, t = 0 for odd ``n_shifts``, is the original).
    """
    z, classes = _z(G, n_z, seed)
    ts = torch.linspace(-limit, limit, n_shifts)
    imgs = render_shifts(G, z, layer, ts.view(-1, *[1] * xi.dim()).to(xi) * xi, classes=classes)  # (S, N, ...)
    labels = ["0" if abs(t) < 1e-6 * limit else f"{t:+.3g}" for t in ts.tolist()]
    return grid_image(list(imgs.transpose(0, 1)), col_labels=labels, scale=scale)


@torch.no_grad()
def perceptual_change(G: Generator, layer: str, xi: Tensor, ts, *, z: Tensor,
                      classes: Tensor | None = None, net: str = "alex") -> list[float]:
    """Mean ST-LPIPS(G_theta(z), G_{theta + t xi}(z)) over ``z`` for each t in ``ts``."""
    x0 = G.synthesize(z, classes=classes)
    out = []
    for t in ts:
        x1 = render_shifted(G, z, layer, float(t) * xi.to(x0), classes=classes)
        out.append(float(perceptual_distance(x0, x1, net=net).mean()))
    return out


@torch.no_grad()
def calibrate_shift(G: Generator, layer: str, xi: Tensor, target: float, *, z: Tensor,
                    classes: Tensor | None = None, start: float = 1.0, iters: int = 8,
                    max_shift: float | None = None) -> float:
    """The t > 0 at which the perceptual change, averaged over +t and -t, equals ``target``.

    Doubling from ``start`` brackets it, then ``iters`` bisection steps. If even ``max_shift``
    (default: 10x the layer's Frobenius norm) changes less, ``max_shift`` is returned.
    """
    if not 0 < target < 1:
        raise ValueError(f"target perceptual change must be in (0, 1), got {target}")
    max_shift = max_shift or 10 * float(layer_weight(G, layer).norm())

    def c(t: float) -> float:
        return sum(perceptual_change(G, layer, xi, [t, -t], z=z, classes=classes)) / 2

    lo, hi = 0.0, min(start, max_shift)
    while c(hi) < target:
        if hi >= max_shift:
            return max_shift
        lo, hi = hi, min(2 * hi, max_shift)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if c(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


@torch.no_grad()
def features_of(images_fn, n: int, batch_size: int, net) -> Tensor:
    """Features (n, D) of images produced batch by batch by ``images_fn(start, stop)``."""
    return torch.cat([net(images_fn(i, min(i + batch_size, n))).double().cpu()
                      for i in range(0, n, batch_size)])


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """FID formula ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}) on feature sets (N, D).

    Tr (S_a S_b)^{1/2} is computed exactly as the nuclear norm of X_a X_b^T / sqrt((n_a-1)(n_b-1))
    (X the centred features): the nonzero eigenvalues of S_a S_b are the squared singular values
    of that n_a x n_b matrix. So it stays exact when N < D, where the D x D covariances are
    singular and a matrix square root is ill-conditioned.
    """
    a, b = a.double(), b.double()
    xa, xb = a - a.mean(0), b - b.mean(0)
    na, nb = a.shape[0], b.shape[0]
    cross = torch.linalg.svdvals(xa @ xb.T).sum() / math.sqrt((na - 1) * (nb - 1))
    value = ((a.mean(0) - b.mean(0)).pow(2).sum() + xa.pow(2).sum() / (na - 1)
             + xb.pow(2).sum() / (nb - 1) - 2 * cross)
    return float(value)


@torch.no_grad()
def fid_vs_shift(G: Generator, layer: str, xi: Tensor, ts, *, n: int = 256, seed: int = 0,
                 features: str = "stlpips-vgg", batch_size: int = 32,
                 reference: Tensor | None = None) -> dict:
    """FID between the unshifted generator (reference) and G_{theta + t xi} for each t.

    Args:
        ts: shift magnitudes.
        n: images per set (reference z and shifted z are disjoint draws).
        features: a feature network of ``steerlab.metrics.fid`` (named in the result).
        reference: precomputed reference features (from ``features_of``), to reuse across calls.

    Returns:
        ``{"t": [...], "fid": [...], "feature_network": features, "n": n, "reference": Tensor}``.
    """
    net = _feature_network(features, G.device)
    if reference is None:
        zr, cr = _z(G, n, seed + 7)
        reference = features_of(lambda i, j: G.synthesize(zr[i:j], classes=None if cr is None else cr[i:j]),
                                n, batch_size, net)
    zs, cs = _z(G, n, seed + 11)
    fids = []
    for t in ts:
        shift = float(t) * xi.to(zs)
        feats = features_of(lambda i, j: render_shifted(G, zs[i:j], layer, shift,
                                                        classes=None if cs is None else cs[i:j]),
                            n, batch_size, net)
        fids.append(frechet_distance(reference, feats))
    return {"t": [float(t) for t in ts], "fid": fids, "feature_network": features, "n": n,
            "reference": reference}


@torch.no_grad()
def locality_heatmap(G: Generator, layer: str, xi: Tensor, ts, *, n: int = 64, seed: int = 0,
                     batch_size: int = 32) -> tuple[Tensor, float]:
    """Sec. 4.6: mean over z and t of the per-pixel squared change sum_c (G_{theta+t xi} - G_theta)^2.

    Returns:
        ``(heatmap (H, W), concentration)``; concentration is the share of the total change in
        the 10% of pixels that change most (0.1 for a uniform change, 1 for a tiny region).
    """
    z, classes = _z(G, n, seed)
    total = None
    for i in range(0, n, batch_size):
        zb = z[i:i + batch_size]
        cb = None if classes is None else classes[i:i + batch_size]
        x0 = G.synthesize(zb, classes=cb)
        for t in ts:
            d = (render_shifted(G, zb, layer, float(t) * xi.to(zb), classes=cb) - x0).pow(2).sum(1).sum(0)
            total = d if total is None else total + d
    heat = total / (n * len(ts))
    flat = heat.flatten().sort(descending=True).values
    top = max(1, int(math.ceil(0.1 * flat.numel())))
    return heat.cpu(), float(flat[:top].sum() / flat.sum().clamp_min(1e-20))


def _activation_module(G: Generator, layer: str):
    name = layer.rsplit(".", 1)[0] if "." in layer else ""
    try:
        return G.get_submodule(name)
    except AttributeError:
        raise ValueError(f"cannot find the module that owns '{layer}'") from None


def _render_with_h(G: Generator, latent: Tensor, h: Tensor, space: str, layer: str,
                   classes: Tensor | None) -> Tensor:
    """G with h added to the latent (a latent space) or to the input of ``layer``'s module."""
    if space != ACTIVATION_SPACE:
        return G.synthesize(latent + h, space=space, classes=classes)
    handle = _activation_module(G, layer).register_forward_pre_hook(
        lambda mod, args: (args[0] + h, *args[1:]))
    try:
        return G.synthesize(latent, space="z", classes=classes)
    finally:
        handle.remove()


def _activation_shape(G: Generator, layer: str, z: Tensor, classes) -> tuple[int, ...]:
    seen = {}
    def record(mod, args):
        seen["shape"] = tuple(args[0].shape[1:])  # returns None: the input is left as it is
    handle = _activation_module(G, layer).register_forward_pre_hook(record)
    try:
        with torch.no_grad():
            G.synthesize(z[:1], classes=None if classes is None else classes[:1])
    finally:
        handle.remove()
    return seen["shape"]


def _fit_h(G, space, layer, lat, target, classes, shape, steps, lr) -> Tensor:
    h = torch.zeros(shape, device=lat.device, requires_grad=True)
    opt = torch.optim.Adam([h], lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        (_render_with_h(G, lat, h, space, layer, classes) - target).pow(2).mean().backward()
        opt.step()
    return h.detach()


def latent_mimic(G: Generator, layer: str, xi: Tensor, t: float, *, space: str = "z", n: int = 16,
                 n_eval: int = 32, steps: int = 200, lr: float = 0.05, seed: int = 0) -> dict:
    """Sec. 4.3 (Eq. 5): can one latent shift h reproduce the weight shift t xi?

    min_h mean_z ||G(z + h) - G_{theta + t xi}(z)||^2 by Adam on ``n`` codes, judged on
    ``n_eval`` held-out codes. ``space`` is a latent space of ``G`` or ``ACTIVATION_SPACE`` (h is
    added to the input of the shifted layer's module, one (C, H, W) tensor for all z). The
    control: a target that *is* a latent shift, G(z + h*) with h* a random direction scaled so
    its do-nothing error matches the weight shift's, fitted the same way.

    Returns:
        ``{"space", "t", "do_nothing", "residual", "ratio", "control_do_nothing",
        "control_residual", "control_ratio"}``: mean squared pixel errors on held-out codes;
        ``ratio`` = residual / do_nothing (1: h helps nothing, 0: perfect mimicry).
    """
    if space != ACTIVATION_SPACE:
        G.check_space(space)
    zt, ct = _z(G, n, seed + 101)
    ze, ce = _z(G, n_eval, seed + 202)
    lat_space = "z" if space == ACTIVATION_SPACE else space
    with torch.no_grad():
        lt, le = G.to_space(zt, lat_space, ct), G.to_space(ze, lat_space, ce)
        shift = float(t) * xi.to(zt)
        target_t = render_shifted(G, lt, layer, shift, space=lat_space, classes=ct)
        target_e = render_shifted(G, le, layer, shift, space=lat_space, classes=ce)
    shape = _activation_shape(G, layer, zt, ct) if space == ACTIVATION_SPACE else tuple(lt.shape[1:])

    def err(lat, h, target, classes) -> float:
        with torch.no_grad():
            return float((_render_with_h(G, lat, h, space, layer, classes) - target).pow(2).mean())

    zero = torch.zeros(shape, device=zt.device)
    h = _fit_h(G, space, layer, lt, target_t, ct, shape, steps, lr)
    base, resid = err(le, zero, target_e, ce), err(le, h, target_e, ce)

    # Control: a latent-shift target with the same do-nothing error (bisection on its length).
    g = torch.Generator().manual_seed(seed + 303)
    u = torch.randn(shape, generator=g).to(zt)
    u = u / u.norm()

    plain_t = _render_with_h(G, lt, zero, space, layer, ct).detach()

    def ctrl_base(s: float) -> float:
        return err(lt, s * u, plain_t, ct)
    lo, hi = 0.0, 1.0
    while ctrl_base(hi) < base and hi < 1e4:
        lo, hi = hi, hi * 2
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ctrl_base(mid) < base else (lo, mid)
    h_star = 0.5 * (lo + hi) * u
    with torch.no_grad():
        ctarget_t = _render_with_h(G, lt, h_star, space, layer, ct)
        ctarget_e = _render_with_h(G, le, h_star, space, layer, ce)
    hc = _fit_h(G, space, layer, lt, ctarget_t, ct, shape, steps, lr)
    cbase, cres = err(le, zero, ctarget_e, ce), err(le, hc, ctarget_e, ce)
    return {"space": space, "t": float(t), "do_nothing": base, "residual": resid,
            "ratio": resid / max(base, 1e-20), "control_do_nothing": cbase, "control_residual": cres,
            "control_ratio": cres / max(cbase, 1e-20), "steps": steps, "n": n, "n_eval": n_eval}
