"""`steerlab apply`: render a direction for some samples (or an inverted photo) over alphas."""
from __future__ import annotations

import os
from typing import Sequence

import torch

from steerlab.core import checks
from steerlab.core.runs import run_folder
from steerlab.directions import Direction
from steerlab.jobs.common import model_of
from steerlab.models import Generator
from steerlab.report.plots import alpha_label, grid_image, save_gif, save_png


@torch.no_grad()
def apply(direction: str | os.PathLike | Direction, *, seeds: Sequence[int] = (0, 1, 2, 3),
          alphas=None, model: str | Generator | None = None,
          latent: torch.Tensor | str | os.PathLike | None = None, classes: Sequence[int] | None = None,
          out: str | os.PathLike | None = None, overwrite: bool = False, force: bool = False,
          device: str = "cpu", truncation: float | None = None, layers: Sequence[int] | None = None) -> torch.Tensor:
    """Render a direction for given seeds (or given latents) over alphas.

    Args:
        direction: a direction file or object.
        seeds: one sample per seed (z drawn with ``torch.Generator().manual_seed(seed)``).
        alphas: values in the direction's units (default: 7 across its range).
        model: the model (defaults to the direction's zoo model).
        latent: (N, ...) latents in the direction's space instead of seeds, or the path of a latent
            file written by `steerlab invert` (its classes are used unless ``classes`` is given).
        classes: one label per sample for a conditional model (default: seed mod num_classes).
        out: if given, writes ``strip.png`` and ``strip.gif`` into this folder.
        truncation: StyleGAN truncation psi set on the model (`Generator.set_truncation`).
        layers: w+ rows a linear w / w+ direction moves (`Direction.on_layers`; default: all).

    Returns:
        images (len(seeds) or N, len(alphas), C, H, W) in [0, 1].
    """
    if latent is None:
        seeds = checks.check_seeds("seeds", seeds)
    if alphas is not None and len(alphas) > checks.MAX_COUNT:
        raise ValueError(f"at most {checks.MAX_COUNT} alphas, got {len(alphas)}")
    d = direction if isinstance(direction, Direction) else Direction.load(direction)
    G = model_of(model or d.model, device, truncation)
    d.check_model(G, force)
    latent_space = d.space  # a latent tensor is in the direction's space; a latent file says its own
    if latent is not None and not torch.is_tensor(latent):
        from steerlab.models.latents import load_latent
        latent, file_classes, head = load_latent(latent, G, force=force)
        latent_space = head["space"]
        if classes is None and file_classes is not None:
            classes = file_classes.tolist()
    if layers is not None:
        d = d.on_layers(G, layers)
    if latent is not None:
        cls_t = None if classes is None else torch.as_tensor(list(classes), dtype=torch.long)
        d, latent = _meet(G, d, latent.to(G.device), latent_space, cls_t)
    grid = d.knob.grid(7) if alphas is None else d.knob.check(alphas)
    if latent is not None:
        if not 1 <= latent.shape[0] <= checks.MAX_SEEDS:
            raise ValueError(f"a latent must hold 1 to {checks.MAX_SEEDS} samples, got {latent.shape[0]}")
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
        labels = [alpha_label(a) for a in grid.tolist()]
        with run_folder(out, overwrite) as tmp:
            save_png(grid_image(list(images), col_labels=labels), tmp / "strip.png")
            frames = [grid_image([images[:, j]], scale=2) for j in range(images.shape[1])]
            save_gif(frames, tmp / "strip.gif")
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
