"""Reconstruction losses for inversion, compared by perceptual distance (Plumerault et al. App. C, Table 2).

The paper inverts 1,000 real ILSVRC images into BigGAN with each loss (3,000 iterations) and
reports LPIPS between target and reconstruction: MSE 0.57 +- 0.14, DSSIM 0.58 +- 0.12, blurred
(sigma 3) 0.52 +- 0.12. Here: N real face photos (scikit-image's LFW subset, 25x25 grey,
upsampled to the model's 64 px and repeated to RGB) inverted into the `faces` DCGAN from the
same random starts with each loss, judged by ST-LPIPS (AlexNet; the original LPIPS weights
cannot be fetched offline) and, for reference, by plain MSE.

    python bench/inversion_losses.py [--n 100] [--steps 300] [--out runs/bench-inversion-losses]

Prints the table and writes metrics.json and examples.png (rows: target, MSE, DSSIM, blurred).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from steerlab.core.io import write_json
from steerlab.methods.trajectories import invert
from steerlab.metrics.perceptual import perceptual_distance
from steerlab.models import load_model
from steerlab.report.plots import grid_image, save_png

LOSSES = (("MSE", "l2"), ("DSSIM", "dssim"), ("blurred (sigma 3)", "blurred"))
PAPER = {"MSE": (0.57, 0.14), "DSSIM": (0.58, 0.12), "blurred (sigma 3)": (0.52, 0.12)}


def lfw_faces(n: int, resolution: int, channels: int) -> torch.Tensor:
    from skimage.data import lfw_subset
    faces = torch.from_numpy(lfw_subset()[:100]).float()[:, None]  # the first 100 are faces
    if n > faces.shape[0]:
        raise SystemExit(f"the LFW subset has 100 faces; asked for {n}")
    x = F.interpolate(faces[:n], size=(resolution, resolution), mode="bicubic", align_corners=False).clamp(0, 1)
    return x.expand(-1, channels, -1, -1).contiguous()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="faces")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--out", default="runs/bench-inversion-losses")
    a = p.parse_args()
    G = load_model(a.model)
    targets = lfw_faces(a.n, G.resolution, G.channels)
    z_init = G.sample_z(a.n, generator=torch.Generator().manual_seed(0))
    rows, recons, out = [], {}, {}
    for label, name in LOSSES:
        t0 = time.time()
        inv = invert(G, targets, loss=name, steps=a.steps, lr=a.lr, z_init=z_init, progress=False)
        with torch.no_grad():
            rec = G.synthesize(inv.z)
            lp = torch.cat([perceptual_distance(rec[i:i + 25], targets[i:i + 25]) for i in range(0, a.n, 25)])
        mse = ((rec - targets) ** 2).flatten(1).mean(1)
        recons[label] = rec
        out[label] = {"lpips_mean": lp.mean().item(), "lpips_std": lp.std().item(), "mse_mean": mse.mean().item(),
                      "seconds": round(time.time() - t0, 1), "per_image_lpips": lp.tolist()}
        rows.append(label)
        print(f"{label:>18}: ST-LPIPS {lp.mean():.3f} +- {lp.std():.3f}   MSE {mse.mean():.4f}   "
              f"({out[label]['seconds']:.0f} s)", flush=True)
    base = torch.tensor(out["MSE"]["per_image_lpips"])
    blur = torch.tensor(out["blurred (sigma 3)"]["per_image_lpips"])
    wins = (blur < base).float().mean().item()
    print(f"\n{'loss':>18} {'ST-LPIPS here':>16} {'LPIPS paper':>14}")
    for label in rows:
        m, s = PAPER[label]
        print(f"{label:>18} {out[label]['lpips_mean']:>9.3f} +- {out[label]['lpips_std']:.3f} {m:>8.2f} +- {s:.2f}")
    print(f"blurred - MSE, mean ST-LPIPS: {blur.mean() - base.mean():+.4f} (ratio {blur.mean() / base.mean():.3f}); "
          f"blurred better on {wins:.0%} of the {a.n} images")
    folder = Path(a.out)
    write_json(folder / "metrics.json", {"model": G.name, "n": a.n, "steps": a.steps, "lr": a.lr,
                                          "targets": "skimage lfw_subset faces, 25 px grey upsampled",
                                          "distance": "ST-LPIPS alex", "losses": out, "paper": PAPER,
                                          "blurred_minus_mse": (blur.mean() - base.mean()).item(),
                                          "blurred_better_fraction": wins})
    k = min(8, a.n)
    save_png(grid_image([targets[:k]] + [recons[label][:k] for label in rows],
                        row_labels=["target"] + [label.split(" ")[0] for label in rows], scale=2),
             folder / "examples.png")
    print(f"wrote {folder / 'metrics.json'} and {folder / 'examples.png'}")


if __name__ == "__main__":
    main()
