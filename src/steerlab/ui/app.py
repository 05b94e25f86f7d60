"""The steering wheel: a gradio web app to drive a generator with every saved direction.

Jahanian et al., Fig. 1: "take the steering wheel, drive in the latent space". Choose a model,
a seed (and a class for a conditional model) or a photo inverted into the model, tick any
directions saved for that model, and move one slider per direction (three for colour); the
image is re-rendered with all of them combined (`steerlab.ui.steering.steer`) when a slider
is released. Save the image, or export a strip and a GIF of one direction in the current
context.

The app is a thin layer over `Library` (models, direction files, uploads) and `steer`; every
handler turns any exception into a one-line message in the status box, so nothing a user
types or uploads can stop the server.
"""
from __future__ import annotations

import atexit
import functools
import html
import logging
import math
import os
import random
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry calls: offline machines

import gradio as gr  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from steerlab.directions import Direction  # noqa: E402
from steerlab.report.plots import grid_image, save_gif, save_png, to_uint8  # noqa: E402
from steerlab.ui.library import Library, _first_line, check_host, check_launch, find_inverter, parse_auth, read_image  # noqa: E402
from steerlab.ui.steering import steer  # noqa: E402

log = logging.getLogger(__name__)

MAX_SLIDERS = 24    # sliders are a fixed pool, shown and relabelled as directions are ticked
DISPLAY_SIDE = 320  # the image is shown nearest-upscaled to at least this many pixels
STRIP_ALPHAS = 7    # alphas in an exported strip (colour: 5 per channel)
CSS = "#steer-image img, #steer-strip img {image-rendering: pixelated;} #status {min-height: 1.5em;}"


# --------------------------------------------------------------------------- helpers
def _nice_step(lo: float, hi: float) -> float:
    """A round slider step giving about 100-1000 positions over [lo, hi]."""
    return 10.0 ** math.floor(math.log10((hi - lo) / 100))


def _display(images: torch.Tensor) -> Image.Image:
    """First image of (N, C, H, W) in [0, 1] as a PIL image, nearest-upscaled for the screen."""
    img = Image.fromarray(to_uint8(images[:1])[0])
    k = max(1, -(-DISPLAY_SIDE // img.width))
    return img.resize((img.width * k, img.height * k), Image.NEAREST)


def _ok(text: str) -> str:
    return f"<span style='color:#2a6'>{html.escape(text)}</span>"  # escaped: file names are user input


def _error(text: str) -> str:
    return f"<span class='steer-error' style='color:#c22'><b>Error:</b> {html.escape(text)}</span>"


def _safe(fn: Callable) -> Callable:
    """Run a handler; on any exception leave every output as it is and report in the status box.

    Every handler's last output is the status box. A ValueError/FileNotFoundError is the
    user's input (shown as is); anything else is logged with its traceback and shown in one line.
    """
    @functools.wraps(fn)
    def wrapper(*args):
        try:
            return fn(*args)
        except (ValueError, FileNotFoundError, KeyError, IndexError, TypeError) as e:
            msg = _first_line(e)
        except Exception as e:  # nothing a user does may take the server down
            log.exception("steering wheel handler %s failed", fn.__name__)
            msg = f"internal error ({e.__class__.__name__}: {_first_line(e)[:200]})"
        n = wrapper.n_outputs
        return tuple([gr.skip()] * (n - 1) + [_error(msg)]) if n > 1 else _error(msg)
    wrapper.n_outputs = 1
    return wrapper


def _seed(seed) -> int:
    ok = seed is not None and math.isfinite(float(seed)) and float(seed) == int(seed)
    if not ok or not 0 <= int(seed) < 2 ** 63:
        raise ValueError(f"seed must be a whole number in [0, 2^63), got {seed!r}")
    return int(seed)


# --------------------------------------------------------------------------- the app
def build_app(library: Library, *, inverter: Callable | None | str = "auto",
              max_sliders: int = MAX_SLIDERS) -> gr.Blocks:
    """The steering wheel as a `gr.Blocks` (call ``.launch()`` or use `launch`).

    Args:
        library: the models and direction folders to offer.
        inverter: ``invert(G, images, classes) -> z`` for the photo upload; "auto" uses
            `steerlab.methods.trajectories.invert` when installed; None hides the upload.
        max_sliders: size of the slider pool (a colour direction takes three).
    """
    if inverter == "auto":
        inverter = find_inverter()
    names = library.model_names
    # Saved images and strips go here until gradio copies them into its cache; gone at exit.
    workdir = Path(tempfile.mkdtemp(prefix="steerlab-ui-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)

    # ------------------------------------------------------------ session lookups
    def directions(model: str, state: dict, rescan: bool = False) -> dict[str, tuple[str, Direction]]:
        """key -> (label, direction) for every direction offered for ``model`` (folders + uploads)."""
        entries, _ = library.directions_for(model, rescan=rescan)
        out = {e.key: (e.label, e.direction) for e in entries}
        out.update(state["uploads"].get(model, {}))
        return out

    def layout(keys: Sequence[str], offered: dict) -> list[tuple[str, int]]:
        """One (key, component) per slider, in tick order; colour has three components."""
        slots = [(k, c) for k in keys if k in offered
                 for c in range(offered[k][1].alpha.alpha_dim)]
        if len(slots) > max_sliders:
            raise ValueError(f"at most {max_sliders} sliders; untick some directions")
        return slots

    def knobs(keys, offered, values) -> list[tuple[Direction, object]]:
        out, i = [], 0
        for k in keys:
            if k not in offered:
                continue
            d = offered[k][1]
            dim = d.alpha.alpha_dim
            vals = [float(v) if v is not None else float(d.alpha.identity) for v in values[i:i + dim]]
            i += dim
            out.append((d, vals[0] if dim == 1 else vals))
        return out

    def source(G, seed, cls, state):
        """(z, classes, what) of the current image: an inverted photo's z or a seeded sample.

        Inversion works in z, so a photo's code is mapped into each direction's space like a seed's.
        """
        classes = None
        if G.num_classes:
            if cls is None or float(cls) != int(cls) or not 0 <= int(cls) < G.num_classes:
                raise ValueError(f"class must be a whole number in [0, {G.num_classes - 1}], got {cls!r}")
            classes = torch.tensor([int(cls)], device=G.device)
        what = f", class {int(cls)}" if G.num_classes else ""
        photo = state.get("photo")
        if photo is not None and photo[0] == G.name:
            return photo[1].to(G.device), classes, f"photo '{photo[2]}'{what}"
        z = G.sample_z(1, generator=torch.Generator().manual_seed(_seed(seed)))
        return z, classes, f"seed {int(seed)}{what}"

    def render_image(model, seed, cls, keys, state, values):
        G = library.model(model)
        offered = directions(model, state)
        kn = knobs(keys or [], offered, values)
        z, classes, what = source(G, seed, cls, state)
        t0 = time.perf_counter()
        img = steer(G, kn, z, classes=classes, fingerprint=library.fingerprint(model))
        ms = (time.perf_counter() - t0) * 1000
        state["values"].update(zip([k for k in keys or [] if k in offered], [a for _, a in kn]))
        state["last"] = img.cpu()
        return _display(img), state, _ok(f"{model}, {what}, {len(kn)} direction(s); rendered in {ms:.0f} ms")

    def slot_values(keys, offered, state) -> list[float]:
        """Each slider's value: the session's last value for that direction, else its identity."""
        vals = []
        for k, c in layout(keys, offered):
            stored = state["values"].get(k, offered[k][1].alpha.identity)
            vals.append(stored[c] if isinstance(stored, list) else stored)
        return vals

    def slider_updates(keys, offered, state) -> list:
        """Show, label and range one slider per (direction, component); hide the rest."""
        slots, vals = layout(keys, offered), slot_values(keys, offered, state)
        ups = [gr.update(visible=False)] * max_sliders
        for i, ((k, c), value) in enumerate(zip(slots, vals)):
            label, d = offered[k]
            lo, hi = d.alpha.alpha_range
            name = label.split(" - ")[0] + (" " + "RGB"[c] if d.alpha.alpha_dim == 3 else "")
            ups[i] = gr.update(visible=True, minimum=lo, maximum=hi, value=value, step=_nice_step(lo, hi),
                               label=name, info=f"{d.alpha.unit}; identity {d.alpha.identity:g}")
        return ups

    def view(model, seed, cls, keys, state):
        """Everything that depends on the model and the ticked directions, rendered."""
        G = library.model(model)
        entries, refused = library.directions_for(model, rescan=True)
        offered = directions(model, state)
        keys = [k for k in keys or [] if k in offered]
        choices = [(label, k) for k, (label, _) in offered.items()]
        note = f"{len(entries)} direction file(s) for **{model}**" + (
            f"; {len(refused)} refused (another model, or unreadable): see below" if refused else "")
        refused_text = "\n".join(f"- {r}" for r in refused[:50]) + (
            f"\n- ... and {len(refused) - 50} more" if len(refused) > 50 else "")
        image, state, status = render_image(model, seed, cls, keys, state, slot_values(keys, offered, state))
        return ([gr.update(choices=choices, value=keys), note, refused_text or "none",
                 gr.update(visible=bool(G.num_classes), maximum=max(G.num_classes - 1, 0),
                           label=f"class (0-{G.num_classes - 1})" if G.num_classes else "class"),
                 gr.update(choices=[(offered[k][0], k) for k in keys], value=keys[0] if keys else None),
                 *slider_updates(keys, offered, state), image, state, status])

    # ------------------------------------------------------------ layout
    # delete_cache: gradio's copies of served images older than an hour are removed hourly
    with gr.Blocks(title="steerlab steering wheel", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown("## steerlab — the steering wheel\nTake the steering wheel, drive in the latent "
                    "space (Jahanian et al., Fig. 1). Tick directions, move their sliders; the image "
                    "updates when a slider is released.")
        state = gr.State(lambda: {"uploads": {}, "values": {}, "photo": None, "last": None})
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                model = gr.Dropdown(names, value=names[0], label="model", elem_id="model")
                with gr.Row():
                    seed = gr.Number(0, precision=0, minimum=0, label="seed", elem_id="seed")
                    cls = gr.Number(0, precision=0, minimum=0, label="class", visible=False, elem_id="class")
                new_seed = gr.Button("new seed", size="sm")
                picks = gr.CheckboxGroup([], label="directions", elem_id="directions")
                note = gr.Markdown(elem_id="direction-note")
                with gr.Accordion("refused direction files", open=False, elem_id="refused-box"):
                    refused_md = gr.Markdown(elem_id="refused")
                dir_upload = gr.UploadButton("add a direction file (.safetensors)", file_types=[".safetensors"],
                                             type="filepath", size="sm", elem_id="direction-upload")
                with gr.Row(visible=inverter is not None):
                    photo = gr.UploadButton("steer a real image (inverted into the model)", file_types=["image"],
                                            type="filepath", size="sm", elem_id="photo-upload")
                    use_seed = gr.Button("back to the seed", size="sm", elem_id="use-seed")
            with gr.Column(scale=1, min_width=320):
                image = gr.Image(label="image", type="pil", format="png", interactive=False,
                                 buttons=["download"], elem_id="steer-image", height=DISPLAY_SIDE + 20)
                status = gr.Markdown(elem_id="status")
                sliders = [gr.Slider(-1, 1, 0, visible=False, elem_id=f"knob-{i}") for i in range(max_sliders)]
                with gr.Row():
                    reset = gr.Button("reset sliders", size="sm")
                    save = gr.Button("save image", size="sm", elem_id="save")
                with gr.Row():
                    which = gr.Dropdown([], label="export this direction", elem_id="export-which")
                    export = gr.Button("export strip + GIF", size="sm", elem_id="export")
                files = gr.File(label="files", file_count="multiple", interactive=False, elem_id="files",
                                visible=False)
                strip = gr.Image(label="strip", type="pil", format="png", interactive=False, elem_id="steer-strip",
                                 visible=False)

        view_outputs = [picks, note, refused_md, cls, which, *sliders, image, state, status]
        render_outputs = [image, state, status]
        base_inputs = [model, seed, cls, picks, state]

        def wire(event, fn, inputs, outputs, **kw):
            fn = _safe(fn)
            fn.n_outputs = len(outputs)
            return event(fn, inputs, outputs, **kw)

        # ------------------------------------------------------------ handlers
        def on_view(model_, seed_, cls_, keys, state_):
            return view(model_, seed_, cls_, keys, state_)

        def on_model(model_, seed_, cls_, keys, state_):
            state_["photo"] = None
            return view(model_, seed_, cls_, [], state_)

        def on_render(model_, seed_, cls_, keys, state_, *values):
            return render_image(model_, seed_, cls_, keys, state_, values)

        def on_seed(model_, seed_, cls_, keys, state_, *values):
            state_["photo"] = None
            return render_image(model_, seed_, cls_, keys, state_, values)

        def on_new_seed():
            return random.randrange(2 ** 31), ""

        def on_reset(model_, seed_, cls_, keys, state_):
            for k in keys or []:
                state_["values"].pop(k, None)
            return view(model_, seed_, cls_, keys, state_)

        def on_direction_upload(model_, seed_, cls_, keys, state_, path):
            if not path:
                raise ValueError("no file received")
            try:
                entry = library.load_upload(path, model_)
            except ValueError as e:  # name the file as the user knows it, not gradio's temp path
                msg = _first_line(e).replace(str(Path(path).parent) + os.sep, "")
                raise type(e)(msg if msg.startswith(Path(path).name) else f"{Path(path).name}: {msg}") from None
            state_["uploads"].setdefault(model_, {})[entry.key] = (entry.label, entry.direction)
            return view(model_, seed_, cls_, list(keys or []) + [entry.key], state_)

        def on_photo(model_, seed_, cls_, keys, state_, path, *values):
            if not path:
                raise ValueError("no file received")
            if inverter is None:
                raise ValueError("inversion is not installed (steerlab.methods.trajectories.invert)")
            G = library.model(model_)
            x = read_image(path, G.resolution, G.channels).to(G.device)
            _, classes, _ = source(G, 0, cls_, {"photo": None})  # validates the class
            t0 = time.perf_counter()
            z = inverter(G, x, classes)
            if not torch.isfinite(z).all():
                raise ValueError("inversion diverged (NaN); try another image")
            state_["photo"] = (G.name, z.cpu(), Path(path).name)
            image_, state_, status_ = render_image(model_, seed_, cls_, keys, state_, values)
            return image_, state_, status_ + _ok(f"; inverted in {time.perf_counter() - t0:.1f} s")

        def on_use_seed(model_, seed_, cls_, keys, state_, *values):
            state_["photo"] = None
            return render_image(model_, seed_, cls_, keys, state_, values)

        def on_save(state_):
            last = state_.get("last")
            if last is None:
                raise ValueError("nothing rendered yet")
            folder = Path(tempfile.mkdtemp(dir=workdir))
            native = save_png(Image.fromarray(to_uint8(last[:1])[0]), folder / "steered.png")
            return gr.update(value=[str(native)], visible=True), _ok(
                f"saved {native.name} ({last.shape[-1]} px, the model's own resolution): see 'files'")

        def on_export(model_, seed_, cls_, keys, state_, key, *values):
            if not key:
                raise ValueError("tick a direction, then choose it under 'export this direction'")
            G = library.model(model_)
            offered = directions(model_, state_)
            if key not in offered or key not in (keys or []):
                raise ValueError("the direction to export is not ticked")
            kn = knobs(keys, offered, values)
            idx = [k for k in keys if k in offered].index(key)
            d = kn[idx][0]
            grid = d.knob.grid(STRIP_ALPHAS if d.alpha.alpha_dim == 1 else 5)
            z, classes, _ = source(G, seed_, cls_, state_)
            frames = []
            with torch.no_grad():
                for a in grid:
                    a = a.item() if a.dim() == 0 else a.tolist()
                    kn_a = kn[:idx] + [(d, a)] + kn[idx + 1:]
                    frames.append(steer(G, kn_a, z, classes=classes, fingerprint=library.fingerprint(model_)))
            images = torch.cat(frames)  # (A, C, H, W)
            labels = [f"{a:.3g}" if isinstance(a, float) else "(" + ",".join(f"{v:+.2g}" for v in a) + ")"
                      for a in grid.tolist()]
            folder = Path(tempfile.mkdtemp(dir=workdir))
            name = offered[key][0].split(" ")[0]
            pic = grid_image([images], col_labels=labels, scale=max(2, 128 // G.resolution))
            png = save_png(pic, folder / f"strip-{name}.png")
            gif = save_gif([grid_image([images[j:j + 1]], scale=max(4, 256 // G.resolution))
                            for j in range(len(images))], folder / f"strip-{name}.gif")
            return gr.update(value=[str(png), str(gif)], visible=True), gr.update(value=pic, visible=True), _ok(
                f"exported {len(images)} frames of '{name}' (other sliders held at their values)")

        # ------------------------------------------------------------ events
        wire(app.load, on_model, base_inputs, view_outputs)
        wire(model.input, on_model, base_inputs, view_outputs)
        wire(picks.input, on_view, base_inputs, view_outputs)
        for s in sliders:
            wire(s.release, on_render, base_inputs + sliders, render_outputs)
        wire(seed.submit, on_seed, base_inputs + sliders, render_outputs)
        wire(seed.blur, on_seed, base_inputs + sliders, render_outputs)
        wire(cls.submit, on_render, base_inputs + sliders, render_outputs)
        wire(cls.blur, on_render, base_inputs + sliders, render_outputs)
        wire(new_seed.click, on_new_seed, [], [seed, status]).then(
            _safe_n(on_seed, 3), base_inputs + sliders, render_outputs)
        wire(reset.click, on_reset, base_inputs, view_outputs)
        wire(dir_upload.upload, on_direction_upload, base_inputs + [dir_upload], view_outputs)
        wire(photo.upload, on_photo, base_inputs + [photo] + sliders, render_outputs)
        wire(use_seed.click, on_use_seed, base_inputs + sliders, render_outputs)
        wire(save.click, on_save, [state], [files, status])
        wire(export.click, on_export, base_inputs + [which] + sliders, [files, strip, status])
    app.steerlab_workdir = workdir  # removed by launch when the server stops (atexit otherwise)
    return app


def _safe_n(fn: Callable, n: int) -> Callable:
    wrapped = _safe(fn)
    wrapped.n_outputs = n
    return wrapped


def launch(models: Sequence[str] | None = None, directions: Sequence[str | os.PathLike] = (), *,
           port: int = 7860, host: str = "127.0.0.1", device: str = "cpu", block: bool = True,
           inverter: Callable | None | str = "auto", allow_remote: bool = False,
           auth: tuple[str, str] | str | None = None) -> gr.Blocks:
    """Start the steering wheel on ``http://host:port`` (the CLI's `steerlab ui`).

    Args:
        models: zoo names or generator files (default: the whole zoo).
        directions: folders (or files) searched for direction files.
        port, host: where to serve; the default host is loopback only, another one is refused
            unless ``allow_remote``.
        auth: ``(user, password)`` or ``"user:password"``: gradio's login page guards the app.
        device: torch device the models run on.
        block: keep serving until interrupted or SIGTERM (False returns the running app, for
            tests); either way the temporary folder goes when it stops.
    """
    check_launch(port, directions)
    check_host(host, allow_remote, auth)
    auth = parse_auth(auth) if isinstance(auth, str) else auth
    library = Library(models, directions, device=device)
    app = build_app(library, inverter=inverter)
    app.queue(default_concurrency_limit=4, max_size=256)
    try:
        app.launch(server_name=host, server_port=int(port), share=False, inbrowser=False, ssr_mode=False,
                   show_error=False, quiet=True, max_file_size="25mb", prevent_thread_lock=True,
                   css=CSS, footer_links=[], auth=auth)
    except OSError as e:
        raise ValueError(f"cannot serve on {host}:{port} ({_first_line(e)}); choose another --port") from None
    if block:
        where = ", ".join(str(f) for f in directions) or "nowhere (pass --directions)"
        print(f"steering wheel on http://{host}:{port} (models: {', '.join(library.model_names)}; "
              f"directions from {where}); Ctrl-C stops it", flush=True)
        stop_on_sigterm = threading.current_thread() is threading.main_thread()
        if stop_on_sigterm:  # SIGTERM ends the server like Ctrl-C, so the cleanup below runs
            previous = signal.signal(signal.SIGTERM, _sigterm)
        try:
            app.block_thread()
        finally:
            app.close()
            shutil.rmtree(app.steerlab_workdir, ignore_errors=True)
            if stop_on_sigterm:
                signal.signal(signal.SIGTERM, previous)
    return app


def _sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")
