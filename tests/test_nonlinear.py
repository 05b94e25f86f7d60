import math

import pytest
import torch

from helpers import Blob
from steerlab.directions import Direction
from steerlab.evaluation.steerability import target_l2
from steerlab.methods.walks import learn_nn_walk, learn_nonlinear_walk
from steerlab.methods.walks.nonlinear import direction_spread, euler_walk, init_nets
from steerlab.models import wrap_generator


class WideBlob(Blob):
    """conftest's planted blob (x = 0.5 + 0.12 z0, y = 0.5 + 0.12 z1), twice as wide, grey.

    Wide, so that even a shift by half the image still overlaps the source: with the narrow blob
    the masked L2 of a large shift is minimised as well by hiding the blob under the mask (the
    exposed border), a local optimum the separate +/- step networks can fall into."""

    def forward(self, z):
        x0 = (0.5 + 0.12 * z[:, 0])[:, None, None]
        y0 = (0.5 + 0.12 * z[:, 1])[:, None, None]
        g = self.grid
        img = torch.exp(-((g[None, None, :] - x0) ** 2 + (g[None, :, None] - y0) ** 2) / 0.08)
        return img[:, None].expand(-1, 3, -1, -1)


@pytest.fixture(scope="module")
def blob32():
    # A 32-d z: the shell ||z|| ~ 5.7 that the Euler walk keeps leaves room to shift.
    return wrap_generator(WideBlob(), z_dim=32, resolution=16, output_range=(0, 1), name="blob32")


def _nets(seed=0, dim=8, components=1):
    return init_nets(dim, components, 2, 16, torch.Generator().manual_seed(seed))


def _centroid_x(images):
    w = images[:, 0]
    xs = torch.linspace(0, 1, w.shape[-1])
    return (w * xs).sum((1, 2)) / w.sum((1, 2))


def test_nonlinear_walk_cuts_its_loss_and_moves_the_planted_factor(blob32):
    d = learn_nonlinear_walk(blob32, "shift_x", steps=200, batch_size=16, lr=3e-3, progress=False)
    curve = d.metrics["loss_curve"]
    assert sum(curve[-10:]) / 10 < 0.6 * sum(curve[:10]) / 10
    m = target_l2(blob32, d, n=32, n_alphas=5)
    assert m["walk_l2_mean"] < 0.6 * m["baseline_l2_mean"]
    z = blob32.sample_z(16, generator=torch.Generator().manual_seed(5))
    left, mid, right = (_centroid_x(d.render(blob32, z, a)) for a in (-0.2, 0.0, 0.2))
    assert (right - mid).mean() > 0.05 and (mid - left).mean() > 0.05  # blob moves with the knob


def test_euler_steps_stay_on_the_shell_and_compose():
    nets, z = _nets(), torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    for n in (3.0, -2.0, 1.5):
        out = euler_walk(nets, z, torch.full((6, 1), n))
        assert torch.allclose(out.norm(dim=1), z.norm(dim=1), rtol=1e-5)
        assert not torch.allclose(out, z, atol=1e-3)
    for a, b in ((1, 2), (2, 1), (-1, -3)):
        once = euler_walk(nets, z, torch.full((6, 1), float(a + b)))
        twice = euler_walk(nets, euler_walk(nets, z, torch.full((6, 1), float(a))), torch.full((6, 1), float(b)))
        assert torch.allclose(once, twice, atol=1e-5)
    # zero steps is the identity; the knob is continuous at whole steps; + and - use different nets
    assert torch.equal(euler_walk(nets, z, torch.zeros(6, 1)), z)
    assert torch.allclose(euler_walk(nets, z, torch.full((6, 1), 2 - 1e-6)),
                          euler_walk(nets, z, torch.full((6, 1), 2.0)), atol=1e-4)
    back = euler_walk(nets, euler_walk(nets, z, torch.ones(6, 1)), -torch.ones(6, 1))
    assert not torch.allclose(back, z, atol=1e-3)
    # per-sample step counts: each row walks its own count
    mixed = euler_walk(nets, z, torch.tensor([[2.0], [-1.0], [0.0], [2.0], [1.0], [-1.0]]))
    assert torch.allclose(mixed[0], euler_walk(nets, z[:1], torch.full((1, 1), 2.0))[0], atol=1e-6)
    assert torch.allclose(mixed[1], euler_walk(nets, z[1:2], torch.full((1, 1), -1.0))[0], atol=1e-6)
    assert torch.equal(mixed[2], z[2])


def test_render_takes_the_edits_units(tiny):
    d = learn_nonlinear_walk(tiny, "zoom", steps=3, batch_size=4, progress=False)
    eps = d.config["epsilon"][0]
    assert math.isclose(eps, math.log(4) / 5, rel_tol=1e-6)  # 5 steps reach the end of the range
    assert (d.config["max_steps_pos"], d.config["max_steps_neg"]) == (5, 5)
    z = tiny.sample_z(3, generator=torch.Generator().manual_seed(2))
    nets = d.tensors
    for k in (2, -3):
        by_hand = tiny.synthesize(euler_walk(nets, z, torch.full((3, 1), float(k))))
        assert torch.allclose(d.render(tiny, z, math.exp(k * eps)), by_hand, atol=1e-5)
    assert torch.allclose(d.render(tiny, z, 1.0), tiny.synthesize(z))
    with pytest.raises(ValueError, match="outside"):
        d.render(tiny, z, 5.0)


def test_nonlinear_direction_round_trips_and_applies(tiny, tmp_path):
    import steerlab
    d = learn_nonlinear_walk(tiny, "rotate2d", steps=3, batch_size=4, hidden=8, progress=False)
    path = d.save(tmp_path / "nl")
    back = Direction.load(path, model=tiny)
    assert back.kind == "nonlinear" and back.config["hidden"] == 8
    assert back.tensors["W1"].shape == (1, 2, 8, tiny.z_dim)
    z = tiny.sample_z(2)
    assert torch.equal(back.render(tiny, z, [30.0, -10.0]), d.render(tiny, z, [30.0, -10.0]))
    images = steerlab.apply(path, seeds=[0, 1], alphas=[-45, 0, 45], model=tiny)
    assert images.shape == (2, 3, 3, 16, 16)


def test_colour_gets_a_pair_of_networks_per_channel(tiny):
    d = learn_nonlinear_walk(tiny, "color", steps=2, batch_size=4, hidden=8, progress=False)
    assert d.tensors["W2"].shape == (3, 2, tiny.z_dim, 8)
    z = tiny.sample_z(2)
    red = d.render(tiny, z, [0.3, 0.0, 0.0])
    blue = d.render(tiny, z, [0.0, 0.0, 0.3])
    assert red.shape == (2, 3, 16, 16) and not torch.allclose(red, blue)


def test_a3_walk_collapses_to_one_direction(blob32):
    """App. A.3: G(z + alpha NN(z)) with continuous alpha learns to ignore z."""
    d = learn_nn_walk(blob32, "shift_x", steps=150, batch_size=16, lr=3e-3, progress=False)
    before, after = d.metrics["spread_init"], d.metrics["spread"]
    assert before["mean_cos"][0] < 0.8 and after["mean_cos"][0] > 0.95
    assert after["rel_spread"][0] < 0.5 * before["rel_spread"][0]
    m = target_l2(blob32, d, n=32, n_alphas=5)
    assert m["walk_l2_mean"] < 0.3 * m["baseline_l2_mean"]


def test_direction_spread_reads_constant_and_varying_nets():
    nets = _nets(dim=4)
    z = torch.randn(64, 4)
    varying = direction_spread(nets, z)
    const = {k: v.clone() for k, v in nets.items()}
    const["W2"].zero_()
    const["b2"][0, 0] = torch.tensor([1.0, 2.0, 0.0, 0.0])
    const["b2"][0, 1] = torch.tensor([0.0, 0.0, 3.0, 0.0])
    fixed = direction_spread(const, z)
    assert fixed["nets"] == ["k0+", "k0-"]
    assert all(abs(c - 1) < 1e-6 for c in fixed["mean_cos"]) and max(fixed["rel_spread"]) < 1e-6
    assert max(varying["mean_cos"]) < 0.99 and min(varying["rel_spread"]) > 0.05


def test_bad_nonlinear_arguments(tiny):
    with pytest.raises(ValueError, match="unknown edit"):
        learn_nonlinear_walk(tiny, "explode", steps=1, progress=False)
    with pytest.raises(ValueError, match="n_steps"):
        learn_nonlinear_walk(tiny, "zoom", steps=1, n_steps=0, progress=False)
    with pytest.raises(ValueError, match="allowed"):
        learn_nn_walk(tiny, "zoom", steps=1, loss="l7", progress=False)


def test_walk_cli_kind_nonlinear(tiny_file, tmp_path):
    from steerlab.cli import main
    out = tmp_path / "run"
    assert main(["walk", "--model", str(tiny_file), "--edit", "shift_x", "--kind", "nonlinear",
                 "--steps", "3", "--batch-size", "4", "--out", str(out)]) == 0
    d = Direction.load(out / "direction.safetensors")
    assert d.kind == "nonlinear" and d.config["lr"] == 1e-3
    assert (out / "strip.png").is_file() and (out / "report.html").is_file()
    assert main(["apply", str(out / "direction.safetensors"), "--model", str(tiny_file), "--seeds", "0,1",
                 "--alphas=-0.5,0.25", "--out", str(tmp_path / "applied")]) == 0
    # argparse refuses the choice: one line naming the allowed kinds, exit code 2
    assert main(["walk", "--model", str(tiny_file), "--edit", "zoom", "--kind", "curvy", "--steps", "1",
                 "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
