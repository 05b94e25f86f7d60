"""The notebooks in examples/ (jupytext percent-format .py files) run end to end on tiny settings."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
# what each one must leave behind (relative to the folder it runs in)
PRODUCES = {
    "01_steer_a_generated_face.py": ["runs/examples/01-face-zoom/direction.safetensors",
                                     "runs/examples/01-face-zoom-strip/strip.png",
                                     "runs/examples/01-face-zoom-evaluate/report.html"],
    "02_edit_a_real_photo.py": ["runs/examples/02-photo/invert/latent.safetensors",
                                "runs/examples/02-photo/side_by_side.png"],
    "03_find_and_compare_directions.py": ["runs/examples/03-discover-svd/overview.png",
                                          "runs/examples/03-discover-optimize/overview.png"],
}


def test_three_examples_are_plain_text_notebooks():
    assert [p.name for p in EXAMPLES] == sorted(PRODUCES)
    for path in EXAMPLES:
        text = path.read_text()
        assert "format_name: percent" in text.split("# ---", 2)[1], path.name  # the jupytext header
        assert text.count("# %% [markdown]") >= 2 and text.count("\n# %%\n") >= 3, path.name
        assert "STEERLAB_EXAMPLES_TINY" in text, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_on_tiny_settings(path, tmp_path):
    env = {**os.environ, "STEERLAB_EXAMPLES_TINY": "1", "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    for rel in PRODUCES[path.name]:
        assert (tmp_path / rel).is_file() and (tmp_path / rel).stat().st_size > 0, rel
