"""Steerability: statistics, FID on shapes, object colour, evaluate, train, reproduce bias."""
import json

import numpy as np
import pytest
import scipy.stats
import torch

from helpers import make_tiny
from steerlab.cli import main
from steerlab.data.shapes import make_shapes
from steerlab.directions import Direction, plain_alpha
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import attribute_of, steerability
from steerlab.metrics.stats import intersection, pearson, ttest


# --------------------------------------------------------------------------- stats vs scipy
def test_pearson_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = 0.5 * x + rng.normal(size=40)
    ours, ref = pearson(x, y), scipy.stats.pearsonr(x, y)
    assert ours["r"] == pytest.approx(ref.statistic, abs=1e-12)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours["slope"] == pytest.approx(scipy.stats.linregress(x, y).slope, rel=1e-9)


@pytest.mark.parametrize("equal_var", [True, False])
def test_ttest_matches_scipy(equal_var):
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 30), rng.normal(0.7, 2, 45)
    ours, ref = ttest(a, b, equal_var=equal_var), scipy.stats.ttest_ind(a, b, equal_var=equal_var)
    assert ours["t"] == pytest.approx(ref.statistic, rel=1e-10)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-9)


def test_intersection_known_values():
    a = np.repeat([0.0, 1.0], 50)
    assert intersection(a, a) == pytest.approx(1.0)
    assert intersection(np.zeros(10), np.ones(10)) == pytest.approx(0.0)
    # half of b's mass sits where a is
    assert intersection(np.zeros(20), np.r_[np.zeros(10), np.ones(10)], bins=2) == pytest.approx(0.5)


@pytest.mark.parametrize("call", [lambda: pearson([1, 2], [1, 2]), lambda: pearson([1, 2, 3], [1, 2]),
                                  lambda: pearson([1, 1, 1], [1, 2, 3]), lambda: ttest([1.0, np.nan], [1, 2]),
                                  lambda: intersection([], [1.0])])
def test_stats_bad_input(call):
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------- measures and FID
def test_object_colour_accuracy_on_known_factors():
    from steerlab.attributes import measure_object_colour
    d = make_shapes(120, seed=11)
    m = measure_object_colour(d.images)
    assert float(m["found"].mean()) == 1.0
    err = (m["luminance"] - d.factors["luminance"]).abs()
    assert float(err.mean()) < 0.015          # measured: 0.005 on 500 images
    rgb_err = (torch.stack([m["r"], m["g"], m["b"]], 1) - d.factors["color"]).abs().mean()
    assert float(rgb_err) < 0.02


def test_shapes_classifier_fid_self_zero_and_shift_larger():
    from steerlab.metrics import shapes_features  # noqa: F401
    from steerlab.metrics.fid import fid_kid
    a, b = make_shapes(200, seed=21).images, make_shapes(200, seed=22).images
    shifted = get_edit("shift_x")(b, 0.2)[0]
    self_fid = fid_kid(a, a, features="shapes-classifier", kid_subset_size=100)["fid"]
    same = fid_kid(a, b, features="shapes-classifier", kid_subset_size=100)
    moved = fid_kid(a, shifted, features="shapes-classifier", kid_subset_size=100)
    assert abs(self_fid) < 1e-2
    assert same["feature_network"] == "shapes-classifier"
    assert moved["fid"] > 3 * same["fid"] and moved["kid_mean"] > same["kid_mean"]


def test_shapes_classifier_accuracy():
    from steerlab.metrics.shapes_features import load_shapes_classifier
    net = load_shapes_classifier()
    d = make_shapes(300, seed=31)
    with torch.no_grad():
        logits, _ = net(d.images)
    assert float((logits.argmax(1) == d.labels).float().mean()) > 0.95


# --------------------------------------------------------------------------- evaluate
def _blob_shift(G):
    """A hand-made linear direction on the blob model: z0 moves the blob right by 0.12 per unit."""
    w = torch.zeros(1, G.z_dim)
    w[0, 0] = 1.0
    return Direction(kind="linear", space="z", tensors={"w": w}, model=G.name, fingerprint=G.fingerprint,
                     alpha=plain_alpha(2.0), edit=None)


def test_steerability_reads_a_known_shift(blob):
    d = _blob_shift(blob)
    r = steerability(blob, d, n=10, n_alphas=5, measure="saliency", key="x", fid=False, progress=False)
    means = [s["mean"] for s in r["attribute"]["x"]]
    assert all(b > a for a, b in zip(means, means[1:]))           # the blob moves right with alpha
    assert means[-1] - means[0] > 0.2                              # 0.12 * 4 = 0.48 of the width in truth
    assert r["intersection_model"][2] == pytest.approx(1.0)        # alpha = 0 is G(z) itself
    assert r["intersection_model"][0] < 0.5 and r["intersection_model"][-1] < 0.5
    assert len(r["perceptual_steps"]) == 4 and min(r["perceptual_steps"]) > 0


def test_evaluate_run_folder_on_tiny_conditional(tmp_path):
    from steerlab.jobs.evaluate import evaluate
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.metrics.fid import FEATURE_NETWORKS, register_feature_network

    class Cheap(torch.nn.Module):  # a fast feature network so the test stays quick
        num_features = 12

        def forward(self, x):
            return torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)

    if "test-cheap" not in FEATURE_NETWORKS:
        register_feature_network("test-cheap", lambda device: Cheap())
    G = make_tiny(num_classes=3)
    d = learn_linear_walk(G, "brightness", steps=20, progress=False)
    run = evaluate(d, model=G, out=tmp_path / "ev", n=9, n_alphas=3, fid_features="test-cheap", progress=False)
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["feature_network"] == "test-cheap" and len(m["fid"]) == 3
    assert m["measure"] == "colour" and m["primary"] == "luminance"
    assert set(m["per_class"]) == {"0", "1", "2"}
    lum = [s["mean"] for s in m["attribute"]["luminance"]]
    assert lum[-1] > lum[0]                                        # brightness walk brightens
    for png in ("strip.png", "attribute_hist.png", "fid.png", "perceptual_steps.png", "per_class_box.png"):
        assert (tmp_path / "ev" / png).stat().st_size > 1000
    assert "test-cheap" in (tmp_path / "ev" / "report.html").read_text()
    assert run["metrics"]["summary"]["monotonic_increasing"] == (np.diff(lum) > 0).all()


def test_evaluate_reports_an_attribute_found_in_no_image(tmp_path, tiny, capsys):
    """A face detector on 16 px noise finds nothing at any alpha: the report says so, no crash."""
    from steerlab.cli import main
    from steerlab.methods.walks import learn_linear_walk
    d = learn_linear_walk(tiny, "zoom", steps=2, progress=False)
    d.save(tmp_path / "d")
    from steerlab.models import save_generator
    save_generator(tiny, tmp_path / "g")
    code = main(["evaluate", str(tmp_path / "d.safetensors"), "--model", str(tmp_path / "g.safetensors"),
                 "--measure", "face_box", "--n", "6", "--n-alphas", "3", "--no-fid", "--out", str(tmp_path / "ev")])
    assert code == 0 and "not found in any image" in capsys.readouterr().out
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert all(s["found_rate"] == 0 for s in m["attribute"][m["primary"]]) and m["summary"]["attribute_start"] is None
    assert "not found in any image" in (tmp_path / "ev" / "report.html").read_text()


def test_attribute_of_defaults_and_bad_input(tiny):
    d = Direction(kind="linear", space="z", tensors={"w": torch.zeros(1, 8)}, model="tiny",
                  fingerprint=tiny.fingerprint, alpha=plain_alpha(1.0), edit="zoom")
    assert attribute_of(tiny, d) == ("box", ("area",))
    assert attribute_of(tiny, d, "face_box") == ("face_box", ("area",))
    d.edit = None
    assert attribute_of(tiny, d)[0] == "saliency"
    with pytest.raises(ValueError):
        attribute_of(tiny, d, "nope")
    with pytest.raises(ValueError):
        attribute_of(tiny, d, "saliency", key="luminance")
    with pytest.raises(ValueError):
        steerability(tiny, d, n=1, fid=False)


def test_cli_evaluate_bad_input(tmp_path, capsys):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a file")
    assert main(["evaluate", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- train, bias
def test_train_dataset_gan_writes_zoo_file_and_resumes(tmp_path):
    from steerlab.models import load_model
    from steerlab.training.dataset_gan import train_dataset_gan
    G = train_dataset_gan("shapes", tmp_path / "m", n_images=64, resolution=16, steps=3, batch_size=8,
                          width=8, z_dim=8, fid_images=0, progress=False)
    ck = json.loads((tmp_path / ".checkpoints" / "m.json").read_text())
    assert ck["step"] == 3
    before = (tmp_path / "m.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite"):  # a finished model is kept
        train_dataset_gan("shapes", tmp_path / "m", n_images=64, resolution=16, steps=5, batch_size=8,
                          width=8, z_dim=8, fid_images=0, progress=False)
    assert (tmp_path / "m.safetensors").read_bytes() == before
    train_dataset_gan("shapes", tmp_path / "m", n_images=64, resolution=16, steps=5, batch_size=8,
                      width=8, z_dim=8, fid_images=0, progress=False, overwrite=True)
    ck = json.loads((tmp_path / ".checkpoints" / "m.json").read_text())
    assert ck["step"] == 5 and len(ck["history"]["d_loss"]) == 5   # continued, not restarted
    G2 = load_model(tmp_path / "m.safetensors")
    assert G2.num_classes == 12 and G2.card["dataset"] == "shapes"
    assert "steerlab train shapes" in G2.card["command"]
    assert G.fingerprint != G2.fingerprint                          # 5 steps, not 3
    with pytest.raises(ValueError):
        train_dataset_gan("nope", tmp_path / "x", progress=False)


def test_choose_alpha_star_and_class_stats():
    from steerlab.reproduce.bias import choose_alpha_star, class_sigma
    alphas = [-0.5, -0.25, 0.0, 0.25, 0.5]
    assert choose_alpha_star(alphas, 0.0, [30, 10, 5, 9, 12], threshold=15) == (-0.25, 0.25)
    assert choose_alpha_star(alphas, 0.0, [14, 10, 5, 9, 12], threshold=15) == (-0.5, 0.5)
    assert choose_alpha_star(alphas, 0.0, [99, 99, 5, 99, 99], threshold=15) == (-0.25, 0.25)
    v = torch.tensor([0.0, 2.0, 1.0, 1.0, float("nan")])
    s = class_sigma(v, torch.tensor([0, 0, 1, 1, 1]), 2)
    assert s[0] == pytest.approx(np.std([0, 2], ddof=1)) and s[1] == 0.0


def test_reproduce_bias_bad_input(tmp_path):
    from steerlab.reproduce.bias import reproduce_bias
    with pytest.raises(ValueError):
        reproduce_bias(tmp_path / "b", attributes=("nope",), progress=False)
    with pytest.raises(ValueError):   # unconditional model without a dataset
        reproduce_bias(tmp_path / "b", model="faces", progress=False)
    assert main(["reproduce", "bias", "--set", "nope=1", "--out", str(tmp_path / "c")]) == 2
