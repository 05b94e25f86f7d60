"""FID and KID between two image sets, with a feature network steerlab can load offline.

Inception weights cannot be fetched here, so the feature network is chosen by name from a small
registry (``FEATURE_NETWORKS``) and its name is returned with the scores, so every report can say
which features the numbers were computed on. Scores from different feature networks are not
comparable with each other, nor with published Inception FIDs.

Register another network (e.g. a classifier trained on a procedural dataset) with
``register_feature_network(name, factory)``: ``factory(device)`` must return an ``nn.Module``
mapping float images (N, C, H, W) in [0, 1] to features (N, D), with an ``int`` attribute
``num_features = D`` (torchmetrics' custom-feature contract).
"""
from __future__ import annotations

import warnings
from typing import Callable

import torch
from torch import Tensor, nn

from steerlab.metrics.perceptual import vgg_feature_extractor

__all__ = ["FEATURE_NETWORKS", "register_feature_network", "fid_kid", "fid_kid_features", "image_features",
           "feature_network"]

FeatureFactory = Callable[[torch.device], nn.Module]

def _digits_cnn(device: torch.device) -> nn.Module:
    from steerlab.metrics.digit_features import digit_feature_extractor  # trains on first use (seconds), then cached
    return digit_feature_extractor(device)


FEATURE_NETWORKS: dict[str, FeatureFactory] = {
    # ST-LPIPS VGG16 trunk, global-average-pooled relu4_3 + relu5_3 (1024-d).
    "stlpips-vgg": vgg_feature_extractor,
    # A small CNN trained on scikit-learn's real digits (metrics/digit_features.py, 256-d).
    "digits-cnn": _digits_cnn,
}


def register_feature_network(name: str, factory: FeatureFactory, *, overwrite: bool = False) -> None:
    """Add a feature network for :func:`fid_kid` under ``name``.

    Args:
        name: the name reports will show, e.g. ``"shapes-classifier"``.
        factory: ``factory(device) -> nn.Module``; the module maps (N, C, H, W) float images in
            [0, 1] to (N, D) features and has ``num_features = D``.
        overwrite: allow replacing an existing entry.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("feature network name must be a non-empty string")
    if not callable(factory):
        raise TypeError(f"factory for {name!r} must be callable")
    if name in FEATURE_NETWORKS and not overwrite:
        raise ValueError(f"feature network {name!r} is already registered (pass overwrite=True to replace it)")
    FEATURE_NETWORKS[name] = factory


def _feature_network(name: str, device: torch.device) -> nn.Module:
    if name not in FEATURE_NETWORKS:
        raise ValueError(f"unknown feature network {name!r}; allowed: {', '.join(sorted(FEATURE_NETWORKS))}")
    module = FEATURE_NETWORKS[name](device).to(device).eval()
    if not isinstance(getattr(module, "num_features", None), int):
        raise TypeError(f"feature network {name!r} must have an int attribute `num_features`")
    return module


class _Precomputed(nn.Module):
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
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_images(real, "real")
    _check_images(fake, "fake")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    net = _feature_network(features, device)
    # The network runs once per image; both metrics then read the features.
    return fid_kid_features(image_features(net, real, batch_size, device), image_features(net, fake, batch_size, device),
                            features=features, batch_size=batch_size, device=device,
                            kid_subset_size=kid_subset_size, kid_subsets=kid_subsets, seed=seed)


def feature_network(features: str = "stlpips-vgg", device: torch.device | str = "cpu") -> nn.Module:
    """The registered feature network ``features`` on ``device`` (eval mode, ``num_features``)."""
    return _feature_network(features, torch.device(device))


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

    Features are fed to the metrics ``batch_size`` rows at a time, as `fid_kid` does, so the two
    give the same numbers. Returns the same dict as `fid_kid`.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    for f, which in ((real, "real"), (fake, "fake")):
        if f.ndim != 2 or f.shape[0] < 2:
            raise ValueError(f"{which} features must be (N >= 2, D), got {tuple(f.shape)}")
    device = torch.device(device)
    subset = min(1000 if kid_subset_size is None else int(kid_subset_size), real.shape[0], fake.shape[0])
    if subset < 1:
        raise ValueError(f"kid_subset_size must be >= 1, got {kid_subset_size}")
    # Both metrics read the features through an identity "feature module" (torchmetrics'
    # custom-feature contract: forward -> (N, D), num_features = D).
    # sync_on_compute=False: under torch.distributed torchmetrics would otherwise sum its states
    # over ranks, but the features given here are already complete (gathered) on every rank.
    identity = _Precomputed(real.shape[1])
    fid = FrechetInceptionDistance(feature=identity, sync_on_compute=False).to(device)
    with warnings.catch_warnings():  # "KID will save all extracted features in buffer" - expected
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=identity, subsets=kid_subsets, subset_size=subset,
                                      sync_on_compute=False).to(device)
    for feats_all, is_real in ((real, True), (fake, False)):
        for start in range(0, feats_all.shape[0], batch_size):
            feats = feats_all[start:start + batch_size].to(device)  # (B, D)
            fid.update(feats, real=is_real)
            kid.update(feats, real=is_real)

    fid_value = float(fid.compute())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fid": fid_value, "kid_mean": float(kid_mean), "kid_std": float(kid_std),
            "feature_network": features, "kid_subset_size": subset,
            "n_real": int(real.shape[0]), "n_fake": int(fake.shape[0])}
