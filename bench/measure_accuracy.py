"""Accuracy of every attribute measure against ground truth, as one table.

    PYTHONPATH=src python bench/measure_accuracy.py [--n 2000] [--resolution 32] [--seed 0]

Ground truth:
- biased shapes (``make_shapes``): the recorded box centre ``x``, ``y`` and area ``scale``,
  and the exact per-image colour means (every pixel) for the 100-pixel colour measure;
- ``skimage.data.lfw_subset()``: 100 real face crops and 100 non-faces (25x25 grey);
- ``skimage.data.astronaut()``: 64x64 crops around the face, shifted by known fractions of
  the crop and zoomed by known factors; expected centre = 0.5 - shift, width = w0 * zoom.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import scipy.stats
import skimage.data
import torch

from steerlab.attributes import measure_box, measure_colour, measure_face_box, measure_saliency
from steerlab.data.shapes import make_shapes


def astronaut_crops(shifts, zooms, *, crop=180, size=64):
    """64x64 crops of the astronaut photo around her face: (images, kinds, amounts)."""
    pad = 160  # replicate border so large zoom-out crops stay inside the array
    img = cv2.copyMakeBorder(skimage.data.astronaut(), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    fx, fy = pad + 177 + 47.5, pad + 66 + 47.5  # Haar face box (177, 66, 95, 95) in the original

    def cut(cx, cy, side):
        x0, y0, s = int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side))
        return cv2.resize(img[y0 : y0 + s, x0 : x0 + s], (size, size), interpolation=cv2.INTER_AREA)

    ims, kinds, amounts = [], [], []
    for d in shifts:
        ims.append(cut(fx + d * crop, fy, crop)), kinds.append("x"), amounts.append(d)
        ims.append(cut(fx, fy + d * crop, crop)), kinds.append("y"), amounts.append(d)
    for z in zooms:
        ims.append(cut(fx, fy, crop / z)), kinds.append("z"), amounts.append(z)
    images = torch.from_numpy(np.stack(ims)).permute(0, 3, 1, 2).float() / 255
    return images, np.array(kinds), np.array(amounts, dtype=np.float64)


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    rows = []  # (measure, data, quantity, value)

    data = make_shapes(args.n, resolution=args.resolution, seed=args.seed)
    n, f = len(data), data.factors
    shapes = f"shapes {args.resolution}px n={n}"

    col, dt = timed(measure_colour, data.images, generator=torch.Generator().manual_seed(args.seed))
    exact = measure_colour(data.images, n_pixels=None)
    for k in ("r", "g", "b", "luminance"):
        rows.append(("colour", shapes, f"{k} MAE vs all-pixel mean", (col[k] - exact[k]).abs().mean().item()))
    rows.append(("colour", shapes, "contrast MAE vs all-pixel", (col["contrast"] - exact["contrast"]).abs().mean().item()))
    rows.append(("colour", shapes, "ms / image", 1e3 * dt / n))

    box, dt = timed(measure_box, data.images)
    rel = (box["area"] - f["scale"]) / f["scale"]
    rows += [
        ("box", shapes, "detection rate", box["found"].mean().item()),
        ("box", shapes, "x MAE", (box["x"] - f["x"]).abs().nanmean().item()),
        ("box", shapes, "y MAE", (box["y"] - f["y"]).abs().nanmean().item()),
        ("box", shapes, "area mean |rel err|", rel.abs().nanmean().item()),
        ("box", shapes, "area mean rel err (bias)", rel.nanmean().item()),
        ("box", shapes, "ms / image", 1e3 * dt / n),
    ]

    sal, dt = timed(measure_saliency, data.images)
    ok = ~sal["x"].isnan()
    rows += [
        ("saliency", shapes, "x MAE", (sal["x"] - f["x"]).abs().nanmean().item()),
        ("saliency", shapes, "y MAE", (sal["y"] - f["y"]).abs().nanmean().item()),
        ("saliency", shapes, "Pearson r (x, true x)", scipy.stats.pearsonr(sal["x"][ok], f["x"][ok]).statistic),
        ("saliency", shapes, "Pearson r (y, true y)", scipy.stats.pearsonr(sal["y"][ok], f["y"][ok]).statistic),
        ("saliency", shapes, "Spearman (area, true area)", scipy.stats.spearmanr(sal["area"][ok], f["scale"][ok]).statistic),
        ("saliency", shapes, "ms / image", 1e3 * dt / n),
    ]
    fine = measure_saliency(data.images, method="fine_grained")
    ok = ~fine["x"].isnan()
    rows += [
        ("saliency", shapes + " fine_grained", "x MAE", (fine["x"] - f["x"]).abs().nanmean().item()),
        ("saliency", shapes + " fine_grained", "y MAE", (fine["y"] - f["y"]).abs().nanmean().item()),
        ("saliency", shapes + " fine_grained", "Pearson r (x, true x)", scipy.stats.pearsonr(fine["x"][ok], f["x"][ok]).statistic),
    ]

    lfw = torch.from_numpy(skimage.data.lfw_subset()).float()[:, None]  # (200, 1, 25, 25)
    face, dt = timed(measure_face_box, lfw)
    face_nopad = measure_face_box(lfw, pad=0.0)
    rows += [
        ("face_box", "LFW 100 faces", "detection rate", face["found"][:100].mean().item()),
        ("face_box", "LFW 100 non-faces", "false detection rate", face["found"][100:].mean().item()),
        ("face_box", "LFW 100 faces", "detection rate, pad=0", face_nopad["found"][:100].mean().item()),
        ("face_box", "LFW 200 images", "ms / image", 1e3 * dt / len(lfw)),
    ]
    shifts = np.linspace(-0.2, 0.2, 9)
    zooms = 2.0 ** np.linspace(-0.75, 0.75, 11)
    ims, kinds, amounts = astronaut_crops(shifts, zooms)
    ast = {k: v.numpy().astype(np.float64) for k, v in measure_face_box(ims).items()}
    sx, sy, sz = kinds == "x", kinds == "y", kinds == "z"
    w0 = ast["width"][sz][np.argmin(np.abs(amounts[sz] - 1))]
    rows += [
        ("face_box", "astronaut 64px crops", "detection rate", ast["found"].mean()),
        ("face_box", "astronaut shift x +-0.2", "centre x MAE", np.abs(ast["x"][sx] - (0.5 - amounts[sx])).mean()),
        ("face_box", "astronaut shift y +-0.2", "centre y MAE", np.abs(ast["y"][sy] - (0.5 - amounts[sy])).mean()),
        ("face_box", "astronaut zoom x0.59-x1.68", "width mean |rel err|", np.abs(ast["width"][sz] / (w0 * amounts[sz]) - 1).mean()),
    ]

    width = max(len(r[1]) for r in rows)
    print(f"{'measure':<9} {'data':<{width}} {'quantity':<32} value")
    print("-" * (9 + width + 32 + 10))
    for m, d, q, v in rows:
        print(f"{m:<9} {d:<{width}} {q:<32} {v:.4f}")


if __name__ == "__main__":
    main()
