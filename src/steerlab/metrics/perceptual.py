"""ST-LPIPS: a learned, shift-tolerant perceptual distance, loaded offline from a wheel.

ST-LPIPS (Ghildyal & Liu, ECCV 2022) is LPIPS (Zhang et al. 2018) on an anti-aliased AlexNet
or VGG16 trunk: every stride-2 step is a stride-1 max-pool followed by a 3x3 binomial blur
sampled with stride 2 ("BlurPool") on a reflect-padded map, so a one-pixel shift of the input
barely moves the features. The distance is

    d(x, y) = sum_l mean_hw( w_l . (f_l(x) - f_l(y))**2 )

with f_l the channel-unit-normalised activations of 5 trunk slices and w_l learned 1x1
weights ("lin" heads).

The weights are read from the ``stlpips-pytorch==0.0.2`` wheel (installed ``--no-deps``),
never by importing its code: that code imports torchvision and IPython, which do not work on
the CPU torch steerlab targets. This module rebuilds the exact ``variant="shift_tolerant"``
networks of that package (``invariant_networks.py``, ``models_lpf/``), with the same module
indices so the checkpoint loads with ``strict=True``, and reproduces ``LPIPS.forward`` in eval
mode with its defaults (``version="0.1"``: the scaling layer is applied; dropout before the
lin heads is inactive; spatial average; no extra padding tricks beyond the BlurPool padding).

Also here: ``VGGFeatures``, a pooled (N, 1024) feature vector from the ST-LPIPS VGG trunk for
FID/KID (see ``steerlab.metrics.fid``), and ``lpips_available()`` for the optional original
``lpips`` package.
"""
from __future__ import annotations

import functools
import glob
import importlib.util
import os
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steerlab.core.io import read_torch_checkpoint

__all__ = [
    "STLPIPS", "perceptual_distance", "perceptual_features", "perceptual_compare", "VGGFeatures", "vgg_feature_extractor",
    "stlpips_weights_path", "lpips_available", "NETS", "MIN_SIDE", "UPSAMPLE_SIDE", "MAX_SIDE",
]

NETS = ("alex", "vgg")
# Below MIN_SIDE px the AlexNet trunk runs out of pixels (its reflect padding needs a side >= 3
# at every BlurPool; AlexNet fails below ~24 px), so smaller images are upsampled bilinearly until
# the short side is UPSAMPLE_SIDE px. The distance of such images is then the distance of their
# upsampled versions: compare it only with distances computed at the same input size.
MIN_SIDE = 32
UPSAMPLE_SIDE = 64
# Above MAX_SIDE px the images are area-downsampled until the short side is MAX_SIDE, as NVlabs'
# perceptual path length does before LPIPS: the metric was trained on 64 px patches, and at 1024 px
# the full-resolution first convolution alone needs more memory than a StyleGAN2's own
# forward+backward (an exact weight-space HVP took 2.5x the generator's memory without this).
MAX_SIDE = 256

_INSTALL_HINT = "pip install --no-deps stlpips-pytorch==0.0.2"


def stlpips_weights_path(net: str = "alex") -> Path:
    """Path of the ST-LPIPS checkpoint for ``net`` inside the installed ``stlpips-pytorch`` wheel.

    The package is located with ``importlib.util.find_spec``, which does not run its code.

    Raises:
        ValueError: ``net`` is not one of ``NETS``.
        FileNotFoundError: the wheel (or the weight file in it) is not installed.
    """
    _check_net(net)
    spec = importlib.util.find_spec("stlpips_pytorch")
    if spec is None:
        raise FileNotFoundError(f"ST-LPIPS weights not found: the stlpips-pytorch wheel is not installed; "
                                f"run `{_INSTALL_HINT}`")
    roots = list(spec.submodule_search_locations or []) or [os.path.dirname(spec.origin or "")]
    for root in roots:
        path = Path(root) / "weights" / "vST0.0" / f"{net}_shift_tolerant.pth"
        if path.is_file():
            return path
    raise FileNotFoundError(f"ST-LPIPS weights {net}_shift_tolerant.pth not found under {roots[0]}; "
                            f"run `{_INSTALL_HINT}`")


def _check_net(net: str) -> None:
    if net not in NETS:
        raise ValueError(f"unknown ST-LPIPS net {net!r}; allowed: {', '.join(NETS)}")


# ----------------------------------------------------------------------------------------------
# Building blocks


class _ScalingLayer(nn.Module):
    """LPIPS v0.1 input scaling: ``(x - shift) / scale`` on a [-1, 1] image (buffers from the file)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.shift) / self.scale


class _BlurDownsample(nn.Module):
    """BlurPool with ``pad_more=True``: reflect-pad 2 px each side, 3x3 binomial blur, stride 2.

    The filter ([1,2,1] outer [1,2,1]) / 16, one per channel, is a buffer named ``filt`` so the
    checkpoint's copy loads into it. Shape: (N, C, H, W) -> (N, C, (H+1)//2 + 1, (W+1)//2 + 1).
    """

    def __init__(self, channels: int):
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        filt = a[:, None] * a[None, :]
        self.register_buffer("filt", (filt / filt.sum())[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, (2, 2, 2, 2), mode="reflect")
        return F.conv2d(x, self.filt, stride=2, groups=x.shape[1])


class _LinHead(nn.Module):
    """LPIPS lin layer: (dropout, 1x1 conv to 1 channel, no bias). Dropout is the identity at eval,
    so index 0 is an ``nn.Identity`` placeholder that keeps the checkpoint key ``model.1.weight``."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def _alex_layers() -> list[nn.Module]:
    # invariant_networks.alexnet(variant="shift_tolerant"): conv1 with stride 1, blur after it.
    return [
        nn.Conv2d(3, 64, 11, stride=1, padding=2), _BlurDownsample(64), nn.ReLU(),         # 0-2
        nn.MaxPool2d(3, stride=1), _BlurDownsample(64),                                    # 3-4
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),                                       # 5-6
        nn.MaxPool2d(3, stride=1), _BlurDownsample(192),                                   # 7-8
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),                                      # 9-10
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),                                      # 11-12
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),                                      # 13-14
    ]  # the package's final max-pool + blur (15-16) feed no slice, so they are left out


def _vgg_layers() -> list[nn.Module]:
    # models_lpf.vgg16(filter_size=3, pad_more=True).features: each 2x2/2 max-pool of VGG16
    # becomes MaxPool2d(2, stride=1) + BlurPool.
    layers: list[nn.Module] = []
    c_in = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if v == "M":
            layers += [nn.MaxPool2d(2, stride=1), _BlurDownsample(c_in)]
        else:
            layers += [nn.Conv2d(c_in, v, 3, padding=1), nn.ReLU()]
            c_in = v
    return layers  # 34 modules; VGG16's last pool is unused by the slices


# Module index where each of the 5 slices starts (and where the last ends), as in the package.
_SLICE_BOUNDS = {"alex": (0, 3, 7, 11, 13, 15), "vgg": (0, 4, 10, 18, 26, 34)}
_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}


class _Trunk(nn.Module):
    """The anti-aliased backbone as 5 sequential slices ``slice1..slice5`` (keys ``net.sliceK.I.*``)."""

    def __init__(self, net: str):
        super().__init__()
        layers = _alex_layers() if net == "alex" else _vgg_layers()
        bounds = _SLICE_BOUNDS[net]
        for k in range(5):
            s = nn.Sequential()
            for i in range(bounds[k], bounds[k + 1]):
                s.add_module(str(i), layers[i])  # keep the package's global indices
            self.add_module(f"slice{k + 1}", s)

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for k in range(1, 6):
            x = getattr(self, f"slice{k}")(x)
            outs.append(x)
        return outs


def _to_float_rgb(x: Tensor) -> Tensor:
    """uint8 [0, 255] or float [0, 1], 1 or 3 channels -> float [0, 1], 3 channels."""
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.float() / 255.0
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {x.shape[1]}")
    return x


def _resize_for_metric(x: Tensor) -> Tensor:
    """Short side below MIN_SIDE: bilinear up to UPSAMPLE_SIDE; above MAX_SIDE: area down to MAX_SIDE."""
    h, w = x.shape[-2:]
    if min(h, w) > MAX_SIDE:
        scale = MAX_SIDE / min(h, w)
        return F.interpolate(x, size=(max(MAX_SIDE, round(h * scale)), max(MAX_SIDE, round(w * scale))), mode="area")
    if min(h, w) >= MIN_SIDE:
        return x
    scale = UPSAMPLE_SIDE / min(h, w)
    size = (max(UPSAMPLE_SIDE, round(h * scale)), max(UPSAMPLE_SIDE, round(w * scale)))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _trunk_layout(x: Tensor) -> Tensor:
    """The trunk's input, channels-last on the CPU: there the trunk runs 20-30 % faster (8-32 images
    of 64 px, one thread; its BlurPools' depthwise convolutions and its max-pools about 10x), with
    the same values up to float rounding. Other devices keep the default layout (not measured)."""
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x


def _unit_normalize(f: Tensor, eps: float = 1e-10) -> Tensor:
    # LPIPS normalize_tensor: divide by the L2 norm over channels (eps added to the norm).
    # The clamp changes no value that matters (where it acts, f is ~0 and so is the result) but
    # keeps the gradient finite at all-zero positions, where sqrt'(0) = inf would give inf * 0 = NaN.
    return f / (f.pow(2).sum(dim=1, keepdim=True).clamp_min(1e-20).sqrt() + eps)


# ----------------------------------------------------------------------------------------------
# The metric


class STLPIPS(nn.Module):
    r"""Shift-tolerant LPIPS distance with the published vST0.0 weights; frozen, always in eval mode.

    Args:
        net: ``"alex"`` (faster, the package's default) or ``"vgg"``.
        device: where to put the model (``None``: CPU).

    Shape:
        - x, y: :math:`(N, C, H, W)` with C in {1, 3} (1 is repeated to 3); float in [0, 1]
          (uint8 in [0, 255] is also accepted). Images whose short side is below
          ``MIN_SIDE`` (32) px are first upsampled bilinearly to a short side of 64 px; above
          ``MAX_SIDE`` (256) px they are area-downsampled to a short side of 256 px (NVlabs' PPL
          convention).
        - output: :math:`(N,)`, >= 0; 0 for identical images. Typical values: ~0.01-0.1 for
          mild noise, ~0.3-0.8 for unrelated images.

    The distance is differentiable w.r.t. both inputs (parameters are frozen), so it can be used as
    a training loss.

    Example:
        >>> d = STLPIPS("alex")
        >>> x = torch.rand(2, 3, 64, 64)
        >>> d(x, x).abs().max() < 1e-6
        tensor(True)
    """

    def __init__(self, net: str = "alex", device: torch.device | str | None = None):
        super().__init__()
        _check_net(net)
        self.net_name = net
        self.channels = _CHANNELS[net]
        self.scaling_layer = _ScalingLayer()
        self.net = _Trunk(net)
        for k, c in enumerate(self.channels):
            self.add_module(f"lin{k}", _LinHead(c))
        state = read_torch_checkpoint(stlpips_weights_path(net))
        self.load_state_dict(state, strict=True)
        self.requires_grad_(False)
        self.to(device if device is not None else "cpu")
        self.eval()

    def train(self, mode: bool = True) -> "STLPIPS":
        # The metric is defined in eval mode; stay there even inside a model put in train mode.
        return super().train(False)

    def _prepare(self, x: Tensor) -> Tensor:
        x = _resize_for_metric(_to_float_rgb(x).to(self.scaling_layer.shift.dtype))
        return _trunk_layout(self.scaling_layer(2.0 * x - 1.0))  # LPIPS expects [-1, 1], then scales

    def features(self, x: Tensor) -> list[Tensor]:
        """The 5 channel-unit-normalised trunk activations LPIPS compares.

        Args:
            x: images :math:`(N, C, H, W)`, float in [0, 1] (or uint8 in [0, 255]).

        Returns:
            5 tensors :math:`(N, C_l, H_l, W_l)` with ``C_l = self.channels[l]``; each spatial
            position has unit L2 norm over channels (or is 0 where all activations are 0).
        """
        return [_unit_normalize(f) for f in self.net(self._prepare(x))]

    def linearized_features(self, x: Tensor) -> tuple[list[Tensor], Callable[[Tensor], list[Tensor]]]:
        """`features` of x and their Jacobian-vector product at x, without tracing.

        Args:
            x: float images :math:`(N, C, H, W)` in [0, 1]; may carry an autograd graph.

        Returns:
            ``(feats, jvp)``: ``feats`` equals ``features(x)`` (with x's graph, if any) and
            ``jvp(dx)`` maps a float tangent ``dx`` shaped like x to the 5 tangents J dx, shaped
            like ``feats``. The forward pass keeps what the product needs (the ReLU masks, the
            max-pools' argmaxes, the channel norms), so a product costs one linear pass of the
            trunk: a cheaper JVP than forward-mode autodiff, which recomputes the activations.
        """
        h = self._prepare(x)
        steps: list[Callable[[Tensor], Tensor]] = [
            lambda d: _trunk_layout(2.0 * _resize_for_metric(_to_float_rgb(d)) / self.scaling_layer.scale)]
        slices, feats = [], []  # per slice: (the trunk steps since the last slice, its normalisation's tangent)
        for k in range(1, 6):
            for mod in getattr(self.net, f"slice{k}"):
                if isinstance(mod, nn.ReLU):
                    steps.append(functools.partial(torch.mul, other=(h > 0).to(h.dtype)))
                    h = mod(h)
                elif isinstance(mod, nn.MaxPool2d):
                    h, idx = F.max_pool2d(h, mod.kernel_size, mod.stride, mod.padding, mod.dilation,
                                          ceil_mode=mod.ceil_mode, return_indices=True)
                    steps.append(lambda d, i=idx: d.flatten(2).gather(2, i.flatten(2)).view_as(i))
                elif isinstance(mod, nn.Conv2d):
                    steps.append(lambda d, c=mod: F.conv2d(d, c.weight, None, c.stride, c.padding, c.dilation,
                                                           c.groups))
                    h = mod(h)
                elif isinstance(mod, _BlurDownsample):
                    steps.append(mod)
                    h = mod(h)
                else:  # pragma: no cover - the trunks hold only the four kinds above
                    raise TypeError(f"no tangent for {type(mod).__name__}")
            feats.append(_unit_normalize(h))
            # d(f / (n + eps)) = df / (n + eps) - f (f . df) / (n (n + eps)^2), n = ||f|| over channels
            hd = h.detach()
            s = hd.pow(2).sum(dim=1, keepdim=True)
            n = s.clamp_min(1e-20).sqrt()
            inv = 1.0 / (n + 1e-10)
            coef = hd * (inv.pow(2) / n * (s > 1e-20))
            slices.append((steps, lambda d, inv=inv, hd=hd, coef=coef: d * inv - coef * (hd * d).sum(dim=1, keepdim=True)))
            steps = []

        def jvp(dx: Tensor) -> list[Tensor]:
            out, d = [], dx
            for trunk, normalise in slices:
                for step in trunk:
                    d = step(d)
                out.append(normalise(d))
            return out
        return feats, jvp

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Distance between image batches ``x`` and ``y`` (same shape), shape :math:`(N,)`."""
        if x.shape != y.shape:
            raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        x, y = _to_float_rgb(x), _to_float_rgb(y)
        n = x.shape[0]
        feats = self.features(torch.cat([x, y]))  # one trunk pass for both batches
        return self.compare([f[:n] for f in feats], [f[n:] for f in feats])

    def compare(self, fx: list[Tensor], fy: list[Tensor]) -> Tensor:
        """The distance from `features` computed earlier: (N,) (or broadcast, e.g. 1 vs N).

        Lets a caller compute each image's features once and compare them many times, e.g.
        one reference batch against many shifted ones.
        """
        total = 0.0
        for k, (a, b) in enumerate(zip(fx, fy)):
            diff = (a - b).pow(2)                                                # (N, C_l, H_l, W_l)
            total = total + getattr(self, f"lin{k}")(diff).mean(dim=(2, 3))     # (N, 1)
        return total[:, 0]


@functools.lru_cache(maxsize=None)
def _cached_model(net: str, device: str) -> STLPIPS:
    return STLPIPS(net, device=device)


def perceptual_distance(x: Tensor, y: Tensor, net: str = "alex") -> Tensor:
    """Functional :class:`STLPIPS`; one model per ``(net, device)`` is built once and cached.

    Args:
        x, y: images :math:`(N, C, H, W)`, float in [0, 1], same shape and device.
        net: ``"alex"`` or ``"vgg"``.

    Returns:
        :math:`(N,)` distances, differentiable w.r.t. ``x`` and ``y``.

    Example:
        >>> x = torch.rand(1, 3, 64, 64)
        >>> float(perceptual_distance(x, x)) < 1e-6
        True
    """
    _check_net(net)
    return _cached_model(net, str(x.device))(x, y)


def perceptual_features(x: Tensor, net: str = "alex") -> list[Tensor]:
    """``STLPIPS(net).features(x)`` with the cached model: compute once, compare with `perceptual_compare`."""
    _check_net(net)
    return _cached_model(net, str(x.device)).features(x)


def perceptual_compare(fx: list[Tensor], fy: list[Tensor], net: str = "alex") -> Tensor:
    """`perceptual_distance` of two images from their `perceptual_features`: (N,), >= 0."""
    _check_net(net)
    return _cached_model(net, str(fx[0].device)).compare(fx, fy)


# ----------------------------------------------------------------------------------------------
# Feature network for FID / KID


class VGGFeatures(nn.Module):
    r"""Pooled ST-LPIPS VGG16 features for FID/KID: global average of relu4_3 and relu5_3, concatenated.

    It follows the torchmetrics custom-feature contract: ``forward`` returns ``(N, num_features)``
    and ``num_features`` is an ``int`` attribute, so ``FrechetInceptionDistance(feature=VGGFeatures())``
    and ``KernelInceptionDistance(feature=...)`` work without torchvision or Inception weights.
    Pass ``normalize=True`` to those metrics and float images in [0, 1]; uint8 images in
    [0, 255] are also accepted (torchmetrics hands custom modules the images unchanged).

    The features are the raw (not unit-normalised) post-ReLU activations, as Inception's pool3 is.
    They are *not* Inception features: FID values computed with them are comparable only with FID
    values computed with the same feature network (reports name it: ``"stlpips-vgg"``).

    Args:
        device: where to put the network (``None``: CPU).

    Shape:
        - input: :math:`(N, C, H, W)`, C in {1, 3}; float in [0, 1] or uint8 in [0, 255];
          short sides below 32 px are upsampled to 64 px.
        - output: :math:`(N, 1024)`, float32, >= 0.

    Example:
        >>> VGGFeatures()(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 1024])
    """

    num_features: int = 512 + 512

    def __init__(self, device: torch.device | str | None = None):
        super().__init__()
        self.lpips = STLPIPS("vgg", device=device)

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        feats = self.lpips.features(x)[3:]                      # 2 x (N, 512, H_l, W_l), unit norm over C
        # sqrt(C) makes each coordinate O(1) (RMS <= 1), the scale KID's polynomial kernel expects.
        return torch.cat([f.mean(dim=(2, 3)) * f.shape[1] ** 0.5 for f in feats], dim=1)  # (N, 1024)


def vgg_feature_extractor(device: torch.device | str | None = None) -> VGGFeatures:
    """Factory for :class:`VGGFeatures` (the ``"stlpips-vgg"`` entry of ``fid.FEATURE_NETWORKS``)."""
    return VGGFeatures(device=device)


# ----------------------------------------------------------------------------------------------
# The original LPIPS (optional)

# torchvision ImageNet checkpoints the original lpips package loads for its trunks.
_TV_CHECKPOINT_GLOBS = {"alex": "alexnet-owt-*.pth", "vgg": "vgg16-*.pth", "squeeze": "squeezenet1_1-*.pth"}


def lpips_available(net: str = "alex") -> bool:
    """True only if the original ``lpips`` package can be used offline for ``net``.

    That needs: the ``lpips`` package installed, its linear-head weights
    (``lpips/weights/v0.1/<net>.pth``) present, the torchvision ImageNet checkpoint of the trunk
    already in the torch hub cache (``$TORCH_HOME/hub/checkpoints``), and ``import lpips``
    (which imports torchvision) succeeding. Nothing is downloaded. steerlab never requires it.
    """
    if net not in _TV_CHECKPOINT_GLOBS:
        return False
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    roots = list(spec.submodule_search_locations or []) or [os.path.dirname(spec.origin or "")]
    if not any((Path(r) / "weights" / "v0.1" / f"{net}.pth").is_file() for r in roots):
        return False
    hub_checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    if not glob.glob(str(hub_checkpoints / _TV_CHECKPOINT_GLOBS[net])):
        return False
    try:
        import lpips  # noqa: F401  (imports torchvision, which may be missing or broken)
    except Exception:
        return False
    return True
