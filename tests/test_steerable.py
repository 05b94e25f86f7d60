import json

import pytest
import torch

from helpers import make_tiny
from steerlab.directions import Direction
from steerlab.training import DCGANDiscriminator, GANConfig, digit_gan, train_steerable


def _data(n=32):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, 16, 16, generator=g) * 0.2
    x[:, :, 5:11, 5:11] += 0.7
    return x.clamp(0, 1), torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("mode", ["argmin_w", "argmin_w_aug", "argmin_gw"])
def test_three_modes_train_and_return_a_walk(mode):
    G = make_tiny(num_classes=3)
    D = DCGANDiscriminator(resolution=16, width=8, num_classes=3)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    x, y = _data()
    r = train_steerable(G, D, x, y, "shift_x", mode, gan=GANConfig(steps=3, batch_size=8, joint_lr=0.05),
                        walk_steps=3, walk_batch_size=4, progress=False)
    d = r["direction"]
    assert any(not torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert d.kind == "linear" and d.edit == "shift_x" and d.tensors["w"].shape == (1, G.z_dim)
    assert d.fingerprint == G.fingerprint and d.config["training"]["mode"] == mode
    gan = d.config["training"]["gan"]
    assert gan["aug_edit"] == ("shift_x" if mode == "argmin_w_aug" else None)
    assert gan["joint_edit"] == ("shift_x" if mode == "argmin_gw" else None)
    if mode == "argmin_gw":  # the walk is the jointly learned w (its own lr: 3 steps of 0.05)
        assert torch.equal(d.tensors["w"], r["gan"]["w"]) and d.tensors["w"].abs().max() > 0.1
        assert len(r["gan"]["history"]["edit_loss"]) == 3 and r["gan"]["history"]["edit_loss"][-1] > 0
    z = G.sample_z(2)
    assert d.render(G, z, 0.3, classes=torch.tensor([0, 2])).shape == (2, 3, 16, 16)


def test_pretrained_generator_is_reused_not_retrained():
    G = make_tiny(num_classes=3)
    x, y = _data()
    state = {k: v.clone() for k, v in G.state_dict().items()}
    r = train_steerable(G, None, x, y, "zoom", "argmin_w", pretrained=True, walk_steps=2, walk_batch_size=4,
                        progress=False)
    assert r["gan"] is None and all(torch.equal(state[k], v) for k, v in G.state_dict().items())
    with pytest.raises(ValueError, match="together"):
        train_steerable(G, None, x, y, "zoom", "argmin_gw", pretrained=True, progress=False)
    with pytest.raises(ValueError, match="allowed"):
        train_steerable(G, None, x, y, "zoom", "argmin_everything", progress=False)


def test_digit_gan_is_seeded_and_conditional():
    G1, D1 = digit_gan(32, 1, 10, z_dim=16, width=8, seed=3)
    G2, _ = digit_gan(32, 1, 10, z_dim=16, width=8, seed=3)
    assert G1.fingerprint == G2.fingerprint and G1.num_classes == 10
    x = G1.eval().synthesize(G1.sample_z(2), classes=torch.tensor([1, 7]))
    assert x.shape == (2, 1, 32, 32) and D1(x, torch.tensor([1, 7])).shape == (2,)


def test_digit_discriminator_sees_diversity_within_a_class_only():
    from steerlab.training import DigitDiscriminator
    torch.manual_seed(0)
    D = DigitDiscriminator(resolution=16, channels=1, width=8, num_classes=3).eval()
    x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    c = torch.tensor([0, 0, 0, 1, 1, 2])
    base = D(x, c)
    other = x.clone()
    other[4] = torch.rand(1, 16, 16)  # a class-1 sample changes: class-0 logits must not
    assert torch.allclose(D(other, c)[:3], base[:3], atol=1e-6)
    same = x.clone()
    same[1] = same[0]  # a class-0 sample changes: sample 0's logit moves through the class stddev
    assert not torch.allclose(D(same, c)[0], base[0], atol=1e-6)
    plain = DigitDiscriminator(resolution=16, channels=1, width=8, num_classes=0)  # batch-wide stddev
    assert plain(x).shape == (6,)


def test_joint_lr_is_wired_to_w_only():
    G = make_tiny()
    D = DCGANDiscriminator(resolution=16, width=8)
    from steerlab.training import train_gan
    x, _ = _data()
    small = train_gan(make_tiny(), DCGANDiscriminator(resolution=16, width=8), x,
                      config=GANConfig(steps=2, batch_size=8, joint_edit="zoom"), progress=False)["w"]
    big = train_gan(G, D, x, config=GANConfig(steps=2, batch_size=8, joint_edit="zoom", joint_lr=0.1),
                    progress=False)["w"]
    # Adam's first steps move each entry by about lr: 2e-4 (G's lr) vs 0.1
    assert small.abs().max() < 1e-3 < 0.05 < big.abs().max()


def test_ink_moments_read_shift_zoom_and_rotation():
    from steerlab.edits import get_edit
    from steerlab.reproduce._digits import ink_moments
    x = torch.zeros(1, 1, 32, 32)
    x[0, 0, 8:24, 14:18] = 1.0  # an upright bar at the centre
    m0 = ink_moments(x)
    assert abs(m0["x"].item() - 15.5) < 1e-4 and abs(abs(m0["angle"].item()) - 90) < 1e-3
    assert abs(ink_moments(get_edit("shift_x")(x, 0.25)[0])["x"].item() - 23.5) < 0.1
    assert abs(ink_moments(get_edit("zoom")(x, 0.5)[0])["spread"].item() / m0["spread"].item() - 0.5) < 0.05
    turned = ink_moments(get_edit("rotate2d")(x, 30.0)[0])["angle"].item()
    assert abs((turned - m0["angle"].item() + 90) % 180 - 90 - 30) < 2  # counter-clockwise is +


@pytest.fixture
def quick_classifier(monkeypatch):
    """The digit CNN trained for a few steps (the experiments' measurements, not their numbers)."""
    from functools import partial

    from steerlab.metrics import digit_features
    from steerlab.reproduce import _digits
    quick = partial(digit_features.digit_classifier, steps=5, copies=0)
    monkeypatch.setattr(digit_features, "digit_classifier", quick)
    monkeypatch.setattr(_digits, "digit_classifier", quick)


SMALL = ["--set", "edits=zoom", "--set", "gan_steps=2", "--set", "batch_size=8", "--set", "width=8",
         "--set", "z_dim=8", "--set", "resolution=16", "--set", "n_eval=8"]


def test_reproduce_steerable_training_end_to_end(tmp_path, quick_classifier):
    from steerlab.cli import main
    out = tmp_path / "st"
    assert main(["reproduce", "steerable-training", "--out", str(out), *SMALL, "--set", "walk_steps=2"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    v = m["l2_at_max_alpha"]["zoom"]
    assert set(v) == {"argmin_w", "argmin_w_aug", "argmin_gw"} and all(x > 0 for x in v.values())
    assert m["ordering"]["zoom"]["holds"] == (v["argmin_gw"] < v["argmin_w_aug"] < v["argmin_w"])
    assert m["feature_network"] == "digits-cnn" and len(m["curves"]["zoom"]["argmin_w"]["walk_l2"]) == 9
    ends = m["attribute_at_ends"]["zoom"]["argmin_gw"]  # the measured ink spread, not only L2
    assert len(ends["walk"]) == 2 and ends["target"][0] < ends["target"][1] and "follows_target" in ends
    ps = m["curves"]["zoom"]["argmin_gw"]["attribute_per_sample"]  # per sample, against alpha's identity
    assert len(ps) == 9 and ps[4]["median"] == 0 and ps[4]["n_paired"] == ps[4]["n"]
    assert ps[0]["n"] == ps[-1]["n"] and 0 <= ps[-1]["asked_way"] <= 1 and ps[4]["asked_way"] is None
    assert "Per sample" in (out / "report.html").read_text()
    assert (out / "attribute_vs_alpha.png").is_file()
    for name in ("fig9_l2_vs_alpha.png", "strip_zoom.png", "report.html", "models/digits-vanilla.safetensors",
                 "models/digits-joint-zoom.safetensors", "directions/zoom-argmin_gw.safetensors"):
        assert (out / name).is_file(), name
    d = Direction.load(out / "directions" / "zoom-argmin_w_aug.safetensors")
    from steerlab.models import load_model
    G = load_model(out / "models" / "digits-aug-zoom.safetensors")
    d.check_model(G)  # the saved direction belongs to the saved generator
    assert G.card["dataset"] == "digits" and G.card["fid_features"] == "digits-cnn"


def test_reproduce_nonlinear_walks_end_to_end(tmp_path, quick_classifier):
    from steerlab.reproduce import get_reproduction
    fn = get_reproduction("nonlinear-walks")
    run = fn(tmp_path / "nl", edits=("shift_x",), gan_steps=2, batch_size=8, width=8, z_dim=8, resolution=16,
             walk_steps=2, nonlinear_steps=2, hidden=8, n_eval=8, progress=False)
    m = run["metrics"]
    c = m["curves"]["shift_x"]
    assert set(c) == {"linear", "nonlinear", "nn-linear"} and all(len(c[k]["fid"]) == 9 for k in c)
    assert abs(m["epsilon"]["shift_x"] - 0.1) < 1e-9
    s = m["spread"]["shift_x"]["nn-linear"]
    assert 0 <= s["trained"]["mean_cos"][0] <= 1.0001 and "nonlinear" in m["spread"]["shift_x"]
    assert (run["out"] / "fig7_l2_fid_vs_alpha.png").is_file() and (run["out"] / "strip_shift_x.png").is_file()
    assert Direction.load(run["out"] / "directions" / "shift_x-nonlinear.safetensors").kind == "nonlinear"
    l2 = c["nonlinear"]["l2_per_sample"]  # fraction of samples the walk brings closer than doing nothing
    assert len(l2) == 9 and l2[4]["asked_way"] is None and 0 <= l2[0]["asked_way"] <= 1 and l2[0]["n"] == 8


def test_reproduce_options_are_typed_and_checked(tmp_path):
    from steerlab.cli import main
    from steerlab.reproduce import get_reproduction
    from steerlab.reproduce.options import parse_options
    fn = get_reproduction("steerable-training")
    opts = parse_options(fn, ["gan_steps=10", "edits=zoom,rotate2d", "aug_prob=0.25", "mnist=/data/mnist"])
    assert opts == {"gan_steps": 10, "edits": ("zoom", "rotate2d"), "aug_prob": 0.25, "mnist": "/data/mnist"}
    with pytest.raises(ValueError, match="gan_steps"):
        parse_options(fn, ["gan_stepz=10"])
    with pytest.raises(ValueError, match="gan_steps"):
        parse_options(fn, ["gan_steps=many"])
    assert main(["reproduce", "steerable-training", "--out", str(tmp_path / "x"), "--set", "nope=1"]) == 2
    assert main(["reproduce", "steerable-training", "--out", str(tmp_path / "x"), "--set", "edits=color"]) == 2
    assert main(["reproduce", "no-such-experiment"]) == 2
    assert not (tmp_path / "x").exists()
