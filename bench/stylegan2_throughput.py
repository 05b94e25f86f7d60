"""Throughput of the pure-PyTorch StyleGAN2 on this machine (CPU unless --device says otherwise).

Prints, for the bundled 32 px model and a full-width 64 px config (z = w = 512, 8 mapping layers,
512 channels): synthesis images/s (eval, no grad), forward+backward images/s (train mode, grad
w.r.t. all weights) and their ratio; and for one modulated 3x3 conv the time of steerlab's
"non-fused" form (scale inputs, shared conv, scale outputs) over the grouped per-sample-kernel
form, both measured in this run.

    python bench/stylegan2_throughput.py [--batch 16] [--repeats 5] [--device cpu]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from steerlab.models import StyleGAN2Generator, load_model
from steerlab.models.stylegan2 import ModulatedConv


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def model_throughput(G: StyleGAN2Generator, batch: int, repeats: int, device: str) -> tuple[float, float]:
    G = G.to(device)
    z = torch.randn(batch, G.z_dim, device=device)
    c = torch.arange(batch, device=device) % G.num_classes if G.num_classes else None

    def synth():
        with torch.no_grad():
            G.eval().synthesize(z, classes=c)

    def fwd_bwd():
        G.train().requires_grad_(True)
        G.synthesize(z, classes=c).square().mean().backward()
        G.zero_grad(set_to_none=True)

    t_syn, t_fb = best_time(synth, repeats), best_time(fwd_bwd, repeats)
    G.eval().requires_grad_(False)
    return batch / t_syn, batch / t_fb


def grouped_modconv(layer: ModulatedConv, x, w):
    """The same modulated conv with one demodulated kernel per sample (grouped conv)."""
    n, c, h, wd = x.shape
    styles = layer.affine(w)
    weight = layer.weight[None] * layer.gain * styles[:, None, :, None, None]  # (N, out, in, k, k)
    weight = weight * (weight.square().sum((2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    out = F.conv2d(x.reshape(1, n * c, h, wd), weight.reshape(-1, c, *weight.shape[3:]), padding=1, groups=n)
    return out.reshape(n, -1, h, wd)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {a.device}, {torch.get_num_threads()} threads, batch {a.batch}")
    try:
        bundled = load_model("shapes-stylegan2")
    except ValueError:
        from steerlab.training.shapes_stylegan2 import ARCH
        bundled = StyleGAN2Generator(**ARCH, name="shapes-stylegan2 (random weights)")
    full = StyleGAN2Generator(resolution=64, z_dim=512, w_dim=512, n_mlp=8, name="full-width 64 px")
    for G in (bundled, full):
        params = sum(t.numel() for t in G.parameters()) / 1e6
        syn, fb = model_throughput(G, a.batch, a.repeats, a.device)
        print(f"{G.name:<34} {params:5.2f} M params  synthesis {syn:8.1f} img/s  "
              f"forward+backward {fb:7.1f} img/s  ratio {syn / fb:4.1f}x")
    layer = ModulatedConv(128, 128, 3, 128).to(a.device)
    x, w = torch.randn(a.batch, 128, 32, 32, device=a.device), torch.randn(a.batch, 128, device=a.device)
    with torch.no_grad():
        diff = (layer(x, w) - grouped_modconv(layer, x, w)).abs().max().item()
        t_nf = best_time(lambda: layer(x, w), a.repeats)
        t_g = best_time(lambda: grouped_modconv(layer, x, w), a.repeats)
    print(f"modulated conv 128->128 @32x32: non-fused {t_nf * 1e3:.1f} ms, grouped {t_g * 1e3:.1f} ms, "
          f"grouped / non-fused = {t_g / t_nf:.2f}x (max |difference| {diff:.1e})")


if __name__ == "__main__":
    main()
