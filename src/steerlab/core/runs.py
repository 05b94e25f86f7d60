"""Run folders: what every command writes, and how it never loses or half-writes one.

A command's results go to one folder (``runs/<name>/``). `Run` is the one wrapper every job uses
(modelled on a metric wrapper that adds timing and metadata to every result):

    >>> with Run("walk", "runs/zoom", config={"steps": 40}) as run:        # doctest: +SKIP
    ...     save_png(strip, run.folder / "strip.png")
    ...     metrics = run.write_metrics({"walk_l2_mean": 0.08})

- The folder is claimed at the start (a lock file ``.NAME.lock`` beside it, created atomically),
  built in a temporary sibling ``.NAME.partial-*`` and renamed into place when the body succeeds,
  so an error, an interrupt or SIGTERM leaves nothing behind, two runs never share an output, and
  nothing existing is deleted without ``overwrite`` (a folder that appears at the output during a
  run is kept and the run fails). Partial folders of runs that died (kill -9) are removed by the
  next run into the same output.
- ``metrics.json`` always carries ``steerlab_version`` and a ``run`` block: ``command``, ``seconds``
  (wall time since the run started), ``device``, ``processes`` and ``config`` (the options it was
  given), beside the command's own numbers.
- Under torchrun only rank 0 writes (``run.folder`` is None on the other ranks).

It lives in `core` because the reproductions, which sit below the jobs, write run folders too.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from steerlab._version import __version__
from steerlab.core import distributed
from steerlab.core.io import write_json

PID_FILE = ".steerlab-run.pid"  # inside a partial folder: "pid host", removed before the final rename


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def _owner(path: Path) -> tuple[int, str] | None:
    """``(pid, host)`` recorded in a lock file or a partial folder's pid file; None if unreadable."""
    try:
        pid, host = path.read_text().split()[:2]
        return int(pid), host
    except (OSError, ValueError):
        return None


def _dead(path: Path) -> bool:
    """Whether the run recorded in ``path`` (a lock or pid file) is known to be gone (same host, no
    such process); a file of another machine's run, or an unreadable one, counts as alive."""
    owner = _owner(path)
    return owner is not None and owner[1] == socket.gethostname() and not _alive(owner[0])


def clean_stale_partials(out: Path) -> list[Path]:
    """Remove the ``.NAME.partial-*`` folders beside ``out`` left by runs that died (killed, power
    loss): those whose recorded process no longer exists on this machine. Returns the removed ones."""
    removed = []
    for tmp in out.parent.glob(f".{out.name}.partial-*"):
        if tmp.is_dir() and _dead(tmp / PID_FILE):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def claim(out: Path) -> Iterator[Path]:
    """Hold the lock file ``.NAME.lock`` beside ``out`` (an atomic create) for the body, so two runs
    never write the same output; a lock left by a dead run is taken over."""
    lock = out.parent / f".{out.name}.lock"
    stamp = f"{os.getpid()} {socket.gethostname()}\n"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            if not _dead(lock):
                owner = _owner(lock)
                who = f"process {owner[0]} on {owner[1]}" if owner else "another run"
                raise FileExistsError(f"{out} is being written by {who} (lock {lock}); wait for it or choose "
                                      "another --out") from None
            lock.unlink(missing_ok=True)  # its run died: take it over
    else:
        raise FileExistsError(f"{out}: could not take the lock {lock}; choose another --out")
    with os.fdopen(fd, "w") as f:
        f.write(stamp)
    try:
        yield lock
    finally:
        if _owner(lock) == (os.getpid(), socket.gethostname()):
            lock.unlink(missing_ok=True)


class _Terminated(BaseException):
    """SIGTERM arrived during a run: raised so the partial folder is removed on the way out."""


@contextlib.contextmanager
def _cleanup_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception during the body (main thread, default handler only), so
    ``finally`` blocks remove the partial folder and the lock; the process then exits 143."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def _raise(signum, frame):
        raise _Terminated()
    signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
        return st.st_dev, st.st_ino
    except OSError:
        return None


@contextlib.contextmanager
def run_folder(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` in one rename.

    - ``out`` is claimed at the start (`claim`: a lock file beside it), so a second run into the
      same ``out`` stops at once with one line; stale partial folders of dead runs are removed.
    - An error, an interrupt or SIGTERM leaves nothing behind (the partial folder is removed).
    - Nothing existing is deleted without ``overwrite``: an existing non-empty ``out`` stops the
      run before any work, and a folder that appears at ``out`` during the run (another program,
      the user's notes) is kept and the run fails with one line. With ``overwrite`` only the
      folder that was there at the start is replaced.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is a file, not a folder; choose another --out")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    with claim(out), _cleanup_on_sigterm():
        clean_stale_partials(out)
        before = _identity(out) if out.exists() and any(out.iterdir()) else None
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
        try:
            (tmp / PID_FILE).write_text(f"{os.getpid()} {socket.gethostname()}\n")
            yield tmp
            (tmp / PID_FILE).unlink(missing_ok=True)
            _publish(tmp, out, before if overwrite else None)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, out: Path, replace: tuple[int, int] | None) -> None:
    """Rename ``tmp`` to ``out``; replace only the folder whose identity is ``replace``."""
    appeared = FileExistsError(f"{out} appeared during the run and is kept; this run's results were not "
                               "written (choose another --out, or pass --overwrite to replace it)")
    if out.exists() and not out.is_dir():
        raise appeared
    if out.exists() and any(out.iterdir()):
        if replace is None or _identity(out) != replace:
            raise appeared
        trash = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, trash / "old")
        try:
            os.rename(tmp, out)
        except OSError:  # something took its place in between: put the old one back if possible
            with contextlib.suppress(OSError):
                os.rename(trash / "old", out)
            raise appeared from None
        shutil.rmtree(trash, ignore_errors=True)
        return
    try:
        os.rename(tmp, out)  # onto nothing or an empty folder; fails if it became non-empty meanwhile
    except OSError:
        raise appeared from None


def fresh_folder(command: str, *parts: str | None, root: str | os.PathLike = "runs", resume: bool = False) -> Path:
    """The default output of a command: ``root/<command>-<part>-...-<n>`` with the smallest n >= 1
    that is free (no folder, or an empty one, and no lock), so a second run without ``--out`` gets a
    new folder instead of stopping on the first one. Parts are made file-name safe; None is skipped.
    With ``resume``, the newest such folder that was never finished but left a checkpoint
    (``.NAME.ckpt.safetensors``, see `steerlab.core.checkpoint`) is returned instead, so
    ``--resume`` without ``--out`` continues the interrupted run.

        >>> fresh_folder("apply", "faces", "zoom", root="/nonexistent")   # doctest: +SKIP
        PosixPath('/nonexistent/apply-faces-zoom-1')
    """
    stem = "-".join(re.sub(r"[^\w.+-]+", "_", str(p)).strip("._") or "x" for p in (command, *parts) if p)
    if resume:
        pattern = re.compile(rf"\.{re.escape(stem)}-(\d+)\.ckpt\.safetensors")
        found = [p for p in Path(root).glob(f".{stem}-*.ckpt.safetensors") if pattern.fullmatch(p.name)]
        for ckpt in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True):
            out = Path(root) / ckpt.name[1:-len(".ckpt.safetensors")]
            if not (out.exists() and (not out.is_dir() or any(out.iterdir()))):
                return out
    for n in itertools.count(1):
        out = Path(root) / f"{stem}-{n}"
        taken = out.exists() and (not out.is_dir() or any(out.iterdir()))
        if not taken and not (out.parent / f".{out.name}.lock").exists():
            return out
    raise AssertionError("unreachable")


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
