"""The error boundary of the CLI, run folders that are never lost, and loops that never write NaN."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from helpers import make_tiny
from steerlab.cli import glue_negative_values, main
from steerlab.core.checks import NonFiniteError, check_device, check_float, check_int
from steerlab.core.runs import PID_FILE, claim, run_folder

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}"))


# --------------------------------------------------------------------------- the error boundary
def test_internal_error_is_one_line_naming_the_traceback_file(monkeypatch, capsys):
    from steerlab.cli import commands

    def boom(self, args):
        raise RuntimeError("a bug\nsecond line")
    monkeypatch.setattr(commands.Models, "run", boom)
    assert main(["models"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: a bug" in err, err
    path = Path(err.split("full traceback in ")[1].split(";")[0])
    try:
        assert path.parent == Path(__import__("tempfile").gettempdir())
        assert "Traceback" in path.read_text() and "boom" in path.read_text()
    finally:
        path.unlink()
    assert main(["--debug", "models"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "boom" in err


def test_usage_errors_are_one_line_and_help_still_works(capsys):
    for argv in (["walk", "--model"], ["walk", "--model", "x", "--edit", "zoom", "--steps", "ten"], ["--nope"],
                 ["nope"], ["walk", "--kind", "curvy", "--model", "x", "--edit", "zoom"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "usage:" not in err and "--help" in err, err
    assert main(["walk", "--help"]) == 0
    assert "--batch-size" in capsys.readouterr().out
    assert main(["--version"]) == 0


def test_negative_number_lists_are_values():
    assert glue_negative_values(["apply", "d", "--alphas", "-0.3,0,0.3", "--seeds", "0"]) == \
        ["apply", "d", "--alphas=-0.3,0,0.3", "--seeds", "0"]
    assert glue_negative_values(["--T", "-1e-3"]) == ["--T=-1e-3"]
    assert glue_negative_values(["--overwrite", "--seeds", "1"]) == ["--overwrite", "--seeds", "1"]
    assert glue_negative_values(["-h"]) == ["-h"]


def test_apply_takes_negative_alphas(tmp_path, capsys):
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.models import save_generator
    G = make_tiny()
    model = save_generator(G, tmp_path / "tiny")
    d = learn_linear_walk(G, "brightness", steps=1, batch_size=2, progress=False).save(tmp_path / "d")
    code = main(["apply", str(d), "--model", str(model), "--alphas", "-0.3,0,0.3", "--seeds", "0",
                 "--out", str(tmp_path / "ap")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "ap" / "strip.png").is_file()


def test_checks_name_the_value_and_the_range():
    with pytest.raises(ValueError, match=r"steps must be a whole number in \[1, 10\], got 0"):
        check_int("steps", 0, 1, 10)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        check_float("lr", float("nan"))
    with pytest.raises(ValueError, match="available: cpu"):
        check_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            check_device("cuda")
    assert check_int("n", 3.0) == 3 and check_float("x", "0.5") == 0.5


# --------------------------------------------------------------------------- run folders
def test_a_folder_appearing_at_out_during_a_run_is_kept(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(FileExistsError, match="appeared during the run and is kept"):
        with run_folder(out) as tmp:
            (tmp / "result.txt").write_text("new")
            out.mkdir()
            (out / "notes.txt").write_text("mine")
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    assert _leftovers(out) == []
    # with --overwrite only the folder that was there at the start may be replaced
    with pytest.raises(FileExistsError, match="appeared"):
        with run_folder(tmp_path / "other", overwrite=True) as tmp:
            (tmp_path / "other").mkdir()
            (tmp_path / "other" / "notes.txt").write_text("mine")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    with run_folder(out, overwrite=True) as tmp:  # there at the start: replaced
        (tmp / "result.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["result.txt"] and _leftovers(out) == []


def test_walk_fails_in_one_line_when_its_out_appears_meanwhile(tmp_path, tiny_file, capsys, monkeypatch):
    import steerlab.jobs.walk as job
    out = tmp_path / "run"
    real = job.target_l2

    def meanwhile(*a, **k):
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        return real(*a, **k)
    monkeypatch.setattr(job, "target_l2", meanwhile)
    code = main(["walk", "--model", str(tiny_file), "--edit", "zoom", "--steps", "2", "--batch-size", "2",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is kept" in err, err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and _leftovers(out) == []


def test_two_runs_cannot_share_an_out_and_a_dead_runs_lock_is_taken_over(tmp_path):
    out = tmp_path / "run"
    with claim(out):
        with pytest.raises(FileExistsError, match=f"being written by process {os.getpid()}"):
            with run_folder(out):
                pass
    assert _leftovers(out) == []
    (tmp_path / ".run.lock").write_text(f"{_dead_pid()} {__import__('socket').gethostname()}\n")
    with run_folder(out) as tmp:
        (tmp / "x").write_text("1")
    assert (out / "x").is_file() and not (out / PID_FILE).exists() and _leftovers(out) == []


def test_stale_partial_folders_of_dead_runs_are_cleaned(tmp_path):
    host = __import__("socket").gethostname()
    dead, alive = tmp_path / ".run.partial-dead", tmp_path / ".run.partial-alive"
    for folder, pid in ((dead, _dead_pid()), (alive, os.getpid())):
        folder.mkdir()
        (folder / PID_FILE).write_text(f"{pid} {host}\n")
        (folder / "half.png").write_bytes(b"x")
    other = tmp_path / ".runner.partial-x"  # another output's: not touched
    other.mkdir()
    with run_folder(tmp_path / "run") as tmp:
        (tmp / "x").write_text("1")
    assert not dead.exists() and alive.exists() and other.exists()


def test_sigterm_removes_the_partial_folder_and_the_lock(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {SRC!r})
        from steerlab.core.runs import run_folder
        with run_folder({str(tmp_path / 'run')!r}) as tmp:
            (tmp / "half.txt").write_text("x")
            os.kill(os.getpid(), signal.SIGTERM)
            import time; time.sleep(30)
    """)
    r = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True, text=True)
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    assert sorted(os.listdir(tmp_path)) == []


# --------------------------------------------------------------------------- no NaN artefacts
def test_walk_loop_stops_at_the_first_non_finite_loss():
    from steerlab.methods.walks.loop import train_walk
    w = torch.zeros(3, requires_grad=True)
    calls = []

    def step_loss():
        calls.append(1)
        return (w.sum() - 1) ** 2 * (float("nan") if len(calls) == 3 else 1.0)
    with pytest.raises(NonFiniteError, match="walk diverged at step 3"):
        train_walk([w], step_loss, steps=100, lr=0.1, progress=False, log_every=5)
    assert len(calls) == 5  # stopped at the first read-back


def test_inversion_stops_at_a_non_finite_loss():
    from steerlab.methods.trajectories import invert
    G = make_tiny()
    target = G.synthesize(G.sample_z(2))
    with torch.no_grad():
        next(G.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="inversion diverged"):
        invert(G, target, steps=3, progress=False)


def test_train_stops_at_a_non_finite_loss_and_writes_no_model(tmp_path, capsys, monkeypatch):
    import steerlab.training.gan as gan
    real = gan.gan_step

    def nan_step(*a, **k):
        d, g, t = real(*a, **k)
        return d * float("nan"), g, t
    monkeypatch.setattr(gan, "gan_step", nan_step)
    out = tmp_path / "m"
    code = main(["train", "shapes", "--out", str(out), "--images", "16", "--resolution", "16", "--steps", "3",
                 "--batch-size", "4", "--width", "4", "--z-dim", "4", "--fid-images", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "GAN training diverged at step 1" in err, err
    assert not out.with_suffix(".safetensors").exists()


def test_train_keeps_an_existing_model_without_overwrite(tmp_path, capsys):
    from steerlab.models import save_generator
    path = save_generator(make_tiny(), tmp_path / "m")
    before = path.read_bytes()
    args = ["train", "shapes", "--out", str(tmp_path / "m"), "--images", "16", "--resolution", "16", "--steps",
            "2", "--batch-size", "4", "--width", "4", "--z-dim", "4", "--fid-images", "0"]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err and path.read_bytes() == before
    assert main(args + ["--overwrite"]) == 0, capsys.readouterr().err
    assert path.read_bytes() != before


# --------------------------------------------------------------------------- the UI's command line
@pytest.fixture
def launched(monkeypatch):
    import steerlab.ui
    calls = []
    monkeypatch.setattr(steerlab.ui, "launch", lambda *a, **k: calls.append((a, k)))
    return calls


def test_ui_refuses_a_non_loopback_host_without_allow_remote(launched, capsys):
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.org"):
        assert main(["ui", "--host", host]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--allow-remote" in err, err
    assert launched == []
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        assert main(["ui", "--host", host]) == 0
        assert capsys.readouterr().err == ""
    assert [k["host"] for _, k in launched] == ["127.0.0.1", "127.0.0.2", "localhost", "::1"]
    assert all(k["auth"] is None and not k["allow_remote"] for _, k in launched)


def test_ui_remote_prints_a_warning_and_passes_auth(launched, capsys):
    assert main(["ui", "--host", "0.0.0.0", "--allow-remote", "--auth", "ann:s3:cret"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "0.0.0.0" in err and "--auth" not in err
    assert launched[-1][1]["auth"] == ("ann", "s3:cret") and launched[-1][1]["allow_remote"]
    assert main(["ui", "--host", "0.0.0.0", "--allow-remote"]) == 0
    assert "--auth" in capsys.readouterr().err
    for bad in ("ann", ":pw", "ann:", ""):
        assert main(["ui", "--auth", bad]) == 2
        assert "USER:PASSWORD" in capsys.readouterr().err


def test_ui_lists_unreadable_direction_files_with_the_reason(tmp_path):
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.ui import Library
    G = make_tiny()
    learn_linear_walk(G, "zoom", steps=1, batch_size=2, progress=False).save(tmp_path / "good")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors at all")
    locked = learn_linear_walk(G, "zoom", steps=1, batch_size=2, progress=False).save(tmp_path / "locked")
    locked.chmod(0)
    try:
        entries, refused = Library([G], [tmp_path]).directions_for("tiny")
    finally:
        locked.chmod(0o644)
    assert [Path(e.key).name for e in entries] == ["good.safetensors"] + (
        ["locked.safetensors"] if os.access(locked, os.R_OK) and os.geteuid() == 0 else [])
    assert any("junk.safetensors: unreadable" in r for r in refused), refused
    if os.geteuid() != 0:  # root reads anything
        assert any("locked.safetensors: unreadable (Permission denied)" in r for r in refused), refused


@pytest.mark.slow
def test_ui_removes_its_temp_folder_on_sigterm(tmp_path, tiny_file):
    pytest.importorskip("gradio")
    import socket
    import time
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=SRC, GRADIO_ANALYTICS_ENABLED="False")
    p = subprocess.Popen([sys.executable, "-m", "steerlab.cli", "ui", "--model", str(tiny_file), "--port", str(port)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None:
            line = p.stdout.readline()
            if "steering wheel on" in line:
                break
        assert p.poll() is None, p.stderr.read()
        assert list(tmp.glob("steerlab-ui-*")), "the UI made no temp folder"
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert list(tmp.glob("steerlab-ui-*")) == []
