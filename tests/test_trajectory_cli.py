"""`steerlab invert` on a real photo, `apply --latent`, `trajectory` and `reproduce beta-vae`."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from steerlab.cli import main
from steerlab.core.images import load_image
from steerlab.directions import Direction, plain_alpha
from steerlab.models import load_generator, load_model
from steerlab.models.latents import load_latent, save_latent


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def faces():
    try:
        return load_model("faces")
    except FileNotFoundError as e:
        pytest.skip(str(e))


@pytest.fixture
def astronaut_face(tmp_path):
    """The face of scikit-image's astronaut photo (Eileen Collins, NASA, public domain)."""
    from skimage.data import astronaut
    path = tmp_path / "astronaut_face.png"
    Image.fromarray(astronaut()[30:210, 160:340]).save(path)
    return path


def test_invert_a_real_face_then_edit_it(tmp_path, capsys, faces, astronaut_face):
    out = tmp_path / "inv"
    code, text, err = run(["invert", astronaut_face, "--model", "faces", "--steps", 120, "--restarts", 2,
                           "--out", out], capsys)
    assert code == 0, err
    for name in ("latent.safetensors", "latent.json", "reconstruction.png", "loss.png", "metrics.json"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    z, classes, head = load_latent(out / "latent.safetensors", faces)
    assert z.shape == (1, 100) and z.norm() <= 10 + 1e-4 and head["loss"] == "blurred"
    target = load_image(astronaut_face, 64)
    assert target.shape == (1, 3, 64, 64)
    with torch.no_grad():
        recon = faces.synthesize(z)
        random = faces.synthesize(faces.sample_z(16, generator=torch.Generator().manual_seed(0)))
    mse = ((recon - target) ** 2).mean().item()
    assert mse == pytest.approx(m["mse"][0], rel=1e-3)
    # the inverted latent explains the photo far better than typical samples of the model
    assert mse < 0.5 * ((random - target) ** 2).flatten(1).mean(1).median().item()
    # edit it with any direction: here a random linear one
    w = torch.randn(1, 100, generator=torch.Generator().manual_seed(1))
    d = Direction(kind="linear", space="z", tensors={"w": w}, model="faces", fingerprint=faces.fingerprint,
                  alpha=plain_alpha(2.0))
    dpath = d.save(tmp_path / "rand")
    code, text, err = run(["apply", dpath, "--latent", out / "latent.safetensors", "--alphas=-1,0,1",
                           "--out", tmp_path / "edited"], capsys)
    assert code == 0, err
    assert "1 x 3 images" in text and (tmp_path / "edited" / "strip.png").is_file()
    from steerlab.jobs.apply import apply
    images = apply(dpath, latent=z, alphas=[0.0, 1.0])
    assert torch.allclose(images[0, 0], recon[0], atol=1e-5)  # alpha 0 is the reconstruction itself
    assert not torch.allclose(images[0, 1], recon[0], atol=1e-2)


def test_invert_bad_input_is_one_line_exit_2(tmp_path, capsys, tiny_file):
    (tmp_path / "junk.png").write_text("this is not an image")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "tiny.png")
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(tmp_path / "ok.png")
    cases = [(["invert", tmp_path / "junk.png"], "not a readable image"),
             (["invert", tmp_path / "tiny.png"], "at least 8 px"),
             (["invert", tmp_path / "missing.png"], "no such image"),
             (["invert", tmp_path / "ok.png", "--loss", "l7"], "unknown loss"),
             (["invert", tmp_path / "ok.png", "--sigma", "nan"], "sigma")]
    for args, needle in cases:
        out = tmp_path / "out"
        code, _, err = run(args + ["--model", tiny_file, "--steps", 2, "--out", out], capsys)
        assert code == 2 and needle in err and err.count("\n") == 1, (args, err)
        assert not out.exists()
    # a non-square image of another size is centre-cropped and resized
    code, _, err = run(["invert", tmp_path / "ok.png", "--model", tiny_file, "--steps", 2, "--restarts", 1,
                        "--out", tmp_path / "ok"], capsys)
    assert code == 0, err


def test_latent_files_refuse_other_models_and_nan(tmp_path, capsys, tiny_file):
    G = load_generator(tiny_file)
    bad = save_latent(tmp_path / "nan", torch.full((1, 8), float("nan")), G)
    with pytest.raises(ValueError, match="NaN"):
        load_latent(bad, G)
    from helpers import make_tiny
    other = make_tiny(seed=3)
    good = save_latent(tmp_path / "z", torch.zeros(2, 8), other)
    with pytest.raises(ValueError, match="found for model"):
        load_latent(good, G)
    d = Direction(kind="linear", space="z", tensors={"w": torch.ones(1, 8)}, model="tiny",
                  fingerprint=G.fingerprint, alpha=plain_alpha(1.0))
    dpath = d.save(tmp_path / "d")
    code, _, err = run(["apply", dpath, "--model", tiny_file, "--latent", good, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "found for model" in err
    code, _, err = run(["apply", dpath, "--model", tiny_file, "--latent", bad, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "NaN" in err


def test_trajectory_command_writes_a_usable_direction(tmp_path, capsys, tiny_file):
    out = tmp_path / "tj"
    code, text, err = run(["trajectory", "--model", tiny_file, "--edit", "shift_x", "--trajectories", 3,
                           "--n-steps", 2, "--steps-per-target", 3, "--measure", "saliency:x", "--n-eval", 4,
                           "--out", out], capsys)
    assert code == 0, err
    for name in ("direction.safetensors", "trajectories.safetensors", "strip.png", "sweep.png",
                 "metrics.json", "report.html"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["rows"] == 12 and len(m["sweep"]["s"]) == 13 and m["norm_per_part"] == [pytest.approx(1.0)]
    d = Direction.load(out / "direction.safetensors")
    assert d.kind == "trajectory" and "knots_y" in d.tensors
    lo, hi = d.alpha.alpha_range
    code, text, err = run(["apply", out / "direction.safetensors", "--model", tiny_file, "--seeds", "0,1",
                           f"--alphas={lo},{hi}", "--out", tmp_path / "ap"], capsys)
    assert code == 0 and "2 x 2 images" in text
    code, _, err = run(["trajectory", "--model", tiny_file, "--edit", "shift_x", "--measure", "pixels:hue",
                        "--out", tmp_path / "bad"], capsys)
    assert code == 2 and "no key" in err


@pytest.mark.slow
def test_reproduce_beta_vae_bundled_seeds(tmp_path):
    """Two of the bundled training seeds per beta: the std is averaged over the seeds."""
    from steerlab.reproduce.beta_vae import reproduce_beta_vae
    m = reproduce_beta_vae(tmp_path / "bv", betas=(5, 20), seeds=(0, 1), pretrained=True, n_trajectories=4,
                           n_steps=2, steps_per_target=5, n_eval=8, progress=False)["metrics"]
    for beta in ("5", "20"):
        per_seed = m["std_per_beta_per_seed"][beta]
        assert set(per_seed) == {"0", "1"} and per_seed["0"] != per_seed["1"]  # two different models
        assert all(0 < v < 0.5 for v in per_seed.values())
        assert m["std_per_beta"][beta] == pytest.approx((per_seed["0"] + per_seed["1"]) / 2)
        assert m["per_beta"][beta]["1"]["training"]["seed"] == 1
    assert (tmp_path / "bv" / "direction-b20-s1.safetensors").is_file()
    # the trend over the 4 models, checked against a rank correlation computed here
    import scipy.stats
    betas_, stds = zip(*[(float(b), v) for b, runs in m["std_per_beta_per_seed"].items() for v in runs.values()])
    want = scipy.stats.spearmanr(betas_, stds, alternative="less")
    assert m["trend"]["models"] == 4
    assert m["trend"]["spearman_beta_std"] == pytest.approx(want.statistic)
    assert m["trend"]["p_one_sided"] == pytest.approx(want.pvalue)


def test_reproduce_beta_vae_smoke(tmp_path, capsys):
    from steerlab.reproduce.beta_vae import reproduce_beta_vae
    run_ = reproduce_beta_vae(tmp_path / "bv", betas=(1, 5), seeds=(0, 2), train_steps=3, batch_size=8, n_train=32,
                              n_trajectories=2, n_steps=2, steps_per_target=2, n_eval=4, progress=False)
    m = json.loads((tmp_path / "bv" / "metrics.json").read_text())
    assert set(m["std_per_beta"]) == {"1", "5"} and m == json.loads(json.dumps(run_["metrics"]))
    assert set(m["std_per_beta_per_seed"]["5"]) == {"0", "2"}
    assert m["per_beta"]["5"]["2"]["training"]["seed"] == 2
    for name in ("fig5.png", "strips.png", "training.png", "report.html", "direction-b1.safetensors",
                 "direction-b5-s2.safetensors", "models/dsprites-vae-b5.safetensors",
                 "models/dsprites-vae-b5-s2.safetensors"):
        assert (tmp_path / "bv" / name).is_file(), name
    code, _, err = run(["reproduce", "beta-vea", "--out", tmp_path / "x"], capsys)
    assert code == 2 and "unknown experiment" in err
    code, _, err = run(["reproduce", "beta-vae", "--betas", "1,x", "--out", tmp_path / "x"], capsys)
    assert code == 2 and "--betas" in err
    code, _, err = run(["reproduce", "beta-vae", "--seeds", "0,0", "--out", tmp_path / "x"], capsys)
    assert code == 2 and "seeds" in err and not (tmp_path / "x").exists()
    code, _, err = run(["reproduce", "beta-vae", "--pretrained", "--seeds", "7", "--out", tmp_path / "x"], capsys)
    assert code == 2 and "unknown model 'dsprites-vae-b1-s7'" in err and not (tmp_path / "x").exists()
