import pytest
import torch

from helpers import Blob, make_tiny
from steerlab.models import save_generator


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def tiny():
    return make_tiny()


@pytest.fixture
def tiny_file(tmp_path):
    """A tiny generator saved in steerlab's file format; returns the .safetensors path."""
    return save_generator(make_tiny(), tmp_path / "tiny")


@pytest.fixture
def blob():
    from steerlab.models import wrap_generator
    return wrap_generator(Blob(), z_dim=4, resolution=16, output_range=(0, 1), name="blob")
