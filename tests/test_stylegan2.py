"""StyleGAN2: spaces, truncation, rosinality checkpoints (exact key format), walks in w / w+."""
import argparse
import math

import pytest
import torch
import torch.nn.functional as F

from steerlab.core.io import FileFormatError
from steerlab.methods.walks import learn_linear_walk
from steerlab.models import StyleGAN2Generator, load_generator, load_rosinality, save_generator

ARCH = dict(resolution=16, z_dim=12, w_dim=12, n_mlp=2, channels=[16, 8, 8])


def make_sg2(seed=0, **kw):
    torch.manual_seed(seed)
    G = StyleGAN2Generator(**(ARCH | kw), name="tiny-sg2")
    with torch.no_grad():  # non-zero noise strengths and biases so every parameter matters
        for name, p in G.named_parameters():
            if name.endswith(("noise_strength", ".bias")) and "affine" not in name:
                p.uniform_(-0.3, 0.3)
        G.mapping.w_avg.normal_(0, 0.5)
    return G.eval().requires_grad_(False)


@pytest.fixture
def sg2():
    return make_sg2()


# ----------------------------------------------------------------------------- protocol
def test_spaces_agree_and_shapes(sg2):
    z = sg2.sample_z(3, generator=torch.Generator().manual_seed(1))
    w, wp = sg2.to_space(z, "w"), sg2.to_space(z, "w+")
    assert w.shape == (3, 12) and wp.shape == (3, sg2.num_ws, 12) and sg2.num_ws == 6
    x = sg2.synthesize(z)
    assert x.shape == (3, 3, 16, 16) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.allclose(sg2.synthesize(w, space="w"), x, atol=1e-6)
    assert torch.allclose(sg2.synthesize(wp, space="w+"), x, atol=1e-6)
    # w+ really is per layer: changing only the last w changes the image
    wp2 = wp.clone()
    wp2[:, -1] += 3
    assert (sg2.synthesize(wp2, space="w+") - x).abs().max() > 1e-3


def test_eval_deterministic_training_noisy_unclamped(sg2):
    z = torch.randn(2, 12)
    assert torch.equal(sg2.synthesize(z), sg2.synthesize(z))
    sg2.train()
    a, b = sg2.synthesize(z), sg2.synthesize(z)
    assert not torch.equal(a, b)  # fresh noise per call while training
    sg2.synthesis.b16.torgb.bias.data += 5.0  # push raw output far above the range
    assert sg2.synthesize(z).max() > 1.5  # not clamped while training: gradients reach every pixel
    sg2.eval()
    assert sg2.synthesize(z).max() <= 1.0


def test_truncation(sg2):
    z = torch.randn(4, 12)
    w1 = sg2.to_space(z, "w")
    G0 = make_sg2(truncation_psi=0.0)
    assert torch.allclose(G0.to_space(z, "w"), sg2.mapping.w_avg.expand(4, -1))
    Gh = make_sg2(truncation_psi=0.5)
    assert torch.allclose(Gh.to_space(z, "w") - sg2.mapping.w_avg, 0.5 * (w1 - sg2.mapping.w_avg), atol=1e-6)
    with pytest.raises(ValueError, match="truncation_psi"):
        StyleGAN2Generator(**ARCH, truncation_psi=float("nan"))


def test_bad_latents_and_sizes(sg2):
    with pytest.raises(ValueError, match=r"space 'w\+'.*\(N, 6, 12\)"):
        sg2.synthesize(torch.randn(2, 12), space="w+")
    with pytest.raises(ValueError, match="space 'w'"):
        sg2.synthesize(torch.randn(2, 6, 12), space="w")
    with pytest.raises(ValueError, match="no latent space 'y'"):
        sg2.to_space(torch.randn(2, 12), "y")
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Generator(resolution=24)


def test_conditional_mapping():
    G = make_sg2(num_classes=3)
    z = torch.randn(2, 12)
    a = G.synthesize(z, classes=torch.tensor([0, 0]))
    b = G.synthesize(z, classes=torch.tensor([2, 2]))
    assert (a - b).abs().max() > 1e-3
    with pytest.raises(ValueError, match="class-conditional"):
        G.to_space(z, "w")


def test_save_load_roundtrip_and_fingerprint(sg2, tmp_path):
    path = save_generator(sg2, tmp_path / "sg2", card={"licence": "MIT"})
    G2 = load_generator(path)
    assert isinstance(G2, StyleGAN2Generator) and G2.fingerprint == sg2.fingerprint
    z = torch.randn(2, 12)
    assert torch.equal(G2.synthesize(z), sg2.synthesize(z))


def test_shiftable_weights_by_name(sg2):
    names = list(sg2.shiftable_weights())
    assert names[0] == "synthesis.b4.conv1.conv.weight" and "synthesis.b16.conv0.conv.weight" in names
    assert all(sg2.shiftable_weights()[n].dim() == 4 for n in names)
    z = torch.randn(2, 12)
    before = sg2.synthesize(z)
    name = "synthesis.b8.conv1.conv.weight"
    shifted = sg2.synthesize_shifted(z, {name: torch.randn_like(sg2.shiftable_weights()[name])})
    assert (shifted - before).abs().max() > 1e-3
    assert torch.equal(sg2.synthesize(z), before)  # the model itself is untouched


# ----------------------------------------------------------------------------- walks in w and w+
@pytest.mark.parametrize("space", ["w", "w+"])
def test_walk_in_w_spaces(sg2, space):
    d = learn_linear_walk(sg2, "color", space=space, steps=3, batch_size=4, progress=False)
    assert d.space == space and f"in {space} " in d.describe()
    assert d.tensors["w"].shape == (3, *sg2.latent_shape(space))
    assert d.tensors["w"].abs().sum() > 0
    z = torch.randn(2, 12)
    out = d.render(sg2, z, [0.3, 0.0, 0.0])
    assert out.shape == (2, 3, 16, 16)
    # the walk acts in its own space: rendering by hand in that space gives the same image
    lat = sg2.to_space(z, space) + 0.3 * d.tensors["w"][0]
    assert torch.allclose(out, sg2.synthesize(lat, space=space), atol=1e-6)


def test_direction_in_wrong_space_is_refused(sg2, tiny):
    d = learn_linear_walk(sg2, "brightness", space="w", steps=2, batch_size=2, progress=False)
    with pytest.raises(ValueError, match="no latent space 'w'"):
        d.check_model(tiny, force=True)  # a DCGAN has no w
    # a w+ latent handed to a w direction would silently broadcast; it is refused instead
    for n in (2, 6):  # n == num_ws is the case that would broadcast without an error
        wp = sg2.to_space(torch.randn(n, 12), "w+")
        with pytest.raises(ValueError, match="does not fit this direction in space 'w'"):
            d.render(sg2, None, 0.2, latent=wp)


# ----------------------------------------------------------------------------- rosinality
def rosinality_state(size=16, style_dim=12, n_mlp=2, ch=(16, 8, 8), seed=0):
    """A random-weight g_ema state dict in the exact key format of rosinality's stylegan2-pytorch."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kern = (k[:, None] * k[None, :]) / 64 * 4  # make_kernel(blur) * factor**2
    sd = {}
    for i in range(1, n_mlp + 1):
        sd[f"style.{i}.weight"] = r(style_dim, style_dim) / 0.01
        sd[f"style.{i}.bias"] = r(style_dim) * 0.1

    def modconv(prefix, cin, cout, ksize, up=False):
        sd[f"{prefix}.conv.weight"] = r(1, cout, cin, ksize, ksize)
        if up:
            sd[f"{prefix}.conv.blur.kernel"] = kern.clone()
        sd[f"{prefix}.conv.modulation.weight"] = r(cin, style_dim)
        sd[f"{prefix}.conv.modulation.bias"] = 1 + 0.1 * r(cin)

    def styled(prefix, cin, cout, up=False):
        modconv(prefix, cin, cout, 3, up)
        sd[f"{prefix}.noise.weight"] = 0.2 * r(1)
        sd[f"{prefix}.activate.bias"] = 0.1 * r(cout)

    def torgb(prefix, cin, up):
        sd[f"{prefix}.bias"] = 0.1 * r(1, 3, 1, 1)
        if up:
            sd[f"{prefix}.upsample.kernel"] = kern.clone()
        modconv(prefix, cin, 3, 1)

    sd["input.input"] = r(1, ch[0], 4, 4)
    styled("conv1", ch[0], ch[0])
    torgb("to_rgb1", ch[0], False)
    log_size = int(math.log2(size))
    for j in range(log_size - 2):
        styled(f"convs.{2 * j}", ch[j], ch[j + 1], up=True)
        styled(f"convs.{2 * j + 1}", ch[j + 1], ch[j + 1])
        torgb(f"to_rgbs.{j}", ch[j + 1], True)
    for i in range((log_size - 2) * 2 + 1):
        res = 2 ** ((i + 5) // 2)
        sd[f"noises.noise_{i}"] = r(1, 1, res, res)
    return sd


def reference_forward(sd, z, n_mlp):
    """rosinality's g_ema forward, written per sample against the raw keys (randomize_noise=False)."""
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        W, b = sd[f"style.{i}.weight"], sd[f"style.{i}.bias"]
        x = F.leaky_relu(F.linear(x, W * 0.01 / math.sqrt(W.shape[1]), b * 0.01), 0.2) * math.sqrt(2)
    w = x

    def modconv(h, p, demod, up=False):
        weight = sd[f"{p}.conv.weight"][0]
        cout, cin, ks, _ = weight.shape
        mw = sd[f"{p}.conv.modulation.weight"]
        style = F.linear(w, mw / math.sqrt(mw.shape[1]), sd[f"{p}.conv.modulation.bias"])
        outs = []
        for n in range(h.shape[0]):
            wn = weight / math.sqrt(cin * ks * ks) * style[n][None, :, None, None]
            if demod:
                wn = wn * torch.rsqrt(wn.pow(2).sum([1, 2, 3]) + 1e-8)[:, None, None, None]
            if up:
                y = F.conv_transpose2d(h[n:n + 1], wn.transpose(0, 1), stride=2)
                kb = sd[f"{p}.conv.blur.kernel"][None, None].repeat(cout, 1, 1, 1)
                y = F.conv2d(y, kb, padding=1, groups=cout)
            else:
                y = F.conv2d(h[n:n + 1], wn, padding=ks // 2)
            outs.append(y)
        return torch.cat(outs)

    def styled(h, p, noise, up=False):
        h = modconv(h, p, True, up) + sd[f"{p}.noise.weight"] * noise
        return F.leaky_relu(h + sd[f"{p}.activate.bias"][None, :, None, None], 0.2) * math.sqrt(2)

    h = sd["input.input"].repeat(z.shape[0], 1, 1, 1)
    h = styled(h, "conv1", sd["noises.noise_0"])
    skip = modconv(h, "to_rgb1", False) + sd["to_rgb1.bias"]
    j = 0
    while f"convs.{2 * j}.conv.weight" in sd:
        h = styled(h, f"convs.{2 * j}", sd[f"noises.noise_{2 * j + 1}"], up=True)
        h = styled(h, f"convs.{2 * j + 1}", sd[f"noises.noise_{2 * j + 2}"])
        rgb = modconv(h, f"to_rgbs.{j}", False) + sd[f"to_rgbs.{j}.bias"]
        # skip upsampling: upfirdn2d(up=2, pad=(2, 1)) with the stored kernel == transposed conv, padding 1
        ku = sd[f"to_rgbs.{j}.upsample.kernel"][None, None].repeat(3, 1, 1, 1)
        skip = F.conv_transpose2d(skip, ku, stride=2, padding=1, groups=3) + rgb
        j += 1
    return skip


def test_rosinality_exact_format_matches_reference(tmp_path):
    sd = rosinality_state()
    avg = torch.randn(1, 12)
    torch.save({"g_ema": sd, "latent_avg": avg}, tmp_path / "converted.pt")
    G = load_rosinality(tmp_path / "converted.pt")
    assert (G.resolution, G.z_dim, G.w_dim, G.n_mlp, G.feature_channels) == (16, 12, 12, 2, [16, 8, 8])
    assert torch.equal(G.mapping.w_avg, avg[0])
    z = torch.randn(3, 12)
    ref = reference_forward(sd, z, 2)
    ours = G._synthesize(z, "z", None)
    assert torch.allclose(ours, ref, atol=1e-4), (ours - ref).abs().max()


def test_rosinality_training_checkpoint_with_args(tmp_path):
    sd = rosinality_state(seed=1)
    args = argparse.Namespace(size=16, latent=12, n_mlp=2, channel_multiplier=2, path="data/lmdb")
    torch.save({"g": sd, "d": {}, "g_ema": sd, "g_optim": {}, "d_optim": {}, "args": args,
                "ada_aug_p": 0.0}, tmp_path / "train.pt")
    G = load_rosinality(tmp_path / "train.pt", truncation_psi=0.7)
    assert G.name == "train" and G.truncation_psi == 0.7
    assert G.mapping.w_avg.abs().sum() > 0  # estimated from 4096 samples when the file has none


def _one_line_error(path, match):
    with pytest.raises(FileFormatError, match=match) as e:
        load_rosinality(path)
    assert "\n" not in str(e.value)


def test_rosinality_bad_files(tmp_path):
    sd = rosinality_state()
    torch.save({"state_dict": sd}, tmp_path / "a.pt")
    _one_line_error(tmp_path / "a.pt", "no 'g_ema'")
    bad = dict(sd)
    bad["convs.1.conv.weight"] = torch.randn(1, 8, 4, 3, 3)
    torch.save({"g_ema": bad}, tmp_path / "b.pt")
    _one_line_error(tmp_path / "b.pt", "shape mismatch")
    nan = dict(sd)
    nan["style.1.weight"] = torch.full((12, 12), float("nan"))
    torch.save({"g_ema": nan}, tmp_path / "c.pt")
    _one_line_error(tmp_path / "c.pt", "NaN")
    extra = dict(sd)
    extra["mystery.weight"] = torch.zeros(2)
    torch.save({"g_ema": extra}, tmp_path / "d.pt")
    _one_line_error(tmp_path / "d.pt", "unexpected key 'mystery.weight'")
    missing = {k: v for k, v in sd.items() if k != "conv1.activate.bias"}
    torch.save({"g_ema": missing}, tmp_path / "e.pt")
    _one_line_error(tmp_path / "e.pt", "missing")
    (tmp_path / "f.pt").write_bytes(b"not a checkpoint at all")
    _one_line_error(tmp_path / "f.pt", "refused to load")
    torch.save({"g_ema": sd, "opts": torch.optim.SGD}, tmp_path / "g.pt")  # needs code to unpickle
    _one_line_error(tmp_path / "g.pt", "refused to load")


# ----------------------------------------------------------------------------- the bundled model
def test_bundled_shapes_stylegan2_looks_like_the_data():
    from steerlab.data.shapes import make_shapes
    from steerlab.models import ZOO, load_model
    assert "shapes-stylegan2" in ZOO
    G = load_model("shapes-stylegan2")
    card = G.card
    assert isinstance(G, StyleGAN2Generator) and G.resolution == 32 and G.latent_spaces == ("z", "w", "w+")
    assert G.num_classes == 12
    assert card["licence"] and card["training_command"].startswith("python -m steerlab.training.shapes_stylegan2")
    assert card["latent_spaces"] == ["z", "w", "w+"] and card["training_seconds"] > 0
    data = make_shapes(480, resolution=32, seed=3)
    real, labels = data.images, data.labels
    with torch.no_grad():
        fake = G.synthesize(G.sample_z(480, generator=torch.Generator().manual_seed(0)), classes=labels)
        rand = make_sg2(resolution=32, channels=[16, 16, 8, 8]).synthesize(torch.randn(480, 12))

    def profile(x):  # mean colour of each image row: sky (blue) above ground (green/brown)
        return x.mean((0, 3))  # (3, 32)

    err_trained = (profile(fake) - profile(real)).abs().mean()
    err_random = (profile(rand) - profile(real)).abs().mean()
    assert err_trained < 0.05 and err_trained < err_random / 3, (err_trained, err_random)  # measured 0.019, 0.35
    sky, ground = fake[:, :, :6].mean((0, 2, 3)), fake[:, :, -6:].mean((0, 2, 3))
    assert sky[2] > sky[0] + 0.2 and ground[1] > ground[2]  # blue sky, green/brown ground

    def class_colours(x):  # each class's mean colour, minus the mean over classes
        m = torch.stack([x[labels == k].mean((0, 2, 3)) for k in range(12)])
        return (m - m.mean(0)).flatten()

    corr = torch.corrcoef(torch.stack([class_colours(fake), class_colours(real)]))[0, 1]
    assert corr > 0.4, corr  # the class conditioning carries each shape's colour (measured 0.67)


def test_training_entry_point_tiny(tmp_path):
    from steerlab.training.shapes_stylegan2 import train_shapes_stylegan2
    arch = dict(resolution=16, z_dim=8, w_dim=8, n_mlp=1, channels=[8, 8, 8])
    G = train_shapes_stylegan2(tmp_path / "m", steps=2, batch_size=4, n_images=16, arch=arch, progress=False)
    G2 = load_generator(tmp_path / "m.safetensors")
    assert G2.fingerprint == G.fingerprint and G2.card["training_seconds"] > 0
    assert G2.mapping.w_avg.abs().sum() > 0  # w_avg was tracked while training
