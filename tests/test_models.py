import json
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers import make_tiny
from steerlab.core.io import FileFormatError
from steerlab.models import DCGANGenerator, list_models, load_generator, load_model, save_generator, wrap_generator


def test_faces_loads_real_weights_and_gives_images_in_range():
    G = load_model("faces")
    assert (G.z_dim, G.resolution, G.channels) == (100, 64, 3)
    x = G.synthesize(G.sample_z(8, generator=torch.Generator().manual_seed(0)))
    assert x.shape == (8, 3, 64, 64) and torch.isfinite(x).all()
    assert 0 <= x.min() and x.max() <= 1
    # Real faces are not noise: neighbouring pixels are strongly correlated, and samples differ.
    corr = torch.corrcoef(torch.stack([x[..., :-1].flatten(), x[..., 1:].flatten()]))[0, 1]
    assert corr > 0.9
    assert (x[0] - x[1]).abs().mean() > 0.05


def test_faces_fingerprint_is_stable_and_weight_sensitive():
    G = load_model("faces")
    f = G.fingerprint
    assert f == load_model("faces").fingerprint
    with torch.no_grad():
        G.conv1.weight[0, 0, 0, 0] += 1e-3
    assert G.fingerprint != f


def test_zoo_lists_faces_with_source_and_licence():
    names = {e.name: e for e in list_models()}
    assert "faces" in names
    assert names["faces"].licence == "MIT" and "generateme" in names["faces"].source


def test_unknown_model_is_one_line_error():
    with pytest.raises(ValueError) as e:
        load_model("nope")
    assert "faces" in str(e.value) and "\n" not in str(e.value)


def test_generator_file_round_trip(tmp_path):
    G = make_tiny(num_classes=3)
    save_generator(G, tmp_path / "g", card={"description": "test"})
    H = load_generator(tmp_path / "g.safetensors")
    z = G.sample_z(4)
    c = torch.tensor([0, 1, 2, 0])
    assert torch.equal(G.synthesize(z, classes=c), H.synthesize(z, classes=c))
    assert G.fingerprint == H.fingerprint


def test_generator_file_refuses_pickle_and_mismatch(tmp_path):
    torch.save(make_tiny().state_dict(), tmp_path / "p.safetensors")
    (tmp_path / "p.json").write_text('{"architecture": "dcgan", "config": {"z_dim": 8, "resolution": 16, "width": 8}}')
    with pytest.raises(FileFormatError, match="pickle"):
        load_generator(tmp_path / "p.safetensors")
    save_generator(make_tiny(), tmp_path / "m")
    (tmp_path / "m.json").write_text('{"architecture": "dcgan", "config": {"z_dim": 9, "resolution": 16, "width": 8}}')
    with pytest.raises(FileFormatError, match="do not fit"):
        load_generator(tmp_path / "m.safetensors")


def test_conditional_model_needs_valid_classes():
    G = make_tiny(num_classes=3)
    with pytest.raises(ValueError, match="classes"):
        G.synthesize(G.sample_z(2))
    with pytest.raises(ValueError, match="classes"):
        G.synthesize(G.sample_z(2), classes=torch.tensor([0, 3]))
    a = G.synthesize(G.sample_z(2, generator=torch.Generator().manual_seed(1)), classes=torch.tensor([0, 0]))
    b = G.synthesize(G.sample_z(2, generator=torch.Generator().manual_seed(1)), classes=torch.tensor([1, 1]))
    assert not torch.allclose(a, b)


def test_unknown_space_refused(tiny):
    with pytest.raises(ValueError, match="no latent space 'w'"):
        tiny.synthesize(tiny.sample_z(1), space="w")


def test_shifted_synthesis_does_not_mutate_and_is_differentiable(tiny):
    z = tiny.sample_z(3)
    before = tiny.synthesize(z)
    name = "conv2.weight"
    shift = torch.zeros_like(tiny.shiftable_weights()[name], requires_grad=True)
    out = tiny.synthesize_shifted(z, {name: shift + 0.05})
    assert not torch.allclose(out, before)
    out.sum().backward()
    assert shift.grad is not None and shift.grad.abs().sum() > 0
    assert torch.equal(tiny.synthesize(z), before)
    with pytest.raises(ValueError, match="unknown weight"):
        tiny.synthesize_shifted(z, {"nope": shift})


def test_readme_wrapper_example_runs():
    """The README's 'wrap your own generator' example, verbatim in spirit."""
    net = nn.Sequential(nn.Linear(16, 3 * 8 * 8), nn.Tanh(), nn.Unflatten(1, (3, 8, 8)))
    G = wrap_generator(net, z_dim=16, resolution=8, output_range=(-1, 1), name="mine")
    x = G.synthesize(G.sample_z(4))
    assert x.shape == (4, 3, 8, 8) and 0 <= x.min() and x.max() <= 1
    # The wrapper maps tanh's range onto [0, 1].
    z = G.sample_z(4)
    assert torch.allclose(G.synthesize(z), (net(z) + 1) / 2)
    bad = wrap_generator(net, z_dim=16, resolution=16, name="wrong")
    with pytest.raises(ValueError, match="expected"):
        bad.synthesize(bad.sample_z(1))


def test_dcgan_resolution_validation():
    with pytest.raises(ValueError, match="4 \\* 2\\*\\*k"):
        DCGANGenerator(resolution=48)
    assert DCGANGenerator(z_dim=4, resolution=32, width=4).synthesize(torch.randn(2, 4)).shape == (2, 3, 32, 32)


# --------------------------------------------------------------------------- fingerprints written by v1
V1 = Path(__file__).parent / "fixtures" / "v1"


def test_v1_fixture_fingerprints_still_match_their_models():
    """Directions written by the first layout name the tiny DCGAN and faces by fingerprint: still valid."""
    from steerlab.directions import Direction
    tiny = load_generator(V1 / "tiny.safetensors")
    assert tiny.fingerprint == json.loads((V1 / "tiny.json").read_text())["fingerprint"] == "55bb98ad1d71bb2e"
    assert make_tiny().fingerprint == tiny.fingerprint
    for kind in ("linear", "nonlinear", "nn-linear", "weight", "trajectory"):
        assert json.loads((V1 / f"{kind}.json").read_text())["fingerprint"] == tiny.fingerprint
    Direction.load(V1 / "linear.safetensors").check_model(tiny)  # refused if the fingerprints differed
    faces = json.loads((V1 / "faces_zoom_seed3.json").read_text())["fingerprint"]
    assert load_model("faces").fingerprint == faces == "256663579ff4ca2e"


def test_bundled_zoo_models_keep_the_fingerprint_stored_in_their_files():
    from steerlab.models.zoo import WEIGHTS_DIR
    for meta in sorted(WEIGHTS_DIR.glob("*.json"))[-3:]:  # one of each family: dsprites VAE, shapes DCGAN, StyleGAN2
        assert load_generator(meta).fingerprint == json.loads(meta.read_text())["fingerprint"], meta.name


# --------------------------------------------------------------------------- frozen weights
def test_loaded_and_wrapped_generators_are_frozen(tiny_file):
    net = nn.Sequential(nn.Linear(4, 3 * 4 * 4), nn.Tanh(), nn.Unflatten(1, (3, 4, 4))).train()
    for G in (load_generator(tiny_file), load_model(tiny_file), wrap_generator(net, z_dim=4, resolution=4)):
        assert not any(p.requires_grad for p in G.parameters())
        assert not any(m.training for m in G.modules())


def test_walk_on_a_wrapped_model_leaves_every_generator_weight_without_grad():
    from steerlab.methods.walks import learn_linear_walk
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 3 * 16 * 16), nn.Tanh(), nn.Unflatten(1, (3, 16, 16)))
    G = wrap_generator(net, z_dim=8, resolution=16, name="net")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    d = learn_linear_walk(G, "zoom", steps=3, batch_size=4, progress=False)
    assert d.tensors["w"].abs().sum() > 0  # the walk itself did learn
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
