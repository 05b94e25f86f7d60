"""FID and KID between two image sets, with a feature network steerlab can load offline.

Inception weights cannot be fetched here, so the feature network is chosen by name from a small
registry (``FEATURE_NETWORKS``) and its name is returned with the scores, so every report can say
which features the numbers were computed on. Scores from different feature networks are not
comparable with each other, nor with published Inception FIDs.

This is steerlab's one FID: `frechet_distance` on two feature sets is used by `fid_kid` (image
sets), by the weight-shift analyses (`steerlab.evaluation.weights.fid_vs_shift`) and by every
report. KID is torchmetrics' unbiased estimate on the same features.

Register another network (e.g. a classifier trained on a procedural dataset) with
``register_feature_network(name, factory)``: ``factory(device)`` must return an ``nn.Module``
mapping float images (N, C, H, W) in [0, 1] to features (N, D), with an ``int`` attribute
``num_features = D`` (torchmetrics' custom-feature contract).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable

import torch
from torch import Tensor, nn

from steerlab.core.registry import Registry
from steerlab.metrics.perceptual import vgg_feature_extractor

__all__ = ["FEATURE_NETWORKS", "register_feature_network", "feature_network", "frechet_distance", "features_of",
           "image_features", "fid_kid", "fid_kid_features", "PrecomputedFeatures"]

FeatureFactory = Callable[[torch.device], nn.Module]


def _digits_cnn(device: torch.device) -> nn.Module:
    from steerlab.metrics.digit_features import digit_feature_extractor  # trains on first use (seconds), then cached
    return digit_feature_extractor(device)


FEATURE_NETWORKS: Registry[FeatureFactory] = Registry("feature network", callable_=True)
# ST-LPIPS VGG16 trunk, global-average-pooled relu4_3 + relu5_3 (1024-d).
FEATURE_NETWORKS.register("stlpips-vgg", vgg_feature_extractor)
# A small CNN trained on scikit-learn's real digits (metrics/digit_features.py, 256-d).
FEATURE_NETWORKS.register("digits-cnn", _digits_cnn)


def register_feature_network(name: str, factory: FeatureFactory, *, overwrite: bool = False) -> FeatureFactory:
    """Add a feature network for :func:`fid_kid` under ``name``.

    Args:
        name: the name reports will show, e.g. ``"shapes-classifier"``.
        factory: ``factory(device) -> nn.Module``; the module maps (N, C, H, W) float images in
            [0, 1] to (N, D) features and has ``num_features = D``.
        overwrite: allow replacing an existing entry.

    Raises:
        ValueError: ``name`` is empty or already registered (without ``overwrite``).
        TypeError: ``factory`` is not callable.
    """
    return FEATURE_NETWORKS.register(name, factory, overwrite=overwrite)


def feature_network(features: str = "stlpips-vgg", device: torch.device | str = "cpu") -> nn.Module:
    """The registered feature network ``features`` on ``device`` (eval mode, ``num_features``).

    Raises:
        ValueError: unknown name (the message lists the allowed ones).
        TypeError: the factory's module has no int ``num_features``.
    """
    device = torch.device(device)
    module = FEATURE_NETWORKS.get(features)(device).to(device).eval()
    if not isinstance(getattr(module, "num_features", None), int):
        raise TypeError(f"feature network {features!r} must have an int attribute `num_features`")
    return module


# --------------------------------------------------------------------------- the distance
def frechet_distance(a: Tensor, b: Tensor) -> float:
    """FID formula ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}) on feature sets (N_a, D), (N_b, D).

    Tr (S_a S_b)^{1/2} is computed exactly as the nuclear norm of X_a X_b^T / sqrt((n_a-1)(n_b-1))
    (X the centred features): the nonzero eigenvalues of S_a S_b are the squared singular values
    of that n_a x n_b matrix. So it stays exact when N < D, where the D x D covariances are
    singular and a matrix square root is ill-conditioned. A set with more rows than features is
    first replaced by the R factor of its QR decomposition (X = Q R, Q with orthonormal columns,
    so X X_b^T = Q (R X_b^T) has the same singular values): the SVD is then at most D x D.

    Computed in float64 on the tensors' device. Returns a float >= 0 up to rounding (about 1e-12
    relative for a set against itself).

    Raises:
        ValueError: not two 2-D sets of the same width with at least 2 rows each.
    """
    for f, which in ((a, "first"), (b, "second")):
        if not isinstance(f, Tensor) or f.ndim != 2 or f.shape[0] < 2:
            shape = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
            raise ValueError(f"{which} feature set must be (N >= 2, D), got {shape}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets differ in width: {a.shape[1]} vs {b.shape[1]}")
    a, b = a.double(), b.double()
    xa, xb = a - a.mean(0), b - b.mean(0)
    na, nb = a.shape[0], b.shape[0]
    ra = torch.linalg.qr(xa, mode="r").R if na > a.shape[1] else xa  # same singular values of ra @ rb.T
    rb = torch.linalg.qr(xb, mode="r").R if nb > b.shape[1] else xb
    cross = torch.linalg.svdvals(ra @ rb.T).sum() / math.sqrt((na - 1) * (nb - 1))
    value = ((a.mean(0) - b.mean(0)).pow(2).sum() + xa.pow(2).sum() / (na - 1)
             + xb.pow(2).sum() / (nb - 1) - 2 * cross)
    return float(value)


# --------------------------------------------------------------------------- features
@torch.no_grad()
def features_of(images_fn: Callable[[int, int], Tensor], n: int, batch_size: int, net: nn.Module) -> Tensor:
    """Features (n, D) float64 on the CPU of images made batch by batch by ``images_fn(start, stop)``.

    For image sets too large to hold at once (e.g. rendered by a shifted generator); images are
    float (B, C, H, W) in [0, 1] on the network's device.
    """
    return torch.cat([net(images_fn(i, min(i + batch_size, n))).double().cpu()
                      for i in range(0, n, batch_size)])


class PrecomputedFeatures(nn.Module):
    """Identity feature module: hands torchmetrics features computed by steerlab's network."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, feats: Tensor) -> Tensor:
        return feats


def _check_images(images: Tensor, which: str) -> None:
    if not isinstance(images, Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"{which} images must be a tensor (N, C, H, W), got {shape}")
    if images.shape[0] < 2:
        raise ValueError(f"{which} images: FID/KID need at least 2 images, got {images.shape[0]}")


@torch.no_grad()
def fid_kid(real: Tensor, fake: Tensor, *, features: str = "stlpips-vgg", batch_size: int = 64,
            device: torch.device | str = "cpu", kid_subset_size: int | None = None,
            kid_subsets: int = 100, seed: int = 0) -> dict:
    """Fréchet and kernel distances between two image sets in a named feature space.

    Args:
        real: reference images :math:`(N_r, C, H, W)`, float in [0, 1], C in {1, 3}.
        fake: images to score :math:`(N_f, C, H, W)`, same value range.
        features: a key of ``FEATURE_NETWORKS`` (default ``"stlpips-vgg"``).
        batch_size: images per forward pass of the feature network.
        device: where the feature network runs; the sets may stay on the CPU.
        kid_subset_size: images per KID subset; ``None`` means 1000. Always clipped to
            ``min(N_r, N_f)``.
        kid_subsets: number of random KID subsets.
        seed: seeds KID's subset sampling (the global RNG state is left unchanged), so results
            are deterministic.

    Returns:
        ``{"fid": float, "kid_mean": float, "kid_std": float, "feature_network": str,
        "kid_subset_size": int, "n_real": int, "n_fake": int}``. FID is >= 0 up to numerical
        error and ~0 for a set against itself. KID is the unbiased MMD estimate: it can be
        slightly negative, e.g. for a set against itself (about -2 * mean(k(x,x) - k(x,x')) / n).

    Example:
        >>> x = torch.rand(8, 3, 32, 32)
        >>> fid_kid(x, x.flip(0))["feature_network"]
        'stlpips-vgg'
    """
    _check_images(real, "real")
    _check_images(fake, "fake")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    net = feature_network(features, device)
    # The network runs once per image; both metrics then read the features.
    return fid_kid_features(image_features(net, real, batch_size, device),
                            image_features(net, fake, batch_size, device),
                            features=features, batch_size=batch_size, device=device,
                            kid_subset_size=kid_subset_size, kid_subsets=kid_subsets, seed=seed)


@torch.no_grad()
def image_features(net: nn.Module, images: Tensor, batch_size: int = 64,
                   device: torch.device | str | None = None) -> Tensor:
    """Features (N, D) float32 of images (N, C, H, W) in [0, 1], ``batch_size`` images per pass.

    Data-parallel evaluation computes each rank's share with this and gathers the rows
    (`steerlab.core.distributed.gather`); ``N = 0`` gives an empty (0, D) tensor.
    """
    device = next(net.parameters(), torch.empty(0)).device if device is None else torch.device(device)
    if images.shape[0] == 0:
        return torch.zeros(0, net.num_features, device=device)
    return torch.cat([net(images[i:i + batch_size].to(device, torch.float32)).float()
                      for i in range(0, images.shape[0], batch_size)])  # (N, D)


@torch.no_grad()
def fid_kid_features(real: Tensor, fake: Tensor, *, features: str, batch_size: int = 64,
                     device: torch.device | str = "cpu", kid_subset_size: int | None = None,
                     kid_subsets: int = 100, seed: int = 0) -> dict:
    """`fid_kid` from precomputed features (N_r, D) and (N_f, D) of network ``features``.

    FID is `frechet_distance`; KID's features are fed ``batch_size`` rows at a time, as `fid_kid`
    does, so the two give the same numbers. Returns the same dict as `fid_kid`.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    for f, which in ((real, "real"), (fake, "fake")):
        if f.ndim != 2 or f.shape[0] < 2:
            raise ValueError(f"{which} features must be (N >= 2, D), got {tuple(f.shape)}")
    device = torch.device(device)
    subset = min(1000 if kid_subset_size is None else int(kid_subset_size), real.shape[0], fake.shape[0])
    if subset < 1:
        raise ValueError(f"kid_subset_size must be >= 1, got {kid_subset_size}")
    # KID reads the features through an identity "feature module" (torchmetrics'
    # custom-feature contract: forward -> (N, D), num_features = D).
    # sync_on_compute=False: under torch.distributed torchmetrics would otherwise sum its states
    # over ranks, but the features given here are already complete (gathered) on every rank.
    identity = PrecomputedFeatures(real.shape[1])
    with warnings.catch_warnings():  # "KID will save all extracted features in buffer" - expected
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=identity, subsets=kid_subsets, subset_size=subset,
                                      sync_on_compute=False).to(device)
    for feats_all, is_real in ((real, True), (fake, False)):
        for start in range(0, feats_all.shape[0], batch_size):
            kid.update(feats_all[start:start + batch_size].to(device), real=is_real)  # (B, D)

    fid_value = frechet_distance(real.to(device), fake.to(device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fid": fid_value, "kid_mean": float(kid_mean), "kid_std": float(kid_std),
            "feature_network": features, "kid_subset_size": subset,
            "n_real": int(real.shape[0]), "n_fake": int(fake.shape[0])}


def fid_difference_ci(reference: Tensor, a: Tensor, b: Tensor, *, n_boot: int = 200, level: float = 0.95,
                      seed: int = 0) -> dict:
    """FID(reference, a) - FID(reference, b) with a bootstrap confidence interval.

    To compare two methods' realism (e.g. SVD vs Hessian directions at matched effect), the three
    feature sets are resampled with replacement ``n_boot`` times and the difference recomputed;
    the interval is the central ``level`` quantile range. An interval that contains 0 does not
    tell the two apart at this sample size.

    Args:
        reference: (N_r, D) features of the reference images (the data when the model has one).
        a, b: (N_a, D), (N_b, D) features of the two image sets compared.
        n_boot: bootstrap resamples (>= 10).
        level: in (0, 1).

    Returns:
        ``{"fid_a", "fid_b", "difference", "low", "high", "level", "n_boot", "n": [N_r, N_a, N_b]}``.
    """
    if n_boot < 10:
        raise ValueError(f"n_boot must be >= 10, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    for name, t in (("reference", reference), ("a", a), ("b", b)):
        if t.dim() != 2 or t.shape[0] < 2:
            raise ValueError(f"{name} must be (N >= 2, D) features, got shape {tuple(t.shape)}")
    g = torch.Generator().manual_seed(seed)
    pick = lambda t: t[torch.randint(0, t.shape[0], (t.shape[0],), generator=g)]  # noqa: E731
    fid_a, fid_b = frechet_distance(reference, a), frechet_distance(reference, b)
    diffs = []
    for _ in range(n_boot):
        r = pick(reference)
        diffs.append(frechet_distance(r, pick(a)) - frechet_distance(r, pick(b)))
    lo, hi = torch.tensor(diffs, dtype=torch.float64).quantile(
        torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)).tolist()
    return {"fid_a": fid_a, "fid_b": fid_b, "difference": fid_a - fid_b, "low": lo, "high": hi,
            "level": level, "n_boot": n_boot, "n": [reference.shape[0], a.shape[0], b.shape[0]]}
