"""Biased shapes: determinism, ranges, recorded factors == drawn object, per-class bias, files."""

import json
import time

import numpy as np
import pytest
import scipy.stats
import torch

from steerlab.data.shapes import (
    CLASSES,
    FACTOR_KEYS,
    ShapesData,
    class_spec,
    load_shapes,
    make_shapes,
    save_shapes,
)

K = len(CLASSES)


def soft_extent(masks: torch.Tensor):
    """Box centre (fractions) and area from the coverage masks: column / row max profiles."""
    m = masks[:, 0]  # (N, H, W)
    res = m.shape[-1]
    centres = torch.arange(res) + 0.5
    col, row = m.amax(1), m.amax(2)  # (N, W), (N, H)
    w, h = col.sum(1), row.sum(1)
    return (col * centres).sum(1) / w / res, (row * centres).sum(1) / h / res, w * h / res**2


def test_determinism():
    a = make_shapes(48, seed=0)
    b = make_shapes(48, seed=0)
    c = make_shapes(48, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert all(torch.equal(a.factors[k], b.factors[k]) for k in FACTOR_KEYS)
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(a.factors["x"], c.factors["x"])


@pytest.mark.parametrize("res", [32, 64])
def test_shapes_and_ranges(res):
    n = 3 * K + 5
    d = make_shapes(n, resolution=res, seed=2)
    assert isinstance(d, ShapesData) and len(d) == n and d.resolution == res
    assert d.images.shape == (n, 3, res, res) and d.images.dtype == torch.float32
    assert d.masks.shape == (n, 1, res, res)
    assert 0 <= d.images.min() and d.images.max() <= 1
    assert 0 <= d.masks.min() and d.masks.max() <= 1
    assert d.labels.dtype == torch.int64 and d.labels.shape == (n,)
    counts = torch.bincount(d.labels, minlength=K)
    assert counts.max() - counts.min() <= 1  # balanced
    for k in ("x", "y", "scale", "luminance"):
        assert d.factors[k].shape == (n,) and d.factors[k].dtype == torch.float32
        assert 0 < d.factors[k].min() and d.factors[k].max() < 1
    assert d.factors["color"].shape == (n, 3)
    torch.testing.assert_close(d.factors["luminance"], d.factors["color"].mean(1))
    assert d.class_names == CLASSES


def test_object_in_frame_and_classes_subset():
    d = make_shapes(200, seed=3, classes=[1, 6])  # square (broadest) and bar (widest)
    assert set(d.labels.tolist()) == {1, 6}
    m = d.masks[:, 0] > 0.01
    # 1/32 margin: nothing touches the outermost pixel ring
    assert not m[:, 0].any() and not m[:, -1].any() and not m[:, :, 0].any() and not m[:, :, -1].any()


def test_bad_arguments():
    for kwargs in ({"n": 0}, {"n": 4, "resolution": 8}, {"n": 4, "classes": [K]}, {"n": 4, "classes": []}):
        with pytest.raises(ValueError):
            make_shapes(**kwargs)
    with pytest.raises(ValueError):
        class_spec(K)


def test_recorded_factors_match_drawn():
    d = make_shapes(50 * K, seed=4, noise=0.0)
    f = d.factors
    sx, sy, sarea = soft_extent(d.masks)
    err_x, err_y = (sx - f["x"]).abs(), (sy - f["y"]).abs()
    rel = (sarea - f["scale"]) / f["scale"]
    print(f"\ndrawn vs recorded @32px: centre max err x {err_x.max():.4f} y {err_y.max():.4f}, "
          f"area mean |rel| {rel.abs().mean():.3f}")
    assert err_x.max() < 0.02 and err_y.max() < 0.025  # < 0.8 px
    assert rel.abs().mean() < 0.1
    # shapes without sharp tips fill their box's extent exactly (up to antialiasing)
    round_or_rect = torch.isin(d.labels, torch.tensor([CLASSES.index(c) for c in ("disc", "square", "cross", "bar", "ellipse")]))
    assert rel[round_or_rect].abs().max() < 0.05
    # hard mask (coverage > 0.5): box centre within 1.5 px (sharp tips lose up to ~2 px)
    m = d.masks[:, 0] > 0.5
    idx = torch.arange(32)
    cols, rows = m.any(1), m.any(2)
    x0 = torch.where(cols, idx, 99).min(1).values
    x1 = torch.where(cols, idx, -1).max(1).values + 1
    y0 = torch.where(rows, idx, 99).min(1).values
    y1 = torch.where(rows, idx, -1).max(1).values + 1
    assert ((x0 + x1) / 64 - f["x"]).abs().max() < 1.5 / 32
    assert ((y0 + y1) / 64 - f["y"]).abs().max() < 1.5 / 32
    # fully covered pixels carry exactly the recorded colour
    full = d.masks[:, 0] == 1.0  # (N, H, W)
    diff = (d.images.permute(0, 2, 3, 1) - f["color"][:, None, None, :]).abs().amax(-1)
    assert diff[full].max() < 1e-5


def test_background_has_context():
    d = make_shapes(60, seed=5, noise=0.0)
    img, bg = d.images, d.masks[:, 0] == 0  # (N, 3, H, W), (N, H, W)
    # each background row is one colour
    for i in range(5):
        for r in range(32):
            px = img[i, :, r][:, bg[i, r]]
            if px.shape[1] > 1:
                assert (px.amax(1) - px.amin(1)).max() < 1e-6
    top, bottom = img[:, :, 0].mean(-1), img[:, :, -1].mean(-1)  # (N, 3) row colours
    assert (top[:, 2] > top[:, 0]).all()  # sky: blue above red
    assert (bottom[:, 1] > bottom[:, 2]).all() or (bottom[:, 0] > bottom[:, 2]).all()  # ground: not blue
    # the horizon moves from image to image
    jump = (img[:, :, 1:].mean(-1) - img[:, :, :-1].mean(-1)).abs().sum(1)  # (N, H-1)
    assert jump.argmax(1).unique().numel() > 3


def test_class_spec_sigmas_vary_independently():
    specs = [class_spec(k) for k in range(K)]
    assert specs[0]["name"] == "disc" and specs[1]["name"] == "square"
    factors = ("x", "y", "scale", "luminance")
    ranks = np.array([[s[f"{f}_rank"] for f in factors] for s in specs])
    for j in range(4):
        assert sorted(ranks[:, j]) == list(range(K))  # every factor spans tight to broad
    for j in range(4):
        for k in range(j + 1, 4):
            assert scipy.stats.spearmanr(ranks[:, j], ranks[:, k]).statistic < 0.8  # orderings differ
    for f in factors:
        sig = [s[f"{f}_sigma"] / (s["scale_mean"] if f == "scale" else 1) for s in specs]
        order = np.argsort([s[f"{f}_rank"] for s in specs])
        assert np.all(np.diff(np.array(sig)[order]) > 0)


def test_per_class_sigma_ordering():
    d = make_shapes(150 * K, seed=6)
    robin, laptop = CLASSES.index("disc"), CLASSES.index("square")
    for f in ("x", "y", "scale", "luminance"):
        std = torch.stack([d.factors[f][d.labels == k].std() for k in range(K)])
        nominal = torch.tensor([class_spec(k)[f"{f}_sigma"] for k in range(K)])
        rho = scipy.stats.spearmanr(std, nominal).statistic
        print(f"\n{f}: robin std {std[robin]:.4f}, laptop std {std[laptop]:.4f}, Spearman(empirical, nominal) {rho:.3f}")
        assert std[robin] < 0.3 * std[laptop]
        assert rho > 0.9


def test_generation_speed():
    t = time.perf_counter()
    make_shapes(5000, seed=7)
    dt = time.perf_counter() - t
    print(f"\n5000 images @32px in {dt:.2f}s")
    assert dt < 10  # 20k images take ~4 s on 2 cores


def test_save_load_roundtrip(tmp_path):
    d = make_shapes(30, seed=8, resolution=32)
    path = save_shapes(d, tmp_path / "shapes.safetensors")
    assert path.exists() and path.with_suffix(".json").exists()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["class_names"] == CLASSES and meta["seed"] == 8 and meta["resolution"] == 32
    e = load_shapes(path)
    assert torch.equal(d.images, e.images) and torch.equal(d.labels, e.labels) and torch.equal(d.masks, e.masks)
    assert all(torch.equal(d.factors[k], e.factors[k]) for k in FACTOR_KEYS)
    assert (e.class_names, e.resolution, e.seed) == (d.class_names, d.resolution, d.seed)
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files


def test_corrupted_file_is_refused(tmp_path):
    path = save_shapes(make_shapes(10, seed=9), tmp_path / "s.safetensors")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # truncated
    with pytest.raises(ValueError) as e:
        load_shapes(path)
    assert "\n" not in str(e.value)
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError) as e:
        load_shapes(path)
    assert "\n" not in str(e.value)
    path.write_bytes(raw)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ValueError) as e:
        load_shapes(path)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError):
        load_shapes(tmp_path / "missing.safetensors")
