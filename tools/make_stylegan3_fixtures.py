"""Write tiny StyleGAN3 (configs T and R) generators and their images, made by NVIDIA's own code.

Upstream: https://github.com/NVlabs/stylegan3 at commit c233a919a6faee6e36a316ddd4eddababad1adf9.
Run it OUTSIDE the project, with that checkout first on the path and on the CPU (so the upstream
ops ``filtered_lrelu``, ``upfirdn2d`` and ``bias_act`` take their reference PyTorch paths):

    git clone https://github.com/NVlabs/stylegan3 /tmp/sg3 && git -C /tmp/sg3 checkout c233a919
    PYTHONPATH=/tmp/sg3 CUDA_VISIBLE_DEVICES= python tools/make_stylegan3_fixtures.py tests/fixtures/stylegan3

(Upstream's ``conv2d_gradfix`` imports ``pkg_resources.parse_version``; where setuptools no longer
ships ``pkg_resources``, put a one-line stand-in on the path too:
``from packaging.version import parse as parse_version`` in ``/tmp/shim/pkg_resources.py``.)

For each config ``t`` and ``r`` it writes, into the folder given:
- ``stylegan3_{cfg}.pkl``: ``{"G_ema": G}`` pickled as upstream's training loop does (its
  ``torch_utils.persistence`` format; only a safe reader may open it);
- ``stylegan3_{cfg}.json`` / ``stylegan3_{cfg}_state.safetensors``: the same network's init
  kwargs and ``state_dict()`` (upstream names), so it can be built without reading the pickle;
- ``stylegan3_{cfg}_expected.safetensors``: inputs and upstream's outputs:
  ``z``, ``c`` (one-hot labels, R only), ``ws_psi1``/``ws_psi07`` (mapping output, psi 1 / 0.7),
  ``img_psi1``/``img_psi07`` (``G(z, c, psi)``), ``wplus`` (a w+ code with a different w per
  layer) and ``img_wplus`` (``G.synthesis(wplus)``), ``img_transform`` (``G(z, c, psi=1)`` with
  the input transform set as upstream's ``gen_images.py --translate TX,TY --rotate ANGLE`` sets
  it) and ``transform`` = (TX, TY, ANGLE).

Random initialisation leaves biases at 0, ``magnitude_ema`` at 1, ``w_avg`` at 0 and the input
affine at the identity; every parameter and those buffers are perturbed with seeded noise first,
so that each of them changes the images.
"""
import json
import pickle
import sys
from pathlib import Path

import dnnlib  # noqa: F401  (upstream, from PYTHONPATH)
import numpy as np
import torch
from safetensors.torch import save_file
from training.networks_stylegan3 import Generator  # upstream

UPSTREAM_COMMIT = "c233a919a6faee6e36a316ddd4eddababad1adf9"
TRANSFORM = (0.125, -0.0625, 12.0)  # translate x, y (image widths), rotate (degrees)

CONFIGS = {
    # config T: 3x3 convs, separable Kaiser filters, unconditional, 16 px, the default 14 layers
    "t": dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
              mapping_kwargs=dict(num_layers=2), channel_base=128, channel_max=10,
              magnitude_ema_beta=0.5 ** (32 / 20000), conv_kernel=3, use_radial_filters=False,
              num_fp16_res=4, conv_clamp=256),
    # config R: 1x1 convs, radial (jinc) downsampling filters, 4 classes, 32 px, 8 layers, a clamp that binds
    "r": dict(z_dim=32, c_dim=4, w_dim=32, img_resolution=32, img_channels=3,
              mapping_kwargs=dict(num_layers=2), channel_base=256, channel_max=16, num_layers=8,
              magnitude_ema_beta=0.5 ** (32 / 20000), conv_kernel=1, use_radial_filters=True,
              num_fp16_res=4, conv_clamp=1.5),
}


def make_transform(tx, ty, angle):  # as upstream's gen_images.py builds it
    m = np.eye(3)
    s, c = np.sin(angle / 360.0 * np.pi * 2), np.cos(angle / 360.0 * np.pi * 2)
    m[0][0], m[0][1], m[0][2] = c, s, tx
    m[1][0], m[1][1], m[1][2] = -s, c, ty
    return m


def build(cfg: str, seed: int):
    torch.manual_seed(seed)
    G = Generator(**CONFIGS[cfg]).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("input.affine.weight"):  # upstream starts it at 0 (no learned transform)
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif name.endswith("bias"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.2)
            else:
                p.mul_(1 + 0.1 * torch.randn(p.shape, generator=gen))
        for name, b in G.named_buffers():
            if name.endswith("magnitude_ema"):
                b.copy_(torch.rand((), generator=gen) * 1.5 + 0.5)
            elif name.endswith("w_avg"):
                b.copy_(torch.randn(b.shape, generator=gen) * 0.5)
    return G


def main(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    for i, cfg in enumerate(CONFIGS):
        G = build(cfg, seed=i)
        assert G.synthesis.input.transform.equal(torch.eye(3))
        gen = torch.Generator().manual_seed(10 + i)
        z = torch.randn(2, G.z_dim, generator=gen)
        c = torch.nn.functional.one_hot(torch.tensor([3, 1]), G.c_dim).float() if G.c_dim else None
        with torch.no_grad():
            ws1 = G.mapping(z, c, truncation_psi=1)
            ws07 = G.mapping(z, c, truncation_psi=0.7)
            img1 = G(z, c, truncation_psi=1)
            img07 = G(z, c, truncation_psi=0.7)
            wplus = ws1 + 0.5 * torch.randn(ws1.shape, generator=gen)
            imgp = G.synthesis(wplus)
            G.synthesis.input.transform.copy_(torch.from_numpy(np.linalg.inv(make_transform(*TRANSFORM))))
            imgt = G(z, c, truncation_psi=1)
            G.synthesis.input.transform.copy_(torch.eye(3))
        tensors = {"z": z, "ws_psi1": ws1, "ws_psi07": ws07, "img_psi1": img1, "img_psi07": img07,
                   "wplus": wplus, "img_wplus": imgp, "img_transform": imgt,
                   "transform": torch.tensor(TRANSFORM, dtype=torch.float32)}
        if c is not None:
            tensors["c"] = c
        save_file({k: v.contiguous() for k, v in tensors.items()}, out / f"stylegan3_{cfg}_expected.safetensors",
                  metadata={"upstream": "NVlabs/stylegan3@" + UPSTREAM_COMMIT})
        save_file({k: v.contiguous() for k, v in G.state_dict().items()}, out / f"stylegan3_{cfg}_state.safetensors",
                  metadata={"upstream": "NVlabs/stylegan3@" + UPSTREAM_COMMIT})
        (out / f"stylegan3_{cfg}.json").write_text(json.dumps(
            {"class_name": "training.networks_stylegan3.Generator", "init_kwargs": dict(G.init_kwargs),
             "upstream": "NVlabs/stylegan3@" + UPSTREAM_COMMIT}, indent=1, sort_keys=True) + "\n")
        with open(out / f"stylegan3_{cfg}.pkl", "wb") as f:
            pickle.dump({"G_ema": G}, f)
        print(cfg, "layers", G.synthesis.layer_names, "img range", float(img1.min()), float(img1.max()),
              "params", sum(p.numel() for p in G.parameters()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
