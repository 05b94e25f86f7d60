"""Inversion, recursive trajectories, the encoding model and factor control (Plumerault et al.)."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import kstest

from steerlab.core.io import FileFormatError
from steerlab.directions import Direction
from steerlab.evaluation.trajectories import norm_per_part, sweep_factor
from steerlab.methods.trajectories import (
    PiecewiseLinear,
    compare_with_naive,
    controlled_latents,
    erf_g,
    factor_density,
    factor_of,
    fit_encoding_model,
    invert,
    learn_trajectory_direction,
    load_trajectories,
    move_to,
    parse_distribution,
    recursive_trajectories,
    save_trajectories,
)
from steerlab.methods.trajectories.encoding import piecewise_linear
from steerlab.models import wrap_generator


# --------------------------------------------------------------------------- toy generators
class LinearBrightness(torch.nn.Module):
    """G(z) = 0.5 + 0.05 <u*, z> (uniform brightness) + sum_k 0.02 <q_k, z> P_k (zero-mean patterns).

    Linear and full rank, so every inversion has one solution and a brightness change dt is
    exactly a move of dt / 0.05 along the planted u*.
    """

    def __init__(self, d=6, res=8, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
        self.register_buffer("Q", q.float())  # column 0 is the planted u*
        p = torch.randn(d - 1, 3, res, res, generator=g)
        p = p - p.mean(dim=(1, 2, 3), keepdim=True)
        self.register_buffer("P", p / p.flatten(1).std(1)[:, None, None, None])

    def forward(self, z):
        c = z @ self.Q  # (N, d) coordinates in the planted basis
        return (0.5 + 0.05 * c[:, :1, None, None] + 0.02 * torch.einsum("nk,kchw->nchw", c[:, 1:], self.P))


class SplitBlob(torch.nn.Module):
    """A blob at x = 0.5 + 0.1 <u*, z[:4]>, y = 0.5 + 0.1 <v*, z[:4]> over a background set by
    z[4:] (smooth patterns): a latent in two parts fed to different 'layers'."""

    latent_parts = (4, 4)

    def __init__(self, res=16, seed=1, bump=False):
        super().__init__()
        self.bump = bump  # compact support (radius 2 px): no overlap, no gradient, beyond 4 px
        g = torch.Generator().manual_seed(seed)
        u = torch.randn(4, generator=g)
        u = u / u.norm()
        v = torch.randn(4, generator=g)
        v = v - (v @ u) * u
        self.register_buffer("u", u)
        self.register_buffer("v", v / v.norm())
        self.register_buffer("grid", (torch.arange(res) + 0.5) / res)
        yy, xx = torch.meshgrid(self.grid, self.grid, indexing="ij")
        pats = torch.stack([torch.cos(math.pi * xx), torch.cos(math.pi * yy), torch.cos(2 * math.pi * xx),
                            torch.cos(2 * math.pi * yy)])
        self.register_buffer("pats", pats)

    def forward(self, z):
        x0 = (0.5 + 0.1 * (z[:, :4] @ self.u))[:, None, None]
        y0 = (0.5 + 0.1 * (z[:, :4] @ self.v))[:, None, None]
        g = self.grid
        r2 = (g[None, None, :] - x0) ** 2 + (g[None, :, None] - y0) ** 2
        blob = (1 - r2 / 0.125 ** 2).clamp_min(0) ** 2 if self.bump else torch.exp(-r2 / 0.01)
        bg = 0.15 + 0.02 * torch.einsum("nk,khw->nhw", z[:, 4:], self.pats)
        return (bg + 0.8 * blob)[:, None].expand(-1, 3, -1, -1)


def linear_brightness(d=6):
    return wrap_generator(LinearBrightness(d), z_dim=d, resolution=8, output_range=(0, 1), name="linbright")


def split_blob(bump=False):
    G = wrap_generator(SplitBlob(bump=bump), z_dim=8, resolution=16, output_range=(0, 1), name="splitblob")
    G.latent_parts = SplitBlob.latent_parts
    return G


# --------------------------------------------------------------------------- inversion
def test_norm_ball_holds_after_every_step(tiny):
    target = tiny.synthesize(3 * tiny.sample_z(3))  # far-out latents pull z outwards
    radius = math.sqrt(tiny.z_dim)
    norms = []
    inv = invert(tiny, target, loss="l2", steps=25, lr=0.5, on_step=lambda i, z, x: norms.append(z.norm(dim=1)),
                 progress=False)
    norms.append(inv.z.norm(dim=1))
    assert len(norms) == 26
    assert max(n.max().item() for n in norms) <= radius * (1 + 1e-5)
    assert max(n.max().item() for n in norms[5:]) > 0.99 * radius  # the constraint was active
    free = invert(tiny, target, loss="l2", steps=25, lr=0.5, constrain=False, progress=False)
    assert free.z.norm(dim=1).max() > radius * 1.05  # without it the solution leaves the ball


def test_inversion_finds_a_generated_image_and_is_batch_invariant(tiny):
    z_true = tiny.sample_z(4, generator=torch.Generator().manual_seed(5)) * 0.8
    target = tiny.synthesize(z_true)
    inv = invert(tiny, target, steps=100, lr=0.1, progress=False)
    assert (inv.loss < 0.2 * inv.curve[0]).all()
    one_by_one = invert(tiny, target, steps=100, lr=0.1, batch_size=2, progress=False)
    assert torch.allclose(inv.z, one_by_one.z, atol=1e-4)


@pytest.mark.parametrize("loss", ["mse", "l2", "dssim", "blurred"])
def test_every_loss_reduces_the_error(tiny, loss):
    target = tiny.synthesize(tiny.sample_z(2, generator=torch.Generator().manual_seed(9)))
    inv = invert(tiny, target, loss=loss, steps=30, progress=False)
    assert (inv.loss < inv.curve[0]).all()


def test_sigma_and_mask_change_what_is_fitted(tiny):
    target = tiny.synthesize(tiny.sample_z(2, generator=torch.Generator().manual_seed(2)))
    a = invert(tiny, target, sigma=1.0, steps=20, progress=False)
    b = invert(tiny, target, sigma=5.0, steps=20, progress=False)
    assert not torch.allclose(a.z, b.z, atol=1e-3)
    mask = torch.ones(2, 1, 16, 16)
    mask[:, :, :, 8:] = 0
    noisy = target.clone()
    noisy[:, :, :, 8:] = torch.rand(2, 3, 16, 8)
    m1 = invert(tiny, target, mask=mask, steps=20, progress=False)
    m2 = invert(tiny, noisy, mask=mask, steps=20, progress=False)
    assert torch.allclose(m1.z, m2.z, atol=1e-5)  # masked-out pixels do not count


@pytest.mark.parametrize("kwargs, needle", [
    (dict(targets=torch.rand(2, 3, 8, 8)), "targets must be images"),
    (dict(targets=torch.full((1, 3, 16, 16), float("nan"))), "NaN"),
    (dict(targets=torch.rand(1, 3, 16, 16) * 3), "in [0, 1]"),
    (dict(targets=torch.rand(1, 3, 16, 16), loss="l7"), "unknown loss"),
    (dict(targets=torch.rand(1, 3, 16, 16), sigma=0.0), "sigma"),
    (dict(targets=torch.rand(1, 3, 16, 16), z_init=torch.zeros(1, 5)), "z_init"),
    (dict(targets=torch.rand(2, 3, 16, 16), mask=torch.ones(2, 1, 4, 4)), "mask"),
])
def test_inversion_bad_input_is_a_one_line_value_error(tiny, kwargs, needle):
    targets = kwargs.pop("targets")
    with pytest.raises(ValueError, match=None) as e:
        invert(tiny, targets, steps=1, progress=False, **kwargs)
    assert needle in str(e.value) and "\n" not in str(e.value)


# --------------------------------------------------------------------------- encoding model
def test_piecewise_linear_g_is_monotone_with_g0_zero_and_inverts():
    torch.manual_seed(0)
    for _ in range(5):
        g = PiecewiseLinear(n_knots=11, span=3.0)
        with torch.no_grad():
            g.theta.normal_(0, 3)  # wildly different slopes, some tiny
        s = torch.linspace(-6, 6, 2001)
        t = g(s)
        assert g(torch.zeros(1)).abs().item() < 1e-6
        assert (t[1:] > t[:-1]).all()
        assert torch.allclose(t, piecewise_linear(s, g.knots_x, g.knots_y()), atol=1e-5)
        assert torch.allclose(g.inverse(t), s, atol=1e-3)
    with pytest.raises(ValueError):
        PiecewiseLinear(n_knots=10)  # even: 0 would not be a knot


def test_fit_recovers_the_erf_model_on_synthetic_data():
    """Eq. 7: a factor uniform on [-0.5, 0.5] is 0.5 erf(<u, z> / sqrt 2)."""
    g = torch.Generator().manual_seed(0)
    d = 6
    u = torch.randn(d, generator=g)
    u /= u.norm()
    z0 = torch.randn(1000, d, generator=g)
    z = z0 + 0.6 * torch.randn(1000, d, generator=g)
    dt = erf_g(z @ u) - erf_g(z0 @ u)
    fit = fit_encoding_model(z0, z, dt, steps=300)
    assert float(fit.u @ u) > 0.995
    s = torch.linspace(-2.5, 2.5, 101)
    assert (fit.g(s) - erf_g(s)).abs().max() < 0.02
    assert fit.r2 > 0.99
    # Eq. 6 then says the factor is uniform: density ~1 inside [-0.45, 0.45]
    dens = factor_density(torch.linspace(-0.4, 0.4, 9), fit.knots_x, fit.knots_y)
    assert (dens - 1).abs().max() < 0.15


def test_fit_rejects_bad_data():
    with pytest.raises(ValueError, match="shape"):
        fit_encoding_model(torch.zeros(4, 3), torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="equal"):
        fit_encoding_model(torch.zeros(4, 3), torch.ones(4, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        fit_encoding_model(torch.zeros(4, 3), torch.ones(4, 3), torch.tensor([0, 1, float("nan"), 2.0]))


# --------------------------------------------------------------------------- the whole method
@pytest.fixture(scope="module")
def planted():
    """The full method on the linear toy generator, with the brightness edit."""
    G = linear_brightness()
    z0 = 0.4 * torch.randn(24, G.z_dim, generator=torch.Generator().manual_seed(1))
    data = recursive_trajectories(G, "brightness", z0=z0, T=0.06, n_steps=3, steps_per_target=80,
                                  lr=0.05, loss="l2", progress=False)
    kept = data.selected()
    fit = fit_encoding_model(kept.z0, kept.z, kept.dt, steps=200)
    return G, data, fit


def test_planted_direction_is_found(planted):
    G, data, fit = planted
    u_true = G.module.Q[:, 0]
    assert len(data) == 2 * 24 * 3 and 0.89 <= data.kept.float().mean() <= 0.91
    assert np.allclose(data.dt.unique().numpy(), [-0.06, -0.04, -0.02, 0.02, 0.04, 0.06], atol=1e-6)
    assert abs(float(fit.u @ u_true)) > 0.95
    assert float(fit.u @ u_true) > 0  # g increasing: u points towards brighter
    slope = (fit.g(torch.tensor([1.0])) - fit.g(torch.tensor([-1.0]))).item() / 2
    assert slope == pytest.approx(0.05, rel=0.1)  # 0.05 brightness per unit of <u*, z>


def test_trajectory_direction_controls_value_and_distribution(planted, tmp_path):
    from steerlab.edits import get_edit
    from steerlab.methods.trajectories import trajectory_direction
    G, _, fit = planted
    d = trajectory_direction(G, fit, get_edit("brightness"))
    path = d.save(tmp_path / "dir")
    d2 = Direction.load(path, model=G)
    assert d2.kind == "trajectory" and d2.alpha.alpha_range[0] < 0 < d2.alpha.alpha_range[1]
    z = G.sample_z(16, generator=torch.Generator().manual_seed(3))
    base = G.synthesize(move_to(z, d2.tensors["u"], 0.0)).mean(dim=(1, 2, 3))
    for t in (-0.1, 0.05, 0.12):
        bright = d2.render(G, z, t).mean(dim=(1, 2, 3))  # patterns are zero-mean: mean = 0.5 + 0.05 <u*, z>
        assert torch.allclose(bright - base, torch.full_like(base, t), atol=0.01)
    with pytest.raises(ValueError, match="outside the allowed range"):
        d2.render(G, z, 5.0)
    # Eq. 10-11: t ~ U[-0.1, 0.1]
    zc = controlled_latents(d2, G.sample_z(400, generator=torch.Generator().manual_seed(0)), "uniform:-0.1,0.1")
    t = factor_of(d2, zc)
    assert kstest(t.numpy(), "uniform", args=(-0.1, 0.2)).pvalue > 0.01
    measured = G.synthesize(zc).mean(dim=(1, 2, 3)) - 0.5
    assert kstest(measured.numpy(), "uniform", args=(-0.1, 0.2)).statistic < 0.1
    zn = controlled_latents(d2, G.sample_z(400, generator=torch.Generator().manual_seed(5)), "normal:0.05,0.02")
    assert factor_of(d2, zn).mean().item() == pytest.approx(0.05, abs=0.005)
    assert factor_of(d2, zn).std().item() == pytest.approx(0.02, rel=0.15)
    for bad in ("uniform:1,0", "gamma:1,2", "normal:0", "normal:0,nan"):
        with pytest.raises(ValueError):
            parse_distribution(bad)


def test_split_blob_shift_is_monotone_and_lives_in_its_part():
    G = split_blob()
    d, data, fit = learn_trajectory_direction(G, "shift_x", n_trajectories=8, T=0.15, n_steps=3,
                                              steps_per_target=40, fit_steps=200, progress=False)
    sweep = sweep_factor(G, d, "pixels:x", s_values=np.linspace(-2, 2, 5), n=12)
    assert sweep["spearman_all"] > 0.9 and sweep["spearman_mean"] > 0.99
    assert sweep["monotone_fraction"] > 0.8
    assert sweep["spearman_per_sample"] > 0.9 and sweep["positive_fraction"] > 0.9 and sweep["ends_ordered"] > 0.9
    # a large spread between samples hides the move from the pooled correlation, not from each sample's
    from steerlab.data.dsprites import pixel_stats
    offsets = 10 * torch.randn(12, generator=torch.Generator().manual_seed(3))
    spread = sweep_factor(G, d, lambda im: pixel_stats(im)["x"] + offsets, s_values=np.linspace(-2, 2, 5), n=12)
    assert spread["spearman_all"] < 0.5 < sweep["spearman_all"]
    assert spread["spearman_per_sample"] == pytest.approx(sweep["spearman_per_sample"])
    assert spread["positive_fraction"] == sweep["positive_fraction"]
    flipped = sweep_factor(G, d, lambda im: -pixel_stats(im)["x"], s_values=np.linspace(-2, 2, 5), n=12)
    assert flipped["spearman_per_sample"] < -0.9 and flipped["positive_fraction"] < 0.1 and flipped["ends_ordered"] < 0.1
    norms = norm_per_part(d.tensors["u"], G.latent_parts)
    assert sum(norms) == pytest.approx(1.0) and norms[0] > 0.85  # Fig. 4: position lives in part 0
    with pytest.raises(ValueError, match="no key"):
        sweep_factor(G, d, "pixels:colour")


def test_recursive_beats_naive_on_a_large_shift():
    """App. D: an object shifted beyond its own width leaves the direct solver no gradient under
    MSE; the recursive solver's small steps keep an overlap and get there."""
    G = split_blob(bump=True)
    z0 = torch.zeros(6, 8)
    z0[:, :4] = 0.5 * torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    out = compare_with_naive(G, "shift_x", z0, T=0.3, n_steps=6, steps_per_target=25, loss="l2")
    assert out["levels"] == [0.5, 0.25, 0.1] and out["budget"] == 150
    assert out["naive_reached"][1] == 0 and out["recursive_reached"][1] >= 0.5
    assert np.mean(out["recursive_final"]) < 0.5 * np.mean(out["naive_final"])


def test_recursive_needs_fewer_steps_for_a_whole_trajectory():
    """Algorithm 1's cost: every target of the trajectory brought to the same error, each method
    given the same steps per target; the recursive solver starts each from its last solution."""
    from steerlab.methods.trajectories import compare_trajectory_with_naive
    G = split_blob(bump=True)
    z0 = torch.zeros(6, 8)
    z0[:, :4] = 0.5 * torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    out = compare_trajectory_with_naive(G, "shift_x", z0, T=0.3, n_steps=6, steps_per_target=25, loss="l2")
    assert np.array(out["naive_steps"]).shape == (3, 6, 6) and len(out["recursive_final"]) == 6
    for i in range(3):
        assert np.mean(out["recursive_total"][i]) < np.mean(out["naive_total"][i])
        assert out["recursive_reached"][i] >= out["naive_reached"][i]
    # the first target starts from z0 for both: the same problem, the same steps
    assert out["recursive_steps"][0][0] == out["naive_steps"][0][0]
    assert out["recursive_final"][-1] < out["naive_final"][-1]


def test_trajectories_file_roundtrip_and_refusals(tmp_path, tiny):
    data = recursive_trajectories(tiny, "shift_x", n_trajectories=3, T=0.1, n_steps=2, steps_per_target=2,
                                  progress=False)
    assert len(data) == 12 and data.z0.shape == data.z.shape == (12, 8)
    path = save_trajectories(data, tmp_path / "traj")
    back = load_trajectories(path)
    assert torch.equal(back.z, data.z) and torch.equal(back.kept, data.kept)
    assert back.meta["edit"] == "shift_x" and back.meta["fingerprint"] == tiny.fingerprint
    (tmp_path / "bad.safetensors").write_bytes(path.read_bytes()[:50])
    with pytest.raises(FileFormatError):
        load_trajectories(tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="outside"):
        recursive_trajectories(tiny, "shift_x", T=0.9, progress=False)


def test_heldout_r2_tells_a_determined_axis_from_an_overfitted_one():
    """Few trajectories in many dimensions: the training R^2 is high but the held-out one is not."""
    from steerlab.methods.trajectories import heldout_r2
    g = torch.Generator().manual_seed(1)
    d, groups, per = 6, 40, 5
    u = torch.randn(d, generator=g)
    u /= u.norm()
    z0 = torch.randn(groups, d, generator=g).repeat_interleave(per, 0)
    z = z0 + 0.6 * torch.randn(groups * per, d, generator=g)
    good = heldout_r2(z0, z, erf_g(z @ u) - erf_g(z0 @ u), steps=200)
    assert good["heldout_r2"] > 0.95 and good["cos_u"] > 0.98
    d = 40  # as many dimensions as trajectories, and dt unrelated to any axis
    z0 = torch.randn(groups, d, generator=g).repeat_interleave(per, 0)
    z = z0 + 0.6 * torch.randn(groups * per, d, generator=g)
    noise = 0.1 * torch.randn(groups * per, generator=g)
    bad = heldout_r2(z0, z, noise, steps=200)
    assert bad["train_r2"] > bad["heldout_r2"] + 0.3
    assert bad["heldout_r2"] < 0.2
    with pytest.raises(ValueError, match="distinct"):
        heldout_r2(z0[:15], z[:15], noise[:15])
