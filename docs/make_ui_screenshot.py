"""Regenerate docs/ui.png: serve the steering wheel, drive it in headless Chromium, screenshot it.

    python docs/make_ui_screenshot.py                      # learns zoom + colour walks on `faces` first
    python docs/make_ui_screenshot.py --directions runs/   # or uses directions you already have

Needs gradio, playwright and Debian's chromium (/usr/bin/chromium); never downloads a browser.
"""
from __future__ import annotations

import argparse
import math
import socket
import tempfile
import time
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--directions", help="folder with faces directions (default: learn zoom + colour now)")
    p.add_argument("--steps", type=int, default=300, help="walk steps when learning (default: 300)")
    p.add_argument("--zoom", type=float, default=1.8, help="zoom slider value in the picture")
    p.add_argument("--red", type=float, default=0.3, help="colour R slider value in the picture")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--out", default=str(Path(__file__).with_name("ui.png")))
    args = p.parse_args()

    folder = Path(args.directions) if args.directions else Path(tempfile.mkdtemp(prefix="ui-shot-"))
    if not args.directions:
        from steerlab.methods.walks import learn_linear_walk
        from steerlab.models import load_model
        G = load_model("faces")
        for edit in ("zoom", "color"):
            learn_linear_walk(G, edit, steps=args.steps).save(folder / f"faces-{edit}" / "direction")

    from playwright.sync_api import sync_playwright

    from steerlab.ui.app import launch
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch(["faces"], [folder], port=port, block=False)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1180, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#steer-image img", timeout=60_000)
            for name in ("zoom", "color"):
                page.locator("#directions label", has_text=name).first.locator("input").check()
            page.wait_for_selector("#knob-3 input[type=range]", state="visible")
            page.wait_for_timeout(1000)
            for knob, value in ((0, math.log2(args.zoom)), (1, args.red)):  # the zoom slider is in log2
                src = page.get_attribute("#steer-image img", "src")
                box = page.locator(f"#knob-{knob} input[type=number]")
                box.fill(f"{value:.2f}")
                box.press("Enter")  # a typed value + Enter renders like moving the slider
                page.wait_for_function("s => document.querySelector('#steer-image img').src !== s", arg=src)
            time.sleep(1.0)
            page.screenshot(path=args.out, full_page=False)
            print(f"wrote {args.out}; status: {page.inner_text('#status')}")
            browser.close()
    finally:
        app.close()


if __name__ == "__main__":
    main()
