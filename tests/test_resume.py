"""Resuming long jobs: a run killed mid-way (kill -9) and continued with --resume gives the same
files, bit for bit, as a run that was never interrupted (tiny seeded models, CPU)."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import steerlab.core.checkpoint as checkpoint_module
from steerlab.cli import main
from steerlab.core.checkpoint import KILL_AFTER_SAVES, Checkpoint, rng_tensors
from test_stylegan2 import make_sg2

SRC = str(Path(__file__).resolve().parents[1] / "src")
TIMING = {"seconds", "train_seconds", "invert_seconds", "find_seconds"}


def _killed(args: list[str], saves: int) -> None:
    """Run ``steerlab ARGS`` in a subprocess that SIGKILLs itself right after its ``saves``-th checkpoint."""
    env = dict(os.environ, PYTHONPATH=SRC, **{KILL_AFTER_SAVES: str(saves)})
    r = subprocess.run([sys.executable, "-m", "steerlab.cli", *args], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-2000:])


def _checkpoint_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.ckpt")
                  or p.name in (f".{out.name}.json", f".{out.name}.safetensors"))


def _numbers(path: Path) -> dict:
    """metrics.json without the wall-clock times (the only thing a resumed run may change)."""
    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k not in TIMING}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o
    return strip(json.loads(path.read_text()))


def _assert_close(got, want, rel: float = 1e-6, where: str = "metrics") -> None:
    """``got == want`` with floats compared to ``rel``: statistics a process recomputes (fits, means of
    float32 images) can differ in their last bits between two runs of the same seeded job."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            _assert_close(got[k], want[k], rel, f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_close(g, w, rel, f"{where}[{i}]")
    elif isinstance(want, float) and isinstance(got, float):
        assert got == pytest.approx(want, rel=rel, abs=1e-12, nan_ok=True), where
    else:
        assert got == want, where


def _same_tensors(a: Path, b: Path) -> None:
    ta, tb = load_file(str(a)), load_file(str(b))
    assert ta.keys() == tb.keys() and ta
    for k in ta:
        assert ta[k].dtype == tb[k].dtype and torch.equal(ta[k], tb[k]), k


def _no_leftovers(out: Path) -> None:
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")) == []


# --------------------------------------------------------------------------- kill -9, then --resume
@pytest.mark.parametrize("kind", ["linear", pytest.param("nonlinear", marks=pytest.mark.slow)])
def test_walk_killed_and_resumed_is_bit_identical(tmp_path, tiny_file, kind, capsys):
    args = ["walk", "--model", str(tiny_file), "--edit", "zoom", "--kind", kind, "--steps", "6", "--batch-size", "2",
            "--checkpoint-every", "2"]
    full, res = tmp_path / "full", tmp_path / "res"
    assert main([*args, "--out", str(full)]) == 0
    _killed([*args, "--out", str(res)], saves=2)  # after step 4 of 6
    assert not res.exists() and _checkpoint_files(res) == [".res.ckpt.json", ".res.ckpt.safetensors"]
    # a different option is refused with one line naming it; the checkpoint is kept
    capsys.readouterr()
    assert main([*args, "--out", str(res), "--resume", "--lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--lr" in err and "--resume" in err, err
    assert main([*args, "--out", str(res), "--resume"]) == 0
    _same_tensors(full / "direction.safetensors", res / "direction.safetensors")
    assert _numbers(full / "metrics.json") == _numbers(res / "metrics.json")
    _no_leftovers(res)


@pytest.mark.parametrize("fid", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_evaluate_killed_and_resumed_is_bit_identical(tmp_path, tiny_file, fid):
    from steerlab.jobs.walk import walk
    direction = walk(str(tiny_file), "brightness", steps=2, batch_size=2, n_eval=2, out=tmp_path / "walk",
                     progress=False)["direction"]
    args = ["evaluate", str(direction), "--model", str(tiny_file), "--n", "6", "--n-alphas", "5",
            "--batch-size", "6", *([] if fid else ["--no-fid"])]
    full, res = tmp_path / "full", tmp_path / "res"
    assert main([*args, "--out", str(full)]) == 0
    _killed([*args, "--out", str(res)], saves=2)  # after 2 of 5 alphas
    assert not res.exists() and _checkpoint_files(res)
    assert main([*args, "--out", str(res), "--resume"]) == 0
    a, b = _numbers(full / "metrics.json"), _numbers(res / "metrics.json")
    assert a == b and len(a["values"]) == 5 and len(a["perceptual_steps"]) == 4 and len(a["fid"]) == (5 if fid else 0)
    assert a["values"][0] != a["values"][-1]  # brightness moves the measured colour: the numbers are not trivial
    _no_leftovers(res)


def test_invert_killed_and_resumed_is_bit_identical(tmp_path, tiny_file):
    images = []
    for i in range(2):
        pixels = (torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(i)) * 255).byte().numpy()
        images.append(tmp_path / f"img{i}.png")
        Image.fromarray(pixels).save(images[-1])
    args = ["invert", *map(str, images), "--model", str(tiny_file), "--steps", "8", "--restarts", "2",
            "--batch-size", "2", "--checkpoint-every", "3"]
    full, res = tmp_path / "full", tmp_path / "res"
    assert main([*args, "--out", str(full)]) == 0
    # saves: step 3, step 6, first chunk done, step 3 of the second chunk -> killed there
    _killed([*args, "--out", str(res)], saves=4)
    assert not res.exists() and _checkpoint_files(res)
    assert main([*args, "--out", str(res), "--resume"]) == 0
    _same_tensors(full / "latent.safetensors", res / "latent.safetensors")
    assert _numbers(full / "metrics.json") == _numbers(res / "metrics.json")
    _no_leftovers(res)


@pytest.mark.slow
def test_discover_killed_and_rerun_is_bit_identical(tmp_path, tiny_file):
    args = ["discover", "--model", str(tiny_file), "--method", "optimize", "--layer", "conv2.weight", "--k", "2",
            "--steps", "4", "--batch-size", "2", "--shift", "1", "--analyze=", "--checkpoint-every", "2"]
    full, res = tmp_path / "full", tmp_path / "res"
    assert main([*args, "--out", str(full)]) == 0
    _killed([*args, "--out", str(res)], saves=1)  # after step 2 of 4
    assert not res.exists() and _checkpoint_files(res)
    assert main([*args, "--out", str(res)]) == 0  # discover resumes by default (--no-resume starts over)
    for name in ("k00.safetensors", "k01.safetensors"):
        _same_tensors(full / "directions" / name, res / "directions" / name)
    assert _numbers(full / "metrics.json") == _numbers(res / "metrics.json")
    _no_leftovers(res)


# --------------------------------------------------------------------------- in-process interruptions
class _Interrupted(Exception):
    pass


def _interrupt_after(monkeypatch, saves: int) -> None:
    """Make the ``saves``-th checkpoint save raise (the in-process stand-in for kill -9)."""
    count = {"n": 0}

    def hook():
        count["n"] += 1
        if count["n"] == saves:
            raise _Interrupted()
    monkeypatch.setattr(checkpoint_module, "kill_hook", hook)


@pytest.mark.parametrize("kind,space", [("nonlinear", "z"), pytest.param("nn-linear", "w", marks=pytest.mark.slow),
                                        pytest.param("linear", "w+", marks=pytest.mark.slow),
                                        pytest.param("nonlinear", "w+", marks=pytest.mark.slow)])
def test_walk_loop_resumes_identically_in_every_space(tmp_path, monkeypatch, tiny, kind, space):
    from steerlab.methods import METHODS
    G = tiny if space == "z" else make_sg2()
    method = METHODS.get(kind)

    def learn(resume: bool):
        ckpt = Checkpoint(tmp_path / "ckpt", {"kind": kind, "space": space}, every=2, resume=resume)
        config = method.make_config(edit="color", space=space, steps=5, batch_size=2, seed=1, progress=False,
                                    checkpoint=ckpt, **({} if kind == "linear" else {"hidden": 8}))
        return method(G, config)[0]
    full = learn(False)
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(_Interrupted):
        learn(False)
    monkeypatch.undo()
    res = learn(True)
    assert full.tensors.keys() == res.tensors.keys()
    for k in full.tensors:
        assert torch.equal(full.tensors[k], res.tensors[k]), k
    assert full.metrics["loss_curve"] == res.metrics["loss_curve"] and len(res.metrics["loss_curve"]) == 5
    # the checkpoint held the state after step 4: restarting from scratch would not give these numbers
    saved, state = Checkpoint(tmp_path / "ckpt", {"kind": kind, "space": space}, resume=True).load()
    assert state["step"] == 4 and state["curve"] == full.metrics["loss_curve"][:4]


def test_without_resume_an_old_checkpoint_is_ignored(tmp_path, tiny_file):
    from steerlab.jobs.walk import walk
    stale = Checkpoint.beside(tmp_path / "res", {"edit": "rotate2d"}, resume=True)
    stale.save({"param.0": torch.ones(1, 8)}, {"step": 2, "curve": [1.0, 2.0], "param_groups": []})
    with pytest.raises(ValueError, match="--edit 'rotate2d'"):
        walk(str(tiny_file), "zoom", out=tmp_path / "res", steps=3, batch_size=2, n_eval=2, progress=False,
             resume=True)
    run = walk(str(tiny_file), "zoom", out=tmp_path / "res", steps=3, batch_size=2, n_eval=2, progress=False)
    assert len(run["metrics"]["run"]["config"]) and not stale.path.exists()
    curve = json.loads((tmp_path / "res" / "direction.json").read_text())["metrics"]["loss_curve"]
    assert len(curve) == 3 and curve[:2] != [1.0, 2.0]


def test_weight_optimisation_interrupted_and_resumed_is_bit_identical(tmp_path, tiny, monkeypatch):
    """The in-process twin of the discover kill -9 test (marked slow): Eq. 1 training of weight
    directions stopped after its first checkpoint continues to the same directions and curves."""
    from steerlab.methods.paramspace.reconstructor import ReconstructorConfig, learn_directions
    from steerlab.methods.paramspace.svd import CoordinateBasis
    q = torch.linalg.qr(torch.randn(2048, 3, generator=torch.Generator().manual_seed(0)))[0]  # (2048, 3)
    basis = CoordinateBasis(q.T.reshape(3, 16, 8, 4, 4))
    cfg = ReconstructorConfig(k=2, limit=1.0, steps=4, batch_size=2, input_size=16, width=4, checkpoint_every=2)
    full, info = learn_directions(tiny, "conv2.weight", basis, cfg, checkpoint=tmp_path / "a", progress=False)
    _interrupt_after(monkeypatch, 1)
    with pytest.raises(_Interrupted):
        learn_directions(tiny, "conv2.weight", basis, cfg, checkpoint=tmp_path / "b", progress=False)
    monkeypatch.undo()
    res, info_res = learn_directions(tiny, "conv2.weight", basis, cfg, checkpoint=tmp_path / "b", progress=False)
    assert torch.equal(full, res) and info["history"] == info_res["history"] and len(info["history"]["loss"]) == 4
    assert info["held_out_accuracy"] == info_res["held_out_accuracy"]


def test_trajectories_interrupted_and_resumed_are_bit_identical(tmp_path, tiny, monkeypatch):
    from steerlab.methods.trajectories.recursive import recursive_trajectories
    kw = dict(edit="shift_x", n_trajectories=3, n_steps=3, steps_per_target=3, progress=False)

    def run(resume: bool):
        return recursive_trajectories(tiny, **kw, checkpoint=Checkpoint(tmp_path / "t", kw, every=1, resume=resume))
    full = run(False)
    _interrupt_after(monkeypatch, 2)  # after sub-problem 2 of 3
    with pytest.raises(_Interrupted):
        run(False)
    monkeypatch.undo()
    res = run(True)
    for name in ("z0", "z", "dt", "error", "kept"):
        assert torch.equal(getattr(full, name), getattr(res, name)), name
    assert not torch.equal(full.z[:6], full.z[6:12])  # the rows of the sub-problems differ


# --------------------------------------------------------------------------- the checkpoint file
def test_checkpoint_round_trip_refusals_and_the_test_hook_is_inert(tmp_path):
    g = torch.Generator().manual_seed(3)
    g.manual_seed(3)
    torch.randn(2, generator=g)
    ckpt = Checkpoint(tmp_path / "c", {"steps": 4, "space": "w+"}, every=2, resume=True)
    assert ckpt.load() is None and [ckpt.due(s) for s in (1, 2, 3, 4)] == [False, True, False, True]
    ckpt.save({"w": torch.arange(3.0), **rng_tensors([g])}, {"step": 2, "curve": [0.1, 1 / 3]})
    tensors, state = ckpt.load()
    assert state == {"step": 2, "curve": [0.1, 1 / 3]} and torch.equal(tensors["w"], torch.arange(3.0))
    g2 = torch.Generator()
    g2.set_state(tensors["rng.0"])
    assert torch.equal(torch.randn(4, generator=g), torch.randn(4, generator=g2))
    assert Checkpoint(tmp_path / "c", {"steps": 4, "space": "w+"}).load() is None  # resume off
    with pytest.raises(ValueError, match="made with --space 'w\\+', this run has 'z'"):
        Checkpoint(tmp_path / "c", {"steps": 4, "space": "z"}, resume=True).load()
    with pytest.raises(ValueError, match="--checkpoint-every|checkpoint_every"):
        Checkpoint(tmp_path / "c", {}, every=0)
    (tmp_path / "p.safetensors").write_bytes(b"\x80\x04K\x01.")  # a pickle under the checkpoint's name
    with pytest.raises(ValueError, match="never unpickles"):
        Checkpoint(tmp_path / "p", {}, resume=True).load()
    ckpt.clear()
    assert sorted(os.listdir(tmp_path)) == ["p.safetensors"]
    assert KILL_AFTER_SAVES not in os.environ  # saves above ran the hook: unset, it does nothing


# --------------------------------------------------------------------------- reproduce: sub-run resume
NL_ARGS = ["reproduce", "nonlinear-walks", "--set", "edits=shift_x", "--set", "gan_steps=2", "--set", "batch_size=8",
           "--set", "width=8", "--set", "z_dim=8", "--set", "resolution=16", "--set", "walk_steps=4",
           "--set", "nonlinear_steps=4", "--set", "hidden=8", "--set", "n_eval=8", "--checkpoint-every", "2"]
# the digit CNN trained for a few steps (the experiment's measurements, not their numbers), then the CLI
_QUICK_MAIN = ("import sys; from functools import partial; from steerlab.metrics import digit_features as f; "
               "from steerlab.reproduce import _digits as d; q = partial(f.digit_classifier, steps=5, copies=0); "
               "f.digit_classifier = d.digit_classifier = q; from steerlab.cli import main; sys.exit(main(sys.argv[1:]))")


def _quick_cli(args: list[str], saves: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=SRC)
    env.pop(KILL_AFTER_SAVES, None)
    if saves is not None:
        env[KILL_AFTER_SAVES] = str(saves)
    return subprocess.run([sys.executable, "-c", _QUICK_MAIN, *args], env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow  # about 2 CPU-minutes: a tiny digits GAN, walks and the digit CNN
def test_reproduce_killed_and_resumed_gives_the_same_metrics(tmp_path):
    """nonlinear-walks: killed inside its second walk (after the GAN and the first walk were saved as
    finished sub-runs), resumed: the same metrics and the same direction tensors as a run never killed."""
    ref, out = tmp_path / "ref", tmp_path / "nl"
    r = _quick_cli([*NL_ARGS, "--out", str(ref)])
    assert r.returncode == 0, r.stderr[-2000:]
    # saves: 1 the run's file, 2 the GAN, 3-4 the linear walk's steps 2 and 4, 5 it finished, 6 the nonlinear's step 2
    r = _quick_cli([*NL_ARGS, "--out", str(out)], saves=6)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-2000:])
    left = _checkpoint_files(out)
    assert not out.exists() and ".nl.ckpt.gan.done.safetensors" in left
    assert ".nl.ckpt.shift_x-linear.done.safetensors" in left and ".nl.ckpt.shift_x-nonlinear.safetensors" in left
    from steerlab.jobs.reproduce import reproduce
    with pytest.raises(ValueError, match="made with --walk-steps 4, this run has 6") as e:  # other options: refused
        reproduce("nonlinear-walks", out, options=NL_ARGS[3:-2:2] + ["walk_steps=6"], resume=True, checkpoint_every=2)
    assert "\n" not in str(e.value) and not out.exists()
    r = _quick_cli([*NL_ARGS, "--out", str(out), "--resume"])
    assert r.returncode == 0, r.stderr[-2000:]
    same = {"total_seconds", "model_text"}  # wall-clock times, also the one in the model's description
    assert ({k: v for k, v in _numbers(out / "metrics.json").items() if k not in same}
            == {k: v for k, v in _numbers(ref / "metrics.json").items() if k not in same})
    for kind in ("linear", "nonlinear", "nn-linear"):
        _same_tensors(out / "directions" / f"shift_x-{kind}.safetensors", ref / "directions" / f"shift_x-{kind}.safetensors")
    _same_tensors(out / "models" / "digits-vanilla.safetensors", ref / "models" / "digits-vanilla.safetensors")
    _no_leftovers(out)


@pytest.mark.slow
def test_reproduce_beta_vae_interrupted_between_models_resumes_identically(tmp_path, monkeypatch):
    """beta-vae: stopped right after its first model was saved as a finished sub-run; the resumed run
    trains only the second and its metrics, directions and models equal an uninterrupted run's."""
    from steerlab.reproduce.beta_vae import reproduce_beta_vae
    tiny = dict(betas=(1, 5), seeds=(0,), train_steps=3, batch_size=8, n_train=32, n_trajectories=2, n_steps=2,
                steps_per_target=2, n_eval=4, progress=False)
    ref = reproduce_beta_vae(tmp_path / "ref", **tiny)["out"]
    out = tmp_path / "bv"
    _interrupt_after(monkeypatch, 2)  # save 1: the run's file, save 2: model beta 1 finished
    with pytest.raises(_Interrupted):
        reproduce_beta_vae(out, **tiny)
    assert ".bv.ckpt.b1-s0.done.safetensors" in _checkpoint_files(out) and not out.exists()
    monkeypatch.setattr(checkpoint_module, "kill_hook", lambda: None)
    import steerlab.reproduce.beta_vae as bv
    trained, train = [], bv.train_dsprites_vae
    monkeypatch.setattr(bv, "train_dsprites_vae", lambda beta, **kw: trained.append(beta) or train(beta, **kw))
    reproduce_beta_vae(out, resume=True, **tiny)
    assert trained == [5]  # the finished model was read back, not trained again
    got, want = (_numbers(p / "metrics.json") for p in (out, ref))
    for m in (got, want):  # the other wall-clock time of each model
        for runs in m["per_beta"].values():
            for r in runs.values():
                r.pop("trajectory_seconds")
    _assert_close(got, want)  # measured: equal but for float32-level noise (rel 1.5e-7) in CI
    for name in ("direction-b1.safetensors", "direction-b5.safetensors", "models/dsprites-vae-b1.safetensors",
                 "models/dsprites-vae-b5.safetensors"):
        _same_tensors(out / name, ref / name)
    _no_leftovers(out)



@pytest.mark.slow  # about 2 CPU-minutes: a tiny digits GAN, walks and the digit CNN
def test_reproduce_steerable_training_interrupted_between_set_ups_resumes_identically(tmp_path, monkeypatch):
    """steerable-training: stopped after two of its three set-ups were saved; the resumed run trains only
    the third (the joint G,W) and its metrics and directions equal an uninterrupted run's."""
    from functools import partial

    from steerlab.jobs.reproduce import reproduce
    from steerlab.metrics import digit_features
    from steerlab.reproduce import _digits
    quick = partial(digit_features.digit_classifier, steps=5, copies=0)  # the measurements, not their numbers
    monkeypatch.setattr(digit_features, "digit_classifier", quick)
    monkeypatch.setattr(_digits, "digit_classifier", quick)
    opts = ["edits=zoom", "gan_steps=2", "batch_size=8", "width=8", "z_dim=8", "resolution=16", "n_eval=8",
            "walk_steps=2"]
    ref = reproduce("steerable-training", tmp_path / "ref", options=opts)["out"]
    out = tmp_path / "st"
    _interrupt_after(monkeypatch, 3)  # saves: the run's file, zoom W, zoom W+aug
    with pytest.raises(_Interrupted):
        reproduce("steerable-training", out, options=opts)
    monkeypatch.setattr(checkpoint_module, "kill_hook", lambda: None)
    import steerlab.reproduce.steerable_training as st
    trained, train = [], st.train_steerable
    monkeypatch.setattr(st, "train_steerable", lambda *a, **kw: trained.append(a[5]) or train(*a, **kw))
    reproduce("steerable-training", out, options=opts, resume=True)
    assert trained == ["argmin_gw"]
    got, want = (_numbers(p / "metrics.json") for p in (out, ref))
    assert {k: v for k, v in got.items() if k != "total_seconds"} == {k: v for k, v in want.items()
                                                                      if k != "total_seconds"}
    for mode in ("argmin_w", "argmin_w_aug", "argmin_gw"):
        _same_tensors(out / "directions" / f"zoom-{mode}.safetensors", ref / "directions" / f"zoom-{mode}.safetensors")
    _same_tensors(out / "models" / "digits-joint-zoom.safetensors", ref / "models" / "digits-joint-zoom.safetensors")
    _no_leftovers(out)


@pytest.mark.slow  # about 1.5 CPU-minutes: two walks on the shapes model and their FID sweeps
def test_reproduce_bias_interrupted_mid_walk_resumes_identically(tmp_path, monkeypatch):
    """bias: stopped inside its second walk (the first saved as finished); the resumed run reads the
    first back, continues the second from its last save and measures the same numbers."""
    from steerlab.reproduce.bias import reproduce_bias
    kw = dict(attributes=("luminance", "zoom"), walk_steps=4, n_per_class=4, n_data_per_class=4, n_alphas=3,
              progress=False, checkpoint_every=2)
    ref = reproduce_bias(tmp_path / "ref", **kw)["out"]
    out = tmp_path / "b"
    _interrupt_after(monkeypatch, 5)  # the run's file, luminance steps 2 and 4, luminance done, zoom step 2
    with pytest.raises(_Interrupted):
        reproduce_bias(out, **kw)
    left = _checkpoint_files(out)
    assert ".b.ckpt.walk-luminance.done.safetensors" in left and ".b.ckpt.walk-zoom.safetensors" in left
    monkeypatch.setattr(checkpoint_module, "kill_hook", lambda: None)
    reproduce_bias(out, resume=True, **kw)
    got, want = (_numbers(p / "metrics.json") for p in (out, ref))
    for m in (got, want):
        for a in m["attributes"].values():
            a.pop("walk_seconds")
    assert got == want
    for edit in ("brightness", "zoom"):
        _same_tensors(out / "walks" / f"{edit}.safetensors", ref / "walks" / f"{edit}.safetensors")
    _no_leftovers(out)
