import json

import pytest
import torch

from helpers import make_tiny
from steerlab.core.io import FileFormatError
from steerlab.directions import Direction, DirectionMismatch
from steerlab.methods.walks import learn_linear_walk


@pytest.fixture
def direction(tiny):
    return learn_linear_walk(tiny, "zoom", steps=3, batch_size=4, progress=False)


def test_save_load_round_trip_is_bit_exact(tmp_path, tiny, direction):
    direction.save(tmp_path / "d")
    back = Direction.load(tmp_path / "d.safetensors", model=tiny)
    assert torch.equal(back.tensors["w"], direction.tensors["w"])
    assert back.tensors["w"].dtype == direction.tensors["w"].dtype
    assert (back.kind, back.space, back.edit, back.fingerprint) == ("linear", "z", "zoom", tiny.fingerprint)
    assert back.alpha == direction.alpha and back.config == direction.config
    z = tiny.sample_z(2)
    assert torch.equal(back.render(tiny, z, 2.0), direction.render(tiny, z, 2.0))
    # The JSON sidecar is readable and agrees.
    assert json.loads((tmp_path / "d.json").read_text())["fingerprint"] == tiny.fingerprint


def test_foreign_fingerprint_is_refused_unless_forced(tmp_path, direction):
    other = make_tiny(seed=1)
    direction.save(tmp_path / "d")
    with pytest.raises(DirectionMismatch, match="learned for model"):
        Direction.load(tmp_path / "d.safetensors", model=other)
    d = Direction.load(tmp_path / "d.safetensors", model=other, force=True)
    assert d.render(other, other.sample_z(1), 1.5, force=True).shape == (1, 3, 16, 16)


def test_render_at_identity_is_the_plain_sample(tiny, direction):
    z = tiny.sample_z(3)
    assert torch.allclose(direction.render(tiny, z, 1.0), tiny.synthesize(z))
    assert not torch.allclose(direction.render(tiny, z, 4.0), tiny.synthesize(z))


def test_alpha_outside_range_and_nan_refused(tiny, direction):
    z = tiny.sample_z(1)
    for bad in (8.0, float("nan"), 0.0):
        with pytest.raises(ValueError) as e:
            direction.render(tiny, z, bad)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("damage", ["truncate", "pickle", "garbage", "nan", "header"])
def test_corrupted_files_give_one_line_errors(tmp_path, direction, damage):
    path = direction.save(tmp_path / "d")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "pickle":
        torch.save({"w": torch.zeros(3)}, path)
    elif damage == "garbage":
        path.write_bytes(b"not a file at all")
    elif damage == "nan":
        nan = torch.full_like(direction.tensors["w"], float("nan"))
        bad = Direction(**{**direction.__dict__, "tensors": {"w": nan}})
        bad.save(tmp_path / "d")
    elif damage == "header":
        from safetensors.torch import save_file
        save_file({"w": torch.zeros(1, 8)}, str(path))
    with pytest.raises(FileFormatError) as e:
        Direction.load(path)
    assert "\n" not in str(e.value)


def test_direction_for_missing_space_refused(tiny, direction):
    direction.space = "w"
    with pytest.raises(ValueError, match="no latent space 'w'"):
        direction.check_model(tiny)
