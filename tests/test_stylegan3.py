"""StyleGAN3 (configs T and R): images equal NVIDIA's code's, the input-transform knob, files, bad input.

The fixtures in tests/fixtures/stylegan3 were made by tools/make_stylegan3_fixtures.py running the
upstream repository (its CPU reference ops) on tiny random-weight generators.
"""
import functools
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from steerlab.core.io import FileFormatError
from steerlab.models import StyleGAN3Generator, load_generator, save_generator, stylegan3_from_state
from steerlab.models.stylegan3 import design_lowpass_filter, from_record, input_transform_matrix, upfirdn2d

FIX = Path(__file__).parent / "fixtures" / "stylegan3"
TOL = 1e-4


def _read(cfg):
    meta = json.loads((FIX / f"stylegan3_{cfg}.json").read_text())
    return meta, load_file(FIX / f"stylegan3_{cfg}_state.safetensors"), load_file(FIX / f"stylegan3_{cfg}_expected.safetensors")


@functools.cache
def _model(cfg):
    meta, state, expected = _read(cfg)
    G = stylegan3_from_state(meta["init_kwargs"], state, name=f"sg3-{cfg}")
    classes = expected["c"].argmax(1) if "c" in expected else None
    return G, expected, classes


@pytest.fixture(params=["t", "r"])
def golden(request):
    return _model(request.param)


def _unit(raw):  # upstream's images are in [-1, 1]; steerlab's in [0, 1]
    return ((raw + 1) / 2).clamp(0, 1)


def _check(got, want):
    assert got.shape == want.shape
    err = float((got - _unit(want)).abs().max())
    assert err < TOL, err


# ----------------------------------------------------------------------------- golden images
def test_golden_z_psi1_and_mapping(golden):
    G, exp, classes = golden
    with torch.no_grad():
        assert torch.allclose(G.to_space(exp["z"], "w+", classes), exp["ws_psi1"], atol=1e-5)
        _check(G.synthesize(exp["z"], classes=classes), exp["img_psi1"])


def test_golden_psi07(golden):
    G, exp, classes = golden
    G.truncation_psi = 0.7
    try:
        with torch.no_grad():
            assert torch.allclose(G.to_space(exp["z"], "w+", classes), exp["ws_psi07"], atol=1e-5)
            _check(G.synthesize(exp["z"], classes=classes), exp["img_psi07"])
    finally:
        G.truncation_psi = 1.0


def test_golden_w_and_wplus(golden):
    G, exp, classes = golden  # (a conditional model takes the labels in every space, as the protocol asks)
    with torch.no_grad():
        _check(G.synthesize(exp["ws_psi07"][:, 0], space="w", classes=classes), exp["img_psi07"])
        _check(G.synthesize(exp["wplus"], space="w+", classes=classes), exp["img_wplus"])


def test_golden_input_transform(golden):
    G, exp, classes = golden
    dx, dy, angle = exp["transform"].tolist()
    with torch.no_grad():
        _check(G.synthesize(exp["z"], classes=classes, transform=(dx, dy, angle)), exp["img_transform"])
        # the same transform stored in the checkpoint's buffer (as upstream's gen_images.py sets it)
        stored = G.synthesis.input.transform.clone()
        G.synthesis.input.transform.copy_(input_transform_matrix(dx, dy, angle, n=1)[0])
        try:
            _check(G.synthesize(exp["z"], classes=classes), exp["img_transform"])
        finally:
            G.synthesis.input.transform.copy_(stored)


@pytest.mark.parametrize("cfg", ["t", "r"])
def test_designed_filters_equal_the_checkpoints(cfg):
    meta, state, _ = _read(cfg)
    fresh = StyleGAN3Generator(**meta["init_kwargs"]).state_dict()
    filters = [k for k in state if k.endswith(("up_filter", "down_filter"))]
    assert filters and set(filters) == {k for k in fresh if k.endswith(("up_filter", "down_filter"))}
    assert any(state[k].dim() == 2 for k in filters) == (cfg == "r")  # R: radial down filters
    for k in filters:
        assert torch.allclose(fresh[k], state[k], atol=1e-7), k


# ----------------------------------------------------------------------------- the input-transform knob
def _best_shift(x0, x1, margin=4, span=4):
    """The integer (dx, dy) for which x0 moved by (dx, dy) best matches x1 away from the borders."""
    r = x0.shape[-1]
    errs = {(sx, sy): float((x1 - torch.roll(x0, (sy, sx), (2, 3)))[..., margin:r - margin, margin:r - margin]
                            .square().mean())
            for sx in range(-span, span + 1) for sy in range(-span, span + 1)}
    return min(errs, key=errs.get), errs


def test_translation_knob_moves_content_the_asked_way(golden):
    G, exp, classes = golden
    r, shifts = G.resolution, [(2, 0), (0, 2), (-3, 1)]
    z = exp["z"].repeat(len(shifts), 1)
    classes = None if classes is None else classes.repeat(len(shifts))
    dx, dy = (torch.tensor([s[i] / r for s in shifts]).repeat_interleave(len(exp["z"])) for i in (0, 1))
    with torch.no_grad():
        x0 = G.synthesize(exp["z"], classes=None if classes is None else classes[:len(exp["z"])])
        x1 = G.synthesize(z, classes=classes, transform=(dx, dy, 0.0)).split(len(exp["z"]))
    for shift, moved in zip(shifts, x1):
        best, errs = _best_shift(x0, moved)
        assert best == shift
        assert errs[best] < 0.01 * errs[(0, 0)]  # the model's own shift is (close to) an exact translation


def test_rotation_knob_is_counterclockwise():
    G, exp, classes = _model("r")  # config R is rotation equivariant (T is not)
    with torch.no_grad():
        x0 = G.synthesize(exp["z"], classes=classes)
        x90 = G.synthesize(exp["z"], classes=classes, transform=(0.0, 0.0, 90.0))
    ccw = float((x90 - torch.rot90(x0, 1, (2, 3))).square().mean())
    cw = float((x90 - torch.rot90(x0, -1, (2, 3))).square().mean())
    assert ccw < 0.01 * cw


def test_transform_per_sample_and_differentiable():
    G, exp, classes = _model("r")
    dx = torch.tensor([0.0, 0.1], requires_grad=True)
    x = G.synthesize(exp["z"], classes=classes, transform=(dx, 0.0, 0.0))
    with torch.no_grad():
        x0 = G.synthesize(exp["z"], classes=classes)
        x1 = G.synthesize(exp["z"][1:], classes=None if classes is None else classes[1:], transform=(0.1, 0, 0))
    assert torch.allclose(x[0], x0[0], atol=1e-6) and torch.allclose(x[1], x1[0], atol=1e-6)
    x[1].sum().backward()
    assert dx.grad is not None and dx.grad[1].abs() > 0 and dx.grad[0] == 0


# ----------------------------------------------------------------------------- ops and files
def test_upfirdn2d_identity_up_down_and_crop():
    x = torch.randn(1, 2, 5, 5)
    assert torch.equal(upfirdn2d(x, None), x)
    up = upfirdn2d(x, None, up=2)
    assert up.shape == (1, 2, 10, 10) and torch.equal(up[..., ::2, ::2], x) and up[..., 1::2, :].abs().sum() == 0
    assert torch.equal(upfirdn2d(x, None, padding=(-1, -1, -2, 0)), x[..., 2:, 1:-1])
    f = design_lowpass_filter(8, cutoff=4, width=2, fs=16)
    assert f.shape == (8,) and abs(float(f.sum()) - 1) < 1e-5
    const = upfirdn2d(torch.ones(1, 1, 12, 12), f, up=2, gain=4.0)  # a constant stays constant (gain up^2)
    assert torch.allclose(const[..., 8:-8, 8:-8], torch.ones(()), atol=1e-3)
    assert design_lowpass_filter(1, 1, 1, 4) is None


def test_save_load_roundtrip_and_fingerprint(golden, tmp_path):
    G, exp, classes = golden
    path = save_generator(G, tmp_path / "sg3")
    G2 = load_generator(path)
    assert type(G2) is StyleGAN3Generator and G2.fingerprint == G.fingerprint
    with torch.no_grad():
        assert torch.equal(G2.synthesize(exp["z"], classes=classes), G.synthesize(exp["z"], classes=classes))
    weights = G.shiftable_weights()
    assert set(weights) == {f"synthesis.{n}.weight" for n in G.synthesis.layer_names}
    name = f"synthesis.{G.synthesis.layer_names[3]}.weight"
    with torch.no_grad():
        base = G.synthesize(exp["z"], classes=classes)
        assert torch.equal(G.synthesize_shifted(exp["z"], {name: torch.zeros_like(weights[name])}, classes=classes),
                           base)
        moved = G.synthesize_shifted(exp["z"], {name: torch.randn_like(weights[name])}, classes=classes)
    assert (moved - base).abs().max() > 1e-3 and torch.equal(G.synthesize(exp["z"], classes=classes), base)


def test_from_record_and_bad_input():
    meta, state, _ = _read("r")
    G = from_record({"class_name": meta["class_name"], "init_kwargs": meta["init_kwargs"], "state": state})
    assert G.num_classes == 4 and G.resolution == 32 and G.latent_shape("w+") == (10, 32)
    with pytest.raises(FileFormatError, match="not a StyleGAN3 generator"):
        from_record({"class_name": "training.networks_stylegan2.Generator", "init_kwargs": {}, "state": {}})
    with pytest.raises(FileFormatError, match="kwargs not supported.*bogus"):
        stylegan3_from_state({**meta["init_kwargs"], "bogus": 1}, state)
    with pytest.raises(FileFormatError, match="missing"):
        stylegan3_from_state(meta["init_kwargs"], {k: v for k, v in state.items() if "L2_" not in k})
    with pytest.raises(FileFormatError, match="shape"):
        stylegan3_from_state(meta["init_kwargs"], {**state, "mapping.w_avg": torch.zeros(3)})
    with pytest.raises(FileFormatError, match="NaN"):
        stylegan3_from_state(meta["init_kwargs"], {**state, "mapping.w_avg": torch.full((32,), float("nan"))})
    with pytest.raises(ValueError, match=r"\(dx, dy, angle\)"):
        G.synthesize(torch.zeros(1, 32), classes=torch.tensor([0]), transform=(0.1, 0.0))
    with pytest.raises(ValueError, match="one per sample"):
        G.synthesize(torch.zeros(2, 32), classes=torch.tensor([0, 1]), transform=(torch.zeros(3), 0.0, 0.0))
    with pytest.raises(ValueError, match="shape"):
        G.synthesize(torch.zeros(2, 31), classes=torch.tensor([0, 1]))


def test_input_transform_direction_renders_saves_and_refuses(golden, tmp_path):
    from steerlab.directions import Direction, input_transform_direction
    from steerlab.models import DCGANGenerator

    G, exp, classes = golden
    d = input_transform_direction(G, "rotate2d")
    assert d.kind == "input-transform" and d.space == "w"
    d = Direction.load(d.save(tmp_path / "rot"), model=G)
    with torch.no_grad():
        got = d.render(G, exp["z"], 30.0, classes=classes)  # the edit's units: degrees
        want = G.synthesize(G.to_space(exp["z"], "w", classes), space="w", classes=classes,
                            transform=(0.0, 0.0, 30.0))
    assert torch.allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError, match="performs shift_x, shift_y, rotate2d, not 'zoom'"):
        input_transform_direction(G, "zoom")
    with pytest.raises(ValueError, match="no input transform"):
        input_transform_direction(DCGANGenerator(z_dim=4, resolution=16, width=4), "shift_x")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cfg", ["t", "r"])
def test_golden_on_cuda(cfg, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # full float32 convs, as on the CPU
    meta, state, exp = _read(cfg)
    G = stylegan3_from_state(meta["init_kwargs"], state).to("cuda")
    classes = exp["c"].argmax(1).cuda() if "c" in exp else None
    dx, dy, angle = exp["transform"].tolist()
    with torch.no_grad():
        _check(G.synthesize(exp["z"].cuda(), classes=classes).cpu(), exp["img_psi1"])
        _check(G.synthesize(exp["wplus"].cuda(), space="w+", classes=classes).cpu(), exp["img_wplus"])
        _check(G.synthesize(exp["z"].cuda(), classes=classes, transform=(dx, dy, angle)).cpu(), exp["img_transform"])


@pytest.mark.slow
def test_learned_shift_walk_in_wplus_finds_the_models_own_translation():
    """A linear shift_x walk in w+ (100 steps) moves the images much like the model's input translation."""
    import torch.nn.functional as F

    from steerlab.directions import input_transform_direction
    from steerlab.edits import get_edit
    from steerlab.methods.walks import learn_linear_walk

    G, _, _ = _model("t")
    walk = learn_linear_walk(G, "shift_x", space="w+", steps=100, batch_size=4, seed=0, progress=False)
    own = input_transform_direction(G, "shift_x", space="w+")
    z = torch.randn(16, G.z_dim, generator=torch.Generator().manual_seed(123))
    latent, alpha = G.to_space(z, "w+"), torch.full((16,), 0.125)
    with torch.no_grad():
        x0 = G.synthesize(latent, space="w+")
        xw, xk = walk.render(G, z, alpha, latent=latent), own.render(G, z, alpha, latent=latent)
        target, mask = get_edit("shift_x").fn(x0, alpha)
    cos = float(F.cosine_similarity((xw - x0).flatten(1), (xk - x0).flatten(1), dim=1).mean())

    def l2(x):
        return float(((x - target) * mask).square().sum() / mask.expand_as(x).sum())

    assert cos > 0.6 and l2(xk) < 0.1 * l2(x0) and l2(xw) < 0.5 * l2(x0), (cos, l2(x0), l2(xw), l2(xk))


@pytest.mark.parametrize("cfg", ["t", "r"])
def test_upstream_pickle_loads_through_the_safe_reader_and_matches(cfg):
    """The fixture's NVlabs pickle, read by steerlab's restricted unpickler, renders upstream's images."""
    from steerlab.models import load_model
    G = load_model(str(FIX / f"stylegan3_{cfg}.pkl"))
    _, _, exp = _read(cfg)
    classes = exp["c"].argmax(1) if "c" in exp else None
    assert isinstance(G, StyleGAN3Generator) and G.card["class_name"].endswith("networks_stylegan3.Generator")
    with torch.no_grad():
        _check(G.synthesize(exp["z"], classes=classes), exp["img_psi1"])
