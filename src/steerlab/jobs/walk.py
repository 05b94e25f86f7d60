"""The Python API; every CLI command is one of these functions.

    >>> import steerlab
    >>> run = steerlab.walk("faces", "zoom", steps=300, out="runs/zoom")   # doctest: +SKIP
    >>> images = steerlab.apply(run["direction"], seeds=[1, 2], alphas=[0.5, 1, 2])  # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

import torch

from steerlab.core import distributed
from steerlab._version import __version__
from steerlab.core.io import write_json
from steerlab.directions import Direction
from steerlab.edits import get_edit, list_edits
from steerlab.evaluation.steerability import held_out, target_l2
from steerlab.models import Generator, list_models, load_model
from steerlab.report import html
from steerlab.report.plots import grid_image, line_plot, save_gif, save_png
from steerlab.methods.walks import learn_linear_walk, learn_nn_walk, learn_nonlinear_walk


@contextlib.contextmanager
def run_folder(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` in one rename.

    An error or interrupt leaves nothing behind, and an existing ``out`` is kept unless
    ``overwrite`` (so a finished run is never lost by accident).
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        yield tmp
        if out.exists():
            trash = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, trash / "old")
            shutil.rmtree(trash)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _main_rank_folder(out: str | os.PathLike, overwrite: bool = False):
    """`run_folder` on rank 0 (or in a single process); ``None`` on the other ranks, which write nothing."""
    return run_folder(out, overwrite) if distributed.is_main() else contextlib.nullcontext(None)


def _model(model: str | Generator, device: str) -> Generator:
    return model if isinstance(model, Generator) else load_model(model, device=device)


def _fmt_alpha(a) -> str:
    if isinstance(a, (list, tuple)):
        return "(" + ",".join(f"{v:+.2g}" for v in a) + ")"
    return f"{a:.3g}"


@torch.no_grad()
def walk_strip(G: Generator, d: Direction, *, n_samples: int = 4, n_alphas: int = 9, seed: int = 0):
    """The paper's Fig. 27 layout: per sample, the walk row and under it the target row.

    Undefined target pixels are shown grey. Returns a PIL image.
    """
    edit = get_edit(d.edit)
    z, classes = held_out(G, n_samples, seed)
    alphas = edit.grid(n_alphas if edit.alpha_dim == 1 else 5)  # colour: 5 per channel
    rows, labels = [], []
    for i in range(n_samples):
        zi = z[i:i + 1].expand(len(alphas), -1)
        ci = None if classes is None else classes[i:i + 1].expand(len(alphas))
        src = G.synthesize(G.to_space(zi, d.space, ci), space=d.space, classes=ci)
        target, mask = edit(src, alphas)
        rows += [d.render(G, zi, alphas, classes=ci), target * mask + 0.5 * (1 - mask)]
        labels += [f"walk {i}", f"target {i}"]
    return grid_image(rows, col_labels=[_fmt_alpha(a) for a in alphas.tolist()], row_labels=labels)


WALK_KINDS = {"linear": (learn_linear_walk, 0.01), "nonlinear": (learn_nonlinear_walk, 1e-3),
              "nn-linear": (learn_nn_walk, 1e-3)}


def walk(model: str | Generator, edit: str, *, space: str = "z", steps: int = 1000,
         batch_size: int = 16, lr: float | None = None, loss: str = "l2", seed: int = 0,
         out: str | os.PathLike | None = None, overwrite: bool = False, n_eval: int = 64,
         device: str = "cpu", progress: bool = True, kind: str = "linear") -> dict:
    """Learn a walk and write a run folder (see `steerlab walk --help`).

    ``kind``: "linear" (Eq. 1), "nonlinear" (Euler steps, Eq. 2) or "nn-linear" (App. A.3);
    ``lr`` defaults to 0.01 for linear, 0.001 for the others.

    Returns:
        ``{"out": Path, "direction": Path, "metrics": dict}``.
    """
    get_edit(edit)  # fail fast on a bad name, before any work
    if kind not in WALK_KINDS:
        raise ValueError(f"unknown walk kind '{kind}'; allowed: {', '.join(WALK_KINDS)}")
    learn, default_lr = WALK_KINDS[kind]
    G = _model(model, device)
    G.check_space(space)
    out = Path(out or f"runs/{G.name}-{edit}")
    # Under torchrun every rank trains and evaluates its shard; rank 0 alone writes the folder.
    with _main_rank_folder(out, overwrite) as tmp:
        t0 = time.time()
        d = learn(G, edit, space=space, steps=steps, batch_size=batch_size, lr=lr or default_lr,
                  loss=loss, seed=seed, progress=progress)
        train_s = time.time() - t0
        m = target_l2(G, d, n=n_eval, seed=seed)
        d.metrics.update(walk_l2_mean=m["walk_l2_mean"], baseline_l2_mean=m["baseline_l2_mean"])
        metrics = {"model": G.name, "edit": edit, "kind": kind, "space": space, "train_seconds": round(train_s, 1),
                   "final_loss": d.metrics["final_loss"], **m, "steerlab_version": __version__}
        if distributed.world() > 1:
            metrics["processes"] = distributed.world()
        if tmp is None:
            return {"out": out, "direction": out / "direction.safetensors", "metrics": metrics}
        d.save(tmp / "direction")
        write_json(tmp / "metrics.json", metrics)
        save_png(walk_strip(G, d, seed=seed), tmp / "strip.png")
        curve = d.metrics["loss_curve"]
        line_plot(tmp / "loss.png", {"training loss": (range(1, len(curve) + 1), curve)},
                  xlabel="step", ylabel=f"{loss} loss", title=f"{G.name}: {edit} walk", markers=False)
        xs = _plot_axis(m["alphas"])
        line_plot(tmp / "l2_vs_alpha.png", {"walk": (xs, m["walk_l2"]), "do nothing": (xs, m["baseline_l2"])},
                  xlabel=f"alpha ({d.alpha['unit']})" if xs == m["alphas"] else "grid index (R, G, B sweeps)",
                  ylabel="masked L2 to target", title="held-out samples")
        _walk_report(tmp, G, d, metrics)
    return {"out": out, "direction": out / "direction.safetensors", "metrics": metrics}


def _plot_axis(alphas: list) -> list:
    return alphas if not isinstance(alphas[0], list) else list(range(len(alphas)))


def _walk_report(folder: Path, G: Generator, d: Direction, m: dict) -> None:
    rows = [[_fmt_alpha(a), w, b, "yes" if w < b else "no"]
            for a, w, b in zip(m["alphas"], m["walk_l2"], m["baseline_l2"])]
    html.write_report(folder / "report.html", f"{G.name}: {d.edit} walk", [
        ("Direction", html.text(d.describe()) + html.text(
            f"trained {d.config['steps']} steps, batch {d.config['batch_size']}, lr {d.config['lr']}, "
            f"loss {d.config['loss']}, seed {d.config['seed']} in {m['train_seconds']} s; "
            f"model fingerprint {d.fingerprint}")),
        ("Strip", html.text("Rows: each held-out sample walked along alpha, and under it the target "
                            "edit(G(z), alpha) (grey = undefined pixels).") + html.image("strip.png", "strip")),
        ("Does the walk follow the target?",
         html.text(f"Mean masked L2 over the grid: walk {m['walk_l2_mean']:.4f} vs do-nothing "
                   f"{m['baseline_l2_mean']:.4f} on {m['n']} held-out samples. A lower L2 alone does not "
                   "prove the attribute moves; see the attribute measurements of `steerlab evaluate`.")
         + html.image("l2_vs_alpha.png", "L2 vs alpha")
         + html.table(["alpha", "walk L2", "do-nothing L2", "walk better"], rows)),
        ("Training loss", html.image("loss.png", "loss")),
    ])


def _parse_alphas(d: Direction, alphas) -> torch.Tensor:
    return d.knob.check(alphas)


@torch.no_grad()
def apply(direction: str | os.PathLike | Direction, *, seeds: Sequence[int] = (0, 1, 2, 3),
          alphas=None, model: str | Generator | None = None, latent: torch.Tensor | None = None,
          classes: Sequence[int] | None = None, out: str | os.PathLike | None = None,
          overwrite: bool = False, force: bool = False, device: str = "cpu") -> torch.Tensor:
    """Render a direction for given seeds (or a given latent) over alphas.

    Args:
        direction: a direction file or object.
        seeds: one sample per seed (z drawn with ``torch.Generator().manual_seed(seed)``).
        alphas: values in the direction's units (default: 7 across its range).
        model: the model (defaults to the direction's zoo model).
        latent: (N, ...) latents in the direction's space instead of seeds (e.g. an inverted photo).
        out: if given, writes ``strip.png`` and ``strip.gif`` into this folder.

    Returns:
        images (len(seeds) or N, len(alphas), C, H, W) in [0, 1].
    """
    d = direction if isinstance(direction, Direction) else Direction.load(direction)
    G = _model(model or d.model, device)
    d.check_model(G, force)
    grid = d.knob.grid(7) if alphas is None else _parse_alphas(d, alphas)
    if latent is not None:
        zs, lat = [None] * latent.shape[0], list(latent.to(G.device))
    else:
        zs = [G.sample_z(1, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        lat = [None] * len(zs)
    cls = list(classes) if classes is not None else [None] * len(zs)
    if G.num_classes and classes is None:
        cls = [int(s) % G.num_classes for s in seeds]
    rows = []
    for z, li, c in zip(zs, lat, cls):
        k = len(grid)
        cb = None if c is None else torch.full((k,), int(c), dtype=torch.long)
        zb = None if z is None else z.expand(k, -1)
        lb = None if li is None else li[None].expand(k, *li.shape)
        rows.append(d.render(G, zb, grid, classes=cb, latent=lb, force=force))
    images = torch.stack(rows)  # (S, A, C, H, W)
    if out is not None:
        labels = [_fmt_alpha(a) for a in grid.tolist()]
        with run_folder(out, overwrite) as tmp:
            save_png(grid_image(list(images), col_labels=labels), tmp / "strip.png")
            frames = [grid_image([images[:, j]], scale=2) for j in range(images.shape[1])]
            save_gif(frames, tmp / "strip.gif")
    return images


def models() -> list[dict]:
    """The zoo, one dict per model."""
    return [{"name": e.name, "resolution": e.resolution, "latent_spaces": list(e.latent_spaces),
             "classes": e.num_classes, "source": e.source, "licence": e.licence,
             "description": e.description} for e in list_models()]


def edits() -> list[dict]:
    """The edits with their training ranges and alpha mappings."""
    return [{"name": e.name, "range": list(e.alpha_range), "unit": e.unit, "identity": e.identity,
             "alpha_g": "log(alpha_t)" if e.mapping == "log" else
             ("alpha_t" if e.scale == 1 else f"alpha_t / {e.scale:g}"),
             "components": e.alpha_dim, "description": e.description} for e in list_edits()]
