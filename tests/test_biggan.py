"""BigGAN-deep through pytorch-pretrained-biggan, from files in that package's own format."""
import json

import pytest
import torch
import torch.nn.functional as F

from steerlab.core.io import FileFormatError
from steerlab.methods.walks import learn_linear_walk
from steerlab.models import BigGANGenerator, load_biggan, load_generator, save_generator

pytest.importorskip("pytorch_pretrained_biggan")

# A tiny BigGAN-deep: 32 px, z_dim 16, 5 classes, channel width 4, self-attention before block 3.
CONFIG = dict(output_dim=32, z_dim=16, class_embed_dim=16, channel_width=4, num_classes=5,
              layers=[[False, 16, 16], [True, 16, 8], [True, 8, 4], [False, 4, 2], [True, 2, 1]],
              attention_layer_position=3, eps=1e-4, n_stats=51)


def write_package_files(folder, *, power_iterate=True, seed=0, mutate=None):
    """Save a random BigGAN the way the package stores models: pytorch_model.bin + config.json."""
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig
    torch.manual_seed(seed)
    net = BigGAN(BigGANConfig.from_dict(CONFIG))
    with torch.no_grad():
        net.generator.bn.weight.fill_(1.0)  # the package leaves these uninitialised (torch.Tensor(n))
        net.generator.bn.bias.zero_()
        for m in net.modules():
            if hasattr(m, "running_means"):
                m.running_means.normal_(0, 0.1)
        if power_iterate:  # a trained model's spectral-norm vectors are converged; a fresh one's are random
            net.train()
            z = torch.randn(4, 16)
            c = F.one_hot(torch.arange(4), 5).float()
            for _ in range(5):
                net(z, c, 0.4)
    state = net.state_dict()
    if mutate:
        mutate(state)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps(CONFIG))
    return folder, net.eval()


@pytest.fixture
def biggan_folder(tmp_path):
    return write_package_files(tmp_path / "biggan")


def test_load_matches_package_forward(biggan_folder):
    folder, net = biggan_folder
    G = load_biggan(folder, truncation=0.4)
    assert (G.resolution, G.z_dim, G.num_classes, G.channels) == (32, 16, 5, 3)
    z = G.sample_z(3, generator=torch.Generator().manual_seed(2))
    classes = torch.tensor([0, 3, 4])
    x = G.synthesize(z, classes=classes)
    assert x.shape == (3, 3, 32, 32) and 0 <= x.min() and x.max() <= 1
    with torch.no_grad():
        ref = (net(z, F.one_hot(classes, 5).float(), 0.4) + 1) / 2
    assert torch.allclose(x, ref, atol=1e-5)
    assert (G.synthesize(z, classes=torch.tensor([1, 1, 1])) - x).abs().max() > 1e-4  # classes matter
    with pytest.raises(ValueError, match="class-conditional"):
        G.synthesize(z)
    # the .bin file itself works too (config.json beside it)
    assert load_biggan(folder / "pytorch_model.bin").fingerprint == G.fingerprint


def test_truncation_sampling(biggan_folder):
    folder, _ = biggan_folder
    G = load_biggan(folder, truncation=0.3)
    z = G.sample_z(500, generator=torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.6 + 1e-6 and z.std() > 0.2  # N(0,1) cut at +-2, times 0.3
    again = G.sample_z(500, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, again)
    with pytest.raises(ValueError, match="truncation"):
        load_biggan(folder, truncation=1.5)


def test_levels_and_z_chunks(biggan_folder):
    folder, _ = biggan_folder
    G = load_biggan(folder)
    # input layer + 5 residual blocks (the self-attention layer reads no z)
    assert G.levels == ["generator.gen_z"] + [f"generator.layers.{i}" for i in (0, 1, 2, 4, 5)]
    assert all(s == slice(0, 16) for s in G.z_chunks.values())  # BigGAN-deep: each level reads all of z
    z, c = G.sample_z(2), torch.tensor([1, 2])
    zp = G.to_space(z, "z+")
    assert zp.shape == (2, 6, 16)
    assert torch.allclose(G.synthesize(zp, space="z+", classes=c), G.synthesize(z, classes=c), atol=1e-6)
    zp2 = zp.clone()
    zp2[:, 3] += 1.0  # one level's z alone changes the image
    assert (G.synthesize(zp2, space="z+", classes=c) - G.synthesize(zp, space="z+", classes=c)).abs().max() > 1e-4


def test_walk_in_z_plus_and_steerlab_format(biggan_folder, tmp_path):
    folder, _ = biggan_folder
    G = load_biggan(folder, name="tiny-biggan")
    d = learn_linear_walk(G, "zoom", space="z+", steps=2, batch_size=2, progress=False)
    assert d.tensors["w"].shape == (1, 6, 16) and "in z+" in d.describe()
    path = save_generator(G, tmp_path / "as-steerlab")  # safetensors + JSON, no pickle
    G2 = load_generator(path)
    assert isinstance(G2, BigGANGenerator) and G2.fingerprint == G.fingerprint
    z, c = G.sample_z(2), torch.tensor([0, 4])
    assert torch.equal(G2.synthesize(z, classes=c), G.synthesize(z, classes=c))


def test_random_config_nan_is_a_clear_error(tmp_path):
    folder, _ = write_package_files(tmp_path / "fresh", power_iterate=False, seed=1)
    with pytest.raises(FileFormatError, match="NaN/inf images.*spectral-norm") as e:
        load_biggan(folder)
    assert "\n" not in str(e.value)


def _nan(state):
    state["generator.bn.weight"][0] = float("nan")


@pytest.mark.parametrize("mutate,match", [
    (lambda s: s.pop("generator.conv_to_rgb.bias"), "missing"),
    (lambda s: s.update(extra=torch.zeros(1)), "unexpected"),
    (lambda s: s.update({"embeddings.weight": torch.zeros(16, 7)}), "shape mismatch"),
    (_nan, "NaN or inf"),
])
def test_mismatched_files_give_one_line(tmp_path, mutate, match):
    folder, _ = write_package_files(tmp_path / "bad", mutate=mutate)
    with pytest.raises(FileFormatError, match=match) as e:
        load_biggan(folder)
    assert "\n" not in str(e.value)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_biggan(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"hello": 1}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(FileFormatError, match="not a pytorch-pretrained-biggan config"):
        load_biggan(tmp_path)
