"""What moving a slider costs: on the server (`steer` vs a plain render) and in the browser.

    python bench/ui_steer.py [--model faces] [--repeats 50] [--moves 20] [--no-browser]

Prints milliseconds per image (batch 1, the UI's case) and the ratios, all measured in this run:
- plain:        G.synthesize(z), the generator's own forward, the floor;
- steer:        zoom + colour (4 knobs) combined, fingerprint known (what the UI does);
- steer+hash:   the same, re-hashing the model's weights to check the directions every time
                (why the UI computes the fingerprint once per model);
- slider -> image: the steering wheel served on loopback and driven in headless Chromium
                (Debian's /usr/bin/chromium, through playwright): from an arrow key on the zoom
                slider to the new image's URL in the page, one key at a time, as a ratio to the
                forward's median. Skipped with a note when there is no Chromium.
The walks are random unit vectors: their cost does not depend on how well they were trained.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import torch

from steerlab.directions import Direction, alpha_spec
from steerlab.edits import get_edit
from steerlab.models import load_model
from steerlab.ui import steer


def interleaved_ms(fns: list, repeats: int) -> list[list[float]]:
    """Per-call times (ms) of each fn, calls interleaved so that every fn sees the same load."""
    for fn in fns:
        fn()  # warm-up
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1000)
    return times


CHROMIUM = os.environ.get("STEERLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def browser_latency_ms(model: str, dirs: list[Direction], moves: int) -> list[float]:
    """Key press on the zoom slider -> new image in the page (ms), ``moves`` times, on a served app."""
    from playwright.sync_api import sync_playwright

    from steerlab.ui.app import launch
    folder = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    for d in dirs:
        d.save(folder / d.edit / "direction")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch([model], [folder], port=port, block=False, inverter=None)
    times = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#steer-image img", timeout=60_000)
            for name in ("zoom", "color"):
                page.locator("#directions label", has_text=name).first.locator("input").check()
            page.wait_for_selector("#knob-3 input[type=range]", state="visible")
            page.wait_for_timeout(1500)
            page.focus("#knob-0 input[type=range]")
            for i in range(moves):
                src = page.get_attribute("#steer-image img", "src")
                t = time.perf_counter()
                page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowUp")  # both step right
                page.wait_for_function("s => document.querySelector('#steer-image img').src !== s", arg=src,
                                       timeout=30_000)
                times.append((time.perf_counter() - t) * 1000)
            browser.close()
    finally:
        app.close()
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="faces")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--moves", type=int, default=20, help="slider moves measured in the browser")
    p.add_argument("--no-browser", action="store_true", help="skip the browser measurement")
    args = p.parse_args()
    G = load_model(args.model)
    g = torch.Generator().manual_seed(0)
    dirs = [Direction(kind="linear", space="z", model=G.name, fingerprint=G.fingerprint, edit=e,
                      alpha=alpha_spec(get_edit(e)),
                      tensors={"w": torch.nn.functional.normalize(torch.randn(k, G.z_dim, generator=g), dim=1)})
            for e, k in (("zoom", 1), ("color", 3))]
    knobs = [(dirs[0], 2.0), (dirs[1], [0.3, -0.1, 0.2])]
    z = G.sample_z(1, generator=g)
    fp = G.fingerprint
    with torch.no_grad():
        plain, fast, slow = interleaved_ms([lambda: G.synthesize(z), lambda: steer(G, knobs, z, fingerprint=fp),
                                            lambda: steer(G, knobs, z)], args.repeats)
    print(f"{G.name} ({G.resolution} px), batch 1, {torch.get_num_threads()} threads, {args.repeats} interleaved "
          "rounds; median ms, and the median over rounds of the ratio to the plain render:")
    for name, ts in (("plain G.synthesize", plain), ("steer, 4 knobs", fast), ("steer, re-hash each time", slow)):
        ratio = statistics.median(t / p for t, p in zip(ts, plain))
        print(f"  {name:<26} {statistics.median(ts):7.2f} ms   {ratio:.2f}x")
    if args.no_browser or not os.access(CHROMIUM, os.X_OK):
        print(f"slider -> image in the browser: skipped ({'--no-browser' if args.no_browser else 'no ' + CHROMIUM})")
        return
    forward = statistics.median(plain)
    ui = browser_latency_ms(args.model, dirs, args.moves)
    with torch.no_grad():  # the forward again, right after, in case the load changed meanwhile
        after = statistics.median(interleaved_ms([lambda: G.synthesize(z)], args.repeats)[0])
    print(f"slider -> image in headless Chromium ({args.moves} arrow-key moves of the zoom slider, zoom + colour "
          f"ticked): median {statistics.median(ui):.0f} ms (min {min(ui):.0f}, max {max(ui):.0f}) = "
          f"{statistics.median(ui) / forward:.1f}x the forward before ({forward:.2f} ms), "
          f"{statistics.median(ui) / after:.1f}x the forward after ({after:.2f} ms)")


if __name__ == "__main__":
    main()
