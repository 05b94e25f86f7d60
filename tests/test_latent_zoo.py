"""Every latent method (sefa, ganspace, boundary, latent-discovery) runs on every generator family, in tiny form.

Families: the DCGAN, steerlab's StyleGAN2, NVlabs StyleGAN2-ADA and StyleGAN3 pickles (the
fixtures NVlabs' own code wrote), a user's wrapped ``nn.Module`` and BigGAN-deep (a random tiny
one in pytorch-pretrained-biggan's file format, built offline). Each direction must be of the model
(fingerprint), in one of its spaces, and move its images (finite, not the unmoved image).
"""
from pathlib import Path

import pytest
import torch
from torch import nn

from steerlab.methods import learn
from steerlab.models import load_model, wrap_generator

FIXTURES = Path(__file__).parent / "fixtures"
# tiny settings: enough samples for a PCA / an SVM on each family's latent size, two training steps
TINY = {"sefa": dict(k=2), "ganspace": dict(k=2, n_samples=96),
        "boundary": dict(attribute="colour:luminance", n_samples=64),
        "latent-discovery": dict(k=2, steps=2, batch_size=2)}


def _dcgan(tmp_path):
    from helpers import make_tiny
    return make_tiny()


def _stylegan2(tmp_path):
    from test_stylegan2 import make_sg2
    return make_sg2()


def _nvlabs(path):
    return lambda tmp_path: load_model(str(FIXTURES / path))


def _wrapped(tmp_path):
    """A user's own generator: a linear stem on z, then an upsampling conv, tanh output."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8 * 4 * 4), nn.Unflatten(1, (8, 4, 4)), nn.ReLU(),
                        nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh())
    return wrap_generator(net, z_dim=6, resolution=8, name="user-net")


def _biggan(tmp_path):
    pytest.importorskip("pytorch_pretrained_biggan", reason="BigGAN needs pytorch-pretrained-biggan installed")
    from steerlab.models import load_biggan
    from test_biggan import write_package_files
    folder, _ = write_package_files(tmp_path / "biggan")
    return load_biggan(folder, truncation=0.4)


FAMILIES = {"dcgan": _dcgan, "stylegan2": _stylegan2, "sg2-ada": _nvlabs("nvlabs/sg2ada_orig.pkl"),
            "sg3-t": _nvlabs("stylegan3/stylegan3_t.pkl"), "wrapped": _wrapped, "biggan": _biggan}
SLOW = {"sg3-t", "biggan"}  # each over ~20 s alone


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW else f for f in FAMILIES])
def test_every_latent_method_runs_on_every_family(family, tmp_path):
    G = FAMILIES[family](tmp_path)
    z = G.sample_z(2, generator=torch.Generator().manual_seed(1))
    c = G.sample_classes(2, generator=torch.Generator().manual_seed(1))
    for method, options in TINY.items():
        dirs = learn(method, G, progress=False, seed=0, **options)
        assert len(dirs) == (1 if method == "boundary" else 2), method
        for d in dirs:
            assert d.fingerprint == G.fingerprint and d.space in (*G.latent_spaces, "w+"), (method, d.space)
            moved, still = d.render(G, z, 2.0, classes=c), d.render(G, z, 0.0, classes=c)
            assert moved.shape == still.shape == (2, G.channels, G.resolution, G.resolution)
            assert torch.isfinite(moved).all(), (method, family)
            assert float((moved - still).abs().max()) > 1e-4, f"{method} on {family} does not move the image"
