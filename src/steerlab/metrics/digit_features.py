"""A small digit classifier: FID features for digits, and a check that a walk keeps digit identity.

Inception cannot be fetched here, and its features say little about 32 px digits anyway, so the
digit experiments measure FID/KID in the 256-d penultimate layer of a small CNN trained on the
real scikit-learn digits (`steerlab.data.digits`). It is trained with the steerability edits as
augmentation (zoom 0.5-2, shift +-0.25, rotation +-30 degrees, each with probability 1/2), so
its features and its labels are about *which digit, how well drawn* rather than where it sits:
a zoomed but clean "3" is still a "3". `fid_kid` knows it as ``"digits-cnn"``;
training takes a few seconds on a CPU, once per process (cached), and is seeded.

Example:
    >>> net = digit_classifier()
    >>> net(torch.rand(4, 1, 32, 32)).shape     # logits
    torch.Size([4, 10])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steerlab.core import seeds

__all__ = ["DigitCNN", "digit_classifier", "digit_accuracy", "digit_feature_extractor"]

_CACHE: dict[tuple, "DigitCNN"] = {}


class DigitCNN(nn.Module):
    """Three conv blocks and a 256-d feature layer. Input (N, C, H, W) in [0, 1], any size, C in
    {1, 3} (RGB is averaged to grey, resized to 32 px). ``forward`` -> logits (N, 10);
    ``features`` -> (N, 256)."""

    num_features = 256

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 16
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 8
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 4
            nn.Flatten(), nn.Linear(64 * 16, 256), nn.ReLU())
        self.head = nn.Linear(256, 10)
        self.accuracy: float | None = None  # held-out accuracy, set by `digit_classifier`

    def _prepare(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"digit images must be (N, 1 or 3, H, W), got {tuple(x.shape)}")
        x = x.float().mean(1, keepdim=True) if x.shape[1] == 3 else x.float()
        if x.shape[-2:] != (32, 32):
            x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
        return x * 2 - 1

    def features(self, x: Tensor) -> Tensor:
        return self.body(self._prepare(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class _Features(nn.Module):
    """``fid_kid``'s contract: images -> (N, 256) features, ``num_features``."""

    num_features = DigitCNN.num_features

    def __init__(self, net: DigitCNN):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net.features(x)


def _augment(x: Tensor, g: torch.Generator) -> Tensor:
    from steerlab.edits import get_edit

    n = x.shape[0]
    for name, lo, hi, log in (("zoom", 0.5, 2.0, True), ("shift_x", -0.25, 0.25, False),
                              ("shift_y", -0.25, 0.25, False), ("rotate2d", -30.0, 30.0, False)):
        u = torch.rand(n, generator=g)
        a = torch.exp(torch.log(torch.tensor(lo)) + u * (torch.log(torch.tensor(hi / lo)))) if log else lo + u * (hi - lo)
        keep = torch.rand(n, generator=g) < 0.5
        edit = get_edit(name)
        a = torch.where(keep, torch.full_like(a, edit.identity), a)
        x = edit.fn(x, a)[0]  # exposed borders are black: the digits' background
    return x


def digit_classifier(*, steps: int = 400, batch_size: int = 64, copies: int = 4, seed: int = 0,
                     device: torch.device | str = "cpu") -> DigitCNN:
    """The seeded digit CNN, trained on 80% of scikit-learn's digits (32 px) with edit
    augmentation (``copies`` augmented copies of each image, drawn once); cached per arguments.
    ``net.accuracy`` is its accuracy on the other 20%, augmented the same way. Returned in eval
    mode with gradients off."""
    key = (steps, batch_size, copies, seed, str(device))
    if key in _CACHE:
        return _CACHE[key]
    from steerlab.data.digits import sklearn_digits

    images, labels = sklearn_digits(32)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(images.shape[0], generator=g)
    cut = int(0.8 * len(perm))
    train, test = perm[:cut], perm[cut:]
    x_train = torch.cat([images[train]] + [_augment(images[train], g) for _ in range(copies)])
    y_train = labels[train].repeat(copies + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DigitCNN().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    with torch.enable_grad():  # callers may be inside no_grad (first use from an evaluation)
        for _ in range(steps):
            idx = torch.randint(0, len(y_train), (batch_size,), generator=g)
            loss = F.cross_entropy(net(x_train[idx].to(device)), y_train[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval().requires_grad_(False)
    with torch.no_grad():
        x = _augment(images[test], seeds.generator(seed, seeds.TEST_DRAW)).to(device)
        net.accuracy = (net(x).argmax(1).cpu() == labels[test]).float().mean().item()
    _CACHE[key] = net
    return net


@torch.no_grad()
def digit_accuracy(images: Tensor, labels: Tensor, *, batch_size: int = 256) -> float:
    """Fraction of ``images`` (N, C, H, W) in [0, 1] the digit CNN reads as ``labels`` (N,)."""
    net = digit_classifier(device=images.device)
    hits = 0
    for i in range(0, images.shape[0], batch_size):
        hits += (net(images[i:i + batch_size]).argmax(1).cpu() == labels[i:i + batch_size].cpu()).sum().item()
    return hits / max(1, images.shape[0])


def digit_feature_extractor(device: torch.device | str = "cpu") -> nn.Module:
    """The ``"digits-cnn"`` feature network of `fid_kid`: images -> (N, 256)."""
    return _Features(digit_classifier(device=device))
