"""`stable_hessian_directions`: the Hessian's batch of z grown until two disjoint batches agree."""
from __future__ import annotations

import pytest
import torch

from helpers import make_tiny
from steerlab.methods.paramspace.hessian import hessian_directions
from steerlab.methods.paramspace.stable import eigen_gaps, next_batch, stable_hessian_directions

COMMON = dict(distance="l2", tol=1e-4, progress=False)


def test_batch_grows_until_the_overlap_is_reached_and_the_result_is_that_batch():
    G, layer = make_tiny(width=2), "conv2.weight"                   # 128 parameters
    first = hessian_directions(G, layer, 3, n_z=2, overlap=True, **COMMON)[2]["overlap"]
    want = min(0.99, first + 0.05)                                  # above what 2 codes give
    vals, vecs, info = stable_hessian_directions(G, layer, 3, n_z=2, stable_overlap=want, max_n_z=64, stable_k=0,
                                                 **COMMON)
    hist = info["overlap_history"]
    assert hist[0]["n_z"] == 2 and len(hist) >= 2
    for a, b in zip(hist, hist[1:]):                                # each try the batch the 1/n law predicts
        assert b["n_z"] == next_batch(a["n_z"], a["overlap"], want, 64)
    assert hist[0]["overlap"] == pytest.approx(first)
    assert all(h["overlap"] < want for h in hist[:-1])             # it stopped at the first batch that agreed
    assert info["stable"] == (hist[-1]["overlap"] >= want) and info["n_z"] == hist[-1]["n_z"]
    assert info["stable"] or hist[-1]["n_z"] == 64
    # the directions are those of a plain solve at the last batch size
    again = hessian_directions(G, layer, 3, n_z=info["n_z"], **COMMON)
    assert torch.allclose(vals, again[0], rtol=1e-3)
    assert info["gaps"] == pytest.approx((vals[:-1] / vals[1:]).tolist(), rel=1e-3) and min(info["gaps"]) >= 1
    assert abs(float((vecs.flatten(1) @ again[1].flatten(1).T).det())) > 0.99


def test_the_cap_is_reported_when_the_overlap_is_not_reached():
    G, layer = make_tiny(width=2), "conv2.weight"
    info = stable_hessian_directions(G, layer, 3, n_z=2, stable_overlap=1.0, max_n_z=6, **COMMON)[2]
    assert [h["n_z"] for h in info["overlap_history"]] == [2, 6] and info["max_n_z"] == 6  # 8x, capped at 6
    assert info["stable"] == (info["overlap_history"][-1]["overlap"] >= 1.0)
    off = stable_hessian_directions(G, layer, 3, n_z=2, **COMMON)[2]  # stable_overlap 0: one batch, no history
    assert "overlap_history" not in off and off["n_z"] == 2


def test_only_the_leading_stable_k_directions_have_to_agree():
    G, layer = make_tiny(width=2), "conv2.weight"
    info = stable_hessian_directions(G, layer, 3, n_z=2, stable_k=1, **COMMON)[2]
    prefix = info["overlap_prefix"]
    assert len(prefix) == 3 and prefix[-1] == info["overlap"] and info["stable_k"] == 1
    assert info["stable_k_overlap"] == prefix[0]
    want = (prefix[0] + 1) / 2                                      # the top-1 block decides, not the top 3
    grown = stable_hessian_directions(G, layer, 3, n_z=2, stable_k=1, stable_overlap=want, max_n_z=16,
                                      **COMMON)[2]
    assert [h["overlap"] for h in grown["overlap_history"]][-1] == grown["overlap_prefix"][0]
    assert grown["stable_k"] == 1 and grown["stable"] == (grown["overlap_prefix"][0] >= want)
    assert stable_hessian_directions(G, layer, 2, n_z=2, stable_k=9, **COMMON)[2]["stable_k"] == 2  # at most k


def test_next_batch_follows_the_one_over_n_law_within_2x_to_8x():
    assert next_batch(32, 0.70, 0.9, 1024) == 128                  # needs 3x -> 4x
    assert next_batch(256, 0.659, 0.9, 1024) == 1024               # conv2 at 256 z: needs 3.4x -> 4x
    assert next_batch(512, 0.864, 0.9, 4096) == 1024               # conv2 at the paper's 512 z: 1.36x -> 2x
    assert next_batch(8, 0.003, 0.9, 1024) == 64                   # needs 10x: at most 8x per try
    assert next_batch(100, 0.5, 1.0, 300) == 300                   # an overlap of 1 is never predicted: 8x, capped
    assert next_batch(10, 1.0, 0.9, 100) == 20                     # already there: the smallest step
    for n in (2, 16, 100):                                          # 1 - o = c / n: one try reaches the target
        for c in (0.15, 0.5, 1.0, 2.0):                             # ... unless that needs more than 8x
            o = 1 - c / n
            m = next_batch(n, o, 0.9, 10 ** 6)
            assert 2 * n <= m <= 8 * n and (1 - c / m >= 0.9 or m == 8 * n)


def test_eigen_gaps():
    assert eigen_gaps(torch.tensor([4.0, 2.0, 1.9, 0.0])) == [2.0, pytest.approx(1.0526, abs=1e-4), float("inf")]


def test_bad_stable_overlap_is_one_line():
    G = make_tiny(width=2)
    with pytest.raises(ValueError, match=r"stable_overlap must be in \[0, 1\]"):
        stable_hessian_directions(G, "conv2.weight", 2, stable_overlap=1.5, **COMMON)
    with pytest.raises(ValueError, match="cannot run with overlap off"):
        stable_hessian_directions(G, "conv2.weight", 2, stable_overlap=0.9, overlap=False, **COMMON)
    with pytest.raises(ValueError, match="stable_k must be >= 0"):
        stable_hessian_directions(G, "conv2.weight", 2, stable_k=-1, **COMMON)


@pytest.mark.slow
def test_cli_discover_grows_the_batch_by_default_and_prints_the_batch_it_measured(tmp_path, tiny_file, capsys):
    import json

    from steerlab.cli import main
    args = ["discover", "--model", str(tiny_file), "--method", "hessian", "--layer", "conv3.weight", "--k", "3",
            "--n-z", "1", "--shift", "1", "--analyze", "", "--stable-k", "2"]
    assert main([*args, "--max-n-z", "2", "--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    hist = m["hessian_overlap_history"]                             # the default asks for 0.9 on the top 2
    assert hist[0]["n_z"] == 1 and m["hessian_n_z"] == hist[-1]["n_z"] <= 2
    assert m["hessian_stable"] == (hist[-1]["overlap"] >= 0.9) and len(hist) == 1 + (hist[0]["overlap"] < 0.9)
    assert hist[-1]["overlap"] == m["hessian_overlap_prefix"][1] and m["hessian_stable_k"] == 2
    out = capsys.readouterr().out
    assert (f"two disjoint batches of {m['hessian_n_z']} z: top-2 {m['hessian_overlap_prefix'][1]:.3f}, "
            f"top-3 {m['hessian_overlap']:.3f}") in out
    assert ("not reached by --max-n-z 2" in out) == (not m["hessian_stable"])
    assert main([*args, "--no-overlap", "--out", str(tmp_path / "b")]) == 0  # one solve, nothing to grow on
    assert "hessian_overlap" not in json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert main([*args, "--no-overlap", "--stable-overlap", "0.5", "--out", str(tmp_path / "c")]) == 2
    assert "cannot run with overlap off" in capsys.readouterr().err and not (tmp_path / "c").exists()
