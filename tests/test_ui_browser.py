"""End-to-end tests of the steering wheel in a real browser.

Debian's Chromium (``/usr/bin/chromium``, or ``$STEERLAB_CHROMIUM``) driven by Playwright; the
server is started by the tests: ``steerlab ui`` as a subprocess serving the real ``faces``
model and a tiny one, with directions trained here in a few steps. Without a Chromium the
whole module is skipped with a plain message (``make test`` prints it too).
"""
import io
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import make_tiny

CHROMIUM = os.environ.get("STEERLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SKIP_WHY = (f"no Chromium at {CHROMIUM}: browser UI tests skipped "
            "(apt-get install chromium, or set STEERLAB_CHROMIUM)")

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=SKIP_WHY)
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen | None, log: Path | None, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def _serve(root: Path, args: list[str]) -> tuple[subprocess.Popen, Path]:
    """`steerlab ui ARGS` on a free port in a subprocess; returns (process, log) once it answers."""
    port = _free_port()
    log = root / f"server-{port}.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "steerlab.cli", "ui", "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, cwd=root, env=env)
    proc.url = f"http://127.0.0.1:{port}/"
    return proc, log


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def make_tiny_sg2():
    """A tiny seeded StyleGAN2 (16 px, 6 w+ rows) with a non-trivial w_avg, so psi matters."""
    from steerlab.models import StyleGAN2Generator
    torch.manual_seed(0)
    G = StyleGAN2Generator(resolution=16, z_dim=12, w_dim=12, n_mlp=2, channels=[16, 8, 8], name="tsg")
    with torch.no_grad():
        G.mapping.w_avg.normal_(0, 1.0)
    return G.eval().requires_grad_(False)


CLASS_NAMES = ["disc", "ring", "square", "star"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`steerlab ui` on a free port: models tiny, faces, tinyc, tsg; directions trained in a few steps.

    faces has the most direction files (3), so the page opens on it although tiny is listed first.
    """
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[ui]')")
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.models import load_model, save_generator
    root = tmp_path_factory.mktemp("ui")
    runs = root / "runs"
    runs.mkdir()
    tiny = make_tiny()
    save_generator(tiny, root / "tiny")
    tinyc = make_tiny(num_classes=4, name="tinyc")  # class-conditional, with class names on its card
    save_generator(tinyc, root / "tinyc", card={"class_names": CLASS_NAMES})
    tsg = make_tiny_sg2()
    save_generator(tsg, root / "tsg")
    # Start the server first: it rescans the folder on every page load, so the directions
    # trained below (while it boots) are offered as soon as they are written.
    proc, log = _serve(root, ["--directions", str(runs), "--model", str(root / "tiny.safetensors"),
                              "--model", "faces", "--model", str(root / "tinyc.safetensors"),
                              "--model", str(root / "tsg.safetensors")])
    faces = load_model("faces")
    dirs = {
        "tiny-zoom": learn_linear_walk(tiny, "zoom", steps=5, lr=0.05, progress=False),
        "tiny-color": learn_linear_walk(tiny, "color", steps=5, lr=0.05, progress=False),
        "tiny2-zoom": learn_linear_walk(make_tiny(seed=1, name="tiny2"), "zoom", steps=1, progress=False),
        "tsg-color": learn_linear_walk(tsg, "color", space="w", steps=3, lr=0.2, progress=False),
        "faces-zoom": learn_linear_walk(faces, "zoom", steps=4, batch_size=4, lr=0.05, progress=False),
        "faces-color": learn_linear_walk(faces, "color", steps=4, batch_size=4, lr=0.05, progress=False),
        "faces-shift": learn_linear_walk(faces, "shift_x", steps=2, batch_size=4, lr=0.05, progress=False),
    }
    for name, d in dirs.items():
        d.save(runs / name / "direction")
    (runs / "broken").mkdir()
    (runs / "broken" / "direction.safetensors").write_bytes(b"\x00" * 64)  # listed as refused, never crashes
    try:
        _wait_http(proc.url, proc, log)
        yield SimpleNamespace(url=proc.url, proc=proc, log=log, root=root, faces=faces, tiny=tiny, tinyc=tinyc,
                              tsg=tsg, dirs=dirs)
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


# ----------------------------------------------------------------------------- page helpers
def open_page(browser, url):
    """A fresh session (own browser context) with the first image rendered."""
    page = browser.new_context(viewport={"width": 1280, "height": 1100}).new_page()
    page.goto(url)
    page.wait_for_selector("#steer-image img", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('rendered')",
                           timeout=60_000)
    return page


def image_src(page) -> str:
    return page.get_attribute("#steer-image img", "src")


def pixels(page, src: str | None = None) -> np.ndarray:
    """The displayed image's pixels as the server sent them, (H, W, 3) uint8."""
    body = page.request.get(src or image_src(page)).body()
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def drag(page, knob: int, fraction: float) -> float:
    """Drag slider ``knob`` to ``fraction`` of its track with the mouse; returns the release time."""
    box = page.locator(f"#knob-{knob} input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * fraction, y, steps=4)
    t = time.perf_counter()
    page.mouse.up()
    return t


def wait_new_image(page, old_src: str, timeout: float = 30_000) -> None:
    page.wait_for_function("s => document.querySelector('#steer-image img').src !== s", arg=old_src,
                           timeout=timeout)


def knob_value(page, knob: int) -> float:
    """The slider's position (for a zoom knob: log2 of the factor)."""
    return float(page.input_value(f"#knob-{knob} input[type=number]"))


def type_value(page, box: str, value) -> None:
    """Type a value into a number box and press Enter."""
    page.fill(box, str(value))
    page.press(box, "Enter")


def status_has(page, text: str, timeout: float = 30_000) -> None:
    page.wait_for_function("m => document.querySelector('#status').innerText.includes(m)", arg=text,
                           timeout=timeout)


def tick(page, label_start: str) -> None:
    page.locator("#directions label", has_text=label_start).first.locator("input").check()


def expected_display(G, knobs, seed: int = 0, cls: int | None = None, psi: float | None = None,
                     n: int = 1) -> np.ndarray:
    """What the page must show: `steer` on the seeds' z, at the native resolution, uint8 (N, H, W, 3)."""
    from steerlab.report.plots import to_uint8
    from steerlab.ui import steer
    z = torch.cat([G.sample_z(1, generator=torch.Generator().manual_seed(seed + j)) for j in range(n)])
    loaded = getattr(G, "truncation_psi", None)
    if psi is not None:
        G.set_truncation(psi)
    try:
        out = to_uint8(steer(G, knobs, z, classes=None if cls is None else torch.full((n,), cls)))
    finally:
        if psi is not None:
            G.set_truncation(loaded)
    return out[0] if n == 1 else out


def native(shown: np.ndarray, resolution: int) -> np.ndarray:
    k = shown.shape[0] // resolution
    return shown[::k, ::k]


def close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def choose_model(page, name: str) -> None:
    page.click("#model input")
    page.get_by_role("option", name=name, exact=True).click()
    try:
        page.wait_for_function("m => document.querySelector('#status').innerText.startsWith(m + ',')", arg=name,
                               timeout=60_000)
    except Exception:
        raise AssertionError(f"model {name} not shown; model box {page.input_value('#model input')!r}, "
                             f"status {page.inner_text('#status')!r}") from None


# ----------------------------------------------------------------------------- tests
def test_page_opens_on_the_model_with_most_directions(server, browser):
    page = open_page(browser, server.url)
    assert page.title() == "steerlab steering wheel"
    # tiny is listed first, but faces has 3 direction files to tiny's 2
    assert page.inner_text("#status").startswith("faces, seed 0")
    assert page.input_value("#model input") == "faces"
    labels = page.inner_text("#directions")
    assert "zoom (linear, z) - faces-zoom/direction" in labels and "color (linear, z)" in labels
    assert "tiny" not in labels  # directions of other models are not offered ...
    note = page.inner_text("#direction-note")
    # refused: the 4 directions of the tiny models and tsg, and the unreadable file, each with its reason
    assert "3 direction file(s) for faces" in note and "5 refused" in note
    page.click("#refused-box button.label-wrap")  # ... but listed with the reason
    page.wait_for_selector("#refused", state="visible")
    refused = page.inner_text("#refused")
    assert "learned for model 'tiny'" in refused and "learned for model 'tiny2'" in refused
    assert "broken" in refused
    assert not page.locator("#psi").is_visible() and not page.locator("#layer-lo").is_visible()  # not StyleGAN
    # the first image is the seed's sample, pixel for pixel
    assert np.array_equal(native(pixels(page), 64), expected_display(server.faces, []))
    page.context.close()


def test_image_follows_the_slider_keys_and_enter(server, browser):
    page = open_page(browser, server.url)
    tick(page, "zoom")
    page.wait_for_selector("#knob-0 input[type=range]", state="visible")
    status_has(page, "1 direction")
    rng = page.locator("#knob-0 input[type=range]")
    # the zoom slider moves in log2 of the factor: identity (factor 1) mid-track
    lo, hi = float(rng.get_attribute("min")), float(rng.get_attribute("max"))
    assert (lo, hi) == (-2.0, 2.0) and knob_value(page, 0) == 0.0
    # dragging: new images arrive while the mouse button is still down
    src = image_src(page)
    box = rng.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    seen = []
    for frac in (0.6, 0.7, 0.8, 0.9):
        page.mouse.move(box["x"] + box["width"] * frac, y, steps=2)
        page.wait_for_function("s => document.querySelector('#steer-image img').src !== s", arg=src,
                               timeout=30_000)
        src = image_src(page)
        seen.append(src)
    page.mouse.up()
    assert len(set(seen)) >= 3  # images followed the hand before the release
    # the latest value wins: once idle, the image is the one of the slider's final position
    page.wait_for_timeout(1500)
    final = knob_value(page, 0)
    assert final > 1.0
    assert close(native(pixels(page), 64), expected_display(server.faces, [(server.dirs["faces-zoom"], 2 ** final)]))
    # arrow keys move the knob and render
    src = image_src(page)
    rng.focus()
    for _ in range(60):
        page.keyboard.press("ArrowLeft")
    wait_new_image(page, src)
    page.wait_for_timeout(1500)
    assert knob_value(page, 0) == pytest.approx(final - 0.6, abs=1e-6)
    assert close(native(pixels(page), 64),
                 expected_display(server.faces, [(server.dirs["faces-zoom"], 2 ** knob_value(page, 0))]))
    # a typed value + Enter renders
    src = image_src(page)
    type_value(page, "#knob-0 input[type=number]", -1.5)
    wait_new_image(page, src)
    page.wait_for_timeout(500)
    assert close(native(pixels(page), 64), expected_display(server.faces, [(server.dirs["faces-zoom"], 2 ** -1.5)]))
    page.context.close()


def test_sliders_steer_the_image_combined_and_fast(server, browser):
    page = open_page(browser, server.url)
    tick(page, "zoom")
    page.wait_for_selector("#knob-0 input[type=range]", state="visible")
    tick(page, "color")
    page.wait_for_selector("#knob-3 input[type=range]", state="visible")  # zoom + three colour knobs
    status_has(page, "2 direction")
    before = pixels(page)
    latencies = []
    for frac in (0.9, 0.2, 0.75):
        src = image_src(page)
        t = drag(page, 0, frac)
        wait_new_image(page, src)
        latencies.append(time.perf_counter() - t)
    page.wait_for_timeout(1000)
    after = pixels(page)
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1.0  # moving a slider changed pixels
    src = image_src(page)
    drag(page, 1, 0.85)  # colour R
    wait_new_image(page, src)
    page.wait_for_timeout(1000)
    zoom, red = 2 ** knob_value(page, 0), knob_value(page, 1)
    assert zoom > 1.5 and red > 0.2
    d = server.dirs
    want = expected_display(server.faces, [(d["faces-zoom"], zoom), (d["faces-color"], [red, 0.0, 0.0])])
    assert close(native(pixels(page), 64), want)  # the page shows steer(), combined
    med = statistics.median(latencies)
    print(f"\nslider release -> a new image in the browser (faces, 64 px, CPU): "
          f"{', '.join(f'{x * 1000:.0f}' for x in latencies)} ms; median {med * 1000:.0f} ms")
    assert med < 1.0
    page.context.close()


def test_grid_of_seeds(server, browser):
    from steerlab.ui.views import cell, cell_scale
    page = open_page(browser, server.url)
    src = image_src(page)
    page.locator("#grid label", has_text="4").click()
    wait_new_image(page, src)
    status_has(page, "seeds 0-3")
    shown = pixels(page)
    want = expected_display(server.faces, [], n=4)
    k = cell_scale(64, 2)
    for i in range(4):
        assert np.array_equal(cell(shown, i, 2, 64, k, labelled=True), want[i]), i
    assert not np.array_equal(want[0], want[1])
    page.context.close()


def test_bad_uploads_show_an_error_and_the_server_lives_on(server, browser, tmp_path):
    import pickle
    page = open_page(browser, server.url)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not safetensors" * 64)
    pick = tmp_path / "pickled.safetensors"
    pick.write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    foreign = server.root / "runs" / "tiny-zoom" / "direction.safetensors"
    for path, message in [(garbage, "not a valid safetensors"), (pick, "pickle"),
                          (foreign, "learned for model 'tiny'")]:
        with page.expect_file_chooser() as chooser:
            page.click("#direction-upload")
        chooser.value.set_files(str(path))
        status_has(page, message)
        status = page.inner_text("#status")
        assert status.startswith("Error:") and path.name in status, status
    assert "tiny" not in page.inner_text("#directions")  # the foreign direction was not added
    # an uploaded direction for this model is added and ticked
    with page.expect_file_chooser() as chooser:
        page.click("#direction-upload")
    chooser.value.set_files(str(server.root / "runs" / "faces-zoom" / "direction.safetensors"))
    page.wait_for_selector("#knob-0 input[type=range]", state="visible")
    assert "(uploaded)" in page.inner_text("#directions")
    src = image_src(page)
    drag(page, 0, 0.9)
    wait_new_image(page, src)
    assert "Error" not in page.inner_text("#status")
    # typed nonsense: out-of-range knob and seeds are refused with a message, never served
    page.fill("#knob-0 input[type=number]", "99")  # beyond the range: clamped or refused, never rendered
    page.locator("#knob-0 input[type=number]").blur()
    page.wait_for_timeout(1500)
    assert knob_value(page, 0) <= 2.0 or "greater than maximum" in page.inner_text("body")
    for box, text, message in [("#seed input", "-5", "less than minimum"),
                               ("#seed input", "1" * 30, "seed must be a whole number")]:
        page.fill(box, text)
        page.locator(box).blur()
        try:
            page.wait_for_function("m => document.body.innerText.includes(m)", arg=message, timeout=30_000)
        except Exception:
            raise AssertionError(f"{text} in {box}: no '{message}' in {page.inner_text('body')[-1500:]!r}") from None
    page.fill("#seed input", "7")
    page.locator("#seed input").blur()
    status_has(page, "seed 7")
    assert server.proc.poll() is None
    page.context.close()


def test_other_model_export_and_no_stale_export(server, browser):
    import imageio_ffmpeg
    page = open_page(browser, server.url)
    choose_model(page, "tiny")
    labels = page.inner_text("#directions")
    assert "tiny-zoom" in labels and "tiny-color" in labels and "tiny2" not in labels and "faces" not in labels
    tick(page, "color")
    page.wait_for_selector("#knob-2 input[type=range]", state="visible")
    src = image_src(page)
    drag(page, 2, 0.1)  # colour B
    wait_new_image(page, src)
    page.wait_for_timeout(1000)
    shown = native(pixels(page), 16)
    want = expected_display(server.tiny, [(server.dirs["tiny-color"], [0.0, 0.0, knob_value(page, 2)])])
    assert close(shown, want)
    page.click("#export")
    status_has(page, "exported")
    page.wait_for_function("() => document.querySelectorAll('#files a').length == 3")
    links = page.eval_on_selector_all("#files a", "els => els.map(e => e.href)")
    assert sorted(Path(h.split("/")[-1]).suffix for h in links) == [".gif", ".mp4", ".png"]
    body = {Path(h.split("/")[-1]).suffix: page.request.get(h).body() for h in links}
    gif = Image.open(io.BytesIO(body[".gif"]))
    assert gif.n_frames == 2 * 15 - 2  # 5 alphas x 3 channels, played forward then back
    frame = np.asarray(gif.convert("RGB"))
    band = frame[:20]  # the label band above the image: dark text on white
    assert (band.min(axis=2) < 100).sum() > 20 and (band.min(axis=2) > 240).mean() > 0.5
    mp4 = server.root / "export.mp4"
    mp4.write_bytes(body[".mp4"])
    reader = imageio_ffmpeg.read_frames(str(mp4))
    meta = next(reader)
    n_frames = sum(1 for _ in reader)
    assert n_frames == 28 and meta["size"][0] >= frame.shape[1]
    strip = Image.open(io.BytesIO(body[".png"]))
    assert strip.width > 5 * 16 * 2 and strip.height > 3 * 16 * 2  # 5 columns, one row per channel
    page.click("#save")
    status_has(page, "saved")
    page.wait_for_function("() => document.querySelectorAll('#files a').length == 1")
    link = page.eval_on_selector_all("#files a", "els => els.map(e => e.href)")[0]
    saved = np.asarray(Image.open(io.BytesIO(page.request.get(link).body())).convert("RGB"))
    assert saved.shape == (16, 16, 3) and np.array_equal(saved, shown)
    page.click("#export")
    page.wait_for_function("() => document.querySelectorAll('#files a').length == 3")
    status_has(page, "exported")
    page.wait_for_timeout(500)
    choose_model(page, "faces")  # no stale export: the files and the strip of tiny are gone
    page.wait_for_function("() => document.querySelectorAll('#files a').length == 0")
    assert not page.locator("#steer-strip").is_visible()
    page.context.close()


def test_conditional_model_shows_class_names(server, browser):
    page = open_page(browser, server.url)
    assert not page.locator("#class").is_visible()  # faces is unconditional
    choose_model(page, "tinyc")
    assert page.locator("#class").is_visible()
    assert "tiny" not in page.inner_text("#directions")  # tiny's directions do not fit tinyc
    assert "class disc" in page.inner_text("#status")
    shown = {0: native(pixels(page), 16)}
    src = image_src(page)
    page.click("#class input")
    options = [o.inner_text().replace("✓", "").strip() for o in page.get_by_role("option").all()]
    assert options == [f"{k}: {c}" for k, c in enumerate(CLASS_NAMES)]
    page.get_by_role("option", name="3: star", exact=True).click()
    wait_new_image(page, src)
    assert "class star" in page.inner_text("#status")
    shown[3] = native(pixels(page), 16)
    for c, got in shown.items():
        assert close(got, expected_display(server.tinyc, [], cls=c)), c
    assert not np.array_equal(shown[0], shown[3])
    page.context.close()


def test_stylegan_truncation_and_layer_range(server, browser):
    page = open_page(browser, server.url)
    choose_model(page, "tsg")
    page.wait_for_selector("#psi", state="visible")
    page.wait_for_selector("#layer-hi", state="visible")
    assert float(page.input_value("#layer-hi input[type=number]")) == 5  # all 6 w+ rows
    assert "psi 1" in page.inner_text("#status")
    G, d = server.tsg, server.dirs["tsg-color"]
    assert close(native(pixels(page), 16), expected_display(G, []))
    src = image_src(page)
    type_value(page, "#psi input[type=number]", 0.5)
    wait_new_image(page, src)
    status_has(page, "psi 0.5")
    at_half = native(pixels(page), 16)
    assert close(at_half, expected_display(G, [], psi=0.5))
    assert not close(at_half, expected_display(G, []))  # psi changed the picture
    tick(page, "color")
    page.wait_for_selector("#knob-0 input[type=range]", state="visible")
    src = image_src(page)
    type_value(page, "#knob-0 input[type=number]", 0.4)
    wait_new_image(page, src)
    page.wait_for_timeout(500)
    all_rows = native(pixels(page), 16)
    assert close(all_rows, expected_display(G, [(d, [0.4, 0.0, 0.0])], psi=0.5))
    src = image_src(page)
    type_value(page, "#layer-lo input[type=number]", 4)  # the last two rows only (the finest layers)
    wait_new_image(page, src)
    page.wait_for_timeout(500)
    fine = native(pixels(page), 16)
    assert close(fine, expected_display(G, [(d.on_layers(G, [4, 5]), [0.4, 0.0, 0.0])], psi=0.5))
    assert not close(fine, all_rows)
    # bad range: from > to is refused with a message
    type_value(page, "#layer-hi input[type=number]", 2)
    status_has(page, "w+ layers must satisfy")
    page.context.close()


@pytest.mark.slow
def test_ten_concurrent_sessions(server, browser):
    """10 sessions release their sliders at once; each gets its own, correct image, no errors."""
    pages = [open_page(browser, server.url) for _ in range(10)]
    for page in pages:
        tick(page, "zoom")
    for page in pages:
        page.wait_for_selector("#knob-0 input[type=range]", state="visible")
        status_has(page, "1 direction")
    srcs = [image_src(p) for p in pages]
    t0 = time.perf_counter()
    for i, page in enumerate(pages):
        drag(page, 0, 0.3 + 0.065 * i)  # a different zoom per session
    for page, src in zip(pages, srcs):
        wait_new_image(page, src, timeout=60_000)
    wall = time.perf_counter() - t0
    for page in pages:
        page.wait_for_timeout(300)
    zooms = [2 ** knob_value(p, 0) for p in pages]
    assert len(set(zooms)) == 10
    for page, zoom in zip(pages, zooms):
        assert "Error" not in page.inner_text("#status")
        want = expected_display(server.faces, [(server.dirs["faces-zoom"], zoom)])
        page.wait_for_function("() => true")
        assert close(native(pixels(page), 64), want)
    print(f"\n10 concurrent sessions: all 10 new images within {wall:.2f} s of the first release")
    assert server.proc.poll() is None
    for page in pages:
        page.context.close()


@pytest.mark.slow
def test_photo_beside_its_reconstruction_and_the_edit(server, browser, tmp_path):
    pytest.importorskip("steerlab.methods.trajectories.invert", reason="inversion (steerlab.methods.trajectories) not installed")
    from steerlab.report.plots import to_uint8
    from steerlab.ui.views import cell, cell_scale
    G = server.tiny
    target = to_uint8(G.synthesize(G.sample_z(1, generator=torch.Generator().manual_seed(123))))[0]
    Image.fromarray(target).resize((48, 48), Image.NEAREST).save(tmp_path / "photo.png")  # resized back on upload
    (tmp_path / "bad.png").write_bytes(b"this is not an image at all")
    page = open_page(browser, server.url)
    choose_model(page, "tiny")
    seed_image = native(pixels(page), 16)
    for path, message in [(tmp_path / "bad.png", "bad.png: not a readable image"),
                          (tmp_path / "photo.png", "photo 'photo.png'")]:
        src = image_src(page)
        with page.expect_file_chooser() as chooser:
            page.click("#photo-upload")
        chooser.value.set_files(str(path))
        status_has(page, message, timeout=120_000)
    wait_new_image(page, src)
    k = cell_scale(16, 3)
    shown = pixels(page)
    photo, recon, edit = (cell(shown, i, 3, 16, k, labelled=True) for i in range(3))

    def err(x):
        return np.abs(x.astype(float) - target.astype(float)).mean()
    print(f"\nphoto inverted through the UI: mean abs error to the photo {err(recon):.1f} "
          f"(the seed's sample: {err(seed_image):.1f}) of 255")
    from steerlab.ui import read_image
    as_read = to_uint8(read_image(tmp_path / "photo.png", 16, 3))[0]
    assert close(photo, as_read)  # the photo as the model sees it
    assert err(recon) < 0.5 * err(seed_image)
    assert np.array_equal(recon, edit)  # no direction ticked yet
    tick(page, "zoom")  # the photo's latent is steered like a seed's
    page.wait_for_selector("#knob-0 input[type=range]", state="visible")
    src = image_src(page)
    drag(page, 0, 0.95)
    wait_new_image(page, src)
    page.wait_for_timeout(1000)
    shown = pixels(page)
    assert np.array_equal(cell(shown, 1, 3, 16, k, labelled=True), recon)  # the reconstruction stays
    assert not np.array_equal(cell(shown, 2, 3, 16, k, labelled=True), recon)  # the edit moved
    assert "photo 'photo.png'" in page.inner_text("#status")
    page.click("#use-seed")
    status_has(page, "seed 0")
    assert server.proc.poll() is None
    page.context.close()


@pytest.mark.slow
def test_auth_asks_for_the_login_then_serves_the_app(server, browser):
    proc, log = _serve(server.root, ["--model", str(server.root / "tiny.safetensors"), "--directions",
                                     str(server.root / "runs"), "--auth", "steer:wheel-42"])
    try:
        _wait_http(proc.url, proc, log)
        page = browser.new_context(viewport={"width": 1280, "height": 1100}).new_page()
        page.goto(proc.url)
        page.wait_for_selector("input[type=password]", timeout=60_000)
        assert page.locator("#steer-image").count() == 0  # nothing of the app before logging in
        for password, ok in (("wrong", False), ("wheel-42", True)):
            page.fill("input[type=text], input[name=username]", "steer")
            page.fill("input[type=password]", password)
            page.get_by_role("button", name="Login").click()
            if not ok:
                page.wait_for_function("() => /incorrect|invalid/i.test(document.body.innerText)", timeout=30_000)
                assert page.locator("#steer-image").count() == 0
        page.wait_for_selector("#steer-image img", timeout=60_000)
        status_has(page, "rendered", timeout=60_000)
        assert page.inner_text("#status").startswith("tiny, seed 0")
        page.context.close()
        assert proc.poll() is None
    finally:
        _stop(proc)
