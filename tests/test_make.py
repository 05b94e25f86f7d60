"""`make test` gets the browser its UI tests need when it can, and says in one line how when it cannot."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_chromium_says_in_one_line_how_to_get_it_without_apt(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with no apt-get: the install cannot happen
    bin_dir.mkdir()
    (bin_dir / "id").symlink_to(shutil.which("id"))
    r = subprocess.run([shutil.which("make"), "-s", "-C", str(ROOT), "chromium", f"CHROMIUM={tmp_path}/none"],
                       capture_output=True, text=True, env={**os.environ, "PATH": str(bin_dir)}, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "SKIPPED" in lines[0] and "apt-get install chromium" in lines[0], lines


def test_make_test_gets_chromium_first():
    text = (ROOT / "Makefile").read_text()
    rule = next(line for line in text.splitlines() if line.startswith("test:"))
    assert "chromium" in rule.split(":", 1)[1]
    assert "apt-get install -y -qq chromium" in text and '"$$(id -u)" = 0' in text
