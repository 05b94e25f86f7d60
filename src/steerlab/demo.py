"""`make demo`: learn walks on the bundled real model and write one report linking them."""
from __future__ import annotations

import time
from pathlib import Path

from .api import walk
from .report import html

DEMO_WALKS = [("faces", "zoom"), ("faces", "color")]


def run_demo(out: str | Path = "runs/demo", steps: int = 400) -> Path:
    """Learn each demo walk into ``out/<model>-<edit>/`` and write ``out/index.html``."""
    out = Path(out)
    sections, t0 = [], time.time()
    for model, edit in DEMO_WALKS:
        print(f"[demo] {model}: learning a {edit} walk ({steps} steps)...", flush=True)
        run = walk(model, edit, steps=steps, out=out / f"{model}-{edit}", overwrite=True)
        m, name = run["metrics"], f"{model}-{edit}"
        sections.append((f"{model}: {edit}", html.text(
            f"masked L2 to target, mean over alphas: walk {m['walk_l2_mean']:.4f} vs do-nothing "
            f"{m['baseline_l2_mean']:.4f}; trained in {m['train_seconds']} s.")
            + html.image(f"{name}/strip.png", f"{edit} strip")
            + f'<p><a href="{name}/report.html">full report</a></p>'))
    sections.append(("About", html.text(
        f"{steps} steps per walk at batch 16 ({time.time() - t0:.0f} s in all); full quality uses "
        "`steerlab walk --steps 2000`.")))
    return html.write_report(out / "index.html", "steerlab demo", sections)
