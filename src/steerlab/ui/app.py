"""The steering wheel: a gradio web app to drive a generator with every saved direction.

Jahanian et al., Fig. 1: "take the steering wheel, drive in the latent space". Choose a model,
a seed (and a class for a conditional model) or a photo inverted into the model, tick any
directions saved for that model, and move one slider per direction (three for colour); the
image is re-rendered with all of them combined (`steerlab.ui.steering.steer`) while a slider
moves (gradio's ``.input`` with ``trigger_mode="always_last"``: at most one render per session
runs, and only the latest value waits behind it, so nothing queues up). A grid shows several
seeds at once; a photo is shown beside its reconstruction and the edit; StyleGAN models get
truncation psi and w+ layer-range controls. Save the image, or export a strip, a GIF and an
MP4 of one direction in the current context.

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
from steerlab.report.plots import alpha_label, save_gif, save_png, to_uint8  # noqa: E402
from steerlab.report.video import save_mp4  # noqa: E402
from steerlab.ui.library import Library, _first_line, check_host, check_launch, find_inverter, parse_auth, read_image  # noqa: E402
from steerlab.ui.steering import steer  # noqa: E402
from steerlab.ui.views import DISPLAY_SIDE, GRID_SIZES, compose, from_slider, grid_cols, slider_label, slider_range, to_slider  # noqa: E402

log = logging.getLogger(__name__)

MAX_SLIDERS = 24    # sliders are a fixed pool, shown and relabelled as directions are ticked
STRIP_ALPHAS = 7    # alphas in an exported strip (colour: 5 per channel)
CSS = "#steer-image img, #steer-strip img {image-rendering: pixelated;} #status {min-height: 1.5em;}"


# --------------------------------------------------------------------------- helpers
def _ok(text: str) -> str:
    return f"<span style='color:#2a6'>{html.escape(text)}</span>"  # escaped: file names are user input


def _error(text: str) -> str:
    return f"<span class='steer-error' style='color:#c22'><b>Error:</b> {html.escape(text)}</span>"


def _safe(fn: Callable, status) -> Callable:
    """Run a handler; on any exception leave every output as it is and report in the status box.

    Handlers return ``{component: value}``; on failure only ``status`` changes. A ValueError /
    FileNotFoundError is the user's input (shown as is); anything else is logged with its
    traceback and shown in one line.
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
        return {status: _error(msg)}
    return wrapper


def _seed(seed) -> int:
    ok = seed is not None and math.isfinite(float(seed)) and float(seed) == int(seed)
    if not ok or not 0 <= int(seed) < 2 ** 63:
        raise ValueError(f"seed must be a whole number in [0, 2^63), got {seed!r}")
    return int(seed)


def _grid_n(n) -> int:
    if n is None or int(n) not in GRID_SIZES:
        raise ValueError(f"samples must be one of {', '.join(map(str, GRID_SIZES))}, got {n!r}")
    return int(n)


# --------------------------------------------------------------------------- the app
def build_app(library: Library, *, inverter: Callable | None | str = "auto",
              max_sliders: int = MAX_SLIDERS) -> gr.Blocks:
    """The steering wheel as a `gr.Blocks` (call ``.launch()`` or use `launch`).

    Args:
        library: the models and direction folders to offer; the page opens on
            `Library.default_model` (the model most direction files were learned for).
        inverter: ``invert(G, images, classes) -> z`` for the photo upload; "auto" uses
            `steerlab.methods.trajectories.invert` when installed; None hides the upload.
        max_sliders: size of the slider pool (a colour direction takes three).
    """
    if inverter == "auto":
        inverter = find_inverter()
    names = library.model_names
    first = library.default_model()
    # Saved images and exports go here until gradio copies them into its cache; gone at exit.
    workdir = Path(tempfile.mkdtemp(prefix="steerlab-ui-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)

    # ------------------------------------------------------------ layout
    # delete_cache: gradio's copies of served images older than an hour are removed hourly
    with gr.Blocks(title="steerlab steering wheel", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown("## steerlab — the steering wheel\nTake the steering wheel, drive in the latent "
                    "space (Jahanian et al., Fig. 1). Tick directions, move their sliders; the image "
                    "follows the slider while you drag (arrow keys and a typed value + Enter too).")
        state = gr.State(lambda: {"uploads": {}, "values": {}, "photo": None, "last": None, "shown": None})
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                model = gr.Dropdown(names, value=first, label="model", elem_id="model")
                with gr.Row():
                    seed = gr.Number(0, precision=0, minimum=0, label="seed", elem_id="seed")
                    cls = gr.Dropdown([("0", 0)], value=0, label="class", visible=False, elem_id="class")
                with gr.Row():
                    new_seed = gr.Button("new seed", size="sm")
                    grid = gr.Radio(list(GRID_SIZES), value=1, label="samples (consecutive seeds from the one above)",
                                    elem_id="grid")
                with gr.Group(visible=False, elem_id="stylegan") as stylegan:
                    psi = gr.Slider(0.0, 2.0, 1.0, step=0.05, label="truncation psi",
                                    info="w = w_avg + psi (w - w_avg); 1 = none", elem_id="psi")
                    with gr.Row():
                        layer_lo = gr.Slider(0, 1, 0, step=1, label="w+ layers from", elem_id="layer-lo")
                        layer_hi = gr.Slider(0, 1, 1, step=1, label="w+ layers to", elem_id="layer-hi",
                                             info="w / w+ linear directions move these rows only")
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
                    export = gr.Button("export strip, GIF + MP4", size="sm", elem_id="export")
                files = gr.File(label="files", file_count="multiple", interactive=False, elem_id="files",
                                visible=False)
                strip = gr.Image(label="strip", type="pil", format="png", interactive=False, elem_id="steer-strip",
                                 visible=False)

        controls = [psi, layer_lo, layer_hi, grid]
        base_inputs = [model, seed, cls, picks, state]
        inputs = base_inputs + controls + sliders
        view_outputs = [picks, note, refused_md, cls, which, stylegan, psi, layer_lo, layer_hi, *sliders,
                        image, state, status, files, strip]
        render_outputs = [image, state, status]

        # ------------------------------------------------------------ session lookups
        def directions(model_: str, state_: dict) -> dict[str, tuple[str, Direction]]:
            """key -> (label, direction) for every direction offered for ``model_`` (folders + uploads)."""
            entries, _ = library.directions_for(model_, rescan=False)
            out = {e.key: (e.label, e.direction) for e in entries}
            out.update(state_["uploads"].get(model_, {}))
            return out

        def layout(keys: Sequence[str], offered: dict) -> list[tuple[str, int]]:
            """One (key, component) per slider, in tick order; colour has three components."""
            slots = [(k, c) for k in keys if k in offered
                     for c in range(offered[k][1].alpha.alpha_dim)]
            if len(slots) > max_sliders:
                raise ValueError(f"at most {max_sliders} sliders; untick some directions")
            return slots

        def layer_rows(model_, lo, hi) -> list[int] | None:
            """The w+ rows the layer controls select, or None when they select all (or there is no w+)."""
            n = library.num_ws(model_)
            if n is None or lo is None or hi is None:
                return None
            lo, hi = int(lo), int(hi)
            if not 0 <= lo <= hi < n:
                raise ValueError(f"w+ layers must satisfy 0 <= from <= to <= {n - 1}, got {lo}-{hi}")
            return None if (lo, hi) == (0, n - 1) else list(range(lo, hi + 1))

        def knobs(G, keys, offered, values, rows=None) -> list[tuple[Direction, object]]:
            """(direction, alpha_t) per ticked direction from the slider positions (log2 for log knobs);
            linear w / w+ directions restricted to the w+ ``rows`` when a layer range is chosen."""
            out, i = [], 0
            for k in keys:
                if k not in offered:
                    continue
                d = offered[k][1]
                dim = d.alpha.alpha_dim
                vals = [from_slider(d.alpha, float(v)) if v is not None else float(d.alpha.identity)
                        for v in values[i:i + dim]]
                i += dim
                if rows is not None and d.kind == "linear" and d.space in ("w", "w+"):
                    d = d.on_layers(G, rows)
                out.append((d, vals[0] if dim == 1 else vals))
            return out

        def source(model_, G, seed_, cls_, state_, n):
            """(z (n, z_dim), classes, what, photo) of the current picture: an inverted photo's z
            (with the photo) or the seeds seed .. seed+n-1.

            Inversion works in z, so a photo's code is mapped into each direction's space like a seed's.
            """
            classes, what = None, ""
            if G.num_classes:
                if cls_ is None or float(cls_) != int(cls_) or not 0 <= int(cls_) < G.num_classes:
                    raise ValueError(f"class must be a whole number in [0, {G.num_classes - 1}], got {cls_!r}")
                classes = torch.full((n,), int(cls_), device=G.device)
                what = f", class {library.class_names(model_)[int(cls_)]}"
            photo_ = state_.get("photo")
            if photo_ is not None and photo_[0] == G.name:
                return photo_[1].to(G.device), None if classes is None else classes[:1], \
                    f"photo '{photo_[2]}'{what}", photo_[3]
            first_seed = _seed(seed_)
            _seed(first_seed + n - 1)
            z = torch.cat([G.sample_z(1, generator=torch.Generator().manual_seed(first_seed + j))
                           for j in range(n)])
            seeds = f"seed {first_seed}" if n == 1 else f"seeds {first_seed}-{first_seed + n - 1}"
            return z, classes, seeds + what, None

        def render_image(model_, seed_, cls_, keys, state_, ctl, values):
            psi_, lo, hi, n = ctl
            n = _grid_n(n)
            offered = directions(model_, state_)
            keys = [k for k in keys or [] if k in offered]
            t0 = time.perf_counter()
            with library.rendering(model_, psi_ if library.truncation(model_) is not None else None) as G:
                kn = knobs(G, keys, offered, values, layer_rows(model_, lo, hi))
                z, classes, what, photo_ = source(model_, G, seed_, cls_, state_, n)
                fp = library.fingerprint(model_)
                img = steer(G, kn, z, classes=classes, fingerprint=fp)
                if photo_ is not None:  # the photo | its reconstruction | the edit
                    recon = steer(G, [], z, classes=classes, fingerprint=fp)
                    shown = compose(torch.cat([photo_.to(img), recon, img]), ["photo", "reconstruction", "edit"],
                                    cols=3)
                elif n > 1:
                    s0 = _seed(seed_)
                    shown = compose(img, [f"seed {s0 + j}" for j in range(n)], cols=grid_cols(n))
                else:
                    shown = compose(img[:1])
            ms = (time.perf_counter() - t0) * 1000
            state_["values"].update(zip(keys, [a for _, a in kn]))
            state_["last"], state_["shown"] = img.cpu(), shown
            extra = f", psi {float(psi_):g}" if library.truncation(model_) is not None else ""
            moved = [f"{offered[k][0].split(' ')[0]} {alpha_label(a)}" for k, (d, a) in zip(keys, kn)
                     if a != d.alpha.identity and a != [d.alpha.identity] * 3]
            knob_text = f" ({', '.join(moved)})" if moved else ""
            return {image: shown, state: state_,
                    status: _ok(f"{model_}, {what}{extra}, {len(kn)} direction(s){knob_text}; "
                                f"rendered in {ms:.0f} ms")}

        def slider_updates(keys, offered, state_) -> list:
            """Show, label and range one slider per (direction, component); hide the rest."""
            ups = [gr.update(visible=False)] * max_sliders
            for i, (k, c) in enumerate(layout(keys, offered)):
                label, d = offered[k]
                stored = state_["values"].get(k, d.alpha.identity)
                value = stored[c] if isinstance(stored, list) else stored
                lo, hi, step = slider_range(d.alpha)
                name = label.split(" - ")[0] + (" " + "RGB"[c] if d.alpha.alpha_dim == 3 else "")
                text, info = slider_label(d.alpha, name)
                ups[i] = gr.update(visible=True, minimum=lo, maximum=hi, step=step, label=text, info=info,
                                   value=round(to_slider(d.alpha, value), 6))
            return ups

        def slider_values(keys, offered, state_) -> list[float]:
            out = []
            for k, c in layout(keys, offered):
                d = offered[k][1]
                stored = state_["values"].get(k, d.alpha.identity)
                out.append(to_slider(d.alpha, stored[c] if isinstance(stored, list) else stored))
            return out

        def view(model_, seed_, cls_, keys, state_, ctl, switched: bool) -> dict:
            """Everything that depends on the model and the ticked directions, rendered.

            ``switched``: a new model: its class, truncation and layer controls start at their
            defaults and the previous model's exports are cleared (no stale export).
            """
            G = library.model(model_)
            entries, refused = library.directions_for(model_, rescan=True)
            offered = directions(model_, state_)
            keys = [k for k in keys or [] if k in offered]
            psi0, n_ws = library.truncation(model_), library.num_ws(model_)
            if switched:
                cls_ = 0
                ctl = (1.0 if psi0 is None else psi0, 0, (n_ws or 1) - 1, ctl[3])
            note_ = f"{len(entries)} direction file(s) for **{model_}**" + (
                f"; {len(refused)} refused (another model, or unreadable): see below" if refused else "")
            refused_text = "\n".join(f"- {r}" for r in refused[:50]) + (
                f"\n- ... and {len(refused) - 50} more" if len(refused) > 50 else "")
            out = render_image(model_, seed_, cls_, keys, state_, ctl, slider_values(keys, offered, state_))
            out.update({
                picks: gr.update(choices=[(label, k) for k, (label, _) in offered.items()], value=keys),
                note: note_, refused_md: refused_text or "none",
                which: gr.update(choices=[(offered[k][0], k) for k in keys], value=keys[0] if keys else None),
                **dict(zip(sliders, slider_updates(keys, offered, state_))),
            })
            if switched:
                class_names = library.class_names(model_)
                out.update({
                    cls: gr.update(visible=bool(G.num_classes), value=0,
                                   choices=[(f"{k}: {c}" if c != str(k) else c, k) for k, c in enumerate(class_names)]
                                   or [("0", 0)]),
                    stylegan: gr.update(visible=psi0 is not None or n_ws is not None),
                    psi: gr.update(value=ctl[0], visible=psi0 is not None),
                    layer_lo: gr.update(value=0, maximum=max((n_ws or 1) - 1, 1), visible=n_ws is not None),
                    layer_hi: gr.update(value=ctl[2], maximum=max((n_ws or 1) - 1, 1), visible=n_ws is not None),
                    files: gr.update(value=None, visible=False), strip: gr.update(value=None, visible=False)})
            return out

        # ------------------------------------------------------------ handlers
        def split(args):
            """(model, seed, cls, keys, state), controls, slider values from ``inputs``."""
            return args[:5], args[5:9], args[9:]

        def on_view(*args):
            base, ctl, _ = split(args)
            return view(*base, ctl, switched=False)

        def on_load(*args):
            """A new page: open on the model most direction files are for (rescanned now)."""
            base, ctl, _ = split(args)
            model_ = library.default_model()
            out = view(model_, base[1], base[2], [], base[4], ctl, switched=True)
            out[model] = model_
            return out

        def on_model(*args):
            base, ctl, _ = split(args)
            base[4]["photo"] = None
            return view(*base[:3], [], base[4], ctl, switched=True)

        def on_render(*args):
            base, ctl, values = split(args)
            return render_image(*base, ctl, values)

        def on_seed(*args):
            base, ctl, values = split(args)
            base[4]["photo"] = None
            return render_image(*base, ctl, values)

        def on_new_seed():
            return {seed: random.randrange(2 ** 31), status: ""}

        def on_reset(*args):
            base, ctl, _ = split(args)
            for k in base[3] or []:
                base[4]["values"].pop(k, None)
            return view(*base, ctl, switched=False)

        def on_direction_upload(path, *args):
            base, ctl, _ = split(args)
            model_, state_ = base[0], base[4]
            if not path:
                raise ValueError("no file received")
            try:
                entry = library.load_upload(path, model_)
            except ValueError as e:  # name the file as the user knows it, not gradio's temp path
                msg = _first_line(e).replace(str(Path(path).parent) + os.sep, "")
                raise type(e)(msg if msg.startswith(Path(path).name) else f"{Path(path).name}: {msg}") from None
            state_["uploads"].setdefault(model_, {})[entry.key] = (entry.label, entry.direction)
            return view(*base[:3], list(base[3] or []) + [entry.key], state_, ctl, switched=False)

        def on_photo(path, *args):
            base, ctl, values = split(args)
            model_, cls_, state_ = base[0], base[2], base[4]
            if not path:
                raise ValueError("no file received")
            if inverter is None:
                raise ValueError("inversion is not installed (steerlab.methods.trajectories.invert)")
            G = library.model(model_)
            x = read_image(path, G.resolution, G.channels).to(G.device)
            t0 = time.perf_counter()
            with library.rendering(model_, ctl[0] if library.truncation(model_) is not None else None):
                _, classes, _, _ = source(model_, G, 0, cls_, {"photo": None}, 1)  # validates the class
                z = inverter(G, x, classes)
            if not torch.isfinite(z).all():
                raise ValueError("inversion diverged (NaN); try another image")
            state_["photo"] = (G.name, z.cpu(), Path(path).name, x.cpu())
            out = render_image(*base, ctl, values)
            out[status] += _ok(f"; inverted in {time.perf_counter() - t0:.1f} s")
            return out

        def on_save(state_):
            last = state_.get("last")
            if last is None:
                raise ValueError("nothing rendered yet")
            folder = Path(tempfile.mkdtemp(dir=workdir))
            paths = [save_png(Image.fromarray(to_uint8(last[:1])[0]), folder / "steered.png")]
            if last.shape[0] > 1 or state_.get("photo") is not None:
                paths.append(save_png(state_["shown"], folder / "steered-panels.png"))
            return {files: gr.update(value=[str(p) for p in paths], visible=True),
                    status: _ok(f"saved {', '.join(p.name for p in paths)} (steered.png at the model's own "
                                f"resolution, {last.shape[-1]} px): see 'files'")}

        def on_export(key, *args):
            base, ctl, values = split(args)
            model_, seed_, cls_, keys, state_ = base
            if not key:
                raise ValueError("tick a direction, then choose it under 'export this direction'")
            offered = directions(model_, state_)
            if key not in offered or key not in (keys or []):
                raise ValueError("the direction to export is not ticked")
            ticked = [k for k in keys if k in offered]
            idx = ticked.index(key)
            with library.rendering(model_, ctl[0] if library.truncation(model_) is not None else None) as G:
                kn = knobs(G, ticked, offered, values, layer_rows(model_, ctl[1], ctl[2]))
                d = kn[idx][0]
                alphas = d.knob.grid(STRIP_ALPHAS if d.alpha.alpha_dim == 1 else 5)
                z, classes, _, _ = source(model_, G, seed_, cls_, state_, 1)
                frames = []
                for a in alphas:
                    a = a.item() if a.dim() == 0 else a.tolist()
                    frames.append(steer(G, kn[:idx] + [(d, a)] + kn[idx + 1:], z[:1],
                                        classes=None if classes is None else classes[:1],
                                        fingerprint=library.fingerprint(model_)))
            images = torch.cat(frames)  # (A, C, H, W)
            name = offered[key][0].split(" ")[0]
            labels = [f"{name} {alpha_label(a)}" if d.alpha.alpha_dim == 1 else alpha_label(a)
                      for a in alphas.tolist()]
            folder = Path(tempfile.mkdtemp(dir=workdir))
            cols = len(labels) if d.alpha.alpha_dim == 1 else 5  # colour: one row per channel
            pic = compose(images, labels, cols=cols, scale=max(2, -(-96 // G.resolution)))
            png = save_png(pic, folder / f"strip-{name}.png")
            scale = max(2, -(-256 // G.resolution))
            frame_pics = [compose(images[j:j + 1], [f"{name} {alpha_label(a)}"], cols=1, scale=scale)
                          for j, a in enumerate(alphas.tolist())]
            gif = save_gif(frame_pics, folder / f"strip-{name}.gif", ms=250)
            mp4 = save_mp4(frame_pics, folder / f"strip-{name}.mp4", fps=4)
            return {files: gr.update(value=[str(png), str(gif), str(mp4)], visible=True),
                    strip: gr.update(value=pic, visible=True),
                    status: _ok(f"exported {len(images)} frames of '{name}' on {model_} (other sliders held at "
                                "their values): PNG strip, GIF and MP4")}

        # ------------------------------------------------------------ events
        def wire(event, fn, inputs_, outputs, **kw):
            return event(_safe(fn, status), inputs_, outputs, **kw)

        live = dict(trigger_mode="always_last", show_progress="hidden")  # latest value wins, no build-up
        wire(app.load, on_load, inputs, [model, *view_outputs], api_visibility="private")
        wire(model.input, on_model, inputs, view_outputs, api_visibility="private")
        wire(picks.input, on_view, inputs, view_outputs, api_visibility="private")
        # .change, not .input: gradio's slider reports arrow keys as a change only. A change made by
        # `view` (ticking, a new model) renders again with the same values: same image, same URL.
        for i, s in enumerate(sliders):
            wire(s.change, on_render, inputs, render_outputs, **live,
                 api_name="render" if i == 0 else None, api_visibility="public" if i == 0 else "private")
        for c in (psi, layer_lo, layer_hi):
            wire(c.input, on_render, inputs, render_outputs, **live, api_visibility="private")
        wire(grid.input, on_render, inputs, render_outputs, **live, api_visibility="private")
        wire(seed.submit, on_seed, inputs, render_outputs, api_visibility="private")
        wire(seed.blur, on_seed, inputs, render_outputs, api_visibility="private")
        wire(cls.input, on_render, inputs, render_outputs, api_visibility="private")
        wire(new_seed.click, on_new_seed, [], [seed, status], api_visibility="private").then(
            _safe(on_seed, status), inputs, render_outputs, api_visibility="private")
        wire(reset.click, on_reset, inputs, view_outputs, api_visibility="private")
        wire(dir_upload.upload, on_direction_upload, [dir_upload] + inputs, view_outputs, api_visibility="private")
        wire(photo.upload, on_photo, [photo] + inputs, render_outputs, api_visibility="private")
        wire(use_seed.click, on_seed, inputs, render_outputs, api_visibility="private")
        wire(save.click, on_save, [state], [files, status], api_visibility="private")
        wire(export.click, on_export, [which] + inputs, [files, strip, status], api_visibility="private")
    app.steerlab_workdir = workdir  # removed by launch when the server stops (atexit otherwise)
    return app


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
        stop_on_sigterm = threading.current_thread() is threading.main_thread()
        if stop_on_sigterm:  # SIGTERM ends the server like Ctrl-C, so the cleanup below runs
            previous = signal.signal(signal.SIGTERM, _sigterm)
        try:  # the handler is in place before the line that tells a supervisor the server is up
            where = ", ".join(str(f) for f in directions) or "nowhere (pass --directions)"
            print(f"steering wheel on http://{host}:{port} (models: {', '.join(library.model_names)}; "
                  f"directions from {where}); Ctrl-C stops it", flush=True)
            app.block_thread()
        finally:
            app.close()
            shutil.rmtree(app.steerlab_workdir, ignore_errors=True)
            if stop_on_sigterm:
                signal.signal(signal.SIGTERM, previous)
    return app


def _sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")
