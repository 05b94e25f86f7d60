"""Run folders: what every command writes, and how it never loses or half-writes one.

A command's results go to one folder (``runs/<name>/``). `Run` is the one wrapper every job uses
(modelled on a metric wrapper that adds timing and metadata to every result):

    >>> with Run("walk", "runs/zoom", config={"steps": 40}) as run:        # doctest: +SKIP
    ...     save_png(strip, run.folder / "strip.png")
    ...     metrics = run.write_metrics({"walk_l2_mean": 0.08})

- The folder is built in a temporary sibling and renamed into place when the body succeeds, so an
  error or an interrupt leaves nothing behind, and an existing non-empty folder is kept unless
  ``overwrite``.
- ``metrics.json`` always carries ``steerlab_version`` and a ``run`` block: ``command``, ``seconds``
  (wall time since the run started), ``device``, ``processes`` and ``config`` (the options it was
  given), beside the command's own numbers.
- Under torchrun only rank 0 writes (``run.folder`` is None on the other ranks).

It lives in `core` because the reproductions, which sit below the jobs, write run folders too.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from steerlab._version import __version__
from steerlab.core import distributed
from steerlab.core.io import write_json


@contextlib.contextmanager
def run_folder(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` in one rename.

    An error or interrupt leaves nothing behind, and an existing ``out`` is kept unless
    ``overwrite`` (so a finished run is never lost by accident).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is a file, not a folder; choose another --out")
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


class Run:
    """One command's run folder with its ``metrics.json`` (see the module docstring).

    Args:
        command: the command's name, as on the command line ("walk", "evaluate", ...).
        out: the folder to create.
        config: the options the run was given (JSON-able); stored in ``metrics.json``.
        device: the torch device it ran on.
        overwrite: replace an existing non-empty folder.

    Attributes:
        folder: the temporary folder to write into (renamed to ``out`` on success); None on the
            ranks of a torchrun job other than 0.
        out: the final folder.
    """

    def __init__(self, command: str, out: str | os.PathLike, *, config: dict[str, Any] | None = None,
                 device: Any = "cpu", overwrite: bool = False):
        self.command, self.out, self.config = command, Path(out), dict(config or {})
        self.device, self.overwrite = str(device), overwrite
        self.folder: Path | None = None
        self._cm: contextlib.AbstractContextManager | None = None
        self._t0 = 0.0

    def __enter__(self) -> "Run":
        self._t0 = time.perf_counter()
        self._cm = run_folder(self.out, self.overwrite) if distributed.is_main() else contextlib.nullcontext(None)
        self.folder = self._cm.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        assert self._cm is not None
        return bool(self._cm.__exit__(*exc))

    @property
    def seconds(self) -> float:
        """Wall time since the run started."""
        return time.perf_counter() - self._t0

    def record(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """``metrics`` with ``steerlab_version`` and the ``run`` block (command, seconds, device, processes,
        config) added."""
        run = {"command": self.command, "seconds": round(self.seconds, 3), "device": self.device,
               "processes": distributed.world(), "config": self.config}
        return {**metrics, "steerlab_version": __version__, "run": run}

    def write_metrics(self, metrics: dict[str, Any], name: str = "metrics.json") -> dict[str, Any]:
        """Write ``record(metrics)`` to ``folder/name`` (rank 0 only) and return it."""
        rec = self.record(metrics)
        if self.folder is not None:
            write_json(self.folder / name, rec)
        return rec
