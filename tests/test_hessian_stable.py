"""`stable_hessian_directions`: the Hessian's batch of z grown until two disjoint batches agree."""
from __future__ import annotations

import pytest
import torch

from helpers import make_tiny
from steerlab.methods.paramspace.hessian import hessian_directions
from steerlab.methods.paramspace.stable import eigen_gaps, stable_hessian_directions

COMMON = dict(distance="l2", tol=1e-4, progress=False)


def test_batch_doubles_until_the_overlap_is_reached_and_the_result_is_that_batch():
    G, layer = make_tiny(width=2), "conv2.weight"                   # 128 parameters
    first = hessian_directions(G, layer, 3, n_z=2, overlap=True, **COMMON)[2]["overlap"]
    want = min(0.99, first + 0.05)                                  # above what 2 codes give
    vals, vecs, info = stable_hessian_directions(G, layer, 3, n_z=2, stable_overlap=want, max_n_z=16, **COMMON)
    hist = info["overlap_history"]
    assert [h["n_z"] for h in hist] == [2 * 2 ** i for i in range(len(hist))] and len(hist) >= 2
    assert hist[0]["overlap"] == pytest.approx(first)
    assert all(h["overlap"] < want for h in hist[:-1])             # it stopped at the first batch that agreed
    assert info["stable"] == (hist[-1]["overlap"] >= want) and info["n_z"] == hist[-1]["n_z"]
    assert info["stable"] or hist[-1]["n_z"] == 16
    # the directions are those of a plain solve at the last batch size
    again = hessian_directions(G, layer, 3, n_z=info["n_z"], **COMMON)
    assert torch.allclose(vals, again[0], rtol=1e-3)
    assert info["gaps"] == pytest.approx((vals[:-1] / vals[1:]).tolist(), rel=1e-3) and min(info["gaps"]) >= 1
    assert abs(float((vecs.flatten(1) @ again[1].flatten(1).T).det())) > 0.99


def test_the_cap_is_reported_when_the_overlap_is_not_reached():
    G, layer = make_tiny(width=2), "conv2.weight"
    info = stable_hessian_directions(G, layer, 3, n_z=2, stable_overlap=1.0, max_n_z=6, **COMMON)[2]
    assert [h["n_z"] for h in info["overlap_history"]] == [2, 4, 6] and info["max_n_z"] == 6
    assert info["stable"] == (info["overlap"] >= 1.0)
    off = stable_hessian_directions(G, layer, 3, n_z=2, **COMMON)[2]  # default: one batch, no history
    assert "overlap_history" not in off and off["n_z"] == 2


def test_eigen_gaps():
    assert eigen_gaps(torch.tensor([4.0, 2.0, 1.9, 0.0])) == [2.0, pytest.approx(1.0526, abs=1e-4), float("inf")]


def test_bad_stable_overlap_is_one_line():
    G = make_tiny(width=2)
    with pytest.raises(ValueError, match=r"stable_overlap must be in \[0, 1\]"):
        stable_hessian_directions(G, "conv2.weight", 2, stable_overlap=1.5, **COMMON)
    with pytest.raises(ValueError, match="cannot run with overlap off"):
        stable_hessian_directions(G, "conv2.weight", 2, stable_overlap=0.9, overlap=False, **COMMON)


@pytest.mark.slow
def test_cli_discover_grows_the_batch_and_prints_the_batch_it_measured(tmp_path, tiny_file, capsys):
    import json

    from steerlab.cli import main
    args = ["discover", "--model", str(tiny_file), "--method", "hessian", "--layer", "conv3.weight", "--k", "2",
            "--n-z", "1", "--shift", "1", "--analyze", "", "--stable-overlap", "1", "--max-n-z", "2"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert [h["n_z"] for h in m["hessian_overlap_history"]] == [1, 2] and m["hessian_n_z"] == 2
    out = capsys.readouterr().out
    assert f"two disjoint batches of 2 z: {m['hessian_overlap']:.3f}" in out
    assert ("not reached by --max-n-z 2" in out) == (not m["hessian_stable"])
    assert main([*args, "--no-overlap", "--out", str(tmp_path / "b")]) == 2
    assert "cannot run with overlap off" in capsys.readouterr().err
