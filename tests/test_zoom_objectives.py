"""reproduce zoom-objectives: per-face width changes, the verdict rule, and a tiny run on `faces`."""
import math

import pytest
import torch
from PIL import Image

from steerlab.reproduce.zoom_objectives import DEFAULT, OBJECTIVES, verdict, width_changes


def test_width_changes_on_known_moves():
    base = torch.tensor([0.50, 0.40, 0.60, 0.50, float("nan"), 0.50, 0.30, 0.45])
    ratios = [1.20, 0.90, 1.50, 1.00, 2.00, float("nan"), 1.10, 0.80]
    moved = base * torch.tensor(ratios)
    r = width_changes(base, moved)
    paired = [1.20, 0.90, 1.50, 1.00, 1.10, 0.80]  # a NaN on either side drops the face
    assert r["n"] == 8 and r["n_paired"] == 6 and r["detected"] == pytest.approx(6 / 8)
    assert r["asked_way"] == pytest.approx(3 / 6)  # 1.2, 1.5, 1.1 grow; 1.0 stays; 0.9, 0.8 shrink
    assert r["decreased"] == pytest.approx(2 / 6)
    s = sorted(paired)
    assert r["median_ratio"] == pytest.approx((s[2] + s[3]) / 2)
    assert r["ratio_q25"] < r["median_ratio"] < r["ratio_q75"]
    assert s[0] <= r["ratio_q25"] <= s[2] and s[3] <= r["ratio_q75"] <= s[5]


def test_width_changes_without_pairs():
    nan = torch.full((4,), float("nan"))
    r = width_changes(nan, torch.ones(4))
    assert r["n_paired"] == 0 and r["median_ratio"] is None and r["ratio_q25"] is None


def _rows(grow: dict, fid_low: dict) -> dict:
    rows = {}
    for name, (g2, g4) in grow.items():
        rows[name] = {"per_zoom": [{"zoom": 2.0, "asked_way": g2}, {"zoom": 4.0, "asked_way": g4}]}
        if name in fid_low:
            rows[name]["fid_vs_default"] = {"2.0": {"low": fid_low[name][0]}, "4.0": {"low": fid_low[name][1]}}
    return rows


def test_verdict_needs_more_faces_at_every_zoom_and_no_worse_fid():
    grow = {"target": (1.0, 0.0), DEFAULT: (0.40, 0.40), "a": (0.60, 0.70), "b": (0.60, 0.35),
            "c": (0.80, 0.90), "d": (0.50, 0.50)}
    fid_low = {"a": (-3.0, -1.0), "b": (-5.0, -5.0), "c": (2.0, -1.0), "d": (0.0, -2.0)}
    v = verdict(_rows(grow, fid_low), (2.0, 4.0))
    # b grows fewer at x4; c is measurably worse in FID at x2; a and d pass; a grows most at x4
    assert v["better_than_default"] == ["a", "d"] and v["choice"] == "a"
    v = verdict(_rows({DEFAULT: (0.4, 0.4), "b": (0.6, 0.35)}, {"b": (-1.0, -1.0)}), (2.0, 4.0))
    assert v["better_than_default"] == [] and v["choice"] == DEFAULT


def test_bad_options_name_what_is_allowed(tmp_path):
    from steerlab.cli import main
    from steerlab.reproduce import get_reproduction
    fn = get_reproduction("zoom-objectives")
    with pytest.raises(ValueError, match="allowed: " + ", ".join(OBJECTIVES)):
        fn(tmp_path / "x", objectives=("l2", "nope"))
    with pytest.raises(ValueError, match=r"zooms must be in \(1, 4\]"):
        fn(tmp_path / "x", zooms=(0.5, 2.0))
    with pytest.raises(ValueError, match="fid_zooms"):
        fn(tmp_path / "x", zooms=(2.0,), fid_zooms=(4.0,))
    assert main(["reproduce", "zoom-objectives", "--out", str(tmp_path / "y"), "--set", "objectives=l1"]) == 2


def test_tiny_run_on_faces_measures_a_real_zoom(tmp_path):
    """Two objectives, 1 Adam step, 6 held-out faces: the target (a real zoom) grows the Haar face,
    a 1-step walk barely moves it, FIDs are finite, the strip has one row per objective and face."""
    from steerlab.reproduce import get_reproduction
    run = get_reproduction("zoom-objectives")(tmp_path / "zo", objectives=("edges",), steps=1, batch_size=2,
                                              n_eval=6, zooms=(2.0,), fid_zooms=(2.0,), strip_faces=1, n_boot=10,
                                              progress=False)
    m = run["metrics"]
    assert set(m["results"]) == {"target", "l2", "edges"}  # the default is always compared
    target = m["results"]["target"]["per_zoom"][0]
    assert target["asked_way"] >= 0.8 and target["median_ratio"] > 1.3  # x2 crop: the face box grows
    for o in ("l2", "edges"):
        row = m["results"][o]["per_zoom"][0]
        assert row["n"] == 6 and 0.9 < row["median_ratio"] < 1.1  # one step of lr 0.01 hardly moves a face
        assert math.isfinite(row["fid"]) and row["fid"] >= 0
    assert target["fid"] > m["fid_floor"]  # a blurry x2 crop is further from G(z) than G(z) itself
    ci = m["results"]["edges"]["fid_vs_default"]["2.0"]
    assert ci["low"] <= ci["difference"] <= ci["high"]
    assert m["verdict"]["choice"] in ("l2", "edges")
    strip = Image.open(run["out"] / "strips.png")
    assert strip.height > 3 * 64 * 2 and (run["out"] / "faces_growing.png").is_file()
    assert (run["out"] / "directions" / "edges.safetensors").is_file()
