"""Procedural dSprites (exact factors) and the App. B beta-VAE."""
import math

import pytest
import torch

from steerlab.data.dsprites import (
    N_IMAGES,
    ORIENTATIONS,
    POSITIONS,
    SCALES,
    factors_of,
    pixel_stats,
    render_dsprites,
    sample_dsprites,
)
from steerlab.models import BetaVAE, load_generator, save_generator
from steerlab.models.vae import beta_vae_loss, train_beta_vae


def test_the_factor_grid_is_dsprites():
    assert N_IMAGES == 737_280 == 3 * 6 * 40 * 32 * 32
    assert torch.allclose(SCALES, torch.linspace(0.5, 1, 6)) and len(ORIENTATIONS) == 40 and len(POSITIONS) == 32
    f = factors_of(torch.tensor([0, 1, 32, 32 * 32, N_IMAGES - 1]))
    assert f["pos_y"].tolist()[:2] == [0.0, POSITIONS[1].item()]  # pos_y varies fastest
    assert f["pos_x"][2].item() == POSITIONS[1].item()
    assert f["orientation"][3].item() == pytest.approx(2 * math.pi / 40)
    assert f["shape"].tolist() == [0, 0, 0, 0, 2] and f["scale"][4].item() == 1.0
    with pytest.raises(ValueError, match="indices"):
        factors_of(torch.tensor([N_IMAGES]))


def test_images_are_binary_and_their_barycentre_is_the_position():
    b = sample_dsprites(600, generator=torch.Generator().manual_seed(0))
    assert b.images.shape == (600, 1, 64, 64) and set(b.images.unique().tolist()) == {0.0, 1.0}
    s = pixel_stats(b.images)
    # exact rendering: the white pixels' barycentre is the sprite's centroid to within half a pixel
    assert (s["x"] - b.factors["x"]).abs().max() * 64 <= 0.5 + 1e-4
    assert (s["y"] - b.factors["y"]).abs().max() * 64 <= 0.5 + 1e-4
    # area follows scale^2 per shape (square: (16 px * scale)^2)
    sq = b.factors["shape"] == 0
    want = (16 * b.factors["scale"][sq]) ** 2 / 64 ** 2
    assert torch.allclose(s["area"][sq], want, rtol=0.25)
    # moving pos_x by one grid step moves the sprite by (63 - 24) / 31 px
    one = render_dsprites([1, 1], [1.0, 1.0], [0.3, 0.3], [POSITIONS[4], POSITIONS[5]], [0.5, 0.5])
    dx = (pixel_stats(one)["x"][1] - pixel_stats(one)["x"][0]).item() * 64
    assert dx == pytest.approx(39 / 31, abs=0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sprites_rendered_on_the_gpu_are_the_cpu_sprites():
    """The full protocol renders its batches on the training device: same seed, same sprites."""
    cpu = sample_dsprites(256, generator=torch.Generator().manual_seed(5))
    gpu = sample_dsprites(256, generator=torch.Generator().manual_seed(5), device="cuda")
    assert gpu.images.is_cuda and gpu.factors["pos_x"].is_cuda
    # pixel centres exactly on a shape's edge may flip with the GPU's rounding: at most a few pixels
    assert (gpu.images.cpu() != cpu.images).sum() <= 0.001 * cpu.images.numel()
    assert torch.equal(gpu.factors["index"].cpu(), cpu.factors["index"])


def test_orientation_turns_the_sprite():
    a = render_dsprites([0, 0], [1.0, 1.0], [0.0, math.pi / 4], [0.5, 0.5], [0.5, 0.5])
    b = render_dsprites([0], [1.0], [math.pi / 2], [0.5], [0.5])
    assert not torch.equal(a[0], a[1])  # a square turned by 45 degrees differs ...
    assert (a[0] != b[0]).float().mean() < 0.01  # ... by 90 degrees it is (almost) itself


def test_pixel_stats_refuses_nan_and_marks_empty_images():
    with pytest.raises(ValueError, match="NaN"):
        pixel_stats(torch.full((1, 1, 8, 8), float("nan")))
    assert torch.isnan(pixel_stats(torch.zeros(1, 1, 8, 8))["x"]).all()


def test_beta_vae_shapes_training_and_file_roundtrip(tmp_path):
    vae = BetaVAE(beta=4.0)
    x = sample_dsprites(4, generator=torch.Generator().manual_seed(1)).images
    mu, log_sigma = vae.encode(x)
    assert mu.shape == log_sigma.shape == (4, 10)
    img = vae.synthesize(torch.randn(3, 10))
    assert img.shape == (3, 1, 64, 64) and 0 <= img.min() and img.max() <= 1
    # Table 1: 4 stride-2 convs of 32 filters; dense 256; the decoder mirrors it
    convs = [m for m in vae.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(32, (4, 4), (2, 2))] * 4
    pool = sample_dsprites(64, generator=torch.Generator().manual_seed(2)).images

    def sample(n, g):
        return pool[torch.randint(0, 64, (n,), generator=g)]

    trained, log = train_beta_vae(sample, beta=4.0, steps=60, batch_size=16, progress=False)
    assert log["loss_curve"][-1] < 0.5 * log["loss_curve"][0]
    path = save_generator(trained, tmp_path / "vae")
    back = load_generator(path)
    assert isinstance(back, BetaVAE) and back.beta == 4.0 and back.fingerprint == trained.fingerprint
    z = torch.randn(2, 10)
    assert torch.equal(back.synthesize(z), trained.synthesize(z))
    loss, rec, kl = beta_vae_loss(back, pool[:8], 4.0)
    assert torch.isfinite(loss) and kl >= 0
    with pytest.raises(ValueError, match="64x64x1"):
        BetaVAE(resolution=32)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("beta", ["1", "5", "10", "20"])
def test_bundled_beta_vaes_load_and_decode_sprites(beta, seed):
    import json

    from steerlab.models import load_model
    from steerlab.models.zoo import WEIGHTS_DIR
    from steerlab.reproduce.beta_vae import bundled_name
    name = bundled_name(float(beta), seed)
    G = load_model(name)
    meta = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
    assert isinstance(G, BetaVAE) and G.beta == float(beta) and G.fingerprint == meta["fingerprint"]
    assert G.name == name and meta["card"]["training"]["seed"] == seed
    assert (WEIGHTS_DIR / f"{name}.safetensors").stat().st_size < 5e6
    x = sample_dsprites(16, generator=torch.Generator().manual_seed(3)).images
    with torch.no_grad():
        rec = G.synthesize(G.encode(x)[0])
    # a trained model puts the sprite where it was: barycentres agree to a few pixels
    err = (pixel_stats(rec)["x"] - pixel_stats(x)["x"]).abs()
    assert torch.nanmedian(err) * 64 < 3


def test_x_code_linearity_tells_a_trained_code_from_a_random_one():
    """The disentanglement score of the controlled factor: x read linearly from the encoder's code."""
    from steerlab.models import load_model
    from steerlab.reproduce.beta_vae import x_code_linearity
    torch.manual_seed(0)
    untrained = x_code_linearity(BetaVAE().eval(), n=500)
    trained = x_code_linearity(load_model("dsprites-vae-b1"), n=500)
    assert 0 <= untrained < 0.5 < 0.85 < trained <= 1
