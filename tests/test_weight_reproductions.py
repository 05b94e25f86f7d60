"""Cherepkov et al. reproductions: per-sample effects of a weight shift, and the weight-methods,
latent-mimic and layer-depth experiments on tiny seeded models."""
import math

import pytest
import torch

from helpers import Blob
from steerlab.evaluation.weight_effects import change_spectrum, concentration, image_properties, shift_effects
from steerlab.models import StyleGAN2Generator, save_generator, wrap_generator

SG2 = dict(resolution=16, z_dim=12, w_dim=12, n_mlp=2, channels=[16, 8, 8])


class TintedBlob(torch.nn.Module):
    """The toy blob through a 1x1 colour mix initialised to the identity: shifting mix.weight[2, 2]
    scales the blue channel (at most 0.3, so never clipped) and nothing else."""

    def __init__(self):
        super().__init__()
        self.blob = Blob()
        self.mix = torch.nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.mix.weight.copy_(torch.eye(3)[:, :, None, None])

    def forward(self, z):
        return self.mix(self.blob(z))


@pytest.fixture
def tinted():
    return wrap_generator(TintedBlob(), z_dim=4, resolution=16, output_range=(0, 1), name="tinted")


def test_change_spectrum_separates_smooth_from_pixel_level_changes():
    x0 = torch.zeros(2, 3, 16, 16)
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2).float() * 2 - 1  # zero mean
    x1 = torch.stack([torch.full((3, 16, 16), 0.3), checker.expand(3, -1, -1)])
    high, mean = change_spectrum(x0, x1)
    assert high[0] == pytest.approx(0.0) and mean[0] == pytest.approx(0.0)        # a constant offset: DC only
    assert high[1] == pytest.approx(1.0) and mean[1] == pytest.approx(math.sqrt(0.5))  # Nyquist in x and y
    assert math.isnan(change_spectrum(x0[:1], x0[:1])[0].item())                   # no change: undefined


def test_image_properties_and_concentration_read_known_images():
    img = torch.zeros(1, 3, 8, 8)
    img[:, 0] = 1.0                                                                  # pure red
    p = image_properties(img, geometry=None)
    assert (p["r"].item(), p["g"].item(), p["chroma"].item()) == (1.0, 0.0, 1.0)
    assert p["luminance"].item() == pytest.approx(0.299)
    assert concentration(torch.ones(10, 10)) == pytest.approx(0.1)
    spot = torch.zeros(10, 10)
    spot[3, 4] = 5.0
    assert concentration(spot) == pytest.approx(1.0)


def test_shift_effects_reads_a_blue_gain_per_sample(tinted):
    xi = torch.zeros(3, 3, 1, 1)
    xi[2, 2] = 1.0                                                                    # + raises blue only
    z = torch.randn(12, 4, generator=torch.Generator().manual_seed(1))
    e = shift_effects(tinted, "module.mix.weight", xi, 0.5, z, geometry="saliency")
    props = e["properties"]
    assert props["b"]["span"]["median"] > 0.002 and props["b"]["agree"] == 1.0
    assert props["b"]["plus"]["increased"] == 1.0 and props["b"]["minus"]["decreased"] == 1.0
    assert abs(props["r"]["span"]["median"]) < 1e-6 and abs(props["g"]["span"]["median"]) < 1e-6
    assert abs(props["x"]["span"]["median"]) < 0.02                                   # the blob does not move
    assert len(e["stlpips"]["plus"]) == 12 and min(e["stlpips"]["plus"]) > 0
    assert e["high_freq"] < 0.3                                                       # a smooth blob, rescaled
    smaller = shift_effects(tinted, "module.mix.weight", xi, 0.1, z, geometry=None)
    assert smaller["stlpips_mean"] < e["stlpips_mean"]
    assert smaller["properties"]["b"]["span"]["median"] == pytest.approx(props["b"]["span"]["median"] / 5, rel=0.02)


def _tiny_sg2_file(tmp_path, seed=0):
    torch.manual_seed(seed)
    G = StyleGAN2Generator(**SG2, name="tiny-sg2").eval().requires_grad_(False)
    return save_generator(G, tmp_path / "sg2", card={"licence": "MIT", "dataset": "shapes"}), G


@pytest.mark.slow  # about a minute of CPU: calibration, ST-LPIPS and Adam fits on a tiny StyleGAN2
def test_reproduce_weight_methods_measures_every_method_alike(tmp_path):
    from steerlab.directions import Direction
    from steerlab.methods.paramspace.svd import svd_directions
    from steerlab.reproduce import get_reproduction

    path, G = _tiny_sg2_file(tmp_path)
    layer = "synthesis.b8.conv1.conv.weight"
    fn = get_reproduction("weight-methods")
    r = fn(tmp_path / "run", model=str(path), layer=layer, methods=("svd", "optimize"), k=2, limit=2.0,
           steps=2, batch_size=4, n_eval=6, fid_n=6, geometry="saliency", progress=False)
    m = r["metrics"]
    assert "dataset 'shapes'" in m["fid_reference"]
    for method in ("svd", "optimize"):
        rows = m["methods"][method]["directions"]
        assert len(rows) == 2 and all(row["limit"] == 2.0 for row in rows)
        for row in rows:
            e = row["effects"]
            assert len(e["stlpips"]["plus"]) == 6 and min(e["stlpips"]["plus"] + e["stlpips"]["minus"]) > 0
            assert e["properties"]["luminance"]["span"]["n"] == 6
            assert math.isfinite(row["fid_plus"]) and row["fid_plus"] > 0
    assert "held_out_accuracy" in m["methods"]["optimize"]["info"]
    top = svd_directions(G.shiftable_weights()[layer], 1)[0][0]
    saved = Direction.load(r["out"] / "directions" / "svd-k00.safetensors").tensors["xi"]
    assert abs(float((saved * top).sum())) == pytest.approx(1.0, abs=1e-5)         # the top singular pair
    assert (r["out"] / "strip_optimize.png").stat().st_size > 0 and (r["out"] / "report.html").exists()
    with pytest.raises(ValueError, match="methods must be some of"):
        fn(tmp_path / "bad", model=str(path), layer=layer, methods=("pca",), progress=False)


@pytest.mark.slow  # about a minute of CPU: calibration, ST-LPIPS and Adam fits on a tiny StyleGAN2
def test_reproduce_latent_mimic_fits_reachable_edits_and_scores_every_sample(tmp_path):
    from steerlab.reproduce import get_reproduction

    path, _ = _tiny_sg2_file(tmp_path)
    fn = get_reproduction("latent-mimic")
    r = fn(tmp_path / "run", model=str(path), rows="1-2", k_latent=1, k_weight=1, steps=12, n_fit=4, n_eval=4,
           progress=False)
    cases = {c["name"]: c for c in r["metrics"]["cases"]}
    assert len(cases) == 6                                   # sefa0 in W / W+, svd0 by W / W+, two controls
    for c in cases.values():
        s = c["scores"]
        assert len(s["l2"]["mimic"]) == 4 and min(s["l2"]["do_nothing"]) > 0
        assert s["l2"]["paired"]["n"] == 4
    for name, c in cases.items():
        if name.startswith("control"):                       # reachable by construction: the fit gets close
            assert c["scores"]["l2"]["ratio"] < 0.5, (name, c["scores"]["l2"]["ratio"])
    w_edit = cases["sefa0 in W"]["scores"]["stlpips"]
    assert 0.05 < w_edit["mean_do_nothing"] < 0.4           # calibrated to a 0.15 mean ST-LPIPS change
    assert (r["out"] / "mimic_examples.png").exists() and (r["out"] / "mimic_errors.png").exists()


def test_reproduce_latent_mimic_refuses_a_model_without_w(tmp_path, tiny_file):
    from steerlab.reproduce import get_reproduction

    with pytest.raises(ValueError, match="w and w\\+"):
        get_reproduction("latent-mimic")(tmp_path / "run", model=str(tiny_file), progress=False)


@pytest.mark.slow  # about a minute of CPU: calibration, ST-LPIPS and Adam fits on a tiny StyleGAN2
def test_reproduce_layer_depth_calibrates_and_measures_each_layer(tmp_path):
    from steerlab.reproduce import get_reproduction

    path, _ = _tiny_sg2_file(tmp_path)
    fn = get_reproduction("layer-depth")
    layers = ("synthesis.b4.conv1.conv.weight", "synthesis.b16.conv1.conv.weight")
    r = fn(tmp_path / "run", model=str(path), layers=layers, k=1, n_eval=6, target=0.05, geometry="saliency",
           progress=False)
    m = r["metrics"]
    assert [x["layer"] for x in m["layers"]] == list(layers) and [x["depth"] for x in m["layers"]] == [0, 1]
    for x in m["layers"]:
        e = x["directions"][0]["effects"]
        assert 0.02 < e["stlpips_mean"] < 0.12                # matched perceptual change (calibrated on other codes)
        assert 0 <= e["high_freq"] <= 1 and 0.1 <= e["locality"] <= 1
    assert set(m["trend"]) == {"geometry", "colour", "luminance", "texture"}
    assert (r["out"] / "strip_layers.png").exists() and (r["out"] / "effects_vs_depth.png").exists()
    with pytest.raises(ValueError, match="method must be svd or hessian"):
        fn(tmp_path / "bad", model=str(path), method="optimize", progress=False)
