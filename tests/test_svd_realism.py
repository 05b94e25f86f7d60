"""`steerlab reproduce svd-realism` and the per-sample realism score it reads."""
from __future__ import annotations

import json

import pytest
import torch

from steerlab.metrics.precision import manifold_radii, realism_scores
from steerlab.reproduce.svd_realism import verdict


def test_realism_scores_on_known_sets():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 3, generator=g)
    assert torch.equal(realism_scores(real, real[:20]), torch.zeros(20, dtype=torch.float64))  # on a real point
    far = realism_scores(real, real[:20] + 50.0)
    assert (far > 1).all()                                                   # outside every k-NN ball
    # A point halfway to its nearest real neighbour's ball edge: score = distance / radius.
    rho = manifold_radii(real, k=3)
    x = real[:1] + torch.tensor([[0.5, 0.0, 0.0]]) * rho[0].float()
    assert realism_scores(real, x, radii=rho).item() <= 0.5 + 1e-6
    fresh = torch.randn(400, 3, generator=g)                                # same distribution: mostly inside
    assert (realism_scores(real, fresh) <= 1).double().mean() > 0.8
    with pytest.raises(ValueError, match="fake features must be"):
        realism_scores(real, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="k >= 1"):
        manifold_radii(real[:3], k=3)


def test_verdict_reads_the_interval():
    assert verdict({"low": 0.5, "high": 3.0}) == "holds"
    assert verdict({"low": -3.0, "high": -0.1}) == "contradicted"
    assert verdict({"low": -1.0, "high": 2.0}) == "undecided"


def test_svd_realism_smoke(tmp_path):
    from steerlab.jobs.reproduce import reproduce

    target = 0.15
    opts = ["methods=svd,hessian", "k=1", "fractions=0.5,1.0", "n_fid=40", "n_data=60", "n_calibrate=4",
            "n_lpips=12", "n_boot=10", "hessian_n_z=2", f"target={target}"]
    run = reproduce("svd-realism", tmp_path / "r", options=opts)
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["n_fid"] == 40 and m["dataset"] == "shapes" and "images of the dataset 'shapes'" in m["reference"]
    c = m["comparisons"]["svd-hessian"]
    svd, hes = m["methods"]["svd"], m["methods"]["hessian"]
    # the comparison reads the pooled sets of both methods (k directions x both signs x n_fid)
    assert c["fid_a"] == pytest.approx(svd["fid_pooled_at_T"]) and c["fid_b"] == pytest.approx(hes["fid_pooled_at_T"])
    assert c["n"] == [60, 80, 80] and c["verdict"] == verdict(c) and c["low"] <= c["high"]
    assert m["fid_real_floor"] < m["fid_unshifted"]                     # the data beats the generator
    for mm in (svd, hes):
        (d,) = mm["directions"]
        assert set(d["fid"]) == {"-1.00", "-0.50", "+0.50", "+1.00"}
        for key in ("-1.00", "+1.00"):
            p = d["per_sample"][key]
            # matched effect, checked per sample on other codes than the calibration's
            assert 0.3 * target < p["perceptual_change"]["median"] < 3 * target
            assert p["perceptual_change"]["n"] == 12 and p["realism_score"]["n"] == 40
            assert 0 <= p["precision"] <= 1
    assert hes["hessian_overlap"] is not None and 0 <= hes["hessian_overlap"] <= 1
    # how far each direction is from the SVD baseline's: the top singular direction itself is 1
    assert svd["directions"][0]["max_abs_cos_to_svd"] == pytest.approx(1.0, abs=1e-4)
    assert 0 <= hes["directions"][0]["max_abs_cos_to_svd"] < 0.99
    assert "svd" in run["summary"] and c["verdict"] in run["summary"]
    from PIL import Image
    assert Image.open(tmp_path / "r" / "strip_svd.png").height > Image.open(tmp_path / "r" / "strip_svd.png").width / 8
    assert (tmp_path / "r" / "fid_per_method.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="fractions must lie in"):
        reproduce("svd-realism", tmp_path / "bad", options=["fractions=0.5"])
    with pytest.raises(ValueError, match=">= 2 different weight methods"):
        reproduce("svd-realism", tmp_path / "bad", options=["methods=svd"])
