import pytest
import torch

from steerlab.core.io import FileFormatError
from steerlab.training import DCGANDiscriminator, GANConfig, train_gan

from conftest import make_tiny


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
    train_gan(G, D, x, config=GANConfig(steps=1, batch_size=4, checkpoint_every=1), checkpoint=tmp_path / "c", progress=False)
    with pytest.raises(FileFormatError, match="configuration"):
        train_gan(make_tiny(), DCGANDiscriminator(resolution=16, width=8), x,
                  config=GANConfig(steps=2, batch_size=4, joint_edit="zoom"), checkpoint=tmp_path / "c",
                  resume=True, progress=False)
