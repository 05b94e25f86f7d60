"""StyleGAN3 (Karras et al., NeurIPS 2021, "Alias-Free Generative Adversarial Networks"), configs T and R.

Plain PyTorch, CPU or GPU, no custom CUDA ops:

    z (N, z_dim) [+ one-hot class] --mapping--> w (N, w_dim) --broadcast--> ws (N, num_ws, w_dim)
    ws[:, 0] -> Fourier-feature input (rotated/translated by an affine of w, then by the input transform)
    ws[:, 1:] -> num_layers + 1 layers: modulated conv -> filtered leaky ReLU (the last one is ToRGB)
    -> image * output_scale, in about [-1, 1]

- ``mapping``: 2nd-moment normalised z (and, if ``c_dim`` > 0, a normalised linear embedding of the
  one-hot label) through ``num_layers`` equalised-lr fully connected layers (lr multiplier 0.01);
  ``w_avg`` for truncation ``w_avg + psi (w - w_avg)``.
- ``synthesis.input`` (`SynthesisInput`): sinusoids of fixed random frequencies (``freqs``) and phases
  sampled on a grid of ``size`` pixels at ``sampling_rate`` samples per unit (the output image spans
  one unit), mixed by a learned ``weight``. An affine of w gives a rotation (r_c, r_s, normalised) and a
  translation (t_x, t_y) of the features; the ``transform`` buffer (3x3, the *inverse* of the wanted
  image transform, as upstream stores it) is applied after those. Frequencies that the transform
  pushes above the band are faded out.
- `SynthesisLayer`: a modulated conv (weights normalised, styles normalised, demodulated, input scaled
  by ``magnitude_ema ** -0.5``; 3x3 for config T, 1x1 for R; the final ToRGB is 1x1 without
  demodulation, styles scaled by 1/sqrt(fan-in)), then the *filtered leaky ReLU* of the paper
  (Sec. 3.2): add the bias, upsample by ``up`` (zero insertion + the low-pass ``up_filter``, gain
  up^2), leaky ReLU (slope 0.2) times sqrt(2), clamp to ``conv_clamp``, low-pass with ``down_filter``
  and keep every ``down``-th sample. Padding follows the symmetric sample-position convention
  (paper App. C.3), so feature maps stay centred when their size changes.
- The layer schedule (paper App. F): cutoffs and minimum stopbands grow geometrically from
  (``first_cutoff``, ``first_stopband``) to (R/2, R/2 * ``last_stopband_rel``) over the first
  ``num_layers - num_critical`` layers and stay there; sampling rates are the next power of two of
  2 x stopband (at most R); transition half-widths are max(stopband, rate/2) - cutoff; maps carry
  ``margin_size`` extra pixels per side except the last two layers; channels are
  min(channel_base / 2 / cutoff, channel_max). Filters are Kaiser-windowed sinc low-passes
  (``scipy.signal.firwin``, separable), or for config R's non-critical downsampling filters a
  Kaiser-windowed jinc (radially symmetric, 2-D). Checkpoints carry these filters as buffers;
  the constructor designs the same ones, so a model built from its config alone is complete.

Latent spaces: ``z``; ``w`` (N, w_dim), one w for all layers; ``w+`` (N, num_ws, w_dim),
num_ws = num_layers + 2 (the input takes ws[:, 0]).

**Input transform knob.** ``G.synthesize(latent, space=..., transform=(dx, dy, angle))`` renders
the same latent with the image translated by (dx, dy) image widths (dx > 0 moves content right,
dy > 0 moves it down) and rotated by ``angle`` degrees, the units of upstream's ``gen_images.py
--translate/--rotate``. Each entry is a float or an (N,) tensor (one value per sample, and
differentiable), so it is the model's own ground-truth translation/rotation to compare learned
walks against. It is applied on top of any transform stored in the checkpoint.

Differences from the upstream code, none of which changes the images beyond float rounding: styles
are normalised per sample before demodulation (upstream divides by one RMS over the whole batch;
demodulation cancels the scale either way, up to its 1e-8 epsilon, so upstream's images depend on
their batch mates only through that epsilon and ours do not); modulated convs run as one shared conv
between per-sample input and output scalings instead of a grouped conv; fp16 layers run in float32;
``magnitude_ema`` and ``w_avg`` are never updated (steerlab does not train StyleGAN3).

Parameter and buffer names are upstream's (``synthesis.L3_36_10.weight``, ``mapping.fc0.bias``,
``synthesis.input.freqs``...), so an upstream ``state_dict`` loads one to one
(`stylegan3_from_state`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping as MappingABC
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steerlab.core.io import FileFormatError
from steerlab.models.base import Generator, StyleSpaces
from steerlab.models.stylegan2 import FullyConnected

SQRT2 = math.sqrt(2.0)
UPSTREAM_CLASS = "training.networks_stylegan3.Generator"


# ---------------------------------------------------------------------------------------------- filters
def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> Tensor | None:
    """Kaiser-windowed low-pass FIR filter; ``None`` for one tap (identity).

    Separable (1-D, ``numtaps``): the window-method design of ``scipy.signal.firwin`` with the
    Kaiser window whose beta meets the transition ``width``. Radial (2-D, ``numtaps`` squared): the
    ideal circular low-pass, a jinc J1(2 pi fc r) / (pi r), times the outer product of that Kaiser
    window, normalised to sum 1. ``cutoff``, ``width`` and ``fs`` share one unit (cycles per unit).
    """
    import scipy.signal
    import scipy.special

    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs),
                               dtype=torch.float32)
    t = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(t, t))
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(r > 0, scipy.special.j1(2 * np.pi * cutoff * r) / (np.pi * np.where(r > 0, r, 1)), cutoff)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f = f * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


def upfirdn2d(x: Tensor, f: Tensor | None, *, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> Tensor:
    """Upsample (zero insertion), pad, FIR-filter, downsample: (N, C, H, W) -> (N, C, H', W').

    ``padding`` = (x_before, x_after, y_before, y_after), applied after upsampling; negative values
    crop. ``f``: a 1-D filter (applied along x then y), a 2-D filter, or ``None`` (a single tap);
    true convolution (the filter is flipped). ``gain`` scales the output (split across the two
    passes of a 1-D filter). Downsampling keeps samples 0, down, 2 down, ...
    """
    n, c, h, w = x.shape
    if up > 1 and f is not None and f.dim() == 1 and f.numel() % up == 0:  # same numbers, no zeros multiplied
        g = f.to(x).flip(0) * math.sqrt(gain)
        x = _polyphase_up(_polyphase_up(x, g, up, padding[0], padding[1], dim=3), g, up, padding[2], padding[3], dim=2)
        return x[:, :, ::down, ::down] if down > 1 else x
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(n, c, h * up, w * up)
    px0, px1, py0, py1 = padding
    x = F.pad(x, (max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)))
    x = x[:, :, max(-py0, 0):x.shape[2] - max(-py1, 0), max(-px0, 0):x.shape[3] - max(-px1, 0)]
    if f is None:
        x = x * gain if gain != 1 else x
        return x[:, :, ::down, ::down] if down > 1 else x
    f = f.to(x).flip(list(range(f.dim())))
    if f.dim() == 1:
        f = f * math.sqrt(gain)
        k = f.numel()
        x = F.conv2d(x, f.reshape(1, 1, 1, k).expand(c, 1, 1, k), stride=(1, down), groups=c)
        return F.conv2d(x, f.reshape(1, 1, k, 1).expand(c, 1, k, 1), stride=(down, 1), groups=c)
    f = f * gain
    return F.conv2d(x, f[None, None].expand(c, 1, *f.shape), stride=down, groups=c)


def _polyphase_up(x: Tensor, g: Tensor, up: int, p0: int, p1: int, *, dim: int) -> Tensor:
    """Along ``dim`` (2: y, 3: x): zero insertion by ``up``, padding (p0, p1), correlation with ``g``.

    Computed per output phase r (outputs up*q + r), each a correlation of the input at its own rate
    with the taps of g that meet input samples for that phase, g[t0::up] (t0 = (p0 - r) mod up),
    so the zeros are never multiplied: 1/up of the work of filtering the zero-stuffed signal.
    """
    c, length, k = x.shape[1], x.shape[dim], g.numel()
    out = length * up + p0 + p1 - k + 1
    nq = -(-out // up)  # outputs per phase (the last phases may have one too many: cropped below)
    phases = []
    for r in range(up):
        t0 = (p0 - r) % up
        sub = g[t0::up]
        lo = (r + t0 - p0) // up  # input index of output q = 0's first tap
        hi = lo + nq + sub.numel() - 2  # last input index needed
        pads = [0, 0, 0, 0]
        side = 0 if dim == 3 else 2
        pads[side], pads[side + 1] = max(0, -lo), max(0, hi - length + 1)
        seg = F.pad(x, pads).narrow(dim, lo + max(0, -lo), hi - lo + 1)
        shape = (c, 1, 1, sub.numel()) if dim == 3 else (c, 1, sub.numel(), 1)
        phases.append(F.conv2d(seg, sub.reshape(shape[1:]).expand(shape), groups=c))
    y = torch.stack(phases, dim + 1).flatten(dim, dim + 1)  # interleave: index q * up + r
    return y.narrow(dim, 0, out)


def filtered_lrelu(x: Tensor, fu: Tensor | None, fd: Tensor | None, b: Tensor, *, up: int, down: int,
                   padding: tuple[int, int, int, int], gain: float = SQRT2, slope: float = 0.2,
                   clamp: float | None = None) -> Tensor:
    """The alias-free nonlinearity (paper Sec. 3.2, Fig. 4), per channel of (N, C, H, W).

    x + b, upsampled by ``up`` with ``fu`` (gain up^2, ``padding`` as in `upfirdn2d`), leaky ReLU
    (``slope``) times ``gain``, clamped to [-clamp, clamp], then low-passed with ``fd`` and
    decimated by ``down``.
    """
    x = x + b.to(x)[None, :, None, None]
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=float(up * up))
    x = (F.leaky_relu(x, slope) if slope != 1 else x) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, fd, down=down)


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool = True, padding: int = 0,
                     input_gain: Tensor | float | None = None) -> Tensor:
    """Conv of x (N, I, H, W) with ``weight`` (O, I, k, k) modulated per sample by ``styles`` (N, I).

    With ``demodulate``, the kernel is first normalised per output channel and the styles per
    sample (both to unit RMS), and each output channel of each sample is divided by the L2 norm of
    its effective (modulated) kernel. ``input_gain`` (scalar, (I,) or (N, I)) scales the input
    channels after demodulation. Computed as input scaling -> one shared conv -> output scaling,
    which equals the per-sample kernels' grouped conv.
    """
    if demodulate:
        weight = weight * weight.square().mean((1, 2, 3), keepdim=True).rsqrt()
        styles = styles * styles.square().mean(1, keepdim=True).rsqrt()
    scale = styles if input_gain is None else styles * input_gain
    y = F.conv2d(x * scale[:, :, None, None].to(x), weight.to(x), padding=padding)
    if demodulate:
        d = (styles.square() @ weight.square().sum((2, 3)).t() + 1e-8).rsqrt()  # (N, O)
        y = y * d[:, :, None, None].to(y)
    return y


# ---------------------------------------------------------------------------------------------- schedule
def layer_schedule(img_resolution: int, img_channels: int, *, channel_base: float = 32768, channel_max: int = 512,
                   num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                   first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3,
                   margin_size: int = 10) -> dict[str, np.ndarray]:
    """Per-layer cutoff, stopband, sampling rate, half-width, size and channels (index 0 is the input).

    Arrays of length num_layers + 1 (float64), as in the paper's App. F; layer i >= 1 reads index i-1
    and writes index i, the input layer writes index 0, and the last index is ToRGB.
    """
    if num_layers <= num_critical or num_critical < 0:
        raise ValueError(f"num_layers ({num_layers}) must exceed num_critical ({num_critical}) >= 0")
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return {"cutoffs": cutoffs, "stopbands": stopbands, "sampling_rates": rates, "half_widths": half_widths,
            "sizes": sizes, "channels": channels}


# ---------------------------------------------------------------------------------------------- layers
class MappingNetwork(nn.Module):
    """z (N, z_dim) [+ one-hot c (N, c_dim)] -> w (N, w_dim); ``w_avg`` for truncation."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_layers: int = 2, lr_multiplier: float = 0.01):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_layers = z_dim, c_dim, w_dim, num_layers
        self.embed = FullyConnected(c_dim, w_dim) if c_dim else None
        dims = [z_dim + (w_dim if c_dim else 0)] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnected(dims[i], dims[i + 1], lr_mul=lr_multiplier, activation=True))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        x = z.float()
        x = x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        if self.embed is not None:
            y = self.embed(c.float())
            x = torch.cat([x, y * (y.square().mean(1, keepdim=True) + 1e-8).rsqrt()], 1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x


def input_transform_matrix(dx: Tensor | float, dy: Tensor | float, angle: Tensor | float, *,
                           n: int, device: torch.device | str = "cpu") -> Tensor:
    """(n, 3, 3) inverse image transforms for a translation (dx, dy) (image widths) and rotation (degrees).

    The forward transform is upstream's ``make_transform``: [[c, s, dx], [-s, c, dy], [0, 0, 1]] with
    c, s = cos, sin(angle); `SynthesisInput` takes its inverse, which is computed here in closed form
    (so it is differentiable in every entry). Each of dx, dy, angle is a float or an (n,) tensor.
    """
    def col(v: Tensor | float, what: str) -> Tensor:
        v = torch.as_tensor(v, dtype=torch.float32, device=device).reshape(-1)
        if v.numel() == 1:
            v = v.expand(n)
        if v.numel() != n:
            raise ValueError(f"transform {what} must be a number or {n} values (one per sample), got {v.numel()}")
        return v

    dx, dy, a = col(dx, "dx"), col(dy, "dy"), col(angle, "angle") * (math.pi / 180)
    c, s = torch.cos(a), torch.sin(a)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    rows = [torch.stack([c, -s, -(c * dx - s * dy)], 1), torch.stack([s, c, -(s * dx + c * dy)], 1),
            torch.stack([zero, zero, one], 1)]
    return torch.stack(rows, 1)


class SynthesisInput(nn.Module):
    """Fourier features of ``channels`` random frequencies in the disc of radius ``bandwidth``."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim, self.channels, self.size = w_dim, channels, int(size)
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        # Random frequencies inside the band: a 2-D Gaussian sample's direction, at radius
        # exp(-r^2 / 4) (r its length, so in (0, 1]) times the bandwidth.
        g = torch.randn(channels, 2)
        r = g.norm(dim=1, keepdim=True)
        freqs = g / r * torch.exp(-r.square() / 4) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnected(w_dim, 4)
        with torch.no_grad():  # starts as no rotation, no translation
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))  # inverse image transform, stored by upstream
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def forward(self, w: Tensor, user: Tensor | None = None) -> Tensor:
        """w (N, w_dim) -> features (N, channels, size, size); ``user``: extra inverse transforms (N, 3, 3)."""
        t = self.affine(w)  # (r_c, r_s, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        zero, one = torch.zeros_like(t[:, 0]), torch.ones_like(t[:, 0])
        last = torch.stack([zero, zero, one], 1)
        m_r = torch.stack([torch.stack([t[:, 0], -t[:, 1], zero], 1),  # inverse rotation of the image
                           torch.stack([t[:, 1], t[:, 0], zero], 1), last], 1)
        m_t = torch.stack([torch.stack([one, zero, -t[:, 2]], 1),  # inverse translation of the image
                           torch.stack([zero, one, -t[:, 3]], 1), last], 1)
        stored = self.transform if user is None else self.transform @ user
        transforms = m_r @ m_t @ stored  # rotate the image, then translate, then the stored/user transform

        phases = self.phases[None] + (self.freqs[None] @ transforms[:, :2, 2:]).squeeze(2)  # (N, C)
        freqs = self.freqs[None] @ transforms[:, :2, :2]  # (N, C, 2)
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth)
                      / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)  # fade out-of-band ones

        coords = (torch.arange(self.size, device=w.device, dtype=torch.float32) + 0.5 - self.size / 2) \
            / self.sampling_rate  # pixel centres, in units where the output image spans 1
        # argument (N, H, W, C) = x * f_x + y * f_y + phase
        arg = (coords[None, None, :, None] * freqs[:, None, None, :, 0]
               + coords[None, :, None, None] * freqs[:, None, None, :, 1] + phases[:, None, None, :])
        x = torch.sin(arg * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated conv + filtered leaky ReLU between two sampling rates (or ToRGB)."""

    def __init__(self, w_dim: int, *, is_torgb: bool, is_critically_sampled: bool, in_channels: int,
                 out_channels: int, in_size: int, out_size: int, in_sampling_rate: float, out_sampling_rate: float,
                 in_cutoff: float, out_cutoff: float, in_half_width: float, out_half_width: float,
                 conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2,
                 use_radial_filters: bool = False, conv_clamp: float | None = 256):
        super().__init__()
        self.is_torgb, self.in_channels, self.out_channels = is_torgb, in_channels, out_channels
        self.in_size, self.out_size = int(in_size), int(out_size)
        self.conv_kernel = 1 if is_torgb else int(conv_kernel)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        tmp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.up = int(np.rint(tmp_rate / in_sampling_rate))
        self.down = int(np.rint(tmp_rate / out_sampling_rate))
        if self.up * in_sampling_rate != tmp_rate or self.down * out_sampling_rate != tmp_rate:
            raise ValueError(f"sampling rates {in_sampling_rate} -> {out_sampling_rate} are not integer ratios "
                             f"of {tmp_rate}")
        up_taps = filter_size * self.up if self.up > 1 and not is_torgb else 1
        down_taps = filter_size * self.down if self.down > 1 and not is_torgb else 1
        radial = bool(use_radial_filters) and not is_critically_sampled
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones(()))
        self.register_buffer("up_filter", design_lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_rate))
        self.register_buffer("down_filter", design_lowpass_filter(down_taps, out_cutoff, out_half_width * 2,
                                                                  tmp_rate, radial=radial))
        # Pad so that the output has out_size samples, centred (symmetric interpretation, paper App. C.3).
        total = (self.out_size - 1) * self.down + 1 - (self.in_size + self.conv_kernel - 1) * self.up \
            + up_taps + down_taps - 2
        lo = (total + self.up) // 2
        self.padding = (lo, total - lo, lo, total - lo)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel ** 2)
        x = modulated_conv2d(x, self.weight, styles, padding=self.conv_kernel - 1, demodulate=not self.is_torgb,
                             input_gain=self.magnitude_ema.rsqrt())
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, up=self.up, down=self.down,
                              padding=self.padding, gain=1.0 if self.is_torgb else SQRT2,
                              slope=1.0 if self.is_torgb else 0.2, clamp=self.conv_clamp)


class SynthesisNetwork(nn.Module):
    """ws (N, num_layers + 2, w_dim) -> image (N, img_channels, R, R) times ``output_scale``."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, *, channel_base: float = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, **layer_kwargs: Any):
        super().__init__()
        sched = layer_schedule(img_resolution, img_channels, channel_base=channel_base, channel_max=channel_max,
                               num_layers=num_layers, num_critical=num_critical, first_cutoff=first_cutoff,
                               first_stopband=first_stopband, last_stopband_rel=last_stopband_rel,
                               margin_size=margin_size)
        self.num_ws, self.output_scale = num_layers + 2, float(output_scale)
        ch, sizes, rates = sched["channels"], sched["sizes"], sched["sampling_rates"]
        cut, hw = sched["cutoffs"], sched["half_widths"]
        self.input = SynthesisInput(w_dim, int(ch[0]), int(sizes[0]), rates[0], cut[0])
        self.layer_names = []
        for i in range(num_layers + 1):
            p = max(i - 1, 0)
            layer = SynthesisLayer(
                w_dim, is_torgb=i == num_layers, is_critically_sampled=i >= num_layers - num_critical,
                in_channels=int(ch[p]), out_channels=int(ch[i]), in_size=int(sizes[p]), out_size=int(sizes[i]),
                in_sampling_rate=int(rates[p]), out_sampling_rate=int(rates[i]), in_cutoff=cut[p],
                out_cutoff=cut[i], in_half_width=hw[p], out_half_width=hw[i], **layer_kwargs)
            name = f"L{i}_{int(sizes[i])}_{int(ch[i])}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: Tensor, transform: Tensor | None = None) -> Tensor:
        ws = ws.float().unbind(1)
        x = self.input(ws[0], transform)
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w)
        return x * self.output_scale if self.output_scale != 1 else x


# ---------------------------------------------------------------------------------------------- generator
_SYNTHESIS_KEYS = ("channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
                   "last_stopband_rel", "margin_size", "output_scale", "conv_kernel", "filter_size",
                   "lrelu_upsampling", "use_radial_filters", "conv_clamp")
_IGNORED_KEYS = ("num_fp16_res", "magnitude_ema_beta")  # precision and training-only settings
_MAPPING_KEYS = ("num_layers", "lr_multiplier", "w_avg_beta")


class StyleGAN3Generator(StyleSpaces, Generator):
    """StyleGAN3 (config T or R) behind the steerlab generator protocol.

    The constructor takes upstream's ``Generator`` init kwargs (``z_dim``, ``c_dim``, ``w_dim``,
    ``img_resolution``, ``img_channels``, ``mapping_kwargs`` and the synthesis/layer kwargs:
    ``channel_base``, ``channel_max``, ``num_layers``, ``conv_kernel`` (1 for config R),
    ``use_radial_filters`` (R), ``conv_clamp``, ...; ``num_fp16_res`` and ``magnitude_ema_beta``
    are accepted and have no effect), plus ``truncation_psi`` and ``name``.

    Shape:
        - z: (N, z_dim); w: (N, w_dim); w+: (N, num_ws, w_dim), num_ws = num_layers + 2.
        - ``synthesize(latent, space=..., classes=..., transform=(dx, dy, angle))`` ->
          (N, img_channels, R, R) float32 in [0, 1]; see the module docstring for ``transform``.

    Example:
        >>> G = StyleGAN3Generator(z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=8,
        ...                        num_layers=4, mapping_kwargs={"num_layers": 2})
        >>> G.synthesize(G.sample_z(2), transform=(0.25, 0.0, 0.0)).shape
        torch.Size([2, 3, 16, 16])
    """

    latent_spaces = ("z", "w", "w+")
    output_range = (-1.0, 1.0)
    has_input_transform = True  # synthesize(..., transform=(dx, dy, angle)); see the module docstring

    def __init__(self, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512, img_resolution: int = 256,
                 img_channels: int = 3, mapping_kwargs: dict | None = None, *, truncation_psi: float = 1.0,
                 name: str = "stylegan3", **synthesis_kwargs: Any):
        super().__init__()
        unknown = sorted(set(synthesis_kwargs) - set(_SYNTHESIS_KEYS) - set(_IGNORED_KEYS))
        if unknown:
            raise ValueError(f"unknown StyleGAN3 option(s) {unknown}; allowed: "
                             f"{', '.join(_SYNTHESIS_KEYS + _IGNORED_KEYS)}")
        mapping_kwargs = dict(mapping_kwargs or {})
        unknown = sorted(set(mapping_kwargs) - set(_MAPPING_KEYS))
        if unknown:
            raise ValueError(f"unknown StyleGAN3 mapping option(s) {unknown}; allowed: {', '.join(_MAPPING_KEYS)}")
        for what, v in (("z_dim", z_dim), ("w_dim", w_dim), ("img_resolution", img_resolution),
                        ("img_channels", img_channels)):
            if int(v) < 1:
                raise ValueError(f"StyleGAN3 {what} must be >= 1, got {v}")
        if int(c_dim) < 0:
            raise ValueError(f"StyleGAN3 c_dim must be >= 0, got {c_dim}")
        if not 0.0 <= truncation_psi <= 2.0 or not math.isfinite(truncation_psi):
            raise ValueError(f"truncation_psi must be in [0, 2], got {truncation_psi}")
        self.name, self.z_dim, self.w_dim, self.num_classes = name, int(z_dim), int(w_dim), int(c_dim)
        self.resolution, self.channels = int(img_resolution), int(img_channels)
        self.truncation_psi = float(truncation_psi)
        self._kwargs = {"z_dim": self.z_dim, "c_dim": self.num_classes, "w_dim": self.w_dim,
                        "img_resolution": self.resolution, "img_channels": self.channels,
                        "mapping_kwargs": mapping_kwargs, **synthesis_kwargs}
        layer = {k: v for k, v in synthesis_kwargs.items() if k not in _IGNORED_KEYS}
        self.synthesis = SynthesisNetwork(self.w_dim, self.resolution, self.channels, **layer)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(self.z_dim, self.num_classes, self.w_dim,
                                      **{k: v for k, v in mapping_kwargs.items() if k != "w_avg_beta"})

    def config(self) -> dict:
        return {**self._kwargs, "truncation_psi": self.truncation_psi, "name": self.name}

    # ------------------------------------------------------------------ spaces
    def _map(self, z: Tensor, classes: Tensor | None) -> Tensor:
        return self.mapping(z, F.one_hot(classes, self.num_classes).float() if classes is not None else None)

    # ------------------------------------------------------------------ synthesis
    def synthesize(self, latent: Tensor, *, space: str = "z", classes: Tensor | None = None,
                   transform: tuple | Tensor | None = None) -> Tensor:
        """Render images in [0, 1]; ``transform`` = (dx, dy, angle) moves the model's own input.

        dx, dy: translation in image widths (dx > 0: content moves right; dy > 0: down); angle:
        rotation in degrees (upstream's ``gen_images.py --rotate`` sign). Each a float or an (N,)
        tensor (differentiable). ``None`` renders with the checkpoint's stored transform only.
        """
        if transform is None:
            return super().synthesize(latent, space=space, classes=classes)
        if len(transform) != 3:
            raise ValueError(f"transform must be (dx, dy, angle), got {len(transform)} values")
        self.check_space(space)
        classes = self.check_classes(classes, latent.shape[0])
        m = input_transform_matrix(*transform, n=latent.shape[0], device=latent.device)
        raw = self._synthesize(latent, space, classes, m)
        lo, hi = self.output_range
        return ((raw - lo) / (hi - lo)).clamp(0.0, 1.0)

    def _synthesize(self, latent: Tensor, space: str, classes: Tensor | None,
                    transform: Tensor | None = None) -> Tensor:
        self._check_latent(latent, space)
        ws = self.to_space(latent, "w+", classes) if space == "z" else latent
        if space == "w":
            ws = ws[:, None].expand(-1, self.num_ws, -1)
        return self.synthesis(ws, transform)

    def shiftable_weights(self) -> dict[str, Tensor]:
        """The synthesis layers' conv kernels (O, I, k, k), by name (``synthesis.L3_36_10.weight``)."""
        return {f"synthesis.{n}.weight": getattr(self.synthesis, n).weight for n in self.synthesis.layer_names}


# ---------------------------------------------------------------------------------------------- checkpoints
def _plain(v: Any) -> Any:
    """numpy scalars / nested dicts from a pickle -> plain Python values."""
    if isinstance(v, MappingABC):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def stylegan3_from_state(kwargs: dict, state: dict[str, Tensor], *, name: str = "stylegan3",
                         truncation_psi: float = 1.0, where: str = "checkpoint") -> StyleGAN3Generator:
    """Build a `StyleGAN3Generator` from upstream's ``Generator`` init kwargs and its ``state_dict()``.

    Frozen and in eval mode. Raises `FileFormatError` (one line) for kwargs StyleGAN3 does not take,
    missing or unexpected tensors, wrong shapes, or NaN/inf values.
    """
    if not isinstance(kwargs, MappingABC):
        raise FileFormatError(f"{where}: StyleGAN3 init kwargs must be a dict, got {type(kwargs).__name__}")
    kwargs = _plain(kwargs)
    try:
        G = StyleGAN3Generator(**kwargs, truncation_psi=truncation_psi, name=name)
    except (TypeError, ValueError) as e:
        raise FileFormatError(f"{where}: StyleGAN3 kwargs not supported ({e})") from None
    own = G.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise FileFormatError(f"{where}: tensors do not fit a StyleGAN3 generator with these kwargs ({detail})")
    for k, v in state.items():
        if not torch.is_tensor(v) or tuple(v.shape) != tuple(own[k].shape):
            got = tuple(v.shape) if torch.is_tensor(v) else type(v).__name__
            raise FileFormatError(f"{where}: tensor {k} has shape {got}, expected {tuple(own[k].shape)}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise FileFormatError(f"{where}: tensor {k} contains NaN or inf")
    G.load_state_dict({k: v.float() for k, v in state.items()})
    return G.eval().requires_grad_(False)


def from_record(record: Any, *, name: str = "stylegan3", truncation_psi: float = 1.0,
                where: str = "checkpoint") -> StyleGAN3Generator:
    """Build from a network record of an NVlabs pickle (class name, init kwargs, flat state dict).

    ``record`` may be an object with attributes or a dict with keys ``class_name``, ``init_kwargs``
    (or ``kwargs``) and ``state`` (or ``state_dict``).
    """
    def field(*names: str) -> Any:
        for n in names:
            if isinstance(record, MappingABC) and n in record:
                return record[n]
            if not isinstance(record, MappingABC) and hasattr(record, n):
                return getattr(record, n)
        raise FileFormatError(f"{where}: network record has no {names[0]!r}")

    cls = str(field("class_name"))
    if not cls.endswith("networks_stylegan3.Generator"):
        raise FileFormatError(f"{where}: network class {cls!r} is not a StyleGAN3 generator "
                              f"(allowed: {UPSTREAM_CLASS})")
    return stylegan3_from_state(field("init_kwargs", "kwargs"), field("state", "state_dict"), name=name,
                                truncation_psi=truncation_psi, where=where)
