"""ST-LPIPS (steerlab.metrics.perceptual) and FID/KID (steerlab.metrics.fid), on CPU at 32-64 px."""
import importlib.util

import pytest
import torch
import torch.nn.functional as F

from steerlab.metrics import fid as fid_mod
from steerlab.metrics import perceptual as P

pytestmark = pytest.mark.skipif(importlib.util.find_spec("stlpips_pytorch") is None,
                                reason="needs the stlpips-pytorch wheel (pip install --no-deps stlpips-pytorch==0.0.2)")


def smooth_images(n, seed, size=64):
    """Seeded smooth colour images (bicubic-upsampled 8x8 noise), (n, 3, size, size) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 8, 8, generator=g), size=size, mode="bicubic",
                         align_corners=False).clamp(0, 1)


@pytest.fixture(scope="module", params=P.NETS)
def model(request):
    return P.STLPIPS(request.param)


def test_weights_load_strict_and_frozen(model):
    state = torch.load(P.stlpips_weights_path(model.net_name), map_location="cpu", weights_only=True)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(model.state_dict()) == set(state)  # every tensor of the module comes from the file
    assert all(not p.requires_grad for p in model.parameters())
    model.train()  # stays in eval mode
    assert not model.training and not any(m.training for m in model.modules())


def test_unknown_net_is_one_line_value_error():
    with pytest.raises(ValueError, match="allowed: alex, vgg") as e:
        P.STLPIPS("squeeze")
    assert "\n" not in str(e.value)


def test_missing_wheel_is_one_line_file_not_found(monkeypatch):
    monkeypatch.setattr(P.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps stlpips-pytorch==0.0.2") as e:
        P.stlpips_weights_path("alex")
    assert "\n" not in str(e.value)


def test_zero_for_identical_positive_for_different_and_symmetric(model):
    x, y = smooth_images(3, 0), smooth_images(3, 1)
    with torch.no_grad():
        d_same, d_xy, d_yx = model(x, x), model(x, y), model(y, x)
    assert d_same.shape == (3,)
    assert d_same.abs().max() < 1e-6
    assert (d_xy > 0.05).all()
    torch.testing.assert_close(d_xy, d_yx, rtol=1e-5, atol=1e-6)


def test_grows_with_noise_level(model):
    x = smooth_images(4, 2)
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(x.shape, generator=g)
    with torch.no_grad():
        d = [model(x, (x + s * noise).clamp(0, 1)).mean().item() for s in (0.03, 0.06, 0.12)]
    assert 0 < d[0] < d[1] < d[2], d


def test_gradient_is_finite_and_nonzero(model):
    x = smooth_images(2, 4).requires_grad_(True)
    y = smooth_images(2, 5)
    model(x, y).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_unit_normalise_has_finite_gradient_at_dead_positions():
    # A position where every channel is 0 (all ReLUs off): sqrt(sum f^2) alone has an infinite
    # derivative there and would turn the whole input gradient into NaN.
    f = torch.rand(1, 4, 2, 2)
    f[..., 0, 0] = 0
    f.requires_grad_(True)
    out = P._unit_normalize(f)
    out.sum().backward()
    assert torch.isfinite(f.grad).all()
    assert out[..., 0, 0].abs().max() == 0
    torch.testing.assert_close(out[..., 1, 1].norm(), torch.tensor(1.0))


def test_expected_values_for_seeded_images(model):
    # Recorded once with this implementation after checking it line by line against the package's
    # LPIPS.forward / invariant_networks (variant="shift_tolerant") / models_lpf, and against an
    # independent functional (F.conv2d) re-derivation from the checkpoint keys (equal to 0.0).
    expected = {"alex": 0.44521719217300415, "vgg": 0.528582751750946}[model.net_name]
    with torch.no_grad():
        d = model(smooth_images(1, 0), smooth_images(1, 1))
    assert d.item() == pytest.approx(expected, rel=1e-4)


def test_one_pixel_shift_costs_far_less_than_noise(model):
    from skimage import data
    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255
    photo = F.interpolate(photo, size=66, mode="area")                       # (1, 3, 66, 66)
    x, shifted = photo[..., 1:65, 1:65], photo[..., 1:65, 2:66]               # 1 px to the left
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    # The shift changes more pixels than the noise does ...
    assert (x - shifted).pow(2).mean() > 2 * (x - noisy).pow(2).mean()
    with torch.no_grad():
        d_shift, d_noise = model(x, shifted).item(), model(x, noisy).item()
    # ... yet the shift-tolerant distance barely sees it (measured: ~1/18 for alex, ~1/20 for vgg).
    assert d_shift < 0.2 * d_noise, (d_shift, d_noise)


def test_features_are_unit_normalised(model):
    feats = model.features(smooth_images(2, 6))
    assert len(feats) == 5
    assert [f.shape[1] for f in feats] == list(model.channels)
    for f in feats:
        norms = f.pow(2).sum(1).sqrt()
        assert ((norms - 1).abs() < 1e-4).float().mean() > 0.9  # all but dead (all-zero) positions


def test_grey_small_and_uint8_inputs():
    model = P.STLPIPS("alex")
    x, y = smooth_images(2, 7), smooth_images(2, 8)
    with torch.no_grad():
        grey = model(x[:, :1], y[:, :1])
        torch.testing.assert_close(grey, model(x[:, :1].expand(-1, 3, -1, -1), y[:, :1].expand(-1, 3, -1, -1)))
        small = model(x[..., :16, :16], y[..., :16, :16])  # upsampled to 64 px internally
        as_uint8 = model((x * 255).round().to(torch.uint8), (y * 255).round().to(torch.uint8))
    assert small.shape == (2,) and torch.isfinite(small).all() and (small > 0).all()
    torch.testing.assert_close(as_uint8, model(x, y), rtol=0.02, atol=1e-3)
    with pytest.raises(ValueError):
        model(x, y[..., :32, :32])


def test_functional_matches_module_and_is_cached():
    x, y = smooth_images(2, 9), smooth_images(2, 10)
    with torch.no_grad():
        torch.testing.assert_close(P.perceptual_distance(x, y, net="alex"), P.STLPIPS("alex")(x, y))
    assert P._cached_model("alex", "cpu") is P._cached_model("alex", "cpu")


def test_lpips_available_is_a_bool():
    assert isinstance(P.lpips_available(), bool)
    assert P.lpips_available("no-such-net") is False


# ----------------------------------------------------------------------------------------------
# FID / KID

@pytest.fixture(scope="module")
def vgg_features():
    return P.VGGFeatures()


def test_vgg_features_follow_the_torchmetrics_contract(vgg_features):
    from torchmetrics.image.fid import FrechetInceptionDistance
    x = smooth_images(3, 11, size=32)
    with torch.no_grad():
        f = vgg_features(x)
        f8 = vgg_features((x * 255).round().to(torch.uint8))
    assert f.shape == (3, vgg_features.num_features) and isinstance(vgg_features.num_features, int)
    assert torch.isfinite(f).all() and (f >= 0).all()
    with torch.no_grad():  # pooled unit-normalised relu4_3 and relu5_3, each scaled by sqrt(512)
        maps = vgg_features.lpips.features(x)[3:]
    torch.testing.assert_close(f, torch.cat([m.mean(dim=(2, 3)) * 512 ** 0.5 for m in maps], dim=1))
    torch.testing.assert_close(f8, f, rtol=0.05, atol=0.02)
    metric = FrechetInceptionDistance(feature=vgg_features, normalize=True)  # accepted as custom features
    metric.update(x, real=True)
    metric.update(x, real=False)
    assert abs(float(metric.compute())) < 1e-2


def procedural_set(n, seed, size=32):
    """Smooth textures on a random base colour; the same distribution for every seed."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 1, 1, generator=g) * 0.5 + 0.25
    texture = F.interpolate(torch.rand(n, 3, 6, 6, generator=g), size=size, mode="bicubic", align_corners=False)
    return (0.6 * base + 0.4 * texture).clamp(0, 1)


def test_fid_kid_orders_sets_sensibly():
    a, b = procedural_set(24, 1), procedural_set(24, 2)
    same = fid_mod.fid_kid(a, a, batch_size=16)
    other = fid_mod.fid_kid(a, b, batch_size=16)
    darker = fid_mod.fid_kid(a, 0.5 * b, batch_size=16)  # the second sample, brightness halved
    for r in (same, other, darker):
        assert r["feature_network"] == "stlpips-vgg"
        assert r["kid_subset_size"] == 24  # default 1000, clipped to the smallest set
    assert abs(same["fid"]) < 1e-3 * other["fid"]
    assert darker["fid"] > 1.5 * other["fid"], (darker["fid"], other["fid"])
    # KID is unbiased, so a set against itself is slightly negative, not exactly 0.
    assert abs(same["kid_mean"]) < 0.25 * darker["kid_mean"]
    assert darker["kid_mean"] > other["kid_mean"] + 0.05, (darker["kid_mean"], other["kid_mean"])


def test_fid_kid_is_batch_size_invariant_and_clips_subset():
    a, b = procedural_set(6, 3), procedural_set(4, 4)
    r1 = fid_mod.fid_kid(a, b, batch_size=5, kid_subset_size=50, kid_subsets=10)
    r2 = fid_mod.fid_kid(a, b, batch_size=2, kid_subset_size=50, kid_subsets=10)
    assert r1["kid_subset_size"] == 4 and r1["n_real"] == 6 and r1["n_fake"] == 4
    assert r1["fid"] == pytest.approx(r2["fid"], rel=1e-3, abs=1e-3)
    assert r1["kid_mean"] == pytest.approx(r2["kid_mean"], rel=1e-3, abs=1e-5)


def test_unknown_feature_network_is_one_line_value_error():
    x = procedural_set(2, 5)
    with pytest.raises(ValueError, match="allowed: .*stlpips-vgg") as e:
        fid_mod.fid_kid(x, x, features="inception")
    assert "\n" not in str(e.value)


def test_register_feature_network():
    class MeanColour(torch.nn.Module):
        num_features = 3

        def forward(self, x):
            return x.mean(dim=(2, 3))

    fid_mod.register_feature_network("test-mean-colour", lambda device: MeanColour())
    try:
        with pytest.raises(ValueError, match="already registered"):
            fid_mod.register_feature_network("test-mean-colour", lambda device: MeanColour())
        a = procedural_set(8, 6)
        r = fid_mod.fid_kid(a, 0.5 * a, features="test-mean-colour")
        assert r["feature_network"] == "test-mean-colour" and r["fid"] > 0
    finally:
        del fid_mod.FEATURE_NETWORKS["test-mean-colour"]


def test_large_images_are_compared_at_256_px(model):
    """Above MAX_SIDE the distance is that of the area-downsampled images, so 1024 px costs 256 px's memory."""
    from steerlab.metrics.perceptual import MAX_SIDE

    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(2, 3, 512, 512, generator=g), torch.rand(2, 3, 512, 512, generator=g)
    small_x = torch.nn.functional.interpolate(x, size=(MAX_SIDE, MAX_SIDE), mode="area")
    small_y = torch.nn.functional.interpolate(y, size=(MAX_SIDE, MAX_SIDE), mode="area")
    torch.testing.assert_close(model(x, y), model(small_x, small_y))
    assert [f.shape[-1] for f in model.features(x)] == [f.shape[-1] for f in model.features(small_x)]
    # a non-square image keeps its aspect ratio: the short side becomes MAX_SIDE
    assert model._prepare(torch.rand(1, 3, 300, 600)).shape[-2:] == (MAX_SIDE, 2 * MAX_SIDE)


@pytest.mark.parametrize("size", [20, 64, 300])  # upsampled, as is, area-downsampled
def test_linearized_features_match_forward_mode_autodiff(model, size):
    """The hand-written tangent map equals torch.func.jvp of `features`, and the features are unchanged."""
    g = torch.Generator().manual_seed(11)
    x = smooth_images(2, 12, size)
    dx = torch.randn(x.shape, generator=g)
    feats, jvp = model.linearized_features(x)
    ref_feats, ref_tangents = torch.func.jvp(model.features, (x,), (dx,))
    for f, rf, t, rt in zip(feats, ref_feats, jvp(dx), ref_tangents):
        torch.testing.assert_close(f, rf)
        assert t.shape == rt.shape
        assert float((t - rt).abs().max()) <= 1e-5 * float(rt.abs().max())
    # linear in dx, and the features keep x's graph
    t1, t3 = jvp(dx)[2], jvp(3 * dx)[2]
    assert float((t3 - 3 * t1).abs().max()) <= 1e-5 * float(t3.abs().max())
    xg = x.clone().requires_grad_(True)
    assert model.linearized_features(xg)[0][4].requires_grad
