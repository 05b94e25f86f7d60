"""Make tests/fixtures/nvlabs/: tiny random-weight StyleGAN2(-ADA) pickles and the images upstream renders.

Runs the upstream code itself, outside steerlab, on the CPU with its reference ops:

    git clone https://github.com/NVlabs/stylegan2-ada-pytorch /tmp/sg2ada   # commit below
    PYTHONPATH=/tmp/sg2ada python tools/make_nvlabs_fixtures.py tests/fixtures/nvlabs
    git clone https://github.com/NVlabs/stylegan3 /tmp/sg3                  # commit below
    PYTHONPATH=/tmp/sg3 python tools/make_nvlabs_fixtures.py tests/fixtures/nvlabs

Upstream: NVlabs/stylegan2-ada-pytorch at commit d72cc7d041b42ec8e806021a205ed9349f87c6a4
(2023-09-22): models ``sg2ada_*``; NVlabs/stylegan3 at commit
c233a919a6faee6e36a316ddd4eddababad1adf9 (2023-04-26), its copy of the StyleGAN2 networks
(``training.networks_stylegan2``, whose Generator takes the synthesis arguments flat and clamps
at 256 by default): model ``sg3_stylegan2``. Which repository is on PYTHONPATH decides which are
made. Nothing here is imported by steerlab; steerlab reads the pickles with its own restricted
reader and must reproduce the recorded images. The stylegan3 code imports ``pkg_resources``
only for a version check; where setuptools is absent a stand-in providing ``parse_version`` is
installed first (no upstream code is changed).

For each model it writes ``<name>.pkl`` (a dict ``{'G', 'D', 'G_ema', 'augment_pipe',
'training_set_kwargs'}`` pickled with upstream's persistence, as its training loop saves
snapshots; to keep the fixtures small only the first also holds ``G`` and ``D``) and
``<name>_expected.safetensors`` with fixed inputs and upstream's outputs:

- ``z`` (N, z_dim), ``c`` (N, c_dim) one-hot (conditional models only);
- ``img_psi1``, ``img_psi07``: ``G(z, c, truncation_psi, noise_mode='const', force_fp32=True)``;
- ``img_psi1_none``: the same with ``noise_mode='none'`` (random noise cannot be compared);
- ``ws`` = ``G.mapping(z, c)`` (N, num_ws, w_dim); ``img_w`` = ``G.synthesis(ws)``;
- ``wplus`` = ws plus per-layer offsets (a genuine w+ code); ``img_wplus`` = ``G.synthesis(wplus)``.

Weights that upstream initialises to constants (biases, noise strengths, w_avg) are randomised
so every term of the forward pass is exercised.
"""
from __future__ import annotations

import copy
import pickle
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

UPSTREAM_COMMITS = {"stylegan2-ada-pytorch": "d72cc7d041b42ec8e806021a205ed9349f87c6a4",
                    "stylegan3": "c233a919a6faee6e36a316ddd4eddababad1adf9"}

MODELS = {
    # default architecture, active conv_clamp, the highest resolution marked fp16 (rendered in fp32)
    "sg2ada_skip": dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
                        mapping_kwargs=dict(num_layers=2),
                        synthesis_kwargs=dict(channel_base=256, channel_max=8, num_fp16_res=1,
                                              conv_clamp=1.5, architecture="skip")),
    # class-conditional, resnet synthesis
    "sg2ada_cond_resnet": dict(z_dim=32, c_dim=4, w_dim=32, img_resolution=16, img_channels=3,
                               mapping_kwargs=dict(num_layers=2),
                               synthesis_kwargs=dict(channel_base=256, channel_max=8, conv_clamp=2.0,
                                                     architecture="resnet")),
    # the original StyleGAN layout, no clamp, 8 px
    "sg2ada_orig": dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=8, img_channels=3,
                        mapping_kwargs=dict(num_layers=2),
                        synthesis_kwargs=dict(channel_base=64, channel_max=8, architecture="orig")),
}
# stylegan3's copy: synthesis arguments flat; conv_clamp (256) and num_fp16_res (4) left at its defaults
MODELS_SG3 = {
    "sg3_stylegan2": dict(z_dim=32, c_dim=2, w_dim=32, img_resolution=16, img_channels=3,
                          mapping_kwargs=dict(num_layers=2), channel_base=256, channel_max=8),
}
N = 3


def _randomise(G: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, t in list(G.named_parameters()) + list(G.named_buffers()):
            if name.endswith("noise_strength"):
                t.copy_(torch.rand((), generator=gen) * 0.5 + 0.1)
            elif name.endswith("bias"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.2 + (1.0 if ".affine." in name else 0.0))
            elif name.endswith("w_avg"):
                t.copy_(torch.randn(t.shape, generator=gen))


def _upstream():
    """(repository name, its networks module, the models to make) for the upstream code on PYTHONPATH."""
    import importlib.util
    if importlib.util.find_spec("training.networks_stylegan2") is not None:
        if importlib.util.find_spec("pkg_resources") is None:
            import types

            import packaging.version
            stand_in = types.ModuleType("pkg_resources")
            stand_in.parse_version = packaging.version.parse
            sys.modules["pkg_resources"] = stand_in
        from training import networks_stylegan2
        return "stylegan3", networks_stylegan2, MODELS_SG3
    from training import networks
    return "stylegan2-ada-pytorch", networks, MODELS


def main(out: Path) -> None:
    repo, networks, models = _upstream()
    out.mkdir(parents=True, exist_ok=True)
    for i, (name, kwargs) in enumerate(models.items()):
        torch.manual_seed(100 + i + (10 if repo == "stylegan3" else 0))
        gen = torch.Generator().manual_seed(200 + i + (10 if repo == "stylegan3" else 0))
        G = networks.Generator(**kwargs)
        _randomise(G, gen)
        D = networks.Discriminator(c_dim=kwargs["c_dim"], img_resolution=kwargs["img_resolution"],
                                   img_channels=3, channel_base=64, channel_max=8,
                                   epilogue_kwargs=dict(mbstd_group_size=2)) if i == 0 and repo != "stylegan3" else None
        G_ema = copy.deepcopy(G).eval().requires_grad_(False)
        snapshot = dict(training_set_kwargs=dict(resolution=kwargs["img_resolution"], use_labels=kwargs["c_dim"] > 0))
        # the first snapshot holds every network, as upstream's do; the others only G_ema (size)
        for key, module in [("G", G if D is not None else None), ("D", D), ("G_ema", G_ema), ("augment_pipe", None)]:
            if module is not None:
                module = copy.deepcopy(module).eval().requires_grad_(False)
            snapshot[key] = module
        with open(out / f"{name}.pkl", "wb") as f:
            pickle.dump(snapshot, f)

        z = torch.randn(N, kwargs["z_dim"], generator=gen)
        c_dim = kwargs["c_dim"]
        c = torch.nn.functional.one_hot(torch.arange(N) % c_dim, c_dim).float() if c_dim else None
        with torch.no_grad():
            rec = {"z": z}
            if c is not None:
                rec["c"] = c
            for psi, key in [(1.0, "img_psi1"), (0.7, "img_psi07")]:
                rec[key] = G_ema(z, c, truncation_psi=psi, noise_mode="const", force_fp32=True)
            rec["img_psi1_none"] = G_ema(z, c, noise_mode="none", force_fp32=True)
            ws = G_ema.mapping(z, c)
            rec["ws"] = ws
            rec["img_w"] = G_ema.synthesis(ws, noise_mode="const", force_fp32=True)
            wplus = ws + 0.5 * torch.randn(ws.shape, generator=gen)
            rec["wplus"] = wplus
            rec["img_wplus"] = G_ema.synthesis(wplus, noise_mode="const", force_fp32=True)
        save_file({k: v.contiguous() for k, v in rec.items()}, str(out / f"{name}_expected.safetensors"),
                  metadata={"upstream": f"NVlabs/{repo}", "commit": UPSTREAM_COMMITS[repo]})
        print(name, {k: tuple(v.shape) for k, v in rec.items()}, (out / f"{name}.pkl").stat().st_size, "bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/nvlabs"))
