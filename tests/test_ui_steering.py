"""The steering wheel's core without a browser: combining directions, the library, uploads."""
import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import make_tiny
from steerlab.directions import KINDS, Direction, DirectionMismatch, Kind, alpha_spec, plain_alpha, register_kind
from steerlab.edits import get_edit
from steerlab.methods.walks import learn_linear_walk
from steerlab.models import DCGANGenerator, save_generator
from steerlab.ui import Library, find_direction_files, read_image, steer


@pytest.fixture(scope="module")
def G():
    return make_tiny()


@pytest.fixture(scope="module")
def walks(G):
    return {e: learn_linear_walk(G, e, steps=8, lr=0.05, progress=False) for e in ("zoom", "color", "shift_x")}


def z_of(G, seed=0, n=1):
    return G.sample_z(n, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- steer
def test_one_direction_equals_its_render(G, walks):
    z = z_of(G, n=3)
    for d, a in [(walks["zoom"], 2.0), (walks["color"], [0.3, -0.1, 0.2]), (walks["shift_x"], -0.25)]:
        assert torch.allclose(steer(G, [(d, a)], z), d.render(G, z, a), atol=1e-6)


def test_linear_directions_sum_their_offsets(G, walks):
    z = z_of(G, n=2)
    zoom, color = walks["zoom"], walks["color"]
    both = steer(G, [(zoom, 2.0), (color, [0.3, 0.0, -0.2])], z)
    offset = (np.log(2.0) * zoom.tensors["w"][0]
              + 0.3 * color.tensors["w"][0] - 0.2 * color.tensors["w"][2])
    assert torch.allclose(both, G.synthesize(z + offset), atol=1e-6)
    assert (both - zoom.render(G, z, 2.0)).abs().max() > 1e-3  # the colour knob did something
    # order of linear knobs does not matter
    assert torch.allclose(both, steer(G, [(color, [0.3, 0.0, -0.2]), (zoom, 2.0)], z), atol=1e-6)


def test_knobs_at_identity_leave_the_image(G, walks):
    z = z_of(G)
    plain = G.synthesize(z)
    assert torch.equal(steer(G, [(walks["zoom"], 1.0), (walks["color"], [0, 0, 0])], z), plain)
    assert torch.equal(steer(G, [], z), plain)


def test_steer_refuses_another_models_direction_and_bad_alphas(G, walks):
    other = make_tiny(seed=1)
    with pytest.raises(DirectionMismatch, match="learned for model"):
        steer(other, [(walks["zoom"], 2.0)], z_of(other))
    with pytest.raises(DirectionMismatch):
        steer(other, [(walks["zoom"], 2.0)], z_of(other), fingerprint=other.fingerprint)
    with pytest.raises(ValueError, match="outside the allowed range"):
        steer(G, [(walks["zoom"], 9.0)], z_of(G))
    with pytest.raises(ValueError, match="outside"):
        steer(G, [(walks["shift_x"], float("nan"))], z_of(G))
    with pytest.raises(ValueError, match="exactly one"):
        steer(G, [], None)


def _fake(kind, G, tensors, space="z"):
    return Direction(kind=kind, space=space, tensors=tensors, model=G.name, fingerprint=G.fingerprint,
                     alpha=plain_alpha(1.0))


@pytest.fixture
def user_kind():
    """``user_kind(name, cls)`` registers a kind for one test, as a plugin would; removed afterwards."""
    names = []

    def add(name, cls):
        register_kind(name)(cls)
        names.append(name)
        return KINDS[name]
    yield add
    for name in names:
        KINDS.unregister(name)


class Flip(Kind):
    """Render-only: the plain image, mirrored (a new method without a latent move)."""

    def render(self, d, G, latent, alpha_g, classes):
        return G.synthesize(latent).flip(-1)


def test_kinds_without_a_move_render_last_and_only_one_at_a_time(G, walks, user_kind):
    # A kind with a renderer but no move (e.g. a new method): applied as the last step.
    user_kind("test_flip", Flip)
    flip, flip2 = _fake("test_flip", G, {"v": torch.zeros(1)}), _fake("test_flip", G, {"v": torch.ones(1)})
    z = z_of(G)
    out = steer(G, [(walks["shift_x"], 0.25), (flip, 0.5)], z)
    assert torch.allclose(out, walks["shift_x"].render(G, z, 0.25).flip(-1), atol=1e-6)
    assert torch.allclose(steer(G, [(flip, 0.5), (flip2, 0.0)], z), G.synthesize(z).flip(-1))
    with pytest.raises(ValueError, match="cannot be combined"):
        steer(G, [(flip, 0.5), (flip2, -0.5)], z)


def test_weight_shift_hook_sums_shifts_and_leaves_the_model(G, walks, user_kind):
    name = "conv1.weight"
    w = G.shiftable_weights()[name]

    class Shift(Kind):
        def weight_shifts(self, d, G_, ag):
            return {name: ag[0, 0] * d.tensors["dw"]}

        def render(self, *a):  # never called when combining: the summed shifts are rendered
            raise AssertionError("render called")
    user_kind("test_weight", Shift)
    dw1, dw2 = torch.randn_like(w) * 0.1, torch.randn_like(w) * 0.1
    a, b = _fake("test_weight", G, {"dw": dw1}, "weight"), _fake("test_weight", G, {"dw": dw2}, "weight")
    z = z_of(G)
    before = w.clone()
    out = steer(G, [(walks["zoom"], 2.0), (a, 0.5), (b, -1.0)], z)
    lat = z + np.log(2.0) * walks["zoom"].tensors["w"][0]
    assert torch.allclose(out, G.synthesize_shifted(lat, {name: 0.5 * dw1 - dw2}), atol=1e-6)
    assert torch.equal(G.shiftable_weights()[name], before)
    assert (out - G.synthesize(lat)).abs().max() > 1e-3


class TwoSpaces(DCGANGenerator):
    latent_spaces = ("z", "w")

    def to_space(self, z, space="z", classes=None):
        self.check_space(space)
        return z if space == "z" else 2 * z

    def _synthesize(self, latent, space, classes):
        return super()._synthesize(latent / 2 if space == "w" else latent, space, classes)


def test_directions_in_two_latent_spaces_are_not_mixed():
    torch.manual_seed(0)
    G2 = TwoSpaces(z_dim=8, resolution=16, width=8).eval()
    dz, dw = (Direction(kind="linear", space=sp, tensors={"w": torch.randn(1, 8)}, model=G2.name,
                        fingerprint=G2.fingerprint, alpha=alpha_spec(get_edit(e)), edit=e)
              for sp, e in (("z", "shift_x"), ("w", "zoom")))
    z = z_of(G2)
    assert torch.allclose(steer(G2, [(dw, 2.0), (dz, 0.0)], z), dw.render(G2, z, 2.0), atol=1e-6)
    with pytest.raises(ValueError, match="different latent spaces"):
        steer(G2, [(dw, 2.0), (dz, 0.2)], z)


# ----------------------------------------------------------------------------- library
@pytest.fixture
def folder(tmp_path, G, walks):
    walks["zoom"].save(tmp_path / "runs" / "a" / "direction")
    walks["color"].save(tmp_path / "runs" / "b" / "direction")
    other = learn_linear_walk(make_tiny(seed=1, name="tiny2"), "zoom", steps=1, progress=False)
    other.save(tmp_path / "runs" / "c" / "other")
    save_generator(G, tmp_path / "runs" / "tiny")  # a generator file, not a direction: ignored
    (tmp_path / "runs" / "junk.safetensors").write_bytes(b"\x00" * 50)  # unreadable: listed as refused
    return tmp_path


def test_library_offers_only_the_models_directions(folder, G):
    lib = Library([G, make_tiny(seed=1, name="tiny2")], [folder / "runs"])
    assert len(find_direction_files([folder / "runs"])) == 3
    entries, refused = lib.directions_for("tiny")
    assert sorted(e.label.split(" ")[0] for e in entries) == ["color", "zoom"]
    assert len(refused) == 2 and "junk.safetensors: unreadable" in refused[0]
    assert "other.safetensors" in refused[1] and "learned for model 'tiny2'" in refused[1]
    entries2, refused2 = lib.directions_for("tiny2")
    assert [e.label.split(" ")[0] for e in entries2] == ["zoom"] and len(refused2) == 3


def test_library_refuses_bad_models_and_direction_uploads(folder, G, tmp_path):
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        Library(["nope"])
    with pytest.raises(FileNotFoundError):
        Library([str(tmp_path / "missing.safetensors")])
    lib = Library([G], [folder / "runs"])
    with pytest.raises(ValueError, match="unknown model"):
        lib.model("faces2")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(ValueError, match="not a valid safetensors"):
        lib.load_upload(bad, "tiny")
    pick = tmp_path / "pick.safetensors"
    pick.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(ValueError, match="pickle"):
        lib.load_upload(pick, "tiny")
    with pytest.raises(DirectionMismatch, match="learned for model 'tiny'"):
        Library([make_tiny(seed=1, name="tiny2")]).load_upload(folder / "runs" / "a" / "direction.safetensors",
                                                                 "tiny2")
    # a truncated copy of a real direction
    good = (folder / "runs" / "a" / "direction.safetensors").read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError):
        lib.load_upload(cut, "tiny")
    assert lib.load_upload(folder / "runs" / "a" / "direction.safetensors", "tiny").direction.edit == "zoom"


def test_library_opens_on_the_model_most_directions_are_for(folder, G):
    tiny2 = make_tiny(seed=1, name="tiny2")
    # folder: two directions for tiny, one for tiny2, a generator file and an unreadable file
    assert Library([tiny2, G], [folder / "runs"]).default_model() == "tiny"  # not the first listed
    assert Library([tiny2], [folder / "runs"]).default_model() == "tiny2"   # a single model is the one
    assert Library([tiny2, G], []).default_model() == "tiny2"               # no directions: the first
    for k in range(3):  # three more for tiny2: it wins
        learn_linear_walk(tiny2, "zoom", steps=1, progress=False).save(folder / "runs" / f"t2-{k}" / "d")
    assert Library([G, tiny2], [folder / "runs"]).default_model() == "tiny2"


def test_library_class_names_truncation_and_layers(tmp_path):
    from steerlab.models import StyleGAN2Generator, load_generator
    G = make_tiny(num_classes=3, name="cond")
    save_generator(G, tmp_path / "cond", card={"class_names": ["disc", "ring", "star"]})
    lib = Library([str(tmp_path / "cond.safetensors"), make_tiny()])
    assert lib.class_names("cond") == ["disc", "ring", "star"]
    assert lib.class_names("tiny") == []
    assert lib.truncation("tiny") is None and lib.num_ws("tiny") is None  # a DCGAN: no psi, no w+
    with pytest.raises(ValueError, match="takes no truncation"):
        with lib.rendering("tiny", 0.5):
            pass
    torch.manual_seed(0)
    sg = StyleGAN2Generator(resolution=16, z_dim=12, w_dim=12, n_mlp=2, channels=[16, 8, 8], name="sg")
    with torch.no_grad():
        sg.mapping.w_avg.normal_(0, 1.0)
    save_generator(sg.eval(), tmp_path / "sg")
    lib = Library([str(tmp_path / "sg.safetensors")])
    assert lib.truncation("sg") == 1.0 and lib.num_ws("sg") == 6
    z = torch.randn(2, 12, generator=torch.Generator().manual_seed(1))
    with lib.rendering("sg", 0.5) as M:
        half = M.synthesize(z)
    assert lib.model("sg").truncation_psi == 1.0  # put back as loaded
    ref = load_generator(tmp_path / "sg.safetensors")
    ref.set_truncation(0.5)
    assert torch.allclose(half, ref.synthesize(z), atol=1e-6)
    assert (half - lib.model("sg").synthesize(z)).abs().max() > 1e-3  # psi changed the images
    with pytest.raises(ValueError, match="truncation psi"):
        with lib.rendering("sg", 3.0):
            pass
    assert lib.model("sg").truncation_psi == 1.0


def test_slider_scales_put_the_identity_mid_track():
    from steerlab.ui.views import from_slider, slider_label, slider_range, to_slider
    zoom, shift = alpha_spec(get_edit("zoom")), alpha_spec(get_edit("shift_x"))
    lo, hi, step = slider_range(zoom)
    assert (lo, hi) == (-2.0, 2.0) and to_slider(zoom, zoom.identity) == (lo + hi) / 2  # factor 1 mid-track
    for a in (0.25, 0.5, 1.0, 1.8, 4.0):
        assert from_slider(zoom, to_slider(zoom, a)) == pytest.approx(a)
    assert from_slider(zoom, 1.0) == 2.0 and from_slider(zoom, -1.0) == 0.5
    assert "log2" in slider_label(zoom, "zoom")[0] and "log2" not in slider_label(shift, "shift")[0]
    assert slider_range(shift)[:2] == shift.alpha_range and from_slider(shift, -0.3) == -0.3  # linear: as is
    assert 100 <= (hi - lo) / step <= 1000


def test_panels_keep_each_cell_exact_and_labels_legible():
    from steerlab.report.plots import to_uint8
    from steerlab.ui.views import FONT_PX, LABEL_BAND, cell, cell_scale, compose
    x = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    want = to_uint8(x)
    single = np.asarray(compose(x[:1]))
    k1 = cell_scale(16, 1)
    assert single.shape == (16 * k1, 16 * k1, 3) and np.array_equal(single[::k1, ::k1], want[0])
    k = cell_scale(16, 3)
    pic = np.asarray(compose(x, [f"seed {i}" for i in range(5)], cols=3))
    assert pic.shape[1] >= 480  # a grid fills the display, whatever the model's size
    for i in range(5):
        assert np.array_equal(cell(pic, i, 3, 16, k, labelled=True), want[i]), i
    band = pic[:LABEL_BAND, : 16 * k]
    dark_rows = np.nonzero((band.min(axis=(1, 2)) < 100))[0]
    assert dark_rows.size and dark_rows.max() - dark_rows.min() + 1 >= FONT_PX // 2  # text, at a readable size


def test_mp4_export_decodes_to_its_frames(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="imageio-ffmpeg is not installed (the ui extra)")
    from steerlab.report.video import save_mp4
    frames = [Image.new("RGB", (40, 30), (40 * i, 255 - 40 * i, 128)) for i in range(5)]
    path = save_mp4(frames, tmp_path / "a.mp4", fps=5)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    got = [np.frombuffer(f, np.uint8).reshape(meta["size"][1], meta["size"][0], 3) for f in reader]
    assert meta["size"] == (48, 32) and len(got) == 2 * 5 - 2  # padded to 16s; forward then back
    for g, f in zip(got, frames + frames[-2:0:-1]):
        assert np.abs(g[5:25, 5:35].astype(int) - np.asarray(f)[5:25, 5:35].astype(int)).mean() < 8
    assert np.abs(got[0].astype(int) - got[4].astype(int)).mean() > 50  # the frames differ
    with pytest.raises(ValueError, match="one size"):
        save_mp4([frames[0], Image.new("RGB", (8, 8))], tmp_path / "b.mp4")
    with pytest.raises(ValueError, match="at least one frame"):
        save_mp4([], tmp_path / "c.mp4")
    assert not (tmp_path / "b.mp4").exists()


def test_read_image_resizes_and_refuses_non_images(tmp_path):
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[:, :30] = 255  # left half white
    Image.fromarray(arr).save(tmp_path / "a.png")
    x = read_image(tmp_path / "a.png", 16)
    assert x.shape == (1, 3, 16, 16) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    # centre crop of 40x40 keeps columns 10..49: white for 20 of 40 -> left half white
    assert x[0, :, :, :7].mean() > 0.95 and x[0, :, :, 9:].mean() < 0.05
    assert read_image(tmp_path / "a.png", 8, channels=1).shape == (1, 1, 8, 8)
    (tmp_path / "b.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="b.png: not a readable image"):
        read_image(tmp_path / "b.png", 16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG")
    (tmp_path / "c.jpg").write_bytes(buf.getvalue()[:200])  # truncated
    with pytest.raises(ValueError, match="not a readable image"):
        read_image(tmp_path / "c.jpg", 16)


def test_cli_ui_refuses_bad_arguments_quickly(capsys, tmp_path):
    from steerlab.cli import main
    assert main(["ui", "--port", "0"]) == 2
    assert "--port: must be a whole number in [1, 65535]" in capsys.readouterr().err
    assert main(["ui", "--directions", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["ui", "--model", "bogus", "--directions", str(tmp_path)]) == 2
    assert "unknown model 'bogus'" in capsys.readouterr().err


def test_combine_hooks_match_each_kinds_own_renderer(G, walks):
    """Through `steer`, one direction of each built-in kind renders exactly as its kind's own render."""
    nonlinear = pytest.importorskip("steerlab.methods.walks.nonlinear")
    pytest.importorskip("steerlab.methods.trajectories")
    shifts = pytest.importorskip("steerlab.methods.paramspace.shifts")
    g = torch.Generator().manual_seed(3)
    dirs = {
        "nonlinear": (nonlinear.learn_nonlinear_walk(G, "zoom", steps=2, hidden=16, progress=False), 1.7),
        "nn-linear": (nonlinear.learn_nn_walk(G, "shift_x", steps=2, hidden=16, progress=False), -0.3),
        "trajectory": (Direction(kind="trajectory", space="z", model=G.name, fingerprint=G.fingerprint,
                                 tensors={"u": torch.nn.functional.normalize(torch.randn(8, generator=g), dim=0),
                                          "knots_x": torch.linspace(-3, 3, 7),
                                          "knots_y": torch.linspace(-3, 3, 7) ** 3 / 9 + torch.linspace(-1, 1, 7)},
                                 alpha=plain_alpha(4.0, "factor")), 1.5),
        "weight": (shifts.weight_direction(G, "conv2.weight", torch.randn(G.conv2.weight.shape, generator=g),
                                           limit=20.0, method="test", index=0), 12.0),
    }
    assert all(KINDS[k].moves_latents or KINDS[k].shifts_weights for k in dirs)  # all combine with others
    z = z_of(G, n=2)
    for kind, (d, a) in dirs.items():
        alone = steer(G, [(d, a)], z)
        assert torch.allclose(alone, d.render(G, z, a), atol=1e-5), kind
        assert (alone - G.synthesize(z)).abs().max() > 1e-4, kind  # the knob does something
    # a latent move and a weight shift together: the weight steerer applied to the moved latent
    zoom, (wd, t) = walks["zoom"], dirs["weight"]
    moved = z + np.log(2.0) * zoom.tensors["w"][0]
    both = steer(G, [(zoom, 2.0), (wd, t)], z)
    assert torch.allclose(both, KINDS["weight"].render(wd, G, moved, torch.full((2, 1), t), None), atol=1e-5)
    # two moves compose in order: nonlinear after linear
    nl, a = dirs["nonlinear"]
    expect = KINDS["nonlinear"].render(nl, G, moved, nl.to_g(a, 2), None)
    assert torch.allclose(steer(G, [(zoom, 2.0), (nl, a)], z), expect, atol=1e-5)


# ----------------------------------------------------------------------------- the served app
@pytest.mark.slow  # about 35 s of CPU on 2 cores
def test_served_app_survives_200_requests_from_20_concurrent_sessions(tmp_path):
    """A bounded loopback load test: 20 clients at once, 10 renders each, through gradio's queue
    (plain HTTP to the ``/render`` API); every request is answered with its own seed's image and
    the server stays up."""
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[ui]')")
    import json
    import socket
    import time
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    from steerlab.report.plots import to_uint8
    from steerlab.ui.app import launch
    G = make_tiny()
    save_generator(G, tmp_path / "tiny")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch([str(tmp_path / "tiny.safetensors")], [tmp_path], port=port, block=False, inverter=None)
    url = f"http://127.0.0.1:{port}"

    def render(seed: int) -> tuple[str, str]:
        """One render through the queue: POST the inputs, read the event stream to its end."""
        body = json.dumps({"data": ["tiny", seed, 0, [], 1.0, 0, 1, 1, *[0.0] * 24]}).encode()
        req = urllib.request.Request(f"{url}/gradio_api/call/render", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            event = json.load(r)["event_id"]
        with urllib.request.urlopen(f"{url}/gradio_api/call/render/{event}", timeout=120) as r:
            text = r.read().decode()
        assert "event: complete" in text, text[-500:]
        data = json.loads(text.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
        return data[0]["url"], data[-1]  # (image, state, status): the state comes back empty

    latencies = []

    def client(i: int) -> list[tuple[int, str, str]]:
        out = []
        for j in range(10):
            t = time.perf_counter()
            out.append((100 * i + j, *render(100 * i + j)))
            latencies.append(time.perf_counter() - t)
        return out
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(20) as pool:
            results = [r for rs in pool.map(client, range(20)) for r in rs]
        wall = time.perf_counter() - t0
        assert len(results) == 200
        q = np.quantile(latencies, [0.5, 0.95, 1.0])
        print(f"\n200 renders from 20 concurrent clients in {wall:.1f} s; per request median {q[0]:.2f} s, "
              f"95 % {q[1]:.2f} s, max {q[2]:.2f} s")
        for seed, _, status in results:
            assert f"tiny, seed {seed}, 0 direction(s)" in status, status
        for seed, image_url, _ in results[::37]:  # each answer is its own seed's image (sampled)
            with urllib.request.urlopen(image_url, timeout=30) as r:
                shown = np.asarray(Image.open(io.BytesIO(r.read())).convert("RGB"))
            z = G.sample_z(1, generator=torch.Generator().manual_seed(seed))
            k = shown.shape[0] // 16
            assert np.abs(shown[::k, ::k].astype(int) - to_uint8(G.synthesize(z))[0].astype(int)).max() <= 1
        with urllib.request.urlopen(url + "/", timeout=10) as r:  # the server is still up
            assert r.status == 200
    finally:
        app.close()
