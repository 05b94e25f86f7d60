"""Resumable checkpoints of long jobs: one safetensors file, its JSON state embedded, written atomically.

A long job (a walk's training, an evaluation's alpha sweep, an inversion, a reproduction's
sub-runs) saves its progress every ``every`` steps into ``.NAME.ckpt.safetensors`` beside its
output folder ``NAME`` (hidden, like the partial folder, and kept when the run dies), and a rerun
with ``resume=True`` (``--resume``) continues where it stopped:

    >>> ckpt = Checkpoint.beside("runs/zoom", config={"steps": 40}, every=10, resume=True)   # doctest: +SKIP
    >>> saved = ckpt.load()            # None, or (tensors, state) of the last save     # doctest: +SKIP
    >>> ckpt.save({"w": w, **rng_tensors(g)}, {"step": 10, "curve": curve})               # doctest: +SKIP

- One file holds the tensors and the state (the state is the embedded header, as in every
  steerlab file), so a ``kill -9`` between two writes can never pair tensors of one step with the
  state of another; ``<stem>.json`` beside it is a readable copy.
- A checkpoint made with another configuration is refused with one line naming the first option
  that differs (options that only change how often checkpoints are written are not compared).
- Without ``resume`` an old checkpoint is ignored and replaced by the first save of the new run.
- Tensors are exact (float32 stays float32), JSON floats round-trip exactly, so a resumed seeded
  run on the CPU is bit-identical to an uninterrupted one when the job also saves its optimiser
  state (`optimizer_tensors`) and its random generators (`rng_tensors`).
"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, Sequence

import torch

from steerlab.core.io import read_tensor_file, write_tensor_file

__all__ = ["Checkpoint", "CHECKPOINT_FORMAT", "kill_hook", "optimizer_tensors", "load_optimizer", "rng_tensors", "load_rngs",
           "DEFAULT_EVERY"]

CHECKPOINT_FORMAT = "steerlab-checkpoint/1"
DEFAULT_EVERY = 50  # optimisation steps between two checkpoints (``--checkpoint-every``)
# Tests of resuming after kill -9 set this to N: the process SIGKILLs itself right after its N-th
# checkpoint save (unset in normal use, so nothing happens).
KILL_AFTER_SAVES = "STEERLAB_TEST_KILL_AFTER_SAVES"
_saves = 0


def _plain(obj: Any) -> Any:
    """``obj`` as JSON reads it back (tuples become lists, paths strings), for comparisons."""
    return json.loads(json.dumps(obj, default=str))


class Checkpoint:
    """The checkpoint of one job.

    Args:
        stem: path without suffix; the files are ``<stem>.safetensors`` and ``<stem>.json``.
        config: the options that decide the result (JSON-able); a saved checkpoint must match them.
        every: steps (or items) between saves; `due` tells when.
        resume: whether `load` returns a saved checkpoint (False: it is ignored and overwritten).
        writer: whether this process writes (False on torchrun ranks other than 0).
    """

    def __init__(self, stem: str | os.PathLike, config: dict[str, Any], *, every: int = DEFAULT_EVERY,
                 resume: bool = False, writer: bool = True):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"checkpoint_every must be a whole number >= 1, got {every!r}")
        self.stem, self.config = Path(stem), _plain(config)
        self.every, self.resume, self.writer = every, resume, writer

    @classmethod
    def beside(cls, out: str | os.PathLike, config: dict[str, Any], **kw) -> "Checkpoint":
        """The checkpoint of the run whose output folder is ``out``: ``.NAME.ckpt`` beside it."""
        out = Path(out)
        return cls(out.parent / f".{out.name}.ckpt", config, **kw)

    @property
    def path(self) -> Path:
        return self.stem.with_name(self.stem.name + ".safetensors")

    def child(self, name: str, config: dict[str, Any] | None = None) -> "Checkpoint":
        """A checkpoint for a sub-run ``name`` (``<stem>.<name>``), same interval and resume flag."""
        return Checkpoint(self.stem.with_name(f"{self.stem.name}.{name}"), self.config if config is None else config,
                          every=self.every, resume=self.resume, writer=self.writer)

    def due(self, step: int) -> bool:
        """Whether ``step`` (1-based count of completed steps) is a checkpoint step."""
        return step % self.every == 0

    def load(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """``(tensors, state)`` of the last save, or None (no checkpoint, or ``resume`` off).

        Raises:
            ValueError: the checkpoint was made with another configuration (one line naming the
                first differing option), or it is corrupted (`FileFormatError`).
        """
        if not self.resume or not self.path.is_file():
            return None
        tensors, head = read_tensor_file(self.path, CHECKPOINT_FORMAT, what="checkpoint",
                                         required=("config", "state"))
        theirs = head["config"]
        # name an option both runs set differently first, then one only one of them has
        keys = sorted(set(theirs) | set(self.config), key=lambda k: (k not in theirs or k not in self.config, k))
        for key in keys:
            if theirs.get(key) != self.config.get(key):
                option = "--" + key.replace("_", "-")
                raise ValueError(f"{self.path}: this checkpoint was made with {option} {theirs.get(key)!r}, this run "
                                 f"has {self.config.get(key)!r}; rerun with the same options to resume, or "
                                 "without --resume to start over")
        return tensors, head["state"]

    def save(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Write ``tensors`` and the JSON-able ``state`` in one atomic file (this process only if ``writer``)."""
        if self.writer:
            write_tensor_file(self.stem, {k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                              {"format": CHECKPOINT_FORMAT, "config": self.config, "state": _plain(state)})
            kill_hook()

    def clear(self) -> None:
        """Remove the checkpoint files (a finished run no longer needs them)."""
        if self.writer:
            for suffix in (".safetensors", ".json"):
                self.stem.with_name(self.stem.name + suffix).unlink(missing_ok=True)


def kill_hook() -> None:
    """SIGKILL this process after the N-th save when ``$STEERLAB_TEST_KILL_AFTER_SAVES`` is N (tests only)."""
    global _saves
    _saves += 1
    want = os.environ.get(KILL_AFTER_SAVES, "")
    if want.isdigit() and _saves == int(want):
        os.kill(os.getpid(), signal.SIGKILL)


# ----------------------------------------------------------------------------- state helpers
def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str = "opt") -> tuple[dict[str, torch.Tensor], list]:
    """An optimiser's state as flat tensors ``{prefix.i.name: tensor}`` and its JSON param groups."""
    sd = opt.state_dict()
    tensors = {f"{prefix}.{i}.{k}": (v if torch.is_tensor(v) else torch.tensor(v))
               for i, st in sd["state"].items() for k, v in st.items()}
    return tensors, sd["param_groups"]


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list,
                   prefix: str = "opt") -> None:
    """Restore what `optimizer_tensors` saved into ``opt`` (same parameters, same order)."""
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


def rng_tensors(generators: Sequence[torch.Generator], prefix: str = "rng") -> dict[str, torch.Tensor]:
    """The states of ``generators`` and of torch's global CPU generator, as uint8 tensors."""
    return {f"{prefix}.global": torch.get_rng_state(),
            **{f"{prefix}.{i}": g.get_state() for i, g in enumerate(generators)}}


def load_rngs(generators: Sequence[torch.Generator], tensors: dict[str, torch.Tensor], prefix: str = "rng") -> None:
    """Restore what `rng_tensors` saved (the same generators, in the same order)."""
    torch.set_rng_state(tensors[f"{prefix}.global"])
    for i, g in enumerate(generators):
        g.set_state(tensors[f"{prefix}.{i}"])
