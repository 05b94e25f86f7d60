import pytest
import torch

from helpers import make_tiny
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import target_l2
from steerlab.methods.walks import learn_linear_walk


def test_walk_cuts_its_loss_and_finds_the_planted_factor(blob):
    d = learn_linear_walk(blob, "shift_x", steps=150, batch_size=16, lr=0.05, progress=False)
    curve = d.metrics["loss_curve"]
    assert sum(curve[-10:]) / 10 < 0.5 * sum(curve[:10]) / 10
    m = target_l2(blob, d, n=32, n_alphas=5)
    assert m["walk_l2_mean"] < 0.5 * m["baseline_l2_mean"]
    w = d.tensors["w"][0]
    # x = 0.5 + 0.12 z0: a shift of alpha * width needs z0 += alpha / 0.12, along +e0.
    assert w[0] / w.norm() > 0.95 and 0.6 < w[0] * 0.12 < 1.4


def test_walk_is_deterministic_on_cpu(tiny):
    a = learn_linear_walk(tiny, "zoom", steps=5, batch_size=4, seed=3, progress=False)
    b = learn_linear_walk(tiny, "zoom", steps=5, batch_size=4, seed=3, progress=False)
    c = learn_linear_walk(tiny, "zoom", steps=5, batch_size=4, seed=4, progress=False)
    assert torch.equal(a.tensors["w"], b.tensors["w"])
    assert not torch.equal(a.tensors["w"], c.tensors["w"])


def test_color_learns_three_vectors_and_conditional_shares_one():
    G = make_tiny(num_classes=4)
    d = learn_linear_walk(G, "color", steps=3, batch_size=4, progress=False)
    assert d.tensors["w"].shape == (3, G.z_dim)
    z = G.sample_z(2)
    out = d.render(G, z, [0.2, -0.1, 0.0], classes=torch.tensor([1, 3]))
    assert out.shape == (2, 3, 16, 16)


@pytest.mark.parametrize("loss", ["blurred", "dssim", "perceptual", "edges"])
def test_other_losses_train(tiny, loss):
    d = learn_linear_walk(tiny, "brightness", steps=4, batch_size=4, loss=loss, lr=0.05, progress=False)
    assert torch.isfinite(d.tensors["w"]).all() and d.tensors["w"].abs().sum() > 0


def test_bad_walk_arguments(tiny):
    with pytest.raises(ValueError, match="unknown edit"):
        learn_linear_walk(tiny, "explode", steps=1, progress=False)
    with pytest.raises(ValueError, match="allowed"):
        learn_linear_walk(tiny, "zoom", loss="l7", steps=1, progress=False)
    with pytest.raises(ValueError, match="steps"):
        learn_linear_walk(tiny, "zoom", steps=0, progress=False)


def test_target_l2_baseline_is_zero_at_identity(tiny):
    d = learn_linear_walk(tiny, "rotate2d", steps=2, batch_size=4, progress=False)
    m = target_l2(tiny, d, n=8, n_alphas=5)
    i = m["alphas"].index(0.0)
    assert m["baseline_l2"][i] < 1e-10 and m["walk_l2"][i] < 1e-10
    assert all(b > 0 for j, b in enumerate(m["baseline_l2"]) if j != i)
    assert get_edit("rotate2d").alpha_range == (-45.0, 45.0)


@pytest.mark.parametrize("log_every", [1, 3, 100])
def test_walk_loop_reads_losses_back_in_chunks_without_changing_them(log_every):
    from steerlab.methods.walks.loop import train_walk
    g = torch.Generator().manual_seed(0)
    w = torch.zeros(3, requires_grad=True)
    target, seen = torch.tensor([1.0, -2.0, 0.5]), []

    def step_loss():
        value = (w - target - 0.1 * torch.randn(3, generator=g)).pow(2).sum()
        seen.append(value.item())  # what a per-step read gives
        return value

    curve = train_walk([w], step_loss, steps=7, lr=0.1, progress=False, log_every=log_every)
    assert curve == seen and len(curve) == 7 and curve[-1] < curve[0]
    # Adam moved w towards the target, by at most about lr per step
    assert torch.equal(w.detach().sign(), target.sign()) and w.detach().abs().max() <= 7 * 0.1 + 1e-4
