"""StyleGAN2 (Karras et al., CVPR 2020) in plain PyTorch: no custom CUDA ops, CPU or GPU.

    z (N, z_dim) --mapping--> w (N, w_dim) --broadcast--> ws (N, num_ws, w_dim) --synthesis--> image

- ``mapping``: pixel-normalised z (and, if conditional, a normalised class embedding) through
  ``n_mlp`` equalised-lr fully connected layers (lr multiplier 0.01, leaky ReLU).
- ``synthesis``: a learned 4x4 constant, then per resolution a block of two modulated 3x3 convs
  (the first one upsampling x2 by transposed conv + [1,3,3,1] blur) with weight *demodulation*,
  per-pixel noise and a bias + leaky ReLU, and a modulated 1x1 ``torgb`` whose output is added
  to the x2-upsampled RGB of the block before ("skip" generator).
- Latent spaces: ``z``; ``w`` (N, w_dim), one w for every layer; ``w+`` (N, num_ws, w_dim), one w
  per layer. Truncation ``w_avg + psi (w - w_avg)`` is applied when mapping z into w / w+.
- Noise: fixed per-layer buffers in eval mode (so G(z) is a deterministic function, which walks
  need), fresh Gaussian noise in training mode.

Modulated convs are computed the "non-fused" way (scale input channels by the style, one shared
conv, scale output channels by the demodulation coefficients): the same numbers as a grouped
per-sample conv without building N kernels; `bench/stylegan2_throughput.py` measured it 1.05x
(1 thread) to 1.4x (2 threads) faster than the grouped form on a busy 2-core CPU.

Weights are stored raw with their equalised-lr gains applied at run time, so checkpoints of
the widely used rosinality ``stylegan2-pytorch`` port map one to one (`load_rosinality`).
Parameter names say where they sit (``synthesis.b16.conv0.weight``) and
`StyleGAN2Generator.shiftable_weights` returns the synthesis conv kernels by those names, for
weight-space navigation (Cherepkov et al.).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steerlab.core.io import FileFormatError, read_torch_checkpoint
from steerlab.models.base import Generator, StyleSpaces

BLUR = (1.0, 3.0, 3.0, 1.0)
SQRT2 = math.sqrt(2.0)


def _kernel2d(taps=BLUR) -> Tensor:
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[:, None] * k[None, :]
    return k / k.sum()  # (4, 4), sums to 1


def _fir(x: Tensor, kernel: Tensor, pad: tuple[int, int]) -> Tensor:
    """Depthwise 2-D FIR filter with (before, after) zero padding on both axes. (N, C, H, W)."""
    c = x.shape[1]
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    w = kernel.flip(0, 1).to(x)[None, None].expand(c, 1, -1, -1)
    return F.conv2d(x, w, groups=c)


def upsample2d(x: Tensor, kernel: Tensor) -> Tensor:
    """x2 upsampling: zero insertion, then the FIR kernel (gain 4). (N, C, H, W) -> (N, C, 2H, 2W)."""
    n, c, h, w = x.shape
    up = F.pad(x.reshape(n, c, h, 1, w, 1), (0, 1, 0, 0, 0, 1)).reshape(n, c, 2 * h, 2 * w)
    return _fir(up, kernel * 4, (2, 1))


class FullyConnected(nn.Module):
    """Equalised-lr linear layer: y = act(x (W * gain)^T + b * lr_mul), gain = lr_mul / sqrt(in)."""

    def __init__(self, in_dim: int, out_dim: int, *, lr_mul: float = 1.0, bias_init: float = 0.0,
                 activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.gain, self.lr_mul, self.activation = lr_mul / math.sqrt(in_dim), lr_mul, activation

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight * self.gain, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activation else x


class ModulatedConv(nn.Module):
    """Modulated (and optionally demodulated) conv; ``up`` = transposed conv x2 + blur."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, w_dim: int, *, demodulate: bool = True,
                 up: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)  # styles start at 1
        self.gain, self.demodulate, self.up = 1 / math.sqrt(in_ch * kernel * kernel), demodulate, up
        if up:
            self.register_buffer("blur", _kernel2d(), persistent=False)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w)  # (N, in)
        weight = self.weight * self.gain  # (out, in, k, k)
        x = x * styles[:, :, None, None]
        if self.up:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)  # (N, out, 2H+1, 2W+1)
            x = _fir(x, self.blur * 4, (1, 1))  # (N, out, 2H, 2W)
        else:
            x = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
        if self.demodulate:
            # Norm of each sample's effective kernel: sum over in, kh, kw of (w * s)^2.
            d = (weight.square().sum((2, 3))[None] * styles.square()[:, None, :]).sum(2)  # (N, out)
            x = x * (d + 1e-8).rsqrt()[:, :, None, None]
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv, per-pixel noise (learned strength), bias, leaky ReLU * sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv(in_ch, out_ch, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = self.conv(x, w)
        if self.training:  # fresh noise while training, the stored map otherwise (deterministic G)
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const.to(x)
        x = x + noise * self.noise_strength
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * SQRT2


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB without demodulation, plus bias."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv(in_ch, out_ch, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class SynthesisBlock(nn.Module):
    """One resolution: (b4) the constant and conv1, or (b8+) conv0 (x2 up) and conv1; then torgb."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, img_channels: int):
        super().__init__()
        self.resolution = resolution
        if resolution == 4:
            self.const = nn.Parameter(torch.randn(out_ch, 4, 4))
        else:
            self.conv0 = SynthesisLayer(in_ch, out_ch, w_dim, resolution, up=True)
        self.conv1 = SynthesisLayer(out_ch, out_ch, w_dim, resolution)
        self.torgb = ToRGB(out_ch, img_channels, w_dim)
        self.register_buffer("blur", _kernel2d(), persistent=False)

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor) -> tuple[Tensor, Tensor]:
        """ws: (N, 3, w_dim) for b8+ (conv0, conv1, torgb), (N, 2, w_dim) for b4 (conv1, torgb)."""
        if self.resolution == 4:
            x = self.const[None].expand(ws.shape[0], -1, -1, -1)
            ws = torch.cat([ws[:, :1], ws], 1)  # b4 has no conv0
        else:
            x = self.conv0(x, ws[:, 0])
        x = self.conv1(x, ws[:, 1])
        y = self.torgb(x, ws[:, 2])
        img = y if img is None else upsample2d(img, self.blur) + y
        return x, img


def default_channels(resolution: int, channel_base: int = 8192, channel_max: int = 512) -> list[int]:
    """NVIDIA's schedule: min(channel_base / res, channel_max) for res = 4, 8, ..., resolution."""
    n = int(round(math.log2(resolution)))
    return [min(channel_base // 2 ** i, channel_max) for i in range(2, n + 1)]


class Mapping(nn.Module):
    """z (N, z_dim) [+ class] -> w (N, w_dim); keeps ``w_avg``, the running mean of w, for truncation."""

    def __init__(self, z_dim: int, w_dim: int, n_mlp: int, num_classes: int, lr_mul: float):
        super().__init__()
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        dims = [z_dim * (2 if num_classes else 1)] + [w_dim] * n_mlp
        for i in range(n_mlp):
            setattr(self, f"fc{i}", FullyConnected(dims[i], dims[i + 1], lr_mul=lr_mul, activation=True))
        self.n_mlp = n_mlp
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, classes: Tensor | None = None) -> Tensor:
        x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()  # pixel norm
        if self.embed is not None:
            e = self.embed(classes)
            x = torch.cat([x, e * (e.square().mean(1, keepdim=True) + 1e-8).rsqrt()], 1)
        for i in range(self.n_mlp):
            x = getattr(self, f"fc{i}")(x)
        if self.training:  # track the mean w, as NVIDIA's training does (beta 0.995)
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, 0.995))
        return x


class Synthesis(nn.Module):
    """ws (N, num_ws, w_dim) -> raw image (N, img_channels, R, R), roughly in [-1, 1]."""

    def __init__(self, w_dim: int, resolution: int, channels: list[int], img_channels: int):
        super().__init__()
        self.resolutions = [2 ** i for i in range(2, int(round(math.log2(resolution))) + 1)]
        if len(channels) != len(self.resolutions):
            raise ValueError(f"need one channel count per resolution {self.resolutions}, got {channels}")
        for i, res in enumerate(self.resolutions):
            setattr(self, f"b{res}", SynthesisBlock(channels[max(i - 1, 0)], channels[i], w_dim, res, img_channels))
        self.num_ws = 2 * len(self.resolutions)

    def forward(self, ws: Tensor) -> Tensor:
        x = img = None
        for i, res in enumerate(self.resolutions):
            # b4 reads ws[0:2]; block i>0 reads ws[2i-1 : 2i+2] (conv0 shares its w with the torgb before).
            block_ws = ws[:, :2] if i == 0 else ws[:, 2 * i - 1:2 * i + 2]
            x, img = getattr(self, f"b{res}")(x, img, block_ws)
        return img


class StyleGAN2Generator(StyleSpaces, Generator):
    """StyleGAN2 behind the steerlab generator protocol; the constructor signature is its config.

    Args:
        resolution: output side, a power of two >= 8.
        z_dim, w_dim: latent sizes (512 in the paper).
        n_mlp: mapping layers (8 in the paper).
        channels: feature maps per resolution 4, 8, ..., R (default: NVIDIA's schedule, at most 512).
        img_channels: 3 for RGB.
        num_classes: 0 for unconditional; otherwise a class embedding enters the mapping.
        lr_mul: learning-rate multiplier of the mapping (0.01).
        truncation_psi: w = w_avg + psi (w - w_avg) when mapping z to w / w+ (1 = off).
        name: model name shown in reports.

    Shape:
        - z: (N, z_dim); w: (N, w_dim); w+: (N, num_ws, w_dim), num_ws = 2 log2(R) - 2.
        - output of ``synthesize``: (N, img_channels, R, R), float32 in [0, 1].

    Example:
        >>> G = StyleGAN2Generator(resolution=16, z_dim=16, w_dim=16, n_mlp=2, channels=[16, 16, 8])
        >>> ws = G.to_space(G.sample_z(2), "w+")
        >>> ws.shape, G.synthesize(ws, space="w+").shape
        (torch.Size([2, 6, 16]), torch.Size([2, 3, 16, 16]))
    """

    latent_spaces = ("z", "w", "w+")
    output_range = (-1.0, 1.0)
    fingerprint_scheme = "v1"  # the fingerprints stored with directions since the first release stay valid

    def __init__(self, resolution: int = 32, z_dim: int = 512, w_dim: int = 512, n_mlp: int = 8,
                 channels: list[int] | None = None, img_channels: int = 3, num_classes: int = 0,
                 lr_mul: float = 0.01, truncation_psi: float = 1.0, name: str = "stylegan2"):
        super().__init__()
        if resolution < 8 or 2 ** int(round(math.log2(resolution))) != resolution:
            raise ValueError(f"StyleGAN2 resolution must be a power of two >= 8, got {resolution}")
        if not 0.0 <= truncation_psi <= 2.0 or not math.isfinite(truncation_psi):
            raise ValueError(f"truncation_psi must be in [0, 2], got {truncation_psi}")
        channels = list(channels) if channels is not None else default_channels(resolution)
        self.name, self.resolution, self.z_dim, self.w_dim = name, resolution, z_dim, w_dim
        self.channels, self.num_classes, self.n_mlp = img_channels, num_classes, n_mlp
        self.feature_channels, self.lr_mul, self.truncation_psi = channels, lr_mul, float(truncation_psi)
        self.mapping = Mapping(z_dim, w_dim, n_mlp, num_classes, lr_mul)
        self.synthesis = Synthesis(w_dim, resolution, channels, img_channels)
        self.num_ws = self.synthesis.num_ws

    def config(self) -> dict:
        return {"resolution": self.resolution, "z_dim": self.z_dim, "w_dim": self.w_dim,
                "n_mlp": self.n_mlp, "channels": self.feature_channels, "img_channels": self.channels,
                "num_classes": self.num_classes, "lr_mul": self.lr_mul,
                "truncation_psi": self.truncation_psi, "name": self.name}

    # ------------------------------------------------------------------ spaces
    def _map(self, z: Tensor, classes: Tensor | None) -> Tensor:
        return self.mapping(z, classes)

    def _synthesize(self, latent: Tensor, space: str, classes: Tensor | None) -> Tensor:
        self._check_latent(latent, space)
        ws = self.to_space(latent, "w+", classes) if space == "z" else latent
        if space == "w":
            ws = ws[:, None].expand(-1, self.num_ws, -1)
        return self.synthesis(ws)

    def synthesize(self, latent: Tensor, *, space: str = "z", classes: Tensor | None = None) -> Tensor:
        """Images (N, C, R, R) in [0, 1] from a latent in ``space`` (see the class docstring).

        In training mode the output is *not* clamped: StyleGAN2's output layer is linear, and a
        clamp would give pixels outside [0, 1] no gradient to come back with.
        """
        if not self.training:
            return super().synthesize(latent, space=space, classes=classes)
        self.check_space(space)
        raw = self._synthesize(latent, space, self.check_classes(classes, latent.shape[0]))
        lo, hi = self.output_range
        return (raw - lo) / (hi - lo)

    # ------------------------------------------------------------------ weight space
    def shiftable_weights(self) -> dict[str, Tensor]:
        """The synthesis conv kernels (out, in, k, k) by name, e.g. ``synthesis.b16.conv0.conv.weight``:
        what Cherepkov et al. shift. Early blocks change geometry, late ones colour."""
        return {n: p for n, p in self.named_parameters()
                if n.startswith("synthesis.") and n.endswith("conv.weight") and p.dim() == 4
                and ".torgb." not in n}


# --------------------------------------------------------------------------- rosinality checkpoints
def _rosinality_key(key: str, n_mlp: int, resolutions: list[int]) -> str | None:
    """Map one key of rosinality's ``g_ema`` state dict to ours (None: a key we do not keep)."""
    parts = key.split(".")
    if parts[0] == "style":  # style.0 is PixelNorm; style.{i} (1..n_mlp) are the FC layers
        return f"mapping.fc{int(parts[1]) - 1}.{parts[2]}"
    if key == "input.input":
        return "synthesis.b4.const"
    if parts[0] == "noises":
        i = int(parts[1].split("_")[1])  # noise_0 -> b4.conv1; noise_{2k-1}, noise_{2k} -> b(4*2^k) conv0, conv1
        res = resolutions[(i + 1) // 2]
        return f"synthesis.b{res}.conv{0 if i % 2 else 1}.noise_const"
    if parts[0] in ("conv1", "to_rgb1"):
        block, rest = "b4", parts[1:]
        layer = "conv1" if parts[0] == "conv1" else "torgb"
    elif parts[0] == "convs":
        i = int(parts[1])
        block, layer, rest = f"b{resolutions[i // 2 + 1]}", f"conv{i % 2}", parts[2:]
    elif parts[0] == "to_rgbs":
        block, layer, rest = f"b{resolutions[int(parts[1]) + 1]}", "torgb", parts[2:]
    else:
        return None
    sub = ".".join(rest)
    table = {"conv.weight": "conv.weight", "conv.modulation.weight": "conv.affine.weight",
             "conv.modulation.bias": "conv.affine.bias", "noise.weight": "noise_strength",
             "activate.bias": "bias", "bias": "bias"}
    if sub in ("conv.blur.kernel", "upsample.kernel"):
        return "#kernel"
    return f"synthesis.{block}.{layer}.{table[sub]}" if sub in table else None


def convert_rosinality(state: dict[str, Tensor], *, latent_avg: Tensor | None = None,
                       name: str = "stylegan2", truncation_psi: float = 1.0,
                       where: str = "checkpoint") -> StyleGAN2Generator:
    """Build a `StyleGAN2Generator` from rosinality's ``g_ema`` state dict (sizes are inferred)."""
    try:
        n_mlp = max(int(k.split(".")[1]) for k in state if k.startswith("style.") and k.endswith(".weight"))
        w_dim, z_dim = state["style.1.weight"].shape[0], state["style.1.weight"].shape[1]
        n_up = sum(1 for k in state if k.startswith("to_rgbs.") and k.endswith(".conv.weight"))
        resolutions = [2 ** i for i in range(2, n_up + 3)]
        channels = [state["conv1.conv.weight"].shape[1]] + [
            state[f"convs.{2 * i}.conv.weight"].shape[1] for i in range(n_up)]
        img_channels = state["to_rgb1.conv.weight"].shape[1]
    except (KeyError, ValueError, IndexError, AttributeError) as e:
        raise FileFormatError(f"{where}: not a rosinality stylegan2 g_ema state dict "
                              f"(missing {str(e).strip(chr(39))[:60] or 'keys'})") from None
    G = StyleGAN2Generator(resolution=resolutions[-1], z_dim=z_dim, w_dim=w_dim, n_mlp=n_mlp,
                           channels=channels, img_channels=img_channels, name=name,
                           truncation_psi=truncation_psi)
    ours, blur = {}, _kernel2d()
    for key, value in state.items():
        new = _rosinality_key(key, n_mlp, resolutions)
        if new == "#kernel":  # rosinality stores its blur kernels; we only support [1, 3, 3, 1]
            if value.shape != blur.shape or not torch.allclose(value / value.sum(), blur, atol=1e-6):
                raise FileFormatError(f"{where}: blur kernel {key} is not [1, 3, 3, 1]; not supported")
            continue
        if new is None:
            raise FileFormatError(f"{where}: unexpected key {key!r} for a rosinality stylegan2 generator")
        if new.endswith(("conv.weight", "b4.const")):
            value = value[0]  # (1, out, in, k, k) -> (out, in, k, k); (1, C, 4, 4) -> (C, 4, 4)
        elif new.endswith("noise_const"):
            value = value[0, 0]
        elif new.endswith("torgb.bias"):
            value = value.reshape(-1)
        elif new.endswith("noise_strength"):
            value = value.reshape(())
        ours[new] = value
    if latent_avg is not None:
        ours["mapping.w_avg"] = latent_avg.reshape(-1).float()
    own = G.state_dict()
    missing = sorted(set(own) - set(ours) - {"mapping.w_avg"})
    bad = [k for k in ours if k in own and tuple(ours[k].shape) != tuple(own[k].shape)]
    if missing or bad:
        raise FileFormatError(f"{where}: weights do not fit a StyleGAN2 generator "
                              f"({'missing ' + str(missing[:3]) if missing else 'shape mismatch at ' + str(bad[:3])})")
    for k, v in ours.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise FileFormatError(f"{where}: tensor {k} contains NaN or inf")
    G.load_state_dict(ours, strict=False)
    if latent_avg is None:  # no stored mean: estimate it, as rosinality's mean_latent(4096) does
        with torch.no_grad():
            z = torch.randn(4096, z_dim, generator=torch.Generator().manual_seed(0))
            G.mapping.w_avg.copy_(G.mapping.eval()(z).mean(0))
    return G.eval().requires_grad_(False)


def load_rosinality(path: str | Path, *, name: str | None = None, truncation_psi: float = 1.0,
                    device: str | torch.device = "cpu") -> StyleGAN2Generator:
    """Load a rosinality ``stylegan2-pytorch`` checkpoint (``.pt`` with a ``g_ema`` state dict).

    Read with ``torch.load(weights_only=True)``: nothing in the file is executed. Both the
    converted official models (``{"g_ema": ..., "latent_avg": ...}``) and training checkpoints
    (which also hold ``g``, ``d``, optimiser states and an ``argparse.Namespace``) are accepted.

    Raises:
        FileFormatError: one line, for a file that is not such a checkpoint, has other shapes,
            NaN weights, or a pickle that needs code to load.
    """
    path = Path(path)
    with torch.serialization.safe_globals([argparse.Namespace]):  # training checkpoints store args
        ckpt = read_torch_checkpoint(path)
    if not isinstance(ckpt, dict) or "g_ema" not in ckpt or not isinstance(ckpt["g_ema"], dict):
        raise FileFormatError(f"{path}: no 'g_ema' state dict; not a rosinality stylegan2 checkpoint")
    avg = ckpt.get("latent_avg")
    G = convert_rosinality(ckpt["g_ema"], latent_avg=avg if torch.is_tensor(avg) else None,
                           name=name or path.stem, truncation_psi=truncation_psi, where=str(path))
    return G.to(device)
