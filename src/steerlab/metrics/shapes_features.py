"""The ``"shapes-classifier"`` feature network: FID/KID features for the biased-shapes data.

Inception weights cannot be fetched here, and ImageNet features say little about 32 px shapes, so
FID on shapes is measured in the 128-d penultimate layer of a small CNN steerlab trains on
`steerlab.data.shapes` (a fresh draw, seed 7, never the GAN's training draw). It is trained
multi-task: the class (12-way cross-entropy) *and* the four ground-truth factors (x, y, scale,
luminance; L2), so its features see where the object is, how big and how bright - exactly what a
walk moves - not only which class it is. A classifier alone would learn to ignore position and
FID would not notice a shifted set.

The trained weights ship as ``metrics/weights/shapes_classifier.safetensors`` (+ ``.json`` with
its held-out accuracy and factor errors); ``python -m steerlab.metrics.shapes_features`` retrains
them (about a minute on one core).

Example:
    >>> net = shapes_feature_extractor("cpu")
    >>> net(torch.rand(4, 3, 32, 32)).shape
    torch.Size([4, 128])
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steerlab.core import seeds
from steerlab.core.io import FileFormatError, read_json, read_tensors, write_json, write_tensors
from steerlab.metrics.fid import FEATURE_NETWORKS, register_feature_network

__all__ = ["ShapesCNN", "shapes_feature_extractor", "train_shapes_classifier", "WEIGHTS"]

WEIGHTS = Path(__file__).parent / "weights" / "shapes_classifier.safetensors"
FACTORS = ("x", "y", "scale", "luminance")


class ShapesCNN(nn.Module):
    """Three conv blocks and a 128-d feature layer; heads for 12 classes and 4 factors.

    Input (N, 3, H, W) in [0, 1] (resized to 32 px). ``features`` -> (N, 128);
    ``forward`` -> (logits (N, num_classes), factors (N, 4) standardised).
    """

    num_features = 128

    def __init__(self, num_classes: int = 12):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 16
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 8
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 4
            nn.Flatten(), nn.Linear(128 * 16, 128), nn.ReLU())
        self.classify = nn.Linear(128, num_classes)
        self.regress = nn.Linear(128, len(FACTORS))

    def features(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"shapes-classifier needs RGB images (N, 3, H, W), got {tuple(x.shape)}")
        x = x.float()
        if x.shape[-2:] != (32, 32):
            x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
        return self.body(x * 2 - 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.features(x)
        return self.classify(h), self.regress(h)


class _Features(nn.Module):
    """`fid_kid`'s contract: images -> (N, 128), ``num_features``."""

    num_features = ShapesCNN.num_features

    def __init__(self, net: ShapesCNN):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net.features(x)


def _factor_matrix(factors: dict) -> Tensor:
    return torch.stack([factors[k].float() for k in FACTORS], 1)  # (N, 4)


def train_shapes_classifier(*, n_images: int = 12000, steps: int = 600, batch_size: int = 64,
                            lr: float = 2e-3, seed: int = 7, out: str | Path | None = WEIGHTS,
                            progress: bool = True) -> ShapesCNN:
    """Train `ShapesCNN` on a fresh shapes draw; write weights + a JSON card with held-out scores."""
    from tqdm.auto import tqdm

    from steerlab.data.shapes import make_shapes

    torch.manual_seed(seed)
    data = make_shapes(n_images, resolution=32, seed=seed)
    test = make_shapes(2000, resolution=32, seed=seed + seeds.TEST_DRAW)
    y = _factor_matrix(data.factors)
    mu, sd = y.mean(0), y.std(0)
    net = ShapesCNN(len(data.class_names))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for _ in tqdm(range(steps), desc="shapes classifier", disable=not progress, leave=False):
        idx = torch.randint(0, n_images, (batch_size,), generator=g)
        logits, reg = net(data.images[idx])
        loss = F.cross_entropy(logits, data.labels[idx]) + F.mse_loss(reg, (y[idx] - mu) / sd)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        logits, reg = net(test.images)
    err = (reg * sd + mu - _factor_matrix(test.factors)).abs().mean(0)
    card = {"accuracy": float((logits.argmax(1) == test.labels).float().mean()),
            "factor_mae": {k: float(e) for k, e in zip(FACTORS, err)},
            "factor_mean": mu.tolist(), "factor_std": sd.tolist(), "n_images": n_images,
            "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
            "seconds": round(time.time() - t0, 1), "test": f"make_shapes(2000, seed=seed + {seeds.TEST_DRAW})"}
    net.card = card
    if out is not None:
        write_tensors(out, net.state_dict())
        write_json(Path(out).with_suffix(".json"), card)
    return net


_CACHE: dict[str, ShapesCNN] = {}


def load_shapes_classifier(path: str | Path = WEIGHTS) -> ShapesCNN:
    """The shipped classifier (eval, frozen); FileFormatError if its file is missing or foreign."""
    key = str(path)
    if key not in _CACHE:
        if not Path(path).is_file():
            raise FileFormatError(f"{path}: shapes-classifier weights missing; "
                                  "run `python -m steerlab.metrics.shapes_features`")
        net = ShapesCNN()
        try:
            net.load_state_dict(read_tensors(path))
        except RuntimeError as e:
            raise FileFormatError(f"{path}: weights do not fit ShapesCNN ({str(e).splitlines()[0][:100]})") from None
        card_path = Path(path).with_suffix(".json")
        net.card = read_json(card_path) if card_path.is_file() else {}
        _CACHE[key] = net.eval().requires_grad_(False)
    return _CACHE[key]


def shapes_feature_extractor(device: torch.device | str = "cpu") -> nn.Module:
    """Factory for ``fid.FEATURE_NETWORKS["shapes-classifier"]``: (N, 3, H, W) -> (N, 128)."""
    return _Features(load_shapes_classifier()).to(device)


if "shapes-classifier" not in FEATURE_NETWORKS:
    register_feature_network("shapes-classifier", shapes_feature_extractor)


if __name__ == "__main__":
    torch.set_num_threads(1)
    net = train_shapes_classifier()
    print(net.card)
