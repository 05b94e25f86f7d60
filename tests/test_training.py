import pytest
import torch

from helpers import make_tiny
from steerlab.core.io import FileFormatError
from steerlab.training import DCGANDiscriminator, GANConfig, train_gan


def _data(n=32, classes=False):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, 16, 16, generator=g) * 0.2
    x[:, :, 4:12, 4:12] += 0.7  # a bright square: something to learn
    return x.clamp(0, 1), (torch.randint(0, 3, (n,), generator=g) if classes else None)


@pytest.mark.parametrize("mode", [{}, {"aug_edit": "zoom"}, {"joint_edit": "shift_x"}, {"joint_edit": "color"}])
def test_three_training_modes_run_and_move_the_weights(mode):
    G = make_tiny(num_classes=3)
    D = DCGANDiscriminator(resolution=16, width=8, num_classes=3)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    x, y = _data(classes=True)
    out = train_gan(G, D, x, y, config=GANConfig(steps=3, batch_size=8, **mode), progress=False)
    assert len(out["history"]["d_loss"]) == 3
    assert any(not torch.equal(before[k], v) for k, v in G.state_dict().items())
    if "joint_edit" in mode:
        assert out["w"] is not None and out["w"].abs().sum() > 0 and out["history"]["edit_loss"][-1] > 0
    else:
        assert out["w"] is None
    assert not G.training


def _D(seed=0):
    torch.manual_seed(seed)
    return DCGANDiscriminator(resolution=16, width=8)


def test_resume_is_bit_exact(tmp_path):
    x, _ = _data()
    cfg = GANConfig(steps=6, batch_size=8, joint_edit="zoom", checkpoint_every=3)
    G1 = make_tiny()
    full = train_gan(G1, _D(), x, config=cfg, progress=False)
    # Stop after 3 steps, then resume into differently initialised modules: they must be overwritten.
    train_gan(make_tiny(), _D(), x, config=GANConfig(**{**cfg.__dict__, "steps": 3}),
              checkpoint=tmp_path / "ck", progress=False)
    G3 = make_tiny(seed=5)
    rest = train_gan(G3, _D(seed=5), x, config=cfg, checkpoint=tmp_path / "ck", resume=True, progress=False)
    assert rest["history"]["d_loss"] == full["history"]["d_loss"]
    for k, v in G1.state_dict().items():
        assert torch.equal(v, G3.state_dict()[k]), k
    assert torch.equal(full["w"], rest["w"])


def test_bad_training_input():
    G, D = make_tiny(), DCGANDiscriminator(resolution=16, width=8)
    x, _ = _data()
    with pytest.raises(ValueError, match="labels"):
        train_gan(G, D, x, torch.zeros(32, dtype=torch.long), config=GANConfig(steps=1), progress=False)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        train_gan(G, D, x, config=GANConfig(steps=1), progress=False)


def test_checkpoint_for_other_config_refused(tmp_path):
    x, _ = _data()
    G, D = make_tiny(), DCGANDiscriminator(resolution=16, width=8)
    train_gan(G, D, x, config=GANConfig(steps=1, batch_size=4, checkpoint_every=1), checkpoint=tmp_path / "c",
              progress=False)
    with pytest.raises(FileFormatError, match="configuration"):
        train_gan(make_tiny(), DCGANDiscriminator(resolution=16, width=8), x,
                  config=GANConfig(steps=2, batch_size=4, joint_edit="zoom"), checkpoint=tmp_path / "c",
                  resume=True, progress=False)


def _pair(seed=1):
    G = make_tiny(num_classes=3)
    torch.manual_seed(seed)
    return G, DCGANDiscriminator(resolution=16, width=8, num_classes=3)


# Losses of 3 seeded steps as the first layout's separate loops (train_gan, train_mode_seeking) gave them.
FIRST_LAYOUT = {
    "plain": {"d_loss": [2.54349, 1.43188, 1.83661], "g_loss": [0.59465, 0.52203, 0.55356],
              "edit_loss": [0.0, 0.0, 0.0]},
    "joint": {"d_loss": [2.29374, 1.70811, 2.13407], "g_loss": [0.59305, 0.50582, 0.48206],
              "edit_loss": [0.02902, 0.02725, 0.03035]},
    "mode_seeking": {"d_loss": [2.49162, 1.78786, 1.63846], "g_loss": [0.59338, 0.50161, 0.50977],
                     "edit_loss": [20.93636, 16.83516, 15.96637]},
}


@pytest.mark.parametrize("mode", sorted(FIRST_LAYOUT))
def test_the_one_gan_step_keeps_the_seeded_losses_of_the_separate_loops(mode):
    from steerlab.training.dataset_gan import train_mode_seeking
    G, D = _pair()
    x, y = _data(classes=True)
    if mode == "mode_seeking":
        out = train_mode_seeking(G, D, x, y, config=GANConfig(steps=3, batch_size=7), ms_weight=0.5, progress=False)
    else:
        extra = {"joint_edit": "shift_x", "joint_lr": 0.05} if mode == "joint" else {}
        out = train_gan(G, D, x, y, config=GANConfig(steps=3, batch_size=8, **extra), progress=False)
    for key, values in FIRST_LAYOUT[mode].items():
        assert out["history"][key] == pytest.approx(values, abs=2e-5), key


def test_gan_step_updates_the_discriminator_then_the_generator_through_it():
    import copy

    import torch.nn.functional as F

    from steerlab.training import gan_step
    G, D = _pair()
    G.train().requires_grad_(True)
    x, y = _data(n=8, classes=True)
    fake = G.synthesize(G.sample_z(8, generator=torch.Generator().manual_seed(2)), classes=y)
    D0, G0 = copy.deepcopy(D), {k: v.clone() for k, v in G.state_dict().items()}
    calls = []

    def extra():
        calls.append(len(calls))
        return fake.mean() * 0 + 0.25

    opt_d, opt_g = torch.optim.SGD(D.parameters(), lr=0.5), torch.optim.SGD(G.parameters(), lr=0.5)
    d_loss, g_loss, term = gan_step(D, opt_d, opt_g, x, fake, real_classes=y, fake_classes=y, extra=extra,
                                    extra_weight=2.0)
    with torch.no_grad():
        want_d = F.softplus(-D0(x, y)).mean() + F.softplus(D0(fake, y)).mean()
        want_g = F.softplus(-D(fake, y)).mean()  # the G step reads the *updated* discriminator
        stale_g = F.softplus(-D0(fake, y)).mean()
    assert torch.allclose(d_loss, want_d) and torch.allclose(g_loss, want_g) and not torch.allclose(g_loss, stale_g)
    assert calls == [0] and float(term) == 0.25 and not d_loss.requires_grad
    assert any(not torch.equal(G0[k], v) for k, v in G.state_dict().items())


def test_mode_seeking_term_punishes_a_generator_that_ignores_z():
    from steerlab.training import mode_seeking_term
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    same = torch.full((6, 3, 8, 8), 0.5)
    varied = z[:, :3, None, None].expand(6, 3, 8, 8) * 0.1 + 0.5
    assert float(mode_seeking_term(same, z)) == pytest.approx(1e5) and float(mode_seeking_term(varied, z)) < 20
    with pytest.raises(ValueError, match="use one"):
        G, D = _pair()
        train_gan(G, D, *_data(classes=True), config=GANConfig(steps=1, joint_edit="zoom", ms_weight=1.0),
                  progress=False)
