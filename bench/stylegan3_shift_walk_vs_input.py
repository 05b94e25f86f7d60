"""A learned shift_x walk against StyleGAN3's own input translation, on the tiny config-T fixture.

Learns a linear shift_x walk (Jahanian et al. Eq. 1, masked L2, batch 4, Adam) in the given space
of the 16 px StyleGAN3-T of tests/fixtures/stylegan3 (random weights, made by NVIDIA's code), then on
16 held-out samples and alpha = +-1/8, +-1/4 of the width (2 and 4 px) reports:
- masked L2 to the shift_x target of: the unedited image, the walk, the model's own input
  translation (`G.synthesize(..., transform=(alpha, 0, 0))`);
- the cosine between the per-pixel image change of the walk and of the input translation, and of
  each with the target's change (inside the edit's mask);
each as a mean over the samples with the per-sample median and the fraction of samples that move the
asked way (L2 below the unedited image's, cosine above 0).

    python bench/stylegan3_shift_walk_vs_input.py [--space w] [--steps 300]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from steerlab.directions import input_transform_direction
from steerlab.edits import get_edit
from steerlab.methods.walks import learn_linear_walk
from steerlab.models import stylegan3_from_state

FIX = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "stylegan3"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="w", choices=("z", "w", "w+"))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--png", help="also write a strip here: per alpha, sample 0..3 as target, walk, input translation")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    meta = json.loads((FIX / "stylegan3_t.json").read_text())
    G = stylegan3_from_state(meta["init_kwargs"], load_file(FIX / "stylegan3_t_state.safetensors"), name="sg3-t-tiny")
    t0 = time.time()
    walk = learn_linear_walk(G, "shift_x", space=a.space, steps=a.steps, batch_size=4, seed=a.seed, progress=False)
    print(f"walk in {a.space}: {a.steps} steps in {time.time() - t0:.0f} s")
    own = input_transform_direction(G, "shift_x", space=a.space)
    edit = get_edit("shift_x")
    z = torch.randn(16, G.z_dim, generator=torch.Generator().manual_seed(123))
    latent = G.to_space(z, a.space)

    def cos(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:  # (16,) per sample
        return F.cosine_similarity(u.flatten(1), v.flatten(1), dim=1)

    def per_sample(v: torch.Tensor, good: torch.Tensor) -> str:  # mean, median, fraction of samples that do well
        return f"{float(v.mean()):.3f} (median {float(v.median()):.3f}, {float(good.float().mean()):.0%})"

    print("per sample over 16 held-out z: mean (median, fraction of samples): L2 / unedited's (fraction: below 1, "
          "closer to the target), cosines (fraction: > 0)")
    strips, labels = [], []
    with torch.no_grad():
        x0 = G.synthesize(latent, space=a.space)
        for alpha in (-0.25, -0.125, 0.125, 0.25):
            al = torch.full((16,), alpha)
            xw = walk.render(G, z, al, latent=latent)
            xk = own.render(G, z, al, latent=latent)
            target, mask = edit.fn(x0, al)
            m = mask.expand_as(x0)

            def l2(x: torch.Tensor) -> torch.Tensor:  # (16,) masked L2 to the target
                return ((x - target) * m).square().flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)

            dw, dk = l2(xw) / l2(x0), l2(xk) / l2(x0)  # per sample, below 1: closer to the target than unedited
            c_wk, c_wt = cos(xw - x0, xk - x0), cos((xw - x0) * m, (target - x0) * m)
            c_kt = cos((xk - x0) * m, (target - x0) * m)
            strips += [target[:4], xw[:4], xk[:4]]
            labels += [f"{alpha:+.3f} target", f"{alpha:+.3f} walk", f"{alpha:+.3f} input"]
            print(f"alpha {alpha:+.3f}: masked L2 to the target: unedited {float(l2(x0).mean()):.2e}, walk "
                  f"{float(l2(xw).mean()):.2e}, input translation {float(l2(xk).mean()):.2e}\n"
                  f"    L2 / unedited's, walk {per_sample(dw, dw < 1)}; translation {per_sample(dk, dk < 1)}\n"
                  f"    cos(walk, translation) {per_sample(c_wk, c_wk > 0)}; cos(walk, target) "
                  f"{per_sample(c_wt, c_wt > 0)}; cos(translation, target) {per_sample(c_kt, c_kt > 0)}")
    if a.png:
        from steerlab.report.plots import grid_image, save_png
        save_png(grid_image([x0[:4]] + strips, row_labels=["unedited"] + labels, scale=4), a.png)
        print(f"strip: {a.png}")


if __name__ == "__main__":
    main()
