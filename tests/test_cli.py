"""The CLI end to end on a tiny model, and its handling of bad input."""
import json
import subprocess
import sys

import pytest
import torch

from steerlab.cli import main


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_walk_then_apply_end_to_end(tmp_path, tiny_file, capsys):
    out = tmp_path / "run"
    code, text, err = run(["walk", "--model", str(tiny_file), "--edit", "zoom", "--steps", "4",
                           "--batch-size", "4", "--out", str(out)], capsys)
    assert code == 0, err
    for name in ("direction.safetensors", "direction.json", "strip.png", "loss.png", "l2_vs_alpha.png",
                 "metrics.json", "report.html"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["alphas"]) == len(m["walk_l2"]) == len(m["baseline_l2"]) == 9
    assert "report.html" in text
    code, text, err = run(["apply", str(out / "direction.safetensors"), "--model", str(tiny_file),
                           "--seeds", "0-2", "--alphas", "0.5,1,2", "--out", str(tmp_path / "ap")], capsys)
    assert code == 0, err
    assert (tmp_path / "ap" / "strip.png").is_file() and (tmp_path / "ap" / "strip.gif").is_file()
    assert "3 x 3 images" in text


def test_existing_run_folder_is_kept(tmp_path, tiny_file, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    code, _, err = run(["walk", "--model", str(tiny_file), "--edit", "zoom", "--steps", "1", "--out", str(out)], capsys)
    assert code == 2 and "--overwrite" in err
    assert (out / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("args, needle", [
    (["walk", "--model", "nope", "--edit", "zoom"], "unknown model"),
    (["walk", "--model", "TINY", "--edit", "explode"], "unknown edit"),
    (["walk", "--model", "TINY", "--edit", "zoom", "--loss", "l7"], "unknown loss"),
    (["walk", "--model", "TINY", "--edit", "zoom", "--space", "w"], "no latent space"),
    (["apply", "DIR", "--alphas", "9"], "outside the allowed range"),
    (["apply", "DIR", "--alphas", "nan"], "finite"),
    (["apply", "PICKLE"], "pickle"),
    (["apply", "TRUNC"], "not a valid safetensors"),
    (["apply", "DIR", "--model", "faces"], "learned for model"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, tiny_file, capsys, args, needle):
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.models import load_generator
    d = learn_linear_walk(load_generator(tiny_file), "zoom", steps=1, batch_size=2, progress=False)
    dpath = d.save(tmp_path / "d")
    torch.save({"w": torch.zeros(2)}, tmp_path / "p.safetensors")
    (tmp_path / "t.safetensors").write_bytes(dpath.read_bytes()[:100])
    subst = {"TINY": str(tiny_file), "DIR": str(dpath), "PICKLE": str(tmp_path / "p.safetensors"),
             "TRUNC": str(tmp_path / "t.safetensors")}
    args = [subst.get(a, a) for a in args]
    if args[0] == "apply" and "--model" not in args:
        args += ["--model", str(tiny_file)]
    out = tmp_path / "out"
    code, text, err = run(args + ["--out", str(out)], capsys)
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_models_and_edits_listings(capsys):
    code, text, _ = run(["models"], capsys)
    assert code == 0 and "faces" in text and "MIT" in text
    code, text, _ = run(["edits"], capsys)
    assert code == 0
    for name in ("zoom", "shift_x", "shift_y", "rotate2d", "rotate3d", "color", "brightness", "contrast"):
        assert name in text
    assert "log(alpha_t)" in text


def test_console_script_help_and_exit_code(tmp_path):
    r = subprocess.run([sys.executable, "-m", "steerlab.cli", "walk", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--edit" in r.stdout
    r = subprocess.run([sys.executable, "-m", "steerlab.cli", "walk", "--model", "nope", "--edit", "zoom",
                        "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "unknown model" in r.stderr


def test_readme_python_api_snippet(tmp_path, blob):
    """The README's API example on a toy model (same calls, smaller numbers)."""
    import steerlab
    from steerlab.methods.walks import learn_linear_walk
    d = learn_linear_walk(blob, "zoom", steps=3, batch_size=4, progress=False)
    d.save(tmp_path / "zoom")
    z = blob.sample_z(4, generator=torch.Generator().manual_seed(0))
    assert d.render(blob, z, 2.0).shape == (4, 3, 16, 16)
    run = steerlab.walk(blob, "color", steps=2, batch_size=2, out=tmp_path / "color", n_eval=4, progress=False)
    images = steerlab.apply(run["direction"], model=blob, seeds=[0, 1], alphas=[[0.3, 0, 0]])
    assert images.shape == (2, 1, 3, 16, 16)
