"""Bad input to every subcommand, in process: one stderr line, exit 2, nothing left behind, no NaN file.

The table is built from the parser itself (every numeric option of every command gets values
below, above and outside its documented range) plus hand-written cases for names, devices, files
and value lists; a `hypothesis` suite throws generated text at a few options.
"""
import argparse
import json
import math
import struct
import zlib
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import make_tiny
from steerlab.cli import build_parser, main
from steerlab.models import save_generator

# What each command needs besides the option under test, so that only that option is wrong.
BASE = {
    "walk": ["--model", "TINY", "--edit", "zoom"],
    "apply": ["DIR", "--model", "TINY"],
    "evaluate": ["DIR", "--model", "TINY"],
    "demo": [],
    "invert": ["IMG", "--model", "TINY"],
    "trajectory": ["--model", "TINY", "--edit", "zoom"],
    "reproduce": ["beta-vae"],
    "ui": [],
    "compare-spaces": ["--model", "TINY"],
    "train": ["shapes"],
    "layers": ["--model", "TINY"],
    "discover": ["--model", "TINY", "--method", "svd", "--layer", "LAYER"],
    "analyze-weights": ["DIR"],
    "models": [],
    "edits": [],
}
OUT_TAKERS = {"walk", "apply", "evaluate", "demo", "invert", "trajectory", "reproduce", "compare-spaces",
              "train", "discover", "analyze-weights"}


def _png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit PNG header of any size with one tiny compressed row stream (a decompression bomb
    when large: it is refused from its header, before decoding)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * min(height, 4))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module", autouse=True)
def _entry_points_scanned_once():
    """The installed plugins are scanned once for the module (the scan is most of a parse's time)."""
    from steerlab.core import plugins
    found = plugins._entry_points()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plugins, "_entry_points", lambda: found)
        yield


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good and bad files the cases name by placeholder."""
    from PIL import Image

    from steerlab.methods.walks import learn_linear_walk
    root = tmp_path_factory.mktemp("bad_input")
    G = make_tiny()
    tiny = save_generator(G, root / "tiny")
    d = learn_linear_walk(G, "zoom", steps=1, batch_size=2, progress=False)
    dpath = d.save(root / "d")
    Image.new("RGB", (32, 32), (120, 60, 30)).save(root / "img.png")
    Image.new("RGB", (1, 1)).save(root / "tiny.png")
    _png(root / "bomb.png", 30000, 30000)
    (root / "text.png").write_text("not an image")
    torch.save({"w": torch.zeros(2)}, root / "pickle.safetensors")
    (root / "trunc.safetensors").write_bytes(dpath.read_bytes()[:100])
    (root / "empty.safetensors").write_bytes(b"")
    # a generator whose JSON header is a list
    (root / "listgen.safetensors").write_bytes(tiny.read_bytes())
    (root / "listgen.json").write_text("[1, 2]")
    # a direction whose header lacks a field, and one whose alpha is a string
    from safetensors.torch import load_file, save_file
    head = json.loads((root / "d.json").read_text())
    for name, edit in (("nofield", lambda h: h.pop("space")), ("badalpha", lambda h: h.update(alpha="x"))):
        h = dict(head)
        edit(h)
        save_file(load_file(dpath), root / f"{name}.safetensors", metadata={"steerlab": json.dumps(h)})
        (root / f"{name}.json").write_text(json.dumps(h))
    (root / "afile").write_text("I am a file")
    (root / "adir").mkdir()
    layer = next(n for n, p in G.named_parameters() if p.dim() >= 2)
    return {"TINY": str(tiny), "TINYSTEM": str(root / "tiny"), "DIR": str(dpath), "IMG": str(root / "img.png"), "LAYER": layer,
            "IMG1PX": str(root / "tiny.png"), "BOMB": str(root / "bomb.png"), "TEXTIMG": str(root / "text.png"),
            "PICKLE": str(root / "pickle.safetensors"), "TRUNC": str(root / "trunc.safetensors"),
            "EMPTY": str(root / "empty.safetensors"), "LISTGEN": str(root / "listgen.safetensors"),
            "NOFIELD": str(root / "nofield.safetensors"), "BADALPHA": str(root / "badalpha.safetensors"),
            "AFILE": str(root / "afile"), "ADIR": str(root / "adir"), "MISSING": str(root / "missing.safetensors")}


def _numeric_options():
    """(command, flag, bad value) for every numeric option of every command, from its declared range."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cases = []
    for name, p in sorted(sub.choices.items()):
        for action in p._actions:
            b = getattr(action.type, "bounds", None)
            if b is None or not action.option_strings:
                continue
            flag = action.option_strings[-1]
            bad = ["abc", "nan", "inf", ""]
            if action.type.__name__ == "count":
                bad += [str(b["lo"] - 1), str(b["hi"] + 1), "1.5"]
            else:
                bad += [str(b["lo"] - 1), str(b["hi"] * 2 if math.isfinite(b["hi"]) else "1e400")]
                if b["lo_open"]:
                    bad.append(str(b["lo"]))
            cases += [(name, [flag, v]) for v in bad]
    return cases


def _by_hand():
    cases = []
    for name in BASE:
        cases += [(name, ["--bogus"]), (name, ["--bogus", "1"]), (name, ["extra-positional", "x"])]
    for name in ("walk", "apply", "evaluate", "invert", "trajectory", "compare-spaces", "train", "layers",
                 "discover", "analyze-weights", "reproduce", "ui"):
        cases += [(name, ["--device", d]) for d in ("gpu", "cuda", "cuda:7", "", "tpu:0", "cpu:x", "mps")]
    for name in ("walk", "trajectory", "compare-spaces", "train", "discover", "reproduce", "evaluate", "invert"):
        cases += [(name, ["--seed", v]) for v in ("-1", "abc", "1.5", str(2 ** 64))]
    for name in sorted(OUT_TAKERS - {"train"}):
        cases.append((name, ["--out", "AFILE"]))
    for name in ("walk", "trajectory", "compare-spaces", "layers", "discover"):
        cases += [(name, ["--model", m]) for m in ("nope", "MISSING", "PICKLE", "TRUNC", "EMPTY", "LISTGEN",
                                                   "AFILE", "ADIR")]
    for name in ("apply", "evaluate"):
        cases += [(name, [f]) for f in ("MISSING", "PICKLE", "TRUNC", "EMPTY", "NOFIELD", "BADALPHA", "AFILE",
                                        "ADIR", "TINY")]
        cases += [(name, ["--alphas", a]) for a in ("nan", "inf", "x", "9", "-9", "1,,2", "1:2", "")]
    cases += [("analyze-weights", [f]) for f in ("MISSING", "PICKLE", "TRUNC", "NOFIELD", "AFILE")]
    cases += [("apply", ["--seeds", s]) for s in ("5-2", "0-1000000", "-1", "a,b", "", "1-2-3", "0,,1",
                                                  ",".join(map(str, range(2000))))]
    cases += [("apply", ["--classes", c]) for c in ("-1", "x", "0-99999")]
    cases += [("apply", ["--latent", f]) for f in ("MISSING", "PICKLE", "DIR", "AFILE")]
    cases += [("invert", [f]) for f in ("IMG1PX", "BOMB", "TEXTIMG", "MISSING", "ADIR")]
    cases += [("invert", ["--loss", "l7"]), ("invert", ["--classes", "-3"])]
    cases += [("walk", ["--edit", "explode"]), ("walk", ["--space", "w"]), ("walk", ["--loss", "l7"]),
              ("walk", ["--kind", "curvy"]), ("trajectory", ["--edit", "explode"]),
              ("trajectory", ["--measure", "nope:x"]), ("compare-spaces", ["--edit", "zoom"]),
              ("compare-spaces", ["--spaces", "q"]), ("discover", ["--method", "magic"]),
              ("discover", ["--layer", "nope"]), ("discover", ["--analyze", "vibes"]),
              ("reproduce", ["--betas", "x"]), ("reproduce", ["--betas", "-1"]), ("reproduce", ["--seeds", "9-1"]),
              ("reproduce", ["--set", "x=1"]), ("train", ["--out", "TINYSTEM"]),
              ("evaluate", ["--measure", "nope"]), ("evaluate", ["--features", "nope"]),
              ("analyze-weights", ["--what", "vibes"]), ("ui", ["--directions", "MISSING"]),
              ("ui", ["--model", "nope"])]
    return cases


CASES = _numeric_options() + _by_hand() + [("reproduce", ["EXPERIMENT:nope"]), ("models", ["--x=1"]),
                                          ("edits", ["-z"]), ("nope-command", [])]


def _args(name, extra, files, out):
    base = list(BASE.get(name, []))
    if extra and extra[0].startswith("EXPERIMENT:"):
        base, extra = [extra[0].split(":", 1)[1]], []
    # a positional given by the case replaces the command's own
    if extra and not extra[0].startswith("-") and base and not base[0].startswith("-") \
            and name not in ("reproduce",):
        base = base[1:]
    flags = {extra[0]} if extra and extra[0].startswith("--") else set()
    for flag in flags:  # the case's value replaces the base's
        if flag in base:
            i = base.index(flag)
            del base[i:i + 2]
    args = [name] + base + extra
    if name in OUT_TAKERS and "--out" not in extra:
        args += ["--out", str(out)]
    return [files.get(a, a) for a in args]


def _leftovers(out: Path) -> list[str]:
    """Anything a run left at or beside ``out`` (the folder, its lock, partial folders, a model file)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith((out.name, f".{out.name}")))


def _no_nan_files(root: Path) -> None:
    from safetensors.torch import load_file
    for f in root.rglob("*.safetensors"):
        try:
            t = load_file(f)
        except Exception:  # noqa: BLE001  (the deliberately bad inputs)
            continue
        assert all(torch.isfinite(v).all() for v in t.values() if v.is_floating_point()), f


@pytest.mark.parametrize("name, extra", CASES, ids=[f"{n} {' '.join(e)}"[:60] for n, e in CASES])
def test_bad_input(name, extra, files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # defaults such as runs/... land in the test's folder
    out = tmp_path / "out"
    code = main(_args(name, extra, files, out))
    text, err = capsys.readouterr()
    assert code == 2, (code, err[-2000:])
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert _leftovers(out) == [], _leftovers(out)
    assert not (tmp_path / "runs").exists()
    _no_nan_files(tmp_path)


def test_the_table_covers_every_command_with_many_cases():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    per = {n: sum(1 for c, _ in CASES if c == n) for n in sub.choices}
    assert min(per.values()) >= 3, per
    assert len(CASES) >= 300


# --------------------------------------------------------------------------- generated input
GENERATED = {"tried": 0, "met": 0}


def _one_line_exit_2(args, capsys, out):
    GENERATED["tried"] += 1
    code = main(args)
    _, err = capsys.readouterr()
    ok = code == 2 and err.count("\n") == 1 and "Traceback" not in err and not out.exists()
    GENERATED["met"] += ok
    assert ok, (args, code, err)
    return err


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12) | \
    st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.integers().map(str) | \
    st.sampled_from(["-0.3,0,0.3", "1e999", "0-99999999", "5-2", "nan", "-inf", "cuda", "cuda:99", ""])
fast = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fast
@given(flag=st.sampled_from(["--lr", "--steps", "--batch-size", "--seed", "--device", "--space", "--loss"]),
       value=text)
def test_generated_walk_options(flag, value, files, tmp_path, capsys):
    # the model is missing, so a value that is accepted still ends in one line; a refused one names its option
    out = tmp_path / "out"
    err = _one_line_exit_2(["walk", "--model", files["MISSING"], "--edit", "zoom", "--out", str(out),
                            f"{flag}={value}"], capsys, out)
    assert flag in err or "missing" in err or "unknown" in err or "no latent space" in err, err


@fast
@given(flag=st.sampled_from(["--seeds", "--alphas", "--classes", "--device"]), value=text)
def test_generated_apply_options(flag, value, files, tmp_path, capsys):
    out = tmp_path / "out"
    _one_line_exit_2(["apply", files["TRUNC"], "--model", files["TINY"], "--out", str(out), flag, value],
                     capsys, out)


@fast
@given(flag=st.sampled_from(["--z-dim", "--ms-weight", "--batch-size", "--images", "--resolution", "--lr"]),
       value=text)
def test_generated_train_options(flag, value, files, tmp_path, capsys):
    out = tmp_path / "out"
    _one_line_exit_2(["train", "nope-dataset", "--out", str(out), f"{flag}={value}"], capsys,
                     out.with_suffix(".safetensors"))


def test_generated_counts_reported():
    print(f"\ngenerated bad inputs: {GENERATED['tried']} tried, {GENERATED['met']} met")
    assert GENERATED["tried"] == GENERATED["met"]
