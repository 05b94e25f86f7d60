"""`steerlab apply`: render a direction for some samples (or an inverted photo) over alphas."""
from __future__ import annotations

import os
from typing import Sequence

import torch

from steerlab.core import checks
from steerlab.core.io import write_json
from steerlab.core.runs import run_folder
from steerlab.directions import Direction
from steerlab.jobs.common import class_ids, class_names, model_of
from steerlab.models import Generator
from steerlab.report.plots import alpha_label, grid_image, save_gif, save_png


def sample_rows(G: Generator, seeds: Sequence[int] | None, classes: Sequence[int] | None, n_latents: int = 0,
                latent_classes: Sequence[int] | None = None) -> list[tuple[int, int | None, str]]:
    """The rows `apply` renders: ``(sample index, class or None, row label)``.

    Each sample (a seed, or a row of a latent file) is rendered once, in this class:
    - no ``classes``: unconditional models none; conditional ones the latent file's class, else
      ``seed mod num_classes``;
    - ``classes`` given: every sample in every class (the cross product, sample-major), so one
      class applies to all samples and nothing is dropped.
    """
    names = class_names(G) if G.num_classes else []
    n = n_latents if seeds is None else len(seeds)
    what = [f"seed {s}" for s in seeds] if seeds is not None else [f"latent {i}" for i in range(n)]
    if classes is None:
        if not G.num_classes:
            return [(i, None, what[i]) for i in range(n)]
        own = list(latent_classes) if latent_classes is not None else [int(s) % G.num_classes for s in seeds or []]
        return [(i, int(own[i]), f"{what[i]}, {names[int(own[i])]}") for i in range(n)]
    rows = [(i, int(c), f"{what[i]}, {names[int(c)]}") for i in range(n) for c in classes]
    if len(rows) > checks.MAX_SEEDS:
        raise ValueError(f"{n} samples x {len(classes)} classes = {len(rows)} rows; at most {checks.MAX_SEEDS}")
    return rows


@torch.no_grad()
def apply(direction: str | os.PathLike | Direction, *, seeds: Sequence[int] = (0, 1, 2, 3),
          alphas=None, model: str | Generator | None = None,
          latent: torch.Tensor | str | os.PathLike | None = None, classes: Sequence[int | str] | None = None,
          out: str | os.PathLike | None = None, overwrite: bool = False, force: bool = False,
          device: str = "cpu", truncation: float | None = None,
          truncation_cutoff: int | None = None, layers: Sequence[int] | None = None) -> torch.Tensor:
    """Render a direction for given seeds (or given latents) over alphas.

    Args:
        direction: a direction file, a run folder holding one (``runs/zoom``), or a direction object.
        seeds: one sample per seed (z drawn with ``torch.Generator().manual_seed(seed)``).
        alphas: values in the direction's units (default: 7 across its range).
        model: the model (defaults to the direction's zoo model).
        latent: (N, ...) latents in the direction's space instead of seeds, or the path of a latent
            file written by `steerlab invert` (its classes are used unless ``classes`` is given).
        classes: class labels (numbers, or names from the model card) for a conditional model: every
            sample is rendered in every class given (`sample_rows`); default: the latent file's
            class, else seed mod num_classes.
        out: if given, writes ``strip.png`` (a row per sample and class, labelled), ``strip.gif``
            (a frame per alpha, labelled) and ``apply.json`` (what was rendered: alphas, rows,
            truncation psi and cutoff, layers) into this folder.
        truncation: StyleGAN truncation psi set on the model (`Generator.set_truncation`).
        truncation_cutoff: psi only on the first N w+ rows (None: every row).
        layers: w+ rows a linear w / w+ direction moves (`Direction.on_layers`; default: all).

    Returns:
        images (rows, len(alphas), C, H, W) in [0, 1]; rows = samples x classes given (else samples).
    """
    if latent is None:
        seeds = checks.check_seeds("seeds", seeds)
    if alphas is not None and len(alphas) > checks.MAX_COUNT:
        raise ValueError(f"at most {checks.MAX_COUNT} alphas, got {len(alphas)}")
    d = direction if isinstance(direction, Direction) else Direction.load(direction)
    G = model_of(model or d.model, device, truncation, truncation_cutoff)
    d.check_model(G, force)
    classes = class_ids(G, classes)
    file_classes = None
    latent_space = d.space  # a latent tensor is in the direction's space; a latent file says its own
    if latent is not None and not torch.is_tensor(latent):
        from steerlab.models.latents import load_latent
        latent, fc, head = load_latent(latent, G, force=force)
        file_classes = None if fc is None else fc.tolist()
        latent_space = head["space"]
    if layers is not None:
        d = d.on_layers(G, layers)
    if latent is not None:
        per_row = file_classes if file_classes is not None else \
            (list(classes) * latent.shape[0] if classes is not None and len(classes) == 1 else classes)
        cls_t = None if per_row is None else torch.as_tensor(list(per_row), dtype=torch.long)
        d, latent = _meet(G, d, latent.to(G.device), latent_space, cls_t)
    grid = d.knob.grid(7) if alphas is None else d.knob.check(alphas)
    if latent is not None:
        if not 1 <= latent.shape[0] <= checks.MAX_SEEDS:
            raise ValueError(f"a latent must hold 1 to {checks.MAX_SEEDS} samples, got {latent.shape[0]}")
        if G.num_classes and classes is None and file_classes is None:
            raise ValueError(f"model '{G.name}' is class-conditional and the latents carry no classes; pass "
                             f"--classes (0-{G.num_classes - 1} or names)")
        lat = list(latent.to(G.device))
        plan = sample_rows(G, None, classes, len(lat), file_classes)
    else:
        zs = [G.sample_z(1, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        plan = sample_rows(G, seeds, classes)
    rows = []
    k = len(grid)
    for i, c, _ in plan:
        cb = None if c is None else torch.full((k,), c, dtype=torch.long)
        zb = None if latent is not None else zs[i].expand(k, -1)
        lb = None if latent is None else lat[i][None].expand(k, *lat[i].shape)
        rows.append(d.render(G, zb, grid, classes=cb, latent=lb, force=force))
    images = torch.stack(rows)  # (S, A, C, H, W)
    if out is not None:
        labels = [alpha_label(a) for a in grid.tolist()]
        row_labels = [label for _, _, label in plan]
        title = f"alpha ({d.alpha.unit})" if d.alpha.unit else "alpha"
        with run_folder(out, overwrite) as tmp:
            save_png(grid_image(list(images), col_labels=labels, row_labels=row_labels, title=title),
                     tmp / "strip.png")
            frames = [grid_image([row[j:j + 1] for row in images], row_labels=row_labels,  # one column per frame
                                 title=f"alpha = {labels[j]}") for j in range(images.shape[1])]
            save_gif(frames, tmp / "strip.gif")
            write_json(tmp / "apply.json", {"model": G.name, "direction": d.edit or d.kind, "space": d.space,
                                            "alphas": grid.tolist(), "rows": row_labels, "truncation": truncation,
                                            "truncation_cutoff": truncation_cutoff,
                                            "layers": None if layers is None else sorted({int(i) for i in layers})})
    return images


def _meet(G: Generator, d: Direction, latent: torch.Tensor, space: str,
          classes: torch.Tensor | None) -> tuple[Direction, torch.Tensor]:
    """``(direction, latent)`` with the latent (N, ...) given in ``space`` brought to the direction's space.

    z is mapped to w / w+ (`Generator.to_space`), a w code is repeated over the w+ rows, a linear w
    direction meets a w+ code (e.g. a photo inverted in w+) by moving every row (`Direction.on_layers`),
    and kinds that do not move latents (weight shifts, StyleGAN3's input transform) render the code in
    its own space. Anything else cannot be converted (w / w+ back to z) and is refused in one line.
    """
    from dataclasses import replace

    from steerlab.directions import KINDS
    kind = KINDS.get(d.kind)
    want = kind.latent_space(d)
    if space == want:
        return d, latent
    if not kind.moves_latents:  # a weight shift or a model's own transform renders a code in any space
        if d.space == "weight":
            return replace(d, config={**d.config, "latent_space": space}), latent
        return replace(d, space=space), latent
    if space == "z" and want in ("w", "w+"):
        classes = None if classes is None else G.check_classes(classes, latent.shape[0])
        return d, G.to_space(latent, want, classes)
    if space == "w" and want == "w+":
        return d, latent[:, None].expand(-1, G.latent_shape("w+")[0], -1)
    if space == "w+" and want == "w" and d.kind == "linear":
        return d.on_layers(G, range(G.latent_shape("w+")[0])), latent
    raise ValueError(f"a latent in '{space}' cannot be moved by a {d.kind} direction in '{want}'; "
                     f"invert the image with --space {want if want in ('z', 'w', 'w+') else 'z'} "
                     "(z codes can be mapped to w and w+, w to w+)")
