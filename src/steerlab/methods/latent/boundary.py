"""Supervised boundaries: InterFaceGAN (Shen, Gu, Tang, Zhou, CVPR 2020 / TPAMI 2020, Sec. 2-3).

Sample latents, render them, and read an attribute of every image with a steerlab measure
(``MEASURE:KEY``, e.g. ``box:x``, ``colour:luminance``, ``face_box:width``, or a plugin's measure).
The samples with the highest and lowest scores (``fraction`` of each end) are labelled 1 and 0 and
a linear SVM separates them; the unit normal n of its hyperplane, oriented toward higher scores,
is the direction: z + alpha n raises the attribute (Sec. 2.2).

Conditional manipulation (Sec. 2.3): to move attribute 1 without attribute 2, project the second
boundary's normal out of the first, n_1 - (n_1^T n_2) n_2, and renormalise.
"""
from __future__ import annotations

import torch
from torch import Tensor

from steerlab.attributes import get_measure
from steerlab.core import checks
from steerlab.methods.latent.common import latent_directions, parse_layers, per_sample, sample_latents
from steerlab.methods.registry import Learned
from steerlab.models.base import Generator

__all__ = ["parse_attribute", "score_latents", "boundary_normal", "condition_normal", "learn_boundary"]


def parse_attribute(spec: str) -> tuple[str, str]:
    """``"MEASURE:KEY"`` (or ``"MEASURE"`` for its first key) -> (measure, key), both checked.

    Raises:
        ValueError: an unknown measure (the allowed ones listed) or a key it does not return.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"attribute must be MEASURE:KEY (e.g. box:x), got {spec!r}")
    name, _, key = spec.strip().partition(":")
    m = get_measure(name)  # unknown: one line listing the measures
    keys = [k for k in m.keys if k != "found"]
    key = key or keys[0]
    if key not in keys:
        raise ValueError(f"measure '{name}' has no attribute '{key}'; allowed: {', '.join(keys)}")
    return name, key


@torch.no_grad()
def score_latents(G: Generator, latents: Tensor, space: str, classes: Tensor | None, attribute: str,
                  batch_size: int = 64) -> Tensor:
    """The attribute ``MEASURE:KEY`` of G(latent) for every latent: (N,) float64 on the CPU, NaN where unread.

    Under torchrun the batches are split across ranks and the scores gathered (`per_sample`)."""
    name, key = parse_attribute(attribute)
    m = get_measure(name)

    def score(b: slice) -> Tensor:
        images = G.synthesize(latents[b], space=space, classes=None if classes is None else classes[b])
        return m(images)[key]

    return per_sample(score, latents.shape[0], batch_size, torch.float64).reshape(-1)


def boundary_normal(X: Tensor, scores: Tensor, fraction: float = 0.25, C: float = 1.0,
                    seed: int = 0) -> tuple[Tensor, dict]:
    """The unit normal of a linear SVM between the top and bottom ``fraction`` of samples by score.

    Args:
        X: (N, d) latents (flattened).
        scores: (N,) attribute values; NaN samples are dropped.
        fraction: share of the scored samples in each class, in (0, 0.5].
        C: the SVM's regularisation.

    Returns:
        ``(normal (d,) unit, oriented toward higher scores, info)``; info has the samples used and
        the accuracy on a held-out fifth of them.
    """
    from sklearn.svm import LinearSVC

    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    ok = torch.isfinite(scores)
    X, s = X.reshape(X.shape[0], -1)[ok].double().cpu(), scores[ok].double().cpu()
    m = int(fraction * s.numel())
    if m < 4:
        raise ValueError(f"only {int(ok.sum())} of {scores.numel()} samples had the attribute; need at least "
                         f"{int(8 / fraction)} (raise n_samples or fraction)")
    order = torch.argsort(s)
    idx = torch.cat([order[:m], order[-m:]])
    y = torch.cat([torch.zeros(m), torch.ones(m)])
    perm = torch.randperm(2 * m, generator=torch.Generator().manual_seed(seed))
    idx, y = idx[perm], y[perm]
    n_val = max(2 * m // 5, 1)
    svm = LinearSVC(C=C, max_iter=20000)
    svm.fit(X[idx[n_val:]].numpy(), y[n_val:].numpy())
    acc = float((torch.from_numpy(svm.predict(X[idx[:n_val]].numpy())) == y[:n_val]).double().mean())
    normal = torch.from_numpy(svm.coef_[0]).double()
    normal = normal / normal.norm().clamp_min(1e-12)
    return normal.float(), {"samples_scored": int(ok.sum()), "samples_fitted": 2 * m - n_val,
                            "held_out_accuracy": acc, "score_low": float(s[order[m - 1]]),
                            "score_high": float(s[order[-m]])}


def condition_normal(primary: Tensor, condition: Tensor) -> Tensor:
    """n_1 - (n_1^T n_2) n_2, renormalised (Sec. 2.3); both (d,) unit vectors."""
    out = primary - (primary @ condition) * condition
    if float(out.norm()) < 1e-6:
        raise ValueError("the two attributes' boundaries are parallel: nothing is left after projecting out "
                         "the condition")
    return out / out.norm()


def learn_boundary(G: Generator, cfg) -> Learned:
    """`BoundaryConfig` -> one linear Direction: the boundary normal of ``cfg.attribute`` in ``cfg.space``."""
    parse_attribute(cfg.attribute)
    if cfg.condition is not None:
        parse_attribute(cfg.condition)
    layers = parse_layers(cfg.layers, G)
    if layers is not None and cfg.space != "w":
        raise ValueError(f"layers apply to a boundary found in w, not in '{cfg.space}'")
    if not 16 <= cfg.n_samples <= checks.MAX_COUNT:
        raise ValueError(f"n_samples must be in [16, {checks.MAX_COUNT}], got {cfg.n_samples}")
    _, latents, classes = sample_latents(G, cfg.n_samples, cfg.space, torch.Generator().manual_seed(cfg.seed))
    scores = score_latents(G, latents, cfg.space, classes, cfg.attribute)
    normal, info = boundary_normal(latents, scores, cfg.fraction, seed=cfg.seed)
    name = f"boundary {cfg.attribute}"
    if cfg.condition is not None:
        second = score_latents(G, latents, cfg.space, classes, cfg.condition)
        n2, info2 = boundary_normal(latents, second, cfg.fraction, seed=cfg.seed)
        info = {**info, "condition": info2, "cosine_with_condition": float(normal @ n2)}
        normal = condition_normal(normal, n2)
        name += f" | not {cfg.condition}"
    vector = normal.reshape(1, *latents.shape[1:])
    out = latent_directions(G, vector, space=cfg.space, method="boundary", limit=cfg.limit, latents=latents,
                            layers=layers, names=[name], metrics=[info])
    return Learned(out, info)
