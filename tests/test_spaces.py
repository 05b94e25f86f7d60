"""Comparing one walk across latent spaces (Jahanian et al. Sec. 4.3): measures, run folder, CLI."""
import json

import pytest
import torch

from steerlab.cli import main
from steerlab.methods.walks.spaces import colour_gain, compare_spaces, edge_distance, match_colour
from steerlab.models import save_generator
from test_stylegan2 import make_sg2


def test_measures_on_known_images():
    g = torch.Generator().manual_seed(0)
    src = 0.2 + 0.5 * torch.rand(4, 3, 16, 16, generator=g)
    offset = torch.tensor([0.2, -0.1, 0.05])[None, :, None, None]
    target = (src + offset).clamp(0, 1)  # no clamping happens: values stay in [0.1, 0.95]
    assert edge_distance(target, src).max() < 1e-4  # a pure colour offset keeps every edge
    assert torch.allclose(colour_gain(target, src, target), torch.ones(4))
    assert colour_gain(src, src, target).abs().max() < 1e-6
    moved = torch.roll(src, 3, dims=3)
    assert edge_distance(moved, src).min() > 0.1  # moved structure is seen
    assert torch.allclose(match_colour(target, src), src, atol=1e-4)


def test_compare_spaces_tiny():
    G = make_sg2()
    dirs, m = compare_spaces(G, "color", ("z", "w", "w+"), steps=3, batch_size=4, n_eval=4,
                             perceptual=False, progress=False)
    assert [d.space for d in dirs.values()] == ["z", "w", "w+"]
    for s in ("z", "w", "w+"):
        assert len(m[s]["alphas"]) == 12  # 5 per channel minus the identity, 3 channels
        assert m[s]["edge_distance_mean"] > 0 and m[s]["target_edge_distance_mean"] >= 0
        curve = m[s]["matched_curve"]
        assert len(curve["colour_gain"]) == len(curve["scale"]) == 7
        # the common gain is one every space reaches, and the interpolated distance lies on the curve
        assert m[s]["matched_colour_gain"] == m["z"]["matched_colour_gain"] <= max(curve["colour_gain"]) + 1e-9
        assert min(curve["edge_distance"]) - 1e-9 <= m[s]["matched_edge_distance"] <= max(curve["edge_distance"]) + 1e-9
    with pytest.raises(ValueError, match="photometric"):
        compare_spaces(G, "zoom")


def test_cli_compare_spaces(tmp_path, capsys, tiny_file):
    path = save_generator(make_sg2(), tmp_path / "sg2")
    out = tmp_path / "run"
    assert main(["compare-spaces", "--model", str(path), "--spaces", "z,w", "--steps", "2",
                 "--batch-size", "2", "--n-eval", "2", "--out", str(out)]) == 0
    assert "colour gain" in capsys.readouterr().out
    for f in ("strip.png", "structure.png", "matched.png", "metrics.json", "report.html", "direction-z.safetensors",
              "direction-w.safetensors"):
        assert (out / f).is_file(), f
    meta = json.loads((out / "direction-w.json").read_text())
    assert meta["space"] == "w"
    assert "linear direction in w " in (out / "report.html").read_text()
    # a DCGAN has no w: one line, exit 2, nothing written
    assert main(["compare-spaces", "--model", str(tiny_file), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no latent space 'w'" in err and err.count("\n") == 1 and not (tmp_path / "x").exists()
