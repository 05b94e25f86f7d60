"""Inversion into w and w+ for StyleGAN models, latent files with their space, and `apply` across spaces."""
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from helpers import make_tiny
from steerlab.cli import main
from steerlab.directions import Direction
from steerlab.directions.alpha import plain_alpha
from steerlab.jobs.apply import apply
from steerlab.methods.trajectories.invert import invert
from steerlab.models import load_model, save_generator
from steerlab.models.latents import load_latent, save_latent
from steerlab.report.plots import to_uint8
from test_stylegan2 import make_sg2

FIXTURES = Path(__file__).parent / "fixtures" / "nvlabs"


def mixed_targets(G, n=6, seed=7):
    """G's own images of style-mixed w+ codes (coarse rows of one sample, fine rows of another):
    exactly reachable in w+, not by one w, and so not by one z either."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        a, b = (G.to_space(G.sample_z(n, generator=g), "w+") for _ in range(2))
        half = G.num_ws // 2
        return G.synthesize(torch.cat([a[:, :half], b[:, half:]], 1), space="w+")


@pytest.mark.parametrize("which", ["tiny-sg2", pytest.param("sg2ada-fixture", marks=pytest.mark.slow)])
def test_w_plus_reconstructs_better_than_w_better_than_z(which):
    G = make_sg2() if which == "tiny-sg2" else load_model(str(FIXTURES / "sg2ada_skip.pkl"))
    targets = mixed_targets(G)
    loss = {space: invert(G, targets, loss="l2", steps=40, lr=0.05, space=space, seed=1, progress=False).loss
            for space in ("z", "w", "w+")}
    assert loss["w+"].mean() < loss["w"].mean() < loss["z"].mean()
    assert (loss["w+"] < loss["w"]).float().mean() >= 5 / 6  # per target, not only on average
    assert (loss["w"] < loss["z"]).float().mean() >= 4 / 6


def test_invert_in_w_plus_keeps_codes_of_that_shape_without_a_ball():
    G = make_sg2()
    inv = invert(G, mixed_targets(G, n=2), loss="l2", steps=3, space="w+", progress=False)
    assert inv.space == "w+" and tuple(inv.z.shape) == (2, G.num_ws, G.w_dim) and inv.radius == float("inf")
    with torch.no_grad():  # the reported loss is the loss of the returned codes
        again = ((G.synthesize(inv.z, space="w+") - mixed_targets(G, n=2)) ** 2).flatten(1).mean(1)
    assert torch.allclose(again, inv.loss, rtol=1e-4, atol=1e-7)


def test_invert_refuses_a_space_the_model_lacks(tiny, tiny_file, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"has no latent space 'w\+'; allowed: z"):
        invert(tiny, torch.rand(1, 3, 16, 16), steps=1, space="w+", progress=False)
    code = main(["invert", str(tmp_path / "missing.png"), "--model", str(tiny_file), "--space", "w+",
                 "--out", str(tmp_path / "inv")])
    out, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "has no latent space 'w+'" in err
    assert not (tmp_path / "inv").exists()


def test_latent_file_keeps_its_space_and_refuses_wrong_shapes(tmp_path):
    G = make_sg2()
    ws = G.to_space(G.sample_z(2), "w+")
    path = save_latent(tmp_path / "lat", ws, G, space="w+")
    back, classes, head = load_latent(path, G)
    assert head["space"] == "w+" and torch.equal(back, ws) and classes is None
    assert json.loads((tmp_path / "lat.json").read_text())["space"] == "w+"
    with pytest.raises(ValueError, match=rf"latents must be \(N, {G.w_dim}\) for model 'tiny-sg2' in space 'w'"):
        save_latent(tmp_path / "bad", ws, G, space="w")
    with pytest.raises(ValueError, match=r"latent is in space 'w\+', model 'tiny' has z"):
        load_latent(path, make_tiny(), force=True)
    other = make_sg2(n_mlp=3)  # same shapes, other weights: refused unless forced
    with pytest.raises(ValueError, match="latent was found for model"):
        load_latent(path, other)


def _linear(G, space, seed=3):
    shape = G.latent_shape(space)
    w = torch.randn(1, *shape, generator=torch.Generator().manual_seed(seed))
    return Direction(kind="linear", space=space, tensors={"w": w / w.norm()}, model=G.name,
                     fingerprint=G.fingerprint, alpha=plain_alpha(3.0))


def test_apply_brings_an_inverted_latent_to_the_directions_space(tmp_path):
    G = make_sg2()
    z = G.sample_z(2, generator=torch.Generator().manual_seed(0))
    zfile = save_latent(tmp_path / "z", z, G)
    wpfile = save_latent(tmp_path / "wp", G.to_space(z, "w+"), G, space="w+")
    d_w, d_z = _linear(G, "w"), _linear(G, "z")
    alphas = [-2.0, 0.0, 2.0]
    expect = torch.stack([d_w.render(G, z[i:i + 1].expand(3, -1), torch.tensor(alphas)) for i in range(2)])
    # a z photo and a w+ photo of the same codes give the same strip under a w direction
    assert torch.allclose(apply(d_w, model=G, latent=zfile, alphas=alphas), expect, atol=1e-5)
    from_wp = apply(d_w, model=G, latent=wpfile, alphas=alphas)
    assert torch.allclose(from_wp, expect, atol=1e-5)
    assert not torch.allclose(from_wp[:, 0], from_wp[:, 2], atol=1e-3)  # and the direction does move it
    with pytest.raises(ValueError, match=r"a latent in 'w\+' cannot be moved by a linear direction in 'z'"):
        apply(d_z, model=G, latent=wpfile, alphas=alphas)
    weight = Direction(kind="weight", space="weight", model=G.name, fingerprint=G.fingerprint,
                       alpha=plain_alpha(1.0), config={"layer": next(iter(G.shiftable_weights()))},
                       tensors={"xi": torch.randn_like(next(iter(G.shiftable_weights().values())))})
    strip = apply(weight, model=G, latent=wpfile, alphas=[0.0, 1.0])  # a weight shift renders any space
    assert torch.allclose(strip[:, 0], G.synthesize(G.to_space(z, "w+"), space="w+"), atol=1e-5)


def test_cli_invert_w_plus_then_apply_a_w_direction(tmp_path, capsys):
    G = make_sg2()
    model = save_generator(G, tmp_path / "sg2")
    image = tmp_path / "photo.png"
    Image.fromarray(to_uint8(mixed_targets(G, n=1))[0]).save(image)
    d = _linear(G, "w")
    d.save(tmp_path / "dir")
    code = main(["invert", str(image), "--model", str(model), "--space", "w+", "--steps", "15", "--restarts", "1",
                 "--loss", "mse", "--out", str(tmp_path / "inv")])
    out, err = capsys.readouterr()
    assert code == 0, err
    metrics = json.loads((tmp_path / "inv" / "metrics.json").read_text())
    assert metrics["space"] == "w+" and metrics["run"]["config"]["space"] == "w+"
    lat, _, head = load_latent(tmp_path / "inv" / "latent.safetensors", load_model(str(model)))
    assert head["space"] == "w+" and tuple(lat.shape) == (1, G.num_ws, G.w_dim)
    code = main(["apply", str(tmp_path / "dir.safetensors"), "--model", str(model), "--latent",
                 str(tmp_path / "inv" / "latent.safetensors"), "--out", str(tmp_path / "strip")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert (tmp_path / "strip" / "strip.png").exists()
