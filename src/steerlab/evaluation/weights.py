"""Looking at and measuring weight directions (Cherepkov et al. Sec. 3.5, 4.3, 4.5, 4.6; Figs. 7, 11, 14).

- ``shift_grid``: the inspection grid of Sec. 3.5, G_{theta + t xi}(z) for several z (rows) over
  t in [-T, T] (columns).
- ``perceptual_change`` / ``calibrate_shift``: mean ST-LPIPS between G_theta(z) and
  G_{theta + t xi}(z), and the shift t at which it reaches a target (to compare methods at
  matched perceptual change, as the paper calibrates its Fig. 7 "manually"); they size the
  methods' shift ranges, so they live in `steerlab.methods.paramspace.calibrate`.
- ``fid_vs_shift``: realism vs shift magnitude. The reference set is the model's training data
  when steerlab knows it (model card ``"dataset"``: shapes, digits, dSprites), as in the paper;
  only for a model without one (e.g. the faces DCGAN: no real face data set here) is it the
  *unshifted* generator on other z, where the FID at t = 0 is the finite-sample floor and the
  curve measures how far the shifted generator moves away from the original distribution. The
  result names its reference and sample count. Features: a named network of ``steerlab.metrics.fid`` ("stlpips-vgg" by default,
  not Inception; numbers are comparable only with each other); the distance is that module's
  `frechet_distance` (re-exported here with `features_of`).
- ``locality_heatmap``: mean per-pixel squared change (Sec. 4.6), with a concentration score.
- ``latent_mimic``: Sec. 4.3, Eq. 5 -- optimise one latent shift h (shared by all z) in a latent
  space, or in the activations entering the shifted layer, so that G(z + h) matches
  G_{theta + t xi}(z); the residual is reported beside a control whose target is itself a
  latent shift of the same initial size (which a latent shift can, by construction, reproduce).
"""
from __future__ import annotations

import torch
from torch import Tensor

from steerlab.core import seeds
from steerlab.directions.ops import ShiftRenderer
from steerlab.evaluation.weight_effects import concentration
from steerlab.methods.paramspace.calibrate import calibrate_shift, perceptual_change  # re-exported
from steerlab.methods.paramspace.shifts import render_shifted, render_shifts
from steerlab.metrics.fid import feature_network, features_of, frechet_distance
from steerlab.models.base import Generator

__all__ = ["sample_codes", "shift_grid", "perceptual_change", "calibrate_shift", "features_of",
           "frechet_distance", "fid_reference", "fid_vs_shift", "locality_heatmap", "shift_renderers",
           "unshifted_images", "latent_mimic", "ACTIVATION_SPACE"]

ACTIVATION_SPACE = "activations"  # the input of the shifted layer's module


def sample_codes(G: Generator, n: int, seed: int) -> tuple[Tensor, Tensor | None]:
    """``n`` codes z (n, z_dim) and classes (n,) or None of ``G``, drawn from ``seed`` alone."""
    g = torch.Generator().manual_seed(seed)
    return G.sample_z(n, generator=g), G.sample_classes(n, generator=g)


@torch.no_grad()
def shift_grid(G: Generator, layer: str, xi: Tensor, limit: float, *, n_z: int = 3, n_shifts: int = 7,
               seed: int = 0) -> tuple[list[Tensor], list[str]]:
    """Sec. 3.5 inspection grid: rows = ``n_z`` samples, columns = t in linspace(-T, T).

    Returns:
        ``(rows, labels)``: ``n_z`` tensors (n_shifts, C, H, W) in [0, 1] (the centre column, t = 0
        for odd ``n_shifts``, is the original) and one label per column, for
        `steerlab.report.plots.grid_image(rows, col_labels=labels)`.
    """
    z, classes = sample_codes(G, n_z, seed)
    ts = torch.linspace(-limit, limit, n_shifts)
    imgs = render_shifts(G, z, layer, ts.view(-1, *[1] * xi.dim()).to(xi) * xi, classes=classes)  # (S, N, ...)
    return list(imgs.transpose(0, 1)), shift_labels(ts, limit)


def shift_labels(ts: Tensor, limit: float) -> list[str]:
    """Column labels of a shift grid: each t to 3 digits, "0" for the unshifted column."""
    return ["0" if abs(t) < 1e-6 * limit else f"{t:+.3g}" for t in ts.tolist()]


@torch.no_grad()
def fid_reference(G: Generator, n: int, seed: int, net, batch_size: int = 32) -> tuple[Tensor, str]:
    """Features of the images FID compares with: ``n`` images of the model's dataset (card
    ``"dataset"``, a draw the model was not trained on) if steerlab knows it, else ``n`` samples of
    the unshifted generator on z disjoint from the shifted ones. Returns ``(features (n, F), name)``."""
    from steerlab.data.registry import DATASETS, get_dataset

    card = getattr(G, "card", None) or {}
    if card.get("dataset") in DATASETS:
        images, _, _ = get_dataset(card["dataset"], n, card.get("resolution_data", G.resolution),
                                   seed + seeds.WEIGHT_FID_REFERENCE)
        feats = features_of(lambda i, j: images[i:j].to(G.device), n, batch_size, net)
        return feats, f"{n} images of the dataset '{card['dataset']}'"
    zr, cr = sample_codes(G, n, seed + seeds.WEIGHT_FID_REFERENCE)
    feats = features_of(lambda i, j: G.synthesize(zr[i:j], classes=None if cr is None else cr[i:j]),
                        n, batch_size, net)
    return feats, f"{n} samples of the unshifted generator G(z) (no dataset known for this model)"


@torch.no_grad()
def fid_vs_shift(G: Generator, layer: str, xi: Tensor, ts, *, n: int = 256, seed: int = 0,
                 features: str = "stlpips-vgg", batch_size: int = 32,
                 reference: Tensor | None = None, reference_name: str | None = None) -> dict:
    """FID between the reference set (`fid_reference`: the data, else G(z)) and G_{theta + t xi}.

    Args:
        ts: shift magnitudes.
        n: images per set (reference z and shifted z are disjoint draws).
        features: a feature network of ``steerlab.metrics.fid`` (named in the result).
        reference, reference_name: precomputed reference features and their name (from an
            earlier result), to reuse across calls.

    Returns:
        ``{"t": [...], "fid": [...], "feature_network": features, "n": n, "reference": Tensor,
        "reference_name": str}``.
    """
    net = feature_network(features, G.device)
    if reference is None:
        reference, reference_name = fid_reference(G, n, seed, net, batch_size)
    zs, cs = sample_codes(G, n, seed + seeds.WEIGHT_FID_SHIFTED)
    fids = []
    for t in ts:
        shift = float(t) * xi.to(zs)
        feats = features_of(lambda i, j: render_shifted(G, zs[i:j], layer, shift,
                                                        classes=None if cs is None else cs[i:j]),
                            n, batch_size, net)
        fids.append(frechet_distance(reference, feats))
    return {"t": [float(t) for t in ts], "fid": fids, "feature_network": features, "n": n,
            "reference": reference, "reference_name": reference_name or "given features"}


@torch.no_grad()
def unshifted_images(G: Generator, n: int, seed: int, batch_size: int = 32) -> Tensor:
    """G_theta on ``sample_codes(G, n, seed)``: (n, C, H, W) in [0, 1], rendered in ``batch_size`` chunks."""
    z, classes = sample_codes(G, n, seed)
    return torch.cat([G.synthesize(z[i:i + batch_size], classes=None if classes is None else classes[i:i + batch_size])
                      for i in range(0, n, batch_size)])


def shift_renderers(G: Generator, layer: str, n: int, seed: int, batch_size: int = 32) -> list[ShiftRenderer]:
    """`ShiftRenderer`s of ``layer`` on ``sample_codes(G, n, seed)``, one per chunk of ``batch_size``.

    The unshifted side of `locality_heatmap` (their ``base`` images are G_theta): make them once
    per run and layer and pass them as ``renderers`` for every direction.
    """
    z, classes = sample_codes(G, n, seed)
    return [ShiftRenderer(G, layer, z[i:i + batch_size], classes=None if classes is None else classes[i:i + batch_size])
            for i in range(0, n, batch_size)]


@torch.no_grad()
def locality_heatmap(G: Generator, layer: str, xi: Tensor, ts, *, n: int = 64, seed: int = 0,
                     batch_size: int = 32, renderers: list[ShiftRenderer] | None = None) -> tuple[Tensor, float]:
    """Sec. 4.6: mean over z and t of the per-pixel squared change sum_c (G_{theta+t xi} - G_theta)^2.

    Args:
        renderers: ``shift_renderers(G, layer, n, seed, batch_size)`` made earlier (default: made here).

    Returns:
        ``(heatmap (H, W), concentration)``; concentration is the share of the total change in
        the 10% of pixels that change most (0.1 for a uniform change, 1 for a tiny region).
    """
    renderers = shift_renderers(G, layer, n, seed, batch_size) if renderers is None else renderers
    if sum(r.base.shape[0] for r in renderers) != n or any(r.layer != layer for r in renderers):
        raise ValueError(f"locality renderers were made for another layer or number of codes (want {layer}, n={n})")
    total = None
    for r in renderers:
        for t in ts:
            d = (r(xi, t) - r.base).pow(2).sum(1).sum(0)
            total = d if total is None else total + d
    heat = total / (n * len(ts))
    return heat.cpu(), concentration(heat)


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
    zt, ct = sample_codes(G, n, seed + seeds.MIMIC_FIT)
    ze, ce = sample_codes(G, n_eval, seed + seeds.MIMIC_EVAL)
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
    g = seeds.generator(seed, seeds.MIMIC_CONTROL)
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
