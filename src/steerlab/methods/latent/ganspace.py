"""GANSpace: principal components of early activations as latent directions (Härkönen et al., NeurIPS 2020, Sec. 2).

StyleGAN (Sec. 2.2): sample z, map to w = M(z), and take the PCA of w; a component v_i moves w as
w' = w + x v_i, applied to a range of layers (the w+ rows of a layer range, `Direction.on_layers`).

Models without w (BigGAN, DCGANs; Sec. 2.3): take the PCA of an early feature layer y = G_1(z)
(basis V, mean mu), then transfer the components to z by linear regression: with the PCA
coordinates x_j = V^T (y_j - mu) of N sampled z_j, U = argmin_U sum_j ||U x_j - z_j||^2; the
columns u_i of U are the latent directions.
"""
from __future__ import annotations

import torch
from torch import Tensor

from steerlab.methods.latent.common import check_k, fix_signs, latent_directions, parse_layers, per_sample, sample_latents
from steerlab.methods.registry import Learned
from steerlab.models.base import Generator

__all__ = ["pca", "regress_to_latent", "learn_ganspace"]


def pca(X: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """The top-``k`` principal components of rows X (N, F).

    Returns:
        ``(components (k, F) unit rows with a deterministic sign, stddev (k,) descending, mean (F,))``.
    """
    check_k(k, min(X.shape), f"{X.shape[0]} samples of {X.shape[1]} features")
    X = X.double()
    mean = X.mean(0)
    Xc = X - mean
    if X.shape[1] <= X.shape[0]:  # more samples than features: the covariance's eigenvectors (cheaper than the SVD)
        vals, vecs = torch.linalg.eigh(Xc.T @ Xc)                  # ascending
        top = torch.argsort(vals, descending=True)[:k]
        s, vh = vals[top].clamp_min(0).sqrt(), vecs[:, top].T
    else:
        _, s, vh = torch.linalg.svd(Xc, full_matrices=False)       # rows of vh: components, s descending
    return fix_signs(vh[:k]), s[:k] / max(X.shape[0] - 1, 1) ** 0.5, mean


def regress_to_latent(z: Tensor, coords: Tensor) -> Tensor:
    """Least-squares U with z ~ U x (Sec. 2.3): z (N, d), PCA coordinates x (N, k) -> (k, d), row i = u_i."""
    return torch.linalg.lstsq(coords.double(), z.double()).solution                 # (k, d)


def learn_ganspace(G: Generator, cfg) -> Learned:
    """`GANSpaceConfig` -> k linear Directions: in w for StyleGAN models, else in z by regression."""
    layers = parse_layers(cfg.layers, G)
    g = torch.Generator().manual_seed(cfg.seed)
    if "w" in G.latent_spaces:
        if cfg.feature_layer is not None:
            raise ValueError(f"model '{G.name}' has a w space: GANSpace takes the PCA of w, not of a feature layer")
        z, w, _ = sample_latents(G, cfg.n_samples, "w", g)
        comps, std, _ = pca(w, cfg.k)
        space, vectors, latents, how = "w", comps, w, "PCA of w"
    else:
        z, _, classes = sample_latents(G, cfg.n_samples, "z", g)
        y = per_sample(lambda b: G.first_layer_output(z[b], classes=None if classes is None else classes[b],
                                                      module=cfg.feature_layer), z.shape[0], 256)   # (N, F)
        comps, std, mean = pca(y, cfg.k)
        vectors = regress_to_latent(z.cpu(), (y.double() - mean) @ comps.T)
        space, latents, how = "z", z, f"PCA of {cfg.feature_layer or 'the first layer'}, regressed to z"
    out = latent_directions(G, vectors.float(), space=space, method="ganspace", limit=cfg.limit, latents=latents,
                            layers=layers, metrics=[{"component_std": float(s)} for s in std], config={"pca": how})
    return Learned(out, {"component_std": std.tolist(), "pca": how, "space": space})
