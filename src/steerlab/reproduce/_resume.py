"""Resuming a reproduction at the level of its sub-runs (`steerlab reproduce NAME --resume`).

A reproduction is a chain of sub-runs (train a model, learn a walk, evaluate a direction). Each
finished sub-run is saved in its own checkpoint file beside the output folder
(``.NAME.ckpt.<sub-run>.done.safetensors``, `steerlab.core.checkpoint`): its tensors (model
weights, direction tensors), its numbers (JSON) and the global random state at its end. A rerun
with ``resume=True`` reads them back instead of redoing the work, restores the random state and
goes on, so the remaining sub-runs draw exactly what an uninterrupted run draws. An unfinished
sub-run continues from its own checkpoint (``sub(name)``) where its trainer takes one (walks).

    >>> subs = SubRuns("runs/x", {"steps": 10}, resume=True, every=50)   # doctest: +SKIP
    >>> saved = subs.done("gan")          # None, or (tensors, state)                 # doctest: +SKIP
    >>> subs.finish("gan", module_tensors(G, "G"), {"seconds": 3.0})                  # doctest: +SKIP
"""
from __future__ import annotations

import glob
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from steerlab.core.checkpoint import DEFAULT_EVERY, Checkpoint, load_rngs, rng_tensors
from steerlab.directions import Direction

__all__ = ["SubRuns", "direction_tensors", "direction_from", "module_tensors", "load_module", "plain", "learned_once"]


def plain(obj: Any) -> Any:
    """``obj`` as JSON reads it back, numpy scalars and arrays as numbers and lists (exact floats)."""
    def convert(o: Any) -> Any:
        if isinstance(o, (np.generic, np.ndarray)):
            return o.tolist()
        if torch.is_tensor(o):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"cannot keep a {type(o).__name__} in a checkpoint")
    return json.loads(json.dumps(obj, default=convert))


class SubRuns:
    """The finished sub-runs of one reproduction run whose output folder is ``out``.

    Args:
        out: the run folder; the checkpoints are ``.NAME.ckpt.*`` beside it.
        config: the options that decide the result; a checkpoint made with others is refused
            with one line (`Checkpoint.load`).
        resume: read finished sub-runs back (False: every old checkpoint of ``out`` is removed).
        every: steps between two saves inside a sub-run that checkpoints itself.
    """

    def __init__(self, out: str | os.PathLike, config: dict[str, Any], *, resume: bool = False,
                 every: int = DEFAULT_EVERY):
        self.ckpt = Checkpoint.beside(out, plain(config), every=every, resume=resume)
        if resume:
            self.ckpt.load()  # a checkpoint made with other options is refused here, before any work
        else:
            self.clear()
        # the run's own file: `fresh_folder(resume=True)` finds an interrupted default folder by it
        self.ckpt.save({}, {"sub_runs": "one .done file per finished sub-run"})

    def sub(self, name: str) -> Checkpoint:
        """The checkpoint of the unfinished sub-run ``name`` (for trainers that take one)."""
        return self.ckpt.child(name)

    def done(self, name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """``(tensors, state)`` of the finished sub-run ``name`` with the random state restored, or None.

        Raises:
            ValueError: the checkpoint was made with other options (one line).
        """
        saved = self.ckpt.child(name + ".done").load()
        if saved is None:
            return None
        tensors, state = saved
        load_rngs([], tensors, prefix="rng")
        return {k: v for k, v in tensors.items() if not k.startswith("rng.")}, state

    def finish(self, name: str, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Save the finished sub-run ``name``: its tensors, its JSON-able numbers, the random state."""
        self.ckpt.child(name + ".done").save({**tensors, **rng_tensors([], prefix="rng")}, plain(state))

    def clear(self) -> None:
        """Remove every checkpoint file of this run (when it is published, or without resume)."""
        stem = self.ckpt.stem
        for path in glob.glob(glob.escape(str(stem)) + ".*"):
            Path(path).unlink(missing_ok=True)


def direction_tensors(d: Direction, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A direction as ``({prefix.name: tensor}, header)`` for `SubRuns.finish`."""
    return {f"{prefix}.{k}": v for k, v in d.tensors.items()}, plain(d.header())


def direction_from(tensors: dict[str, torch.Tensor], header: dict[str, Any], prefix: str) -> Direction:
    """The direction `direction_tensors` saved."""
    own = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    return Direction(tensors=own, **{k: v for k, v in header.items() if k != "format"})


def module_tensors(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """A module's weights and buffers as ``{prefix.name: tensor}``."""
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> torch.nn.Module:
    """Load what `module_tensors` saved into ``module`` (same architecture); returns it frozen in eval mode."""
    module.load_state_dict({k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")})
    return module.eval().requires_grad_(False)


def learned_once(subs: SubRuns, name: str, learn) -> tuple[list[Direction], float]:
    """The directions of sub-run ``name`` and the seconds they took to learn: read back when it
    finished before, else ``learn(checkpoint)`` (a `Direction` or a list of them) is called with
    the sub-run's own checkpoint, and its result saved."""
    saved = subs.done(name)
    if saved is not None:
        tensors, state = saved
        return [direction_from(tensors, h, f"d{i}") for i, h in enumerate(state["directions"])], state["seconds"]
    t0 = time.time()
    out = learn(subs.sub(name))
    dirs = list(out) if isinstance(out, (list, tuple)) else [out]
    seconds = round(time.time() - t0, 1)
    parts = [direction_tensors(d, f"d{i}") for i, d in enumerate(dirs)]
    subs.finish(name, {k: v for t, _ in parts for k, v in t.items()},
                {"directions": [h for _, h in parts], "seconds": seconds})
    return dirs, seconds
