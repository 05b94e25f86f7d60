"""The StyleGAN2-ADA generator (Karras et al., NeurIPS 2020) in plain PyTorch, laid out as NVlabs' code.

This is the network of NVlabs' ``stylegan2-ada-pytorch`` (and of the StyleGAN2 configs of its
``stylegan3`` code), with module and parameter names equal to upstream's ``state_dict()``, so an
NVlabs network pickle read by `steerlab.models.nvlabs_pickle` loads one to one. It differs from
`steerlab.models.stylegan2` (rosinality's layout) in what upstream's pickles carry:

- mapping: class conditioning through a learned linear ``embed`` of the one-hot label (``c_dim``),
  normalised and concatenated to the normalised z; ``w_avg`` for truncation;
- synthesis: the ``orig`` (torgb only at the last block), ``skip`` (default: sum of upsampled
  torgb outputs) and ``resnet`` (1x1 upsampling shortcut, both branches scaled by sqrt(1/2))
  architectures; ``conv_clamp`` (activations clamped to +-X after the activation gain);
  per-layer noise with ``noise_mode`` ``const`` (the stored map), ``random`` or ``none``.
- Layers upstream marks fp16 (``num_fp16_res``) are computed in float32 here: the numbers equal
  upstream's ``force_fp32=True`` rendering.

Up-sampling uses `upfirdn2d`, a pure PyTorch reference of upsample -> pad -> FIR filter ->
downsample, with the pickle's ``resample_filter`` (normally [1, 3, 3, 1]). Modulated convolutions
are computed non-fused (scale the input channels by the style, one shared conv, scale the output
channels by the demodulation coefficients), which equals the grouped per-sample form.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steerlab.core.errors import FileFormatError
from steerlab.models.base import Generator, StyleSpaces

SQRT2 = math.sqrt(2.0)
# activation name -> (function, default gain), the ones upstream's generators use
ACTIVATIONS = {"linear": (lambda x: x, 1.0), "relu": (F.relu, SQRT2),
               "lrelu": (lambda x: F.leaky_relu(x, 0.2), SQRT2)}
NOISE_MODES = ("const", "random", "none")
ARCHITECTURES = ("orig", "skip", "resnet")


# --------------------------------------------------------------------------- ops
def setup_filter(taps=(1, 3, 3, 1)) -> Tensor:
    """A separable 1-D FIR as a 2-D kernel (outer product), normalised to sum 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1:
        f = f[:, None] * f[None, :]
    return f / f.sum()


def upfirdn2d(x: Tensor, f: Tensor, *, up: int = 1, down: int = 1,
              pad: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> Tensor:
    """Upsample (zero insertion) -> pad (x0, x1, y0, y1; negative crops) -> 2-D FIR -> downsample.

    Args:
        x: (N, C, H, W).
        f: (fh, fw) filter, applied as a convolution (flipped) to every channel.
        gain: the filter is multiplied by it (``up ** 2`` keeps the mean after zero insertion).

    Returns:
        (N, C, (H * up + y0 + y1 - fh + 1) // down, ...) with the same rule for W.
    """
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, (max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)))
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    k = (f * gain).flip(0, 1).to(x)  # conv2d correlates; flipping makes it a convolution
    x = F.conv2d(x, k[None, None].expand(c, 1, -1, -1), groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(x: Tensor, f: Tensor) -> Tensor:
    """x2 upsampling with the FIR ``f`` (4 taps): (N, C, H, W) -> (N, C, 2H, 2W)."""
    fw = f.shape[-1]
    p0, p1 = (fw + 1) // 2, (fw - 2) // 2
    return upfirdn2d(x, f, up=2, pad=(p0, p1, p0, p1), gain=4.0)


def bias_act(x: Tensor, b: Tensor | None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None) -> Tensor:
    """Add the per-channel bias, apply the activation, multiply by gain, clamp to +-clamp."""
    fn, default_gain = ACTIVATIONS[act]
    if b is not None:
        x = x + b.reshape(1, -1, *([1] * (x.dim() - 2)))
    x = fn(x)
    g = default_gain if gain is None else gain
    if g != 1:
        x = x * g
    return x.clamp(-clamp, clamp) if clamp is not None and clamp >= 0 else x


def _check_activation(act: str) -> str:
    if act not in ACTIVATIONS:
        raise ValueError(f"activation {act!r} is not supported; allowed: {', '.join(ACTIVATIONS)}")
    return act


# --------------------------------------------------------------------------- layers
class FullyConnectedLayer(nn.Module):
    """Equalised-lr linear layer: act(x (W lr/sqrt(in))^T + b lr)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.activation = _check_activation(activation)
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain, self.bias_gain = lr_multiplier / math.sqrt(in_features), lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        b = self.bias * self.bias_gain if self.bias is not None else None
        return bias_act(x.matmul((self.weight * self.weight_gain).t()), b, self.activation)


def _norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    return x * (x.square().mean(1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z (N, z_dim) and one-hot c (N, c_dim) -> w (N, w_dim); ``w_avg`` tracked while training."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_layers: int = 8, embed_features: int | None = None,
                 layer_features: int | None = None, activation: str = "lrelu", lr_multiplier: float = 0.01,
                 w_avg_beta: float | None = 0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_layers, self.w_avg_beta = z_dim, c_dim, w_dim, num_layers, w_avg_beta
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim else 0
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation=activation,
                                                        lr_multiplier=lr_multiplier))
        if w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, c: Tensor | None) -> Tensor:
        parts = []
        if self.z_dim:
            parts.append(_norm(z.float()))
        if self.c_dim:
            parts.append(_norm(self.embed(c.float())))
        x = torch.cat(parts, 1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.training and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return x  # (N, w_dim)


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool = True, up: int = 1,
                     padding: int = 0, resample_filter: Tensor | None = None) -> Tensor:
    """Modulated conv, computed non-fused. x (N, I, H, W), weight (O, I, k, k), styles (N, I).

    ``up=2`` is a stride-2 transposed conv followed by the FIR filter (gain 4), with upstream's
    padding rule, so the output is (N, O, 2H, 2W) for a 3x3 kernel with ``padding=1``.
    """
    x = x * styles[:, :, None, None]
    out_ch, in_ch, kh, kw = weight.shape
    if up == 1:
        x = F.conv2d(x, weight, padding=padding)
    else:
        fw = resample_filter.shape[-1]
        p0 = padding + (fw + up - 1) // 2 - (kw - 1)
        p1 = padding + (fw - up) // 2 - (kw - up)
        pt = max(min(-p0, -p1), 0)
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=up, padding=pt)
        x = upfirdn2d(x, resample_filter, pad=(p0 + pt, p1 + pt, p0 + pt, p1 + pt), gain=up ** 2)
    if demodulate:
        # norm of each sample's effective kernel: sum over in, kh, kw of (w s)^2
        d = (weight.square().sum((2, 3))[None] * styles.square()[:, None, :]).sum(2)  # (N, O)
        x = x * (d + 1e-8).rsqrt()[:, :, None, None]
    return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally x2 up), noise, bias, activation, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter=(1, 3, 3, 1), conv_clamp: float | None = None, channels_last: bool = False):
        super().__init__()
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.activation = _check_activation(activation)
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "const", gain: float = 1.0) -> Tensor:
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter)
        if self.use_noise and noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        elif self.use_noise and noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device) * self.noise_strength
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, self.activation, ACTIVATIONS[self.activation][1] * gain, clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation, bias, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None, channels_last: bool = False):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class UpsampleConv1x1(nn.Module):
    """The resnet shortcut: linear 1x1 conv without bias, then x2 FIR upsampling (upstream's Conv2dLayer)."""

    def __init__(self, in_channels: int, out_channels: int, resample_filter=(1, 3, 3, 1)):
        super().__init__()
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        x = upsample2d(F.conv2d(x, self.weight * self.weight_gain), self.resample_filter)
        return x * gain if gain != 1 else x


class SynthesisBlock(nn.Module):
    """One resolution: the 4x4 constant (first block) or conv0 (x2 up), conv1, and torgb / shortcut."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, use_fp16: bool = False, fp16_channels_last: bool = False,
                 **layer_kwargs):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture {architecture!r} is not supported; allowed: {', '.join(ARCHITECTURES)}")
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.is_last, self.architecture, self.use_fp16 = is_last, architecture, use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp,
                                    **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels and architecture == "resnet":
            self.skip = UpsampleConv1x1(in_channels, out_channels, resample_filter)

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor,
                noise_mode: str = "const") -> tuple[Tensor, Tensor | None]:
        """ws (N, num_conv + num_torgb, w_dim) -> features (N, C, R, R) and the image so far."""
        w = iter(ws.unbind(1))
        if self.in_channels == 0:
            x = self.conv1(self.const[None].expand(ws.shape[0], -1, -1, -1), next(w), noise_mode)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w), noise_mode)
            x = y + self.conv1(x, next(w), noise_mode, gain=math.sqrt(0.5))
        else:
            x = self.conv1(self.conv0(x, next(w), noise_mode), next(w), noise_mode)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w))
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> image (N, img_channels, R, R), roughly in [-1, 1]."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, **block_kwargs):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        ch = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for r in self.block_resolutions:
            block = SynthesisBlock(ch[r // 2] if r > 4 else 0, ch[r], w_dim, r, img_channels,
                                   is_last=r == img_resolution, use_fp16=r >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if r == img_resolution else 0)
            setattr(self, f"b{r}", block)

    def forward(self, ws: Tensor, noise_mode: str = "const") -> Tensor:
        x = img = None
        i = 0
        for r in self.block_resolutions:
            block = getattr(self, f"b{r}")
            # a block reads its convs' ws and the next one (its torgb), shared with the next block's conv0
            x, img = block(x, img, ws[:, i:i + block.num_conv + block.num_torgb].float(), noise_mode)
            i += block.num_conv
        return img


# --------------------------------------------------------------------------- the adapter
_MAPPING_KEYS = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
_SYNTHESIS_KEYS = {"channel_base", "channel_max", "num_fp16_res", "architecture", "resample_filter",
                   "conv_clamp", "fp16_channels_last", "kernel_size", "use_noise", "activation",
                   "channels_last"}
_IGNORED_KEYS = {"fused_modconv_default"}  # an execution choice of stylegan3's copy; same numbers


class StyleGAN2ADAGenerator(StyleSpaces, Generator):
    """StyleGAN2-ADA behind the steerlab generator protocol; the constructor is upstream's plus three knobs.

    Args:
        z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, synthesis_kwargs:
            upstream's ``training.networks.Generator`` arguments (what an NVlabs pickle records).
        truncation_psi: w = w_avg + psi (w - w_avg) when mapping z to w / w+ (1 = off).
        noise_mode: ``const`` (the stored noise maps: a deterministic G, which walks need),
            ``random`` (fresh noise every call) or ``none``.
        name: model name shown in reports.

    Shape:
        - z: (N, z_dim); w: (N, w_dim); w+: (N, num_ws, w_dim); classes: (N,) ints < c_dim.
        - output of ``synthesize``: (N, img_channels, R, R), float32 in [0, 1].

    Example:
        >>> G = StyleGAN2ADAGenerator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
        ...                           mapping_kwargs={"num_layers": 2},
        ...                           synthesis_kwargs={"channel_base": 128, "channel_max": 8})
        >>> G.synthesize(G.sample_latent(2, space="w+"), space="w+").shape
        torch.Size([2, 3, 16, 16])
    """

    latent_spaces = ("z", "w", "w+")
    output_range = (-1.0, 1.0)

    def __init__(self, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512, img_resolution: int = 256,
                 img_channels: int = 3, mapping_kwargs: dict | None = None, synthesis_kwargs: dict | None = None,
                 truncation_psi: float = 1.0, noise_mode: str = "const", name: str = "stylegan2-ada"):
        super().__init__()
        mapping_kwargs, synthesis_kwargs = dict(mapping_kwargs or {}), dict(synthesis_kwargs or {})
        for what, kw, allowed in (("mapping", mapping_kwargs, _MAPPING_KEYS),
                                  ("synthesis", synthesis_kwargs, _SYNTHESIS_KEYS)):
            unknown = sorted(set(kw) - allowed - _IGNORED_KEYS)
            if unknown:
                raise ValueError(f"{what}_kwargs {unknown} are not supported; allowed: {', '.join(sorted(allowed))}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        if not 0.0 <= truncation_psi <= 2.0 or not math.isfinite(truncation_psi):
            raise ValueError(f"truncation_psi must be in [0, 2], got {truncation_psi}")
        self.name, self.z_dim, self.w_dim, self.num_classes = name, z_dim, w_dim, c_dim
        self.resolution, self.channels = img_resolution, img_channels
        self.mapping_kwargs, self.synthesis_kwargs = mapping_kwargs, synthesis_kwargs
        self.truncation_psi, self.noise_mode = float(truncation_psi), noise_mode
        skw = {k: v for k, v in synthesis_kwargs.items() if k not in _IGNORED_KEYS and k != "channels_last"}
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **skw)
        self.num_ws = self.synthesis.num_ws
        mkw = {k: v for k, v in mapping_kwargs.items() if k not in _IGNORED_KEYS}
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, **mkw)
        if truncation_psi != 1.0 and not hasattr(self.mapping, "w_avg"):
            raise ValueError("truncation needs w_avg, which a mapping with w_avg_beta=None does not keep")

    def config(self) -> dict[str, Any]:
        return {"z_dim": self.z_dim, "c_dim": self.num_classes, "w_dim": self.w_dim,
                "img_resolution": self.resolution, "img_channels": self.channels,
                "mapping_kwargs": self.mapping_kwargs, "synthesis_kwargs": self.synthesis_kwargs,
                "truncation_psi": self.truncation_psi, "noise_mode": self.noise_mode, "name": self.name}

    def fingerprint_facts(self) -> dict[str, Any]:
        return {**super().fingerprint_facts(), "truncation_psi": self.truncation_psi, "noise_mode": self.noise_mode}

    # ------------------------------------------------------------------ spaces
    def _one_hot(self, classes: Tensor | None) -> Tensor | None:
        return F.one_hot(classes, self.num_classes).float() if self.num_classes else None

    def _map(self, z: Tensor, classes: Tensor | None) -> Tensor:
        return self.mapping(z, self._one_hot(classes))

    def _synthesize(self, latent: Tensor, space: str, classes: Tensor | None) -> Tensor:
        self._check_latent(latent, space)
        ws = self.to_space(latent, "w+", classes) if space == "z" else latent
        if space == "w":
            ws = ws[:, None].expand(-1, self.num_ws, -1)
        return self.synthesis(ws, noise_mode=self.noise_mode)

    def synthesize(self, latent: Tensor, *, space: str = "z", classes: Tensor | None = None) -> Tensor:
        """Images (N, C, R, R) in [0, 1]; in training mode not clamped (the output layer is linear)."""
        if not self.training:
            return super().synthesize(latent, space=space, classes=classes)
        self.check_space(space)
        raw = self._synthesize(latent, space, self.check_classes(classes, latent.shape[0]))
        return (raw + 1) / 2

    # ------------------------------------------------------------------ weight space
    def shiftable_weights(self) -> dict[str, Tensor]:
        """The synthesis conv kernels (out, in, 3, 3) by upstream name, e.g. ``synthesis.b16.conv0.weight``."""
        return {n: p for n, p in self.named_parameters()
                if n.startswith("synthesis.") and n.endswith(("conv0.weight", "conv1.weight"))}


def from_nvlabs_record(record: dict[str, Any], *, name: str = "stylegan2-ada") -> StyleGAN2ADAGenerator:
    """Build a `StyleGAN2ADAGenerator` from `read_network_pickle`'s record of a StyleGAN2 ``Generator``.

    stylegan2-ada-pytorch's ``training.networks.Generator`` nests the synthesis arguments in
    ``synthesis_kwargs``; stylegan3's copy (``training.networks_stylegan2``) takes them flat and
    clamps at 256 unless told otherwise. Either way the built network is checked against the
    attributes upstream recorded (each layer's ``conv_clamp``, each block's architecture).
    """
    kw = dict(record.get("init_kwargs") or {})
    if record.get("init_args"):
        raise FileFormatError("the generator was built with positional arguments; expected keyword arguments")
    top = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs"}
    if record.get("module") == "training.networks_stylegan2":
        synthesis = {k: v for k, v in kw.items() if k not in top}
        synthesis.setdefault("conv_clamp", 256)  # that module's default
        kw = {**{k: v for k, v in kw.items() if k in top}, "synthesis_kwargs": synthesis}
    allowed = top | {"synthesis_kwargs"}
    unknown = sorted(set(kw) - allowed - _IGNORED_KEYS)
    if unknown:
        raise FileFormatError(f"generator arguments {unknown} are not supported; allowed: {', '.join(sorted(allowed))}")
    try:
        G = StyleGAN2ADAGenerator(**{k: v for k, v in kw.items() if k in allowed}, name=name)
    except (TypeError, ValueError) as e:
        raise FileFormatError(f"generator arguments do not fit StyleGAN2-ADA ({e})") from None
    state, own = record["state"], G.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    bad = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        detail = (f"missing {missing[:3]}" if missing else
                  f"unexpected {unexpected[:3]}" if unexpected else f"shape mismatch at {bad[:3]}")
        raise FileFormatError(f"weights do not fit the StyleGAN2-ADA generator ({detail})")
    attrs = record.get("attributes") or {}
    for path, module in G.named_modules():
        for attr in ("conv_clamp", "architecture", "activation", "use_noise"):
            key = f"{path}.{attr}"
            if key in attrs and hasattr(module, attr) and attrs[key] != getattr(module, attr):
                raise FileFormatError(f"{key} is {attrs[key]!r} in the pickle but {getattr(module, attr)!r} "
                                      "as rebuilt from its arguments; not a supported variant")
    G.load_state_dict({k: v.float() for k, v in state.items()})
    return G.eval().requires_grad_(False)
