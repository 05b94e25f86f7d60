"""Attribute measures: accuracy against ground truth (printed), registry, bad input."""

import cv2
import numpy as np
import pytest
import scipy.stats
import skimage.data
import torch

from steerlab.attributes import (
    ATTRIBUTE_FOR_EDIT,
    MEASURES,
    attribute_for_edit,
    get_measure,
    measure_box,
    measure_colour,
    measure_face_box,
    measure_saliency,
)
from steerlab.data.shapes import make_shapes


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(600, resolution=32, seed=11)


@pytest.fixture(scope="module")
def lfw():
    return torch.from_numpy(skimage.data.lfw_subset()).float()[:, None]  # (200, 1, 25, 25): 100 faces, 100 not


def astronaut_crops(shifts, zooms, *, crop=180, size=64):
    """64x64 crops around the astronaut's face, shifted (fraction of the crop) or zoomed."""
    pad = 160  # replicate border so zoomed-out crops stay inside the array
    img = cv2.copyMakeBorder(skimage.data.astronaut(), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    fx, fy = pad + 177 + 47.5, pad + 66 + 47.5  # Haar face box (177, 66, 95, 95) in the photo

    def cut(cx, cy, side):
        x0, y0, s = int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side))
        return cv2.resize(img[y0 : y0 + s, x0 : x0 + s], (size, size), interpolation=cv2.INTER_AREA)

    ims = [cut(fx + d * crop, fy, crop) for d in shifts]
    ims += [cut(fx, fy + d * crop, crop) for d in shifts]
    ims += [cut(fx, fy, crop / z) for z in zooms]
    return torch.from_numpy(np.stack(ims)).permute(0, 3, 1, 2).float() / 255


# ----------------------------------------------------------------------------- colour


def test_colour_accuracy(shapes):
    est = measure_colour(shapes.images, generator=torch.Generator().manual_seed(0))
    exact = measure_colour(shapes.images, n_pixels=None)
    mae = {k: (est[k] - exact[k]).abs().mean().item() for k in ("r", "g", "b", "luminance", "contrast")}
    print("\ncolour, 100 px vs all-pixel mean, MAE: " + ", ".join(f"{k} {v:.4f}" for k, v in mae.items()))
    assert np.mean([mae["r"], mae["g"], mae["b"]]) < 0.03 and max(mae["r"], mae["g"], mae["b"]) < 0.035
    assert mae["luminance"] < 0.02
    # all pixels is the exact mean
    torch.testing.assert_close(exact["luminance"], shapes.images.mean((1, 2, 3)))
    torch.testing.assert_close(exact["r"], shapes.images[:, 0].mean((1, 2)))


def test_colour_seeding_and_grey():
    img = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    a, b = measure_colour(img), measure_colour(img)
    assert all(torch.equal(a[k], b[k]) for k in a)  # default generator is fixed
    c = measure_colour(img, generator=torch.Generator().manual_seed(5))
    assert not torch.equal(a["r"], c["r"])
    grey = measure_colour(torch.full((2, 1, 8, 8), 0.3))
    for k in ("r", "g", "b", "luminance"):
        torch.testing.assert_close(grey[k], torch.full((2,), 0.3))
    assert grey["contrast"].abs().max() < 1e-6
    assert all(v.shape == (4,) for v in a.values())


# ----------------------------------------------------------------------------- object box


def box_errors(box, factors):
    ex = (box["x"] - factors["x"]).abs().nanmean().item()
    ey = (box["y"] - factors["y"]).abs().nanmean().item()
    rel = ((box["area"] - factors["scale"]) / factors["scale"]).abs().nanmean().item()
    return ex, ey, rel


def test_box_accuracy(shapes):
    box = measure_box(shapes.images)
    ex, ey, rel = box_errors(box, shapes.factors)
    print(f"\nbox @32px: found {box['found'].mean():.3f}, x MAE {ex:.4f}, y MAE {ey:.4f}, area mean |rel err| {rel:.3f}")
    assert box["found"].all()
    assert ex < 0.02 and ey < 0.02 and rel < 0.25


def test_box_accuracy_64px_and_imperfect_images():
    d = make_shapes(240, resolution=64, seed=12)
    ex, ey, rel = box_errors(measure_box(d.images), d.factors)
    print(f"\nbox @64px: x MAE {ex:.4f}, y MAE {ey:.4f}, area mean |rel err| {rel:.3f}")
    assert ex < 0.01 and ey < 0.01 and rel < 0.15
    # generated images are noisier and blurrier than the data: noise 0.03 + a 3x3 blur
    d = make_shapes(240, seed=13)
    k = torch.tensor([0.25, 0.5, 0.25])
    kernel = (k[:, None] * k[None]).expand(3, 1, 3, 3)
    blurred = torch.nn.functional.conv2d(torch.nn.functional.pad(d.images, (1,) * 4, mode="replicate"), kernel, groups=3)
    noisy = (blurred + 0.03 * torch.randn(d.images.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    box = measure_box(noisy)
    ex, ey, rel = box_errors(box, d.factors)
    print(f"box @32px blurred + noise 0.03: found {box['found'].mean():.3f}, x MAE {ex:.4f}, y MAE {ey:.4f}, area |rel| {rel:.3f}")
    assert box["found"].mean() > 0.98 and ex < 0.02 and ey < 0.02 and rel < 0.3


def test_box_no_object_and_batch_invariance(shapes):
    bg = torch.zeros(2, 3, 32, 32)
    bg[:, 2] = torch.linspace(0.3, 0.9, 32)[:, None]  # a vertical gradient, no object
    box = measure_box(bg)
    assert (box["found"] == 0).all() and box["x"].isnan().all() and box["area"].isnan().all()
    whole = measure_box(shapes.images[:8])
    parts = [measure_box(shapes.images[i : min(i + 3, 8)]) for i in range(0, 8, 3)]
    for k in whole:
        torch.testing.assert_close(whole[k], torch.cat([p[k] for p in parts]))


def test_box_follows_a_shift(shapes):
    img = shapes.images[:20]
    base = measure_box(img)
    shifted = measure_box(torch.roll(img, shifts=3, dims=-1))  # objects keep a margin; bg rows uniform
    torch.testing.assert_close(shifted["x"] - base["x"], torch.full((20,), 3 / 32), atol=0.01, rtol=0)


# ----------------------------------------------------------------------------- faces


def test_face_detection_rate_on_lfw(lfw):
    out = measure_face_box(lfw)
    faces, non = out["found"][:100].mean().item(), out["found"][100:].mean().item()
    print(f"\nface_box on LFW: detection rate {faces:.2f} on 100 faces, {non:.2f} on 100 non-faces; "
          f"mean box width {out['width'][:100].nanmean():.3f}")
    assert faces >= 0.95 and non <= 0.02
    assert set(out) == {"x", "y", "width", "area", "found"}
    assert out["x"][100:][out["found"][100:] == 0].isnan().all()


def test_face_box_follows_shift_and_zoom():
    shifts = [-0.15, 0.0, 0.15]
    zooms = [0.7, 1.0, 1.4]
    out = measure_face_box(astronaut_crops(shifts, zooms))
    assert out["found"].all()
    x, y, w = out["x"].numpy(), out["y"].numpy(), out["width"].numpy()
    ex = np.abs(x[:3] - (0.5 - np.array(shifts))).max()
    ey = np.abs(y[3:6] - (0.5 - np.array(shifts))).max()
    zoom_ratio = w[6:] / w[7]
    print(f"\nface_box on astronaut crops: centre max err x {ex:.4f} y {ey:.4f}; "
          f"width ratios {np.round(zoom_ratio, 3)} for zooms {zooms}")
    assert ex < 0.03 and ey < 0.03
    np.testing.assert_allclose(zoom_ratio, zooms, rtol=0.1)


# ----------------------------------------------------------------------------- saliency


def test_saliency_accuracy(shapes):
    out = measure_saliency(shapes.images[:300])
    f = {k: v[:300] for k, v in shapes.factors.items()}
    ex = (out["x"] - f["x"]).abs().nanmean().item()
    ey = (out["y"] - f["y"]).abs().nanmean().item()
    rx = scipy.stats.pearsonr(out["x"], f["x"]).statistic
    print(f"\nsaliency (spectral residual) @32px: x MAE {ex:.4f}, y MAE {ey:.4f}, Pearson r(x) {rx:.3f}")
    assert not out["x"].isnan().any()
    assert ex < 0.05 and ey < 0.1 and rx > 0.7
    assert ((out["area"] > 0) & (out["area"] < 1)).all()
    fine = measure_saliency(shapes.images[:4], method="fine_grained", threshold=1.0, weighted=False)
    assert set(fine) == {"x", "y", "area"} and fine["x"].shape == (4,)
    with pytest.raises(ValueError):
        measure_saliency(shapes.images[:2], method="deep")


# ----------------------------------------------------------------------------- registry, bad input


def test_registry(shapes, lfw):
    assert {"colour", "box", "face_box", "saliency"} <= set(MEASURES)
    imgs = {"colour": shapes.images[:3], "box": shapes.images[:3], "saliency": shapes.images[:3], "face_box": lfw[:3],
            "object_colour": shapes.images[:3]}
    for name, m in MEASURES.items():
        assert get_measure(name) is m and m.description
        out = m(imgs[name])
        assert tuple(out) == m.keys
        assert all(v.shape == (3,) and v.dtype == torch.float32 for v in out.values())
    with pytest.raises(ValueError, match="allowed: box, colour, face_box, object_colour, saliency") as e:
        get_measure("ssd")
    assert "\n" not in str(e.value)


def test_attribute_for_edit():
    assert ATTRIBUTE_FOR_EDIT["zoom"] == ("box", "area")
    assert attribute_for_edit("shift_x", "face_box") == ("face_box", "x")
    assert attribute_for_edit("zoom", "saliency") == ("saliency", "area")
    assert attribute_for_edit("color") == ("colour", ("r", "g", "b"))
    assert attribute_for_edit("rotate2d") is None
    for edit, spec in ATTRIBUTE_FOR_EDIT.items():  # every default names a real key
        if spec is not None:
            keys = spec[1] if isinstance(spec[1], tuple) else (spec[1],)
            assert set(keys) <= set(get_measure(spec[0]).keys)
    with pytest.raises(ValueError):
        attribute_for_edit("brightness", "box")
    with pytest.raises(ValueError):
        attribute_for_edit("warp")


BAD_INPUTS = {
    "3-D": torch.rand(3, 16, 16),
    "NaN": torch.full((1, 3, 16, 16), float("nan")),
    "2 channels": torch.rand(1, 2, 16, 16),
    "4 channels": torch.rand(1, 4, 16, 16),
    "[-1, 1]": torch.rand(1, 3, 16, 16) * 2 - 1,
    "uint8": torch.zeros(1, 3, 16, 16, dtype=torch.uint8),
    "numpy": np.zeros((1, 3, 16, 16), np.float32),
}


@pytest.mark.parametrize("measure", sorted(MEASURES))
@pytest.mark.parametrize("bad", sorted(BAD_INPUTS))
def test_bad_input_is_refused(measure, bad):
    with pytest.raises(ValueError) as e:
        MEASURES[measure](BAD_INPUTS[bad])
    assert "\n" not in str(e.value) and measure.split("_")[0] in str(e.value)
