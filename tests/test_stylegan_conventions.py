"""StyleGAN conventions: truncation psi on every command, w+ directions applied to a layer range."""
import argparse
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from steerlab.cli import main
from steerlab.cli.base import layer_list
from steerlab.directions import KINDS, Direction
from steerlab.directions.alpha import plain_alpha
from steerlab.jobs.apply import apply
from steerlab.models import load_model, save_generator
from test_stylegan2 import make_sg2


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- truncation
def test_set_truncation_psi_0_maps_every_z_to_one_image_psi_1_changes_nothing():
    G, ref = make_sg2(), make_sg2()
    z = torch.randn(3, 12, generator=torch.Generator().manual_seed(0))
    fp = G.fingerprint
    G.set_truncation(1.0)
    assert torch.equal(G(z), ref(z))
    G.set_truncation(0.0)
    x = G(z)
    assert torch.allclose(x, x[:1].expand_as(x), atol=1e-6)
    assert not torch.allclose(ref(z), ref(z)[:1].expand_as(x), atol=1e-3)
    G.set_truncation(0.5)
    w, w_ref = G.to_space(z, "w+"), ref.to_space(z, "w+")
    assert torch.allclose(w - ref.mapping.w_avg, 0.5 * (w_ref - ref.mapping.w_avg), atol=1e-6)
    assert G.fingerprint == fp  # psi is a rendering choice: directions still match the model


@pytest.mark.parametrize("psi", [float("nan"), float("inf"), -0.1, 2.5])
def test_set_truncation_refuses_bad_psi(psi):
    with pytest.raises(ValueError, match=r"truncation psi must be a finite number in \[0, 2\]"):
        make_sg2().set_truncation(psi)


def test_set_truncation_refuses_model_without_mapping(tiny):
    with pytest.raises(ValueError, match="no mapping network with w_avg"):
        tiny.set_truncation(0.7)


@pytest.fixture
def sg2_file(tmp_path):
    return save_generator(make_sg2(), tmp_path / "sg2")


def test_cli_truncation_reaches_the_model(tmp_path, sg2_file, capsys):
    out = tmp_path / "walk"
    code, _, err = run(["walk", "--model", str(sg2_file), "--edit", "brightness", "--space", "w", "--steps", "2",
                        "--batch-size", "2", "--truncation", "0.5", "--out", str(out)], capsys)
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["run"]["config"]["truncation"] == 0.5
    d = Direction.load(out / "direction.safetensors")
    imgs = {psi: apply(d, seeds=[0, 1], alphas=[0.0], model=make_sg2(), truncation=psi) for psi in (0.0, 0.5, 1.0)}
    assert torch.allclose(imgs[0.0][0], imgs[0.0][1], atol=1e-6)  # psi 0: both seeds render w_avg
    assert not torch.allclose(imgs[0.5], imgs[1.0], atol=1e-4)
    assert torch.equal(imgs[1.0], apply(d, seeds=[0, 1], alphas=[0.0], model=make_sg2()))
    code, text, err = run(["apply", str(out / "direction.safetensors"), "--model", str(sg2_file), "--seeds", "0-1",
                           "--alphas", "0,0.5", "--truncation", "0.5", "--out", str(tmp_path / "ap")], capsys)
    assert code == 0, err
    assert "2 x 2 images" in text


def test_cli_truncation_refused_by_dcgan(tmp_path, tiny_file, capsys):
    out = tmp_path / "walk"
    code, text, err = run(["walk", "--model", str(tiny_file), "--edit", "zoom", "--steps", "1",
                           "--truncation", "0.7", "--out", str(out)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "no mapping network" in err
    assert not out.exists()


# ----------------------------------------------------------------------------- w+ layer ranges
def _linear(G, space, seed=1):
    shape = G.latent_shape(space)
    w = torch.randn(1, *shape, generator=torch.Generator().manual_seed(seed))
    return Direction(kind="linear", space=space, tensors={"w": w}, model=G.name, fingerprint=G.fingerprint,
                     alpha=plain_alpha(2.0))


@pytest.mark.parametrize("space", ["w", "w+"])
def test_on_layers_moves_only_those_rows(space):
    G = make_sg2()
    d = _linear(G, space)
    dl = d.on_layers(G, [0, 1])
    assert dl.space == "w+" and dl.config["layers"] == [0, 1] and dl.fingerprint == d.fingerprint
    z = torch.randn(3, 12, generator=torch.Generator().manual_seed(2))
    wp = G.to_space(z, "w+")
    moved = KINDS["linear"].move(dl, G, wp, torch.full((3, 1), 1.5))
    changed = (moved != wp).any(-1).any(0)  # per w+ row
    assert changed.tolist() == [True, True] + [False] * (G.num_ws - 2)
    full = KINDS["linear"].move(d, G, G.to_space(z, space), torch.full((3, 1), 1.5))
    full = full[:, None].expand_as(wp) if space == "w" else full
    assert torch.equal(moved[:, :2], full[:, :2])


def test_on_layers_refuses_rows_outside_and_other_kinds():
    G = make_sg2()
    with pytest.raises(ValueError, match=r"outside the 6 w\+ rows .*allowed: 0-5"):
        _linear(G, "w").on_layers(G, range(0, 7))
    with pytest.raises(ValueError, match="linear directions in w or w"):
        _linear(G, "z").on_layers(G, [0])


def test_layer_list_argument():
    assert layer_list("0-3") == [0, 1, 2, 3] and layer_list("1,4") == [1, 4] and layer_list("2") == [2]
    for bad in ("a-b", "", "-1", "3,x"):
        with pytest.raises(argparse.ArgumentTypeError, match="not a layer range"):
            layer_list(bad)


def test_cli_apply_layers(tmp_path, sg2_file, capsys):
    G = make_sg2()
    path = _linear(G, "w").save(tmp_path / "d")
    base = ["apply", str(path), "--model", str(sg2_file), "--seeds", "0-1", "--alphas", "0,1.5"]
    default = apply(path, seeds=[0, 1], alphas=[0.0, 1.5], model=make_sg2())
    every = apply(path, seeds=[0, 1], alphas=[0.0, 1.5], model=make_sg2(), layers=range(6))
    coarse = apply(path, seeds=[0, 1], alphas=[0.0, 1.5], model=make_sg2(), layers=[0, 1])
    assert torch.equal(default, every)  # all rows = the w walk itself
    assert torch.equal(coarse[:, 0], default[:, 0]) and not torch.allclose(coarse[:, 1], default[:, 1], atol=1e-4)
    code, text, err = run(base + ["--layers", "0-1", "--out", str(tmp_path / "ap")], capsys)
    assert code == 0, err
    assert "2 x 2 images" in text
    code, _, err = run(base + ["--layers", "0-9", "--out", str(tmp_path / "bad")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "outside the 6 w+ rows" in err
    assert not (tmp_path / "bad").exists()


def test_set_truncation_on_nvlabs_fixture_matches_upstream_psi_07():
    fixtures = Path(__file__).parent / "fixtures" / "nvlabs"
    e = load_file(str(fixtures / "sg2ada_skip_expected.safetensors"))
    G = load_model(str(fixtures / "sg2ada_skip.pkl"))
    fp = G.fingerprint
    G.set_truncation(0.7)
    with torch.no_grad():
        assert (G._synthesize(e["z"], "z", None) - e["img_psi07"]).abs().max() < 1e-4
        assert (e["img_psi1"] - e["img_psi07"]).abs().max() > 1e-2  # the check can fail
    assert G.fingerprint == fp


def test_cli_evaluate_records_layers_and_truncation(tmp_path, sg2_file, capsys):
    path = _linear(make_sg2(), "w").save(tmp_path / "d")
    out = tmp_path / "ev"
    code, _, err = run(["evaluate", str(path), "--model", str(sg2_file), "--n", "4", "--n-alphas", "3", "--no-fid",
                        "--measure", "colour", "--batch-size", "4", "--layers", "0-1", "--truncation", "0.5",
                        "--out", str(out)], capsys)
    assert code == 0, err
    config = json.loads((out / "metrics.json").read_text())["run"]["config"]
    assert config["layers"] == [0, 1] and config["truncation"] == 0.5


# ----------------------------------------------------------------------------- truncation cutoff
def test_truncation_cutoff_follows_nvlabs_definition_on_sg2ada_fixture():
    """NVlabs' mapping: ws[:, :cutoff] = w_avg.lerp(ws[:, :cutoff], psi); rows >= cutoff keep psi 1."""
    fixtures = Path(__file__).parent / "fixtures" / "nvlabs"
    e = load_file(str(fixtures / "sg2ada_skip_expected.safetensors"))
    G = load_model(str(fixtures / "sg2ada_skip.pkl"))
    z, n = e["z"], G.num_ws
    with torch.no_grad():
        plain = G.to_space(z, "w+")  # psi 1
        G.set_truncation(0.7, 3)
        cut = G.to_space(z, "w+")
        assert torch.equal(cut[:, 3:], plain[:, 3:])
        assert torch.allclose(cut[:, :3], G.mapping.w_avg + 0.7 * (plain[:, :3] - G.mapping.w_avg), atol=1e-6)
        assert not torch.allclose(cut[:, :3], plain[:, :3], atol=1e-3)
        # the two ends against the upstream code's own images: cutoff num_ws = psi on every row, cutoff 0 = none
        G.set_truncation(0.7, n)
        assert (G._synthesize(z, "z", None) - e["img_psi07"]).abs().max() < 1e-4
        G.set_truncation(0.7, 0)
        assert (G._synthesize(z, "z", None) - e["img_psi1"]).abs().max() < 1e-4
        G.set_truncation(0.7, 3)
        x = G._synthesize(z, "z", None)
        assert (x - e["img_psi1"]).abs().max() > 1e-3 and (x - e["img_psi07"]).abs().max() > 1e-3
        with pytest.raises(ValueError, match=r"space 'w' .* cannot hold; use space w\+"):
            G.to_space(z, "w")
        for bad in (-1, n + 1, 1.5, True):
            with pytest.raises(ValueError, match=rf"truncation cutoff must be a whole number of w\+ rows in \[0, {n}\]"):
                G.set_truncation(0.7, bad)


def test_truncation_cutoff_refused_by_dcgan(tiny):
    with pytest.raises(ValueError, match="no mapping network"):
        tiny.set_truncation(1.0, 2)


# ----------------------------------------------------------------------------- layers when combining
def _synthesized_latent(G, fn):
    """The latent ``fn()`` hands to ``G.synthesize`` (recorded, then rendered as usual)."""
    seen = []
    real = G.synthesize

    def spy(latent, **kw):
        seen.append((latent.clone(), kw.get("space")))
        return real(latent, **kw)
    G.synthesize = spy
    try:
        fn()
    finally:
        del G.synthesize
    return seen[-1]


def test_steer_layers_moves_only_those_rows_of_several_directions():
    from steerlab.directions.combine import steer
    G = make_sg2()
    d1, d2 = _linear(G, "w", seed=1), _linear(G, "w+", seed=2)
    z = torch.randn(3, 12, generator=torch.Generator().manual_seed(4))
    wp = G.to_space(z, "w+")
    moved, space = _synthesized_latent(G, lambda: steer(G, [(d1, 1.0), (d2, -1.5)], z, layers=[1, 2]))
    assert space == "w+"
    rows_changed = (moved != wp).any(-1).any(0).tolist()
    assert rows_changed == [False, True, True] + [False] * (G.num_ws - 3)
    assert torch.equal(moved[:, [0, 3, 4, 5]], wp[:, [0, 3, 4, 5]])  # bit-equal outside the range
    every, _ = _synthesized_latent(G, lambda: steer(G, [(d1, 1.0), (d2, -1.5)], z))
    assert torch.allclose(moved[:, 1:3], every[:, 1:3], atol=1e-6)  # inside: the full combined move
    # a w code given directly is repeated over w+ before rows move
    moved_w, _ = _synthesized_latent(G, lambda: steer(G, [(d1, 1.0)], latent=G.to_space(z, "w"), layers=[0]))
    assert torch.equal(moved_w[:, 1:], wp[:, 1:]) and not torch.equal(moved_w[:, 0], wp[:, 0])


@pytest.mark.parametrize("method", ["sefa", "ganspace"])
def test_discovered_latent_directions_apply_with_layers(tmp_path, method):
    from steerlab.methods import learn
    G = make_sg2()
    [d] = learn(method, G, k=1, progress=False, **({"n_samples": 64} if method == "ganspace" else {}))
    assert d.kind == "linear" and d.space in ("w", "w+")
    path = d.save(tmp_path / method)
    moved, space = _synthesized_latent(G, lambda: apply(path, seeds=[7], alphas=[3.0], model=G, layers=[4, 5]))
    wp = G.to_space(G.sample_z(1, generator=torch.Generator().manual_seed(7)), "w+")
    assert space == "w+"
    assert torch.equal(moved[:, :4], wp[:, :4])                 # rows outside the range: bit-equal
    assert bool((moved[:, 4:] != wp[:, 4:]).any(-1).all())      # each row inside moves
