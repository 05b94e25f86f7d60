"""Per-sample truth: masked DSSIM, paired per-sample changes, the pre-chosen t-test pair."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from steerlab.directions import Direction, plain_alpha
from steerlab.evaluation.steerability import _per_class, per_sample_attribute, prechosen_pair, prechosen_ttest, steerability
from steerlab.metrics.losses import dssim
from steerlab.metrics.stats import paired_change, sigma_pair, ttest


def _pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 3, 32, 32, generator=g)
    mask = torch.zeros(3, 1, 32, 32)
    mask[..., 5:22, 3:27] = 1
    return x, mask, g


def test_dssim_perfect_match_on_valid_pixels_is_zero():
    x, mask, g = _pair()
    y = torch.where(mask > 0, x, torch.rand(x.shape, generator=g))  # differs only where masked out
    assert (y != x).any()
    assert torch.equal(dssim(x, y, mask), torch.zeros(3))
    assert torch.equal(dssim(x, x), torch.zeros(3))


def test_dssim_ignores_masked_pixels():
    x, mask, g = _pair(1)
    y = x + 0.2 * torch.randn(x.shape, generator=g)
    ref = dssim(x, y, mask)
    assert (ref > 0.01).all()
    for fill in (torch.rand(x.shape, generator=g), torch.full_like(x, 7.0), torch.full_like(x, float("nan"))):
        y2 = torch.where(mask > 0, y, fill)
        x2 = torch.where(mask > 0, x, fill.flip(0))
        assert torch.equal(dssim(x2, y2, mask), ref)
    # ...while a change on the valid pixels does count
    assert (dssim(x, torch.where(mask > 0, y + 0.3, y), mask) != ref).all()


def test_dssim_orders_distortions_and_has_gradients():
    x, mask, g = _pair(2)
    noise = torch.randn(x.shape, generator=g)
    small, large = dssim(x, x + 0.05 * noise, mask), dssim(x, x + 0.3 * noise, mask)
    assert (small < large).all() and (large <= 1).all()
    xr = x.clone().requires_grad_(True)
    dssim(xr, x + 0.1 * noise, mask).sum().backward()
    assert torch.isfinite(xr.grad).all() and xr.grad.abs().sum() > 0
    assert (xr.grad * (1 - mask)).abs().max() == 0  # masked pixels get no gradient
    # without a mask it is the usual SSIM (kornia's, which pads by reflection: close, not equal, at borders)
    import kornia
    ref = ((1 - kornia.metrics.ssim(x, x + 0.1 * noise, 11)) / 2).flatten(1).mean(1)
    assert torch.allclose(dssim(x, x + 0.1 * noise), ref, rtol=0.05)
    with pytest.raises(ValueError, match="odd"):
        dssim(x, x, window=4)


# --------------------------------------------------------------------------- per-sample changes
def test_paired_change_on_a_set_where_the_mean_rises_but_most_samples_fall():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, 1000)
    move = np.where(np.arange(1000) < 200, 0.5, -0.05)       # 20 % jump up, 80 % drift down
    moved = base + move
    r = paired_change(base, moved, sign=1)
    assert r["mean"] > 0                                     # the mean says "rises" ...
    assert r["median"] == pytest.approx(-0.05)               # ... the typical sample falls
    assert r["asked_way"] == pytest.approx(0.2) and r["decreased"] == pytest.approx(0.8)
    assert r["q25"] == pytest.approx(-0.05) and r["q75"] == pytest.approx(-0.05) and r["detected"] == 1.0
    assert paired_change(base, moved, sign=-1)["asked_way"] == pytest.approx(0.8)
    assert paired_change(base, moved, sign=None)["asked_way"] is None


def test_paired_change_ratio_quartiles_and_detection():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.5, 1.0, 400)
    factor = np.repeat([0.9, 1.0, 1.1, 1.3], 100)            # known quartiles of the ratio
    moved = base * factor
    moved[:40] = np.nan                                      # the detector misses 40 samples at this alpha
    base[390:] = np.nan                                      # and 10 at the identity
    r = paired_change(torch.tensor(base), list(moved), sign=1)
    assert r["n"] == 400 and r["n_paired"] == 350 and r["detected"] == pytest.approx(350 / 400)
    assert r["median_ratio"] == pytest.approx(1.1)           # 60 x 0.9, 100 x 1.0, 100 x 1.1, 90 x 1.3
    assert r["asked_way"] == pytest.approx(190 / 350)
    neg = paired_change([-1.0, 1.0], [-2.0, 2.0])
    assert neg["median_ratio"] is None and neg["asked_way"] is None
    none = paired_change([np.nan, 1.0], [1.0, np.nan], sign=1)
    assert none["n_paired"] == 0 and none["median"] is None and none["detected"] == 0


@pytest.mark.parametrize("call", [lambda: paired_change([1.0], [1.0, 2.0]), lambda: paired_change([], []),
                                  lambda: paired_change([1.0], [2.0], sign=2),
                                  lambda: sigma_pair([1.0, 2.0, 3.0], [0, 0, 0]),
                                  lambda: sigma_pair([1.0, 2.0], [0])])
def test_per_sample_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_steerability_reports_per_sample_moves_of_a_known_shift(blob):
    """z0 moves the blob right by 0.12 of the width per unit: every sample moves, the asked way."""
    w = torch.zeros(1, blob.z_dim)
    w[0, 0] = 1.0
    d = Direction(kind="linear", space="z", tensors={"w": w}, model=blob.name, fingerprint=blob.fingerprint,
                  alpha=plain_alpha(2.0), edit=None)
    r = steerability(blob, d, n=8, n_alphas=3, measure="saliency", key="x", fid=False, progress=False)
    ps = r["per_sample"]
    assert [p["alpha"] for p in ps] == r["alphas"] and all(p["asked"] is None for p in ps)
    assert ps[1]["median"] == 0 and ps[1]["increased"] == 0            # alpha 0 is the identity itself
    assert ps[-1]["increased"] == 1.0 and ps[0]["decreased"] == 1.0
    assert 0.1 < ps[-1]["median"] and ps[0]["median"] < -0.1 and ps[-1]["q25"] > 0
    # the means and the per-sample medians agree on a walk that moves every sample
    means = [s["mean"] for s in r["attribute"]["x"]]
    assert np.sign(means[-1] - means[1]) == np.sign(ps[-1]["median"])
    light = per_sample_attribute(blob, d, n_alphas=3, measure="saliency", key="x", n=8)  # no FID, no ST-LPIPS
    assert light["per_sample"] == ps and light["mean"] == pytest.approx(means)


# --------------------------------------------------------------------------- the t-test pair
def test_prechosen_pair_comes_from_the_data_and_differs_from_the_post_hoc_pair():
    """Data: class 'wide' has the largest attribute spread, 'narrow' the smallest. The model moves
    'b' most and 'a' least: the post-hoc test compares b / a, the pre-chosen one wide / narrow."""
    rng = np.random.default_rng(0)
    names = ["narrow", "a", "b", "wide"]
    sigmas = [0.01, 0.05, 0.08, 0.3]
    labels = np.repeat(np.arange(4), 200)
    data = np.concatenate([rng.normal(0.5, s, 200) for s in sigmas])
    data[::17] = np.nan                                        # failed detections are skipped
    pair = prechosen_pair(data, torch.tensor(labels), names, 4)
    assert (pair["high"], pair["low"]) == ("wide", "narrow")
    assert pair["sigma_high"] == pytest.approx(0.3, rel=0.15) and pair["sigma_low"] == pytest.approx(0.01, rel=0.15)
    assert sigma_pair(data, labels)["high"] == "3"             # names default to the class indices
    # model measurements, made afterwards: per-sample perceptual distances at both ends
    classes = torch.arange(4).repeat_interleave(10)
    moved = {0: 0.30, 1: 0.10, 2: 0.60, 3: 0.35}
    high = torch.tensor([moved[int(k)] + 0.02 * i % 0.05 for i, k in enumerate(classes)])
    low = torch.zeros(40) + 0.01 * torch.arange(40) % 0.03
    values = [[0.0] * 40, [0.1] * 40]
    per_class, post = _per_class(classes, names, values, [low, high], ttest)
    assert (post["most"], post["least"]) == ("b", "a")
    pre = prechosen_ttest(pair, per_class, ttest)
    assert (pre["high_sigma"], pre["low_sigma"]) == ("wide", "narrow")
    expect = ttest(per_class["wide"]["perceptual_high"], per_class["narrow"]["perceptual_high"])
    assert pre["t"] == pytest.approx(expect["t"]) and pre["p"] == pytest.approx(expect["p"])
    assert abs(pre["t"]) < abs(post["t"])                      # the post-hoc pair is the extreme one
    assert prechosen_ttest(None, per_class, ttest) is None
    assert prechosen_pair(data, None, names, 4) is None


def test_bias_t_test_pairs_prechosen_from_sigma_and_post_hoc_from_delta():
    from steerlab.reproduce.bias import _class_ttests, _prechosen
    sigma = [0.05, float("nan"), 0.2, 0.01]                   # data: class 2 widest, class 3 narrowest
    assert _prechosen(sigma) == (2, 3)
    g = torch.Generator().manual_seed(0)
    classes = torch.arange(4).repeat_interleave(30)
    centre = torch.tensor([0.4, 0.0, 0.1, 0.05])               # the model separates class 0 most, 1 least
    sep = centre[classes] + 0.02 * torch.randn(120, generator=g, dtype=torch.float64)
    delta = [float(sep[classes == k].mean()) for k in range(4)]
    t = _class_ttests(sep, classes, ["a", "b", "c", "d"], _prechosen(sigma), delta, ttest)
    assert (t["prechosen"]["high"], t["prechosen"]["low"]) == ("c", "d")
    assert (t["post_hoc"]["high"], t["post_hoc"]["low"]) == ("a", "b")
    assert t["post_hoc"]["t"] > t["prechosen"]["t"] > 0
    with pytest.raises(ValueError, match="2 classes"):
        _prechosen([float("nan"), 0.1])


# --------------------------------------------------------------------------- FID references
def test_fid_vs_shift_uses_the_dataset_when_the_model_has_one():
    from helpers import make_tiny
    from steerlab.evaluation.weights import fid_vs_shift
    from steerlab.metrics.fid import FEATURE_NETWORKS, register_feature_network

    class Cheap(torch.nn.Module):  # a fast feature network so the test stays quick
        num_features = 12

        def forward(self, x):
            return torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)

    if "test-cheap" not in FEATURE_NETWORKS:
        register_feature_network("test-cheap", lambda device: Cheap())
    G = make_tiny()
    layer = next(iter(G.shiftable_weights()))
    xi = torch.zeros_like(G.shiftable_weights()[layer])
    own = fid_vs_shift(G, layer, xi, [0.0], n=24, features="test-cheap")
    assert "G(z)" in own["reference_name"] and "24" in own["reference_name"]
    G.card = {**(getattr(G, "card", None) or {}), "dataset": "shapes"}
    data = fid_vs_shift(G, layer, xi, [0.0], n=24, features="test-cheap")
    assert "dataset 'shapes'" in data["reference_name"]
    # a random 16 px generator is far from the shapes data, and nearer its own samples
    assert data["fid"][0] > own["fid"][0]
    again = fid_vs_shift(G, layer, xi, [0.0], n=24, features="test-cheap", reference=data["reference"],
                         reference_name=data["reference_name"])
    assert again["reference_name"] == data["reference_name"] and again["fid"] == data["fid"]


def test_bias_walk_kind_is_checked_and_names_its_paper_row(tmp_path):
    from steerlab.reproduce.bias import PAPER_TABLE1, reproduce_bias, table1
    with pytest.raises(ValueError, match="walk_kind"):
        reproduce_bias(tmp_path / "b", walk_kind="curved", progress=False)
    m = {"model": "shapes", "walk_kind": "nonlinear", "pearson": {"zoom": {"r": 0.5, "p": 0.01}}}
    assert f"{PAPER_TABLE1['nonlinear']['zoom']:.2f}" in table1(m) and "nonlinear" in table1(m)


def test_fid_difference_ci_separates_a_shifted_set_and_not_an_equal_one():
    from steerlab.metrics.fid import fid_difference_ci
    g = torch.Generator().manual_seed(0)
    ref, same, other = (torch.randn(300, 4, generator=g, dtype=torch.float64) for _ in range(3))
    far = torch.randn(300, 4, generator=g, dtype=torch.float64) + 0.6
    r = fid_difference_ci(ref, far, same, n_boot=30)
    assert r["difference"] > 0 and r["low"] > 0 and r["low"] <= r["difference"] <= r["high"]
    tie = fid_difference_ci(ref, same, other, n_boot=30)
    assert tie["low"] < 0 < tie["high"] and tie["n"] == [300, 300, 300]
    with pytest.raises(ValueError, match="n_boot"):
        fid_difference_ci(ref, same, other, n_boot=2)


def test_edge_l2_ignores_masked_pixels_and_charges_blur_more_than_l2():
    import kornia

    from steerlab.metrics.losses import edge_l2, get_loss, masked_l2
    x, mask, g = _pair(3)
    y = torch.where(mask > 0, x, torch.rand(x.shape, generator=g))
    assert torch.equal(edge_l2(x, y, mask), torch.zeros(3)) and get_loss("edges") is edge_l2
    noisy = x + 0.1 * torch.randn(x.shape, generator=g)
    ref = edge_l2(x, noisy, mask)
    assert torch.equal(edge_l2(x, torch.where(mask > 0, noisy, 5.0), mask), ref)
    # a blur and a uniform brightness offset with the same masked L2 differ in structure: only
    # the blur moves edges, and only it pays the gradient term
    blur = kornia.filters.gaussian_blur2d(x, (7, 7), (2.0, 2.0))
    offset = x + masked_l2(x, blur, mask).sqrt().view(-1, 1, 1, 1)
    assert torch.allclose(masked_l2(x, offset, mask), masked_l2(x, blur, mask), rtol=1e-4)
    assert (edge_l2(x, offset, mask) - masked_l2(x, offset, mask)).abs().max() < 1e-6
    assert (edge_l2(x, blur, mask) > 1.1 * edge_l2(x, offset, mask)).all()
    with pytest.raises(ValueError, match="weight"):
        edge_l2(x, x, mask, weight=-1.0)
