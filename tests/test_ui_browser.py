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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`steerlab ui` on a free port: models faces + tiny, directions trained in a few steps."""
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[ui]')")
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.models import load_model, save_generator
    root = tmp_path_factory.mktemp("ui")
    runs = root / "runs"
    runs.mkdir()
    tiny = make_tiny()
    save_generator(tiny, root / "tiny")
    tinyc = make_tiny(num_classes=4, name="tinyc")  # class-conditional
    save_generator(tinyc, root / "tinyc")
    # Start the server first: it rescans the folder on every page load, so the directions
    # trained below (while it boots) are offered as soon as they are written.
    port = _free_port()
    log = root / "server.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "steerlab.cli", "ui", "--port", str(port),
                                 "--directions", str(runs), "--model", "faces", "--model",
                                 str(root / "tiny.safetensors"), "--model", str(root / "tinyc.safetensors")],
                                stdout=out, stderr=subprocess.STDOUT,
                                cwd=root, env=env)
    faces = load_model("faces")
    dirs = {
        "tiny-zoom": learn_linear_walk(tiny, "zoom", steps=5, lr=0.05, progress=False),
        "tiny-color": learn_linear_walk(tiny, "color", steps=5, lr=0.05, progress=False),
        "tiny2-zoom": learn_linear_walk(make_tiny(seed=1, name="tiny2"), "zoom", steps=1, progress=False),
        "faces-zoom": learn_linear_walk(faces, "zoom", steps=4, batch_size=4, lr=0.05, progress=False),
        "faces-color": learn_linear_walk(faces, "color", steps=4, batch_size=4, lr=0.05, progress=False),
    }
    for name, d in dirs.items():
        d.save(runs / name / "direction")
    (runs / "broken").mkdir()
    (runs / "broken" / "direction.safetensors").write_bytes(b"\x00" * 64)  # listed as refused, never crashes
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_http(url, proc, log)
        yield SimpleNamespace(url=url, proc=proc, log=log, root=root, faces=faces, tiny=tiny, tinyc=tinyc,
                              dirs=dirs)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


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
    return float(page.input_value(f"#knob-{knob} input[type=number]"))


def tick(page, label_start: str) -> None:
    page.locator("#directions label", has_text=label_start).first.locator("input").check()


def expected_display(G, knobs, seed: int = 0, cls: int | None = None) -> np.ndarray:
    """What the page must show: `steer` on the seed's z, at the native resolution, uint8."""
    from steerlab.report.plots import to_uint8
    from steerlab.ui import steer
    z = G.sample_z(1, generator=torch.Generator().manual_seed(seed))
    return to_uint8(steer(G, knobs, z, classes=None if cls is None else torch.tensor([cls])))[0]


def native(shown: np.ndarray, resolution: int) -> np.ndarray:
    k = shown.shape[0] // resolution
    return shown[::k, ::k]


# ----------------------------------------------------------------------------- tests
def test_page_loads_with_the_models_directions(server, browser):
    page = open_page(browser, server.url)
    assert page.title() == "steerlab steering wheel"
    assert "faces, seed 0" in page.inner_text("#status")
    labels = page.inner_text("#directions")
    assert "zoom (linear, z) - faces-zoom/direction" in labels and "color (linear, z)" in labels
    assert "tiny" not in labels  # directions of other models are not offered ...
    note = page.inner_text("#direction-note")
    # refused: the 3 directions of the tiny models and the unreadable file, each with its reason
    assert "2 direction file(s) for faces" in note and "4 refused" in note
    page.click("#refused-box button.label-wrap")  # ... but listed with the reason
    page.wait_for_selector("#refused", state="visible")
    refused = page.inner_text("#refused")
    assert "learned for model 'tiny'" in refused and "learned for model 'tiny2'" in refused
    assert "broken" in refused
    # the first image is the seed's sample, pixel for pixel
    assert np.array_equal(native(pixels(page), 64), expected_display(server.faces, []))
    page.context.close()


def test_sliders_steer_the_image_combined_and_fast(server, browser):
    page = open_page(browser, server.url)
    tick(page, "zoom")
    page.wait_for_selector("#knob-0 input[type=range]", state="visible")
    tick(page, "color")
    page.wait_for_selector("#knob-3 input[type=range]", state="visible")  # zoom + three colour knobs
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('2 direction')")
    before = pixels(page)
    latencies = []
    for frac in (0.9, 0.2, 0.75):
        src = image_src(page)
        t = drag(page, 0, frac)
        wait_new_image(page, src)
        latencies.append(time.perf_counter() - t)
    after = pixels(page)
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1.0  # moving a slider changed pixels
    src = image_src(page)
    drag(page, 1, 0.85)  # colour R
    wait_new_image(page, src)
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('rendered')")
    zoom, red = knob_value(page, 0), knob_value(page, 1)
    assert zoom > 1.5 and red > 0.2
    d = server.dirs
    want = expected_display(server.faces, [(d["faces-zoom"], zoom), (d["faces-color"], [red, 0.0, 0.0])])
    got = native(pixels(page), 64)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # the page shows steer(), combined
    med = statistics.median(latencies)
    print(f"\nslider release -> new image in the browser (faces, 64 px, CPU): "
          f"{', '.join(f'{x * 1000:.0f}' for x in latencies)} ms; median {med * 1000:.0f} ms")
    assert med < 1.0
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
        page.wait_for_function("m => document.querySelector('#status').innerText.includes(m)", arg=message,
                               timeout=30_000)
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
    for box, text, message in [("#knob-0 input[type=number]", "99", "greater than maximum"),
                               ("#seed input", "-5", "less than minimum"),
                               ("#seed input", "1" * 30, "seed must be a whole number")]:
        page.fill(box, text)
        page.locator(box).blur()
        page.wait_for_function("m => document.body.innerText.includes(m)", arg=message, timeout=30_000)
    page.fill("#seed input", "7")
    page.locator("#seed input").blur()
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('seed 7')")
    assert server.proc.poll() is None
    page.context.close()


def choose_model(page, name: str) -> None:
    page.click("#model input")
    page.get_by_role("option", name=name, exact=True).click()
    page.wait_for_function("m => document.querySelector('#status').innerText.startsWith(m + ',')", arg=name)


def test_other_model_export_and_save(server, browser):
    page = open_page(browser, server.url)
    choose_model(page, "tiny")
    labels = page.inner_text("#directions")
    assert "tiny-zoom" in labels and "tiny-color" in labels and "tiny2" not in labels and "faces" not in labels
    tick(page, "color")
    page.wait_for_selector("#knob-2 input[type=range]", state="visible")
    src = image_src(page)
    drag(page, 2, 0.1)  # colour B
    wait_new_image(page, src)
    shown = native(pixels(page), 16)
    want = expected_display(server.tiny, [(server.dirs["tiny-color"], [0.0, 0.0, knob_value(page, 2)])])
    assert np.abs(shown.astype(int) - want.astype(int)).max() <= 1
    page.click("#export")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('exported')",
                           timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('#files a').length == 2")
    links = page.eval_on_selector_all("#files a", "els => els.map(e => e.href)")
    names = sorted(Path(h.split("/")[-1]).suffix for h in links)
    assert names == [".gif", ".png"]
    gif = Image.open(io.BytesIO(page.request.get(next(h for h in links if h.endswith(".gif"))).body()))
    assert gif.n_frames == 2 * 15 - 2  # 5 alphas x 3 channels, played forward then back
    page.click("#save")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('saved')")
    page.wait_for_function("() => document.querySelectorAll('#files a').length == 1")
    link = page.eval_on_selector_all("#files a", "els => els.map(e => e.href)")[0]
    saved = np.asarray(Image.open(io.BytesIO(page.request.get(link).body())).convert("RGB"))
    assert saved.shape == (16, 16, 3) and np.array_equal(saved, shown)
    page.context.close()


def test_conditional_model_takes_a_class(server, browser):
    page = open_page(browser, server.url)
    assert not page.locator("#class").is_visible()  # faces is unconditional
    choose_model(page, "tinyc")
    assert page.locator("#class").is_visible()
    assert "tiny" not in page.inner_text("#directions")  # tiny's directions do not fit tinyc
    assert "class 0" in page.inner_text("#status")
    shown = {0: native(pixels(page), 16)}
    src = image_src(page)
    page.fill("#class input", "3")
    page.locator("#class input").blur()
    wait_new_image(page, src)
    assert "class 3" in page.inner_text("#status")
    shown[3] = native(pixels(page), 16)
    for c, got in shown.items():
        want = expected_display(server.tinyc, [], cls=c)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1, c
    assert not np.array_equal(shown[0], shown[3])
    page.fill("#class input", "4")  # out of range for 4 classes
    page.locator("#class input").blur()
    page.wait_for_function("() => document.body.innerText.includes('class must be') "
                           "|| document.body.innerText.includes('greater than maximum')")
    page.context.close()


@pytest.mark.slow
def test_ten_concurrent_sessions(server, browser):
    """10 sessions release their sliders at once; each gets its own, correct image, no errors."""
    pages = [open_page(browser, server.url) for _ in range(10)]
    for page in pages:
        tick(page, "zoom")
    for page in pages:
        page.wait_for_selector("#knob-0 input[type=range]", state="visible")
        page.wait_for_function("() => document.querySelector('#status').innerText.includes('1 direction')")
    srcs = [image_src(p) for p in pages]
    t0 = time.perf_counter()
    for i, page in enumerate(pages):
        drag(page, 0, 0.3 + 0.065 * i)  # a different zoom per session
    for page, src in zip(pages, srcs):
        wait_new_image(page, src, timeout=60_000)
    wall = time.perf_counter() - t0
    zooms = [knob_value(p, 0) for p in pages]
    assert len(set(zooms)) == 10
    for page, zoom in zip(pages, zooms):
        assert "Error" not in page.inner_text("#status")
        want = expected_display(server.faces, [(server.dirs["faces-zoom"], zoom)])
        assert np.abs(native(pixels(page), 64).astype(int) - want.astype(int)).max() <= 1
    print(f"\n10 concurrent sessions: all 10 new images within {wall:.2f} s of the first release")
    assert server.proc.poll() is None
    for page in pages:
        page.context.close()


def test_photo_upload_is_inverted_and_a_bad_image_is_refused(server, browser, tmp_path):
    pytest.importorskip("steerlab.methods.trajectories.invert", reason="inversion (steerlab.methods.trajectories) not installed")
    from steerlab.report.plots import to_uint8
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
        page.wait_for_function("m => document.querySelector('#status').innerText.includes(m)", arg=message,
                               timeout=120_000)
    wait_new_image(page, src)
    inverted = native(pixels(page), 16)

    def err(x):
        return np.abs(x.astype(float) - target.astype(float)).mean()
    print(f"\nphoto inverted through the UI: mean abs error to the photo {err(inverted):.1f} "
          f"(the seed's sample: {err(seed_image):.1f}) of 255")
    assert err(inverted) < 0.5 * err(seed_image)
    tick(page, "zoom")  # the photo's latent is steered like a seed's
    page.wait_for_selector("#knob-0 input[type=range]", state="visible")
    src = image_src(page)
    drag(page, 0, 0.95)
    wait_new_image(page, src)
    assert "photo 'photo.png'" in page.inner_text("#status")
    page.click("#use-seed")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('seed 0')")
    assert server.proc.poll() is None
    page.context.close()
