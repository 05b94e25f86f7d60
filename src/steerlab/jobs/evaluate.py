"""`steerlab evaluate`: measure a direction over alpha (Jahanian et al. Sec. 3) and write its run folder."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from steerlab.core import checks, distributed
from steerlab.core.checkpoint import Checkpoint
from steerlab.core.runs import Run, fresh_folder
from steerlab.directions import Direction
from steerlab.edits import EDITS
from steerlab.evaluation.steerability import steerability, target_l2
from steerlab.jobs.common import model_of
from steerlab.models import Generator
from steerlab.report.plots import save_png
from steerlab.report.steerability import attribute_sentence, evaluation_strip, summarize, write_plots, write_report

__all__ = ["evaluate", "attribute_sentence"]

TARGET_L2_SAMPLES = 64  # held-out samples of the walk vs do-nothing check (the first of the evaluation's)


def evaluate(direction: str | os.PathLike | Direction, *, model: str | Generator | None = None,
             out: str | os.PathLike | None = None, n: int = 200, n_alphas: int = 9, alphas=None,
             measure: str | None = None, key: str | None = None, fid_features: str | None = None,
             fid: bool = True, perceptual_net: str = "alex", seed: int = 0, overwrite: bool = False,
             force: bool = False, device: str = "cpu", progress: bool = True, batch_size: int = 50,
             truncation: float | None = None,
             truncation_cutoff: int | None = None, layers=None, resume: bool = False, checkpoint_every: int = 1) -> dict:
    """`steerlab evaluate`: measure a direction over alpha and write a run folder.

    Every ``checkpoint_every`` alphas the results so far are saved beside ``out``
    (`steerlab.core.checkpoint`); ``resume=True`` continues a run that died after the last saved
    alpha, with the same numbers as an uninterrupted run (one process only).

    Writes ``metrics.json`` (everything `evaluation.steerability` returns), the PNGs listed in
    the module docstring and ``report.html``. Returns ``{"out": Path, "metrics": dict}``.
    """
    checks.check_int("n", n, 1, checks.MAX_COUNT)
    checks.check_int("n_alphas", n_alphas, 2, 1000)
    checks.check_int("batch_size", batch_size, 1, checks.MAX_BATCH)
    checks.check_int("checkpoint_every", checkpoint_every, 1, 1000)
    d = direction if isinstance(direction, Direction) else Direction.load(direction)
    G = model_of(model or d.model, device, truncation, truncation_cutoff)
    d.check_model(G, force)
    if layers is not None:
        d = d.on_layers(G, layers)
    out = Path(out or fresh_folder("evaluate", G.name, d.edit or d.kind, resume=resume))
    config = dict(direction=str(direction) if not isinstance(direction, Direction) else d.describe(),
                  model=G.name, n=n, n_alphas=n_alphas, alphas=alphas, measure=measure, key=key,
                  fid_features=fid_features, fid=fid, perceptual_net=perceptual_net, seed=seed,
                  batch_size=batch_size, truncation=truncation,
                  truncation_cutoff=truncation_cutoff, layers=None if layers is None else list(layers))
    # Under torchrun every rank measures its shard (steerability gathers); rank 0 alone writes.
    ckpt = Checkpoint.beside(out, {**config, "fingerprint": G.fingerprint, "direction_sha256": _digest(d)},
                             every=checkpoint_every, resume=resume, writer=distributed.is_main())
    with Run("evaluate", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        if not resume:
            ckpt.clear()
        r = steerability(G, d, n=n, n_alphas=n_alphas, alphas=alphas, measure=measure, key=key,
                         fid_features=fid_features, fid=fid, perceptual_net=perceptual_net, seed=seed,
                         progress=progress, batch_size=batch_size, checkpoint=ckpt)
        r["summary"] = summarize(r)
        if d.edit in EDITS:  # does the walk beat leaving the image as it is, on the same samples?
            r["target_l2"] = target_l2(G, d, n=min(n, TARGET_L2_SAMPLES), n_alphas=n_alphas, seed=seed,
                                       batch_size=batch_size)
        r = run.write_metrics(r)
        if tmp is None:
            return {"out": out, "metrics": r}
        save_png(evaluation_strip(G, d, r["alphas"], seed=seed), tmp / "strip.png")
        pics = write_plots(r, tmp)
        write_report(tmp, r, pics)
    ckpt.clear()
    return {"out": out, "metrics": r}


def _digest(d: Direction) -> str:
    """A short hash of a direction's tensors: a checkpoint is resumed only for the same direction."""
    h = hashlib.sha256()
    for name in sorted(d.tensors):
        h.update(name.encode())
        h.update(d.tensors[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
