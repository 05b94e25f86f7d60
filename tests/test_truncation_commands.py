"""--truncation / --truncation-cutoff on every command that renders a StyleGAN model: psi changes what it renders,
and the run records psi and the cutoff."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from steerlab.cli import main
from steerlab.cli.base import COMMANDS
from steerlab.jobs.apply import apply
from steerlab.models import save_generator
from test_compare_methods import _Pool, mean_measure  # noqa: F401  (a fixture)
from test_stylegan2 import make_sg2

RENDERING = ("walk", "apply", "evaluate", "invert", "trajectory", "discover", "analyze-weights", "compare-spaces",
             "compare-methods")


@pytest.fixture(scope="module")
def sg2_file(tmp_path_factory):
    return save_generator(make_sg2(), tmp_path_factory.mktemp("sg2") / "sg2")


def _pngs(folder):
    return {p.relative_to(folder).as_posix(): np.asarray(Image.open(p)) for p in sorted(folder.rglob("*.png"))}


def _run_both(tmp_path, capsys, args, name, record="metrics.json"):
    """Run ``args`` at psi 1 (default) and at psi 0.5 on every w+ row; the PNGs of both runs and the psi-0.5 config."""
    outs = {}
    for psi, extra in (("1", []), ("0.5", ["--truncation", "0.5", "--truncation-cutoff", "6"])):
        out = tmp_path / f"{name}-{psi}"
        code = main([*args, *extra, "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        outs[psi] = out
    if record != "metrics.json":
        return _pngs(outs["1"]), _pngs(outs["0.5"]), json.loads((outs["0.5"] / record).read_text())
    config = json.loads((outs["0.5"] / "metrics.json").read_text())["run"]["config"]
    return _pngs(outs["1"]), _pngs(outs["0.5"]), config


def _family_args(family, sg2_file, tmp_path):
    m = ["--model", str(sg2_file)]
    if family == "invert":
        img = tmp_path / "photo.png"
        Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)).save(img)
        return ["invert", str(img), *m, "--steps", "2", "--restarts", "1"]
    if family == "trajectory":
        return ["trajectory", *m, "--edit", "shift_x", "--trajectories", "2", "--n-steps", "1",
                "--steps-per-target", "2", "--measure", "saliency:x", "--n-samples", "2"]
    if family == "discover-weight":
        layer = next(iter(make_sg2().shiftable_weights()))
        return ["discover", *m, "--method", "svd", "--layer", layer, "--k", "2", "--shift", "2", "--analyze", ""]
    if family == "discover-latent":
        return ["discover", *m, "--method", "sefa", "--k", "2"]
    if family == "compare-spaces":
        return ["compare-spaces", *m, "--spaces", "z,w", "--steps", "2", "--batch-size", "2", "--n-samples", "2"]
    raise AssertionError(family)


@pytest.mark.parametrize("family", ["invert", "trajectory", "discover-weight", "discover-latent", "compare-spaces"])
def test_truncation_changes_what_the_command_renders(tmp_path, capsys, sg2_file, family):
    a, b, config = _run_both(tmp_path, capsys, _family_args(family, sg2_file, tmp_path), family)
    assert a.keys() == b.keys() and a
    assert any(a[k].shape != b[k].shape or not np.array_equal(a[k], b[k]) for k in a), "psi changed no image"
    assert config["truncation"] == 0.5 and config["truncation_cutoff"] == 6


def test_analyze_weights_truncation(tmp_path, capsys, sg2_file):
    found = tmp_path / "found"
    assert main([*_family_args("discover-weight", sg2_file, tmp_path), "--out", str(found)]) == 0
    a, b, config = _run_both(tmp_path, capsys, ["analyze-weights", str(found), "--model", str(sg2_file),
                                                "--what", "locality"], "analyze")
    assert a and any(not np.array_equal(a[k], b[k]) for k in a)
    assert config["truncation"] == 0.5 and config["truncation_cutoff"] == 6


def test_compare_methods_truncation(tmp_path, sg2_file, mean_measure):  # noqa: F811
    from steerlab.jobs.compare_methods import compare_methods
    from steerlab.metrics.fid import FEATURE_NETWORKS, register_feature_network
    register_feature_network("toy-pool-sg2", lambda device: _Pool())
    try:
        runs = {psi: compare_methods(str(sg2_file), "toy_mean:v", methods=("sefa",), k=1, n=4, n_screen=4, fid_n=4,
                                     out=tmp_path / f"c{psi}", progress=False, fid_features="toy-pool-sg2",
                                     truncation=psi, truncation_cutoff=6)
                for psi in (0.5, 1.0)}
    finally:
        FEATURE_NETWORKS._entries.pop("toy-pool-sg2", None)
    a, b = _pngs(tmp_path / "c1.0"), _pngs(tmp_path / "c0.5")
    assert a and any(not np.array_equal(a[k], b[k]) for k in a)
    config = json.loads((tmp_path / "c0.5" / "metrics.json").read_text())["run"]["config"]
    assert runs[0.5]["out"] and config["truncation"] == 0.5 and config["truncation_cutoff"] == 6


def test_truncation_cutoff_reaches_apply_and_every_rendering_command_takes_it(tmp_path, sg2_file):
    from steerlab.directions import Direction
    from steerlab.directions.alpha import plain_alpha
    G = make_sg2()
    w = torch.randn(1, 12, generator=torch.Generator().manual_seed(1))
    d = Direction(kind="linear", space="z", tensors={"w": w}, model=G.name, fingerprint=G.fingerprint,
                  alpha=plain_alpha(1.0))
    imgs = {c: apply(d, seeds=[0, 1], alphas=[0.5], model=make_sg2(), truncation=0.0, truncation_cutoff=c)
            for c in (0, 3, 6, None)}
    assert torch.equal(imgs[0], apply(d, seeds=[0, 1], alphas=[0.5], model=make_sg2()))  # cutoff 0: no rows
    assert torch.equal(imgs[6], imgs[None])                                              # cutoff num_ws: all rows
    assert not torch.allclose(imgs[3], imgs[6], atol=1e-4) and not torch.allclose(imgs[3], imgs[0], atol=1e-4)
    for name in RENDERING:
        p = COMMANDS.get(name)().register(__import__("argparse").ArgumentParser().add_subparsers())
        flags = {s for a in p._actions for s in a.option_strings}
        assert {"--truncation", "--truncation-cutoff"} <= flags, name


def test_cli_apply_truncation_changes_the_strip_and_is_recorded(tmp_path, capsys, sg2_file):
    from steerlab.directions import Direction
    from steerlab.directions.alpha import plain_alpha
    G = make_sg2()
    path = Direction(kind="linear", space="w", tensors={"w": torch.randn(1, 12, generator=torch.Generator().manual_seed(2))},
                     model=G.name, fingerprint=G.fingerprint, alpha=plain_alpha(1.0)).save(tmp_path / "d")
    a, b, _ = _run_both(tmp_path, capsys, ["apply", str(path), "--model", str(sg2_file), "--seeds", "0-1",
                                            "--alphas", "0,1"], "apply", record="apply.json")
    assert not np.array_equal(a["strip.png"], b["strip.png"])
    meta = json.loads((tmp_path / "apply-0.5" / "apply.json").read_text())
    assert meta["truncation"] == 0.5 and meta["truncation_cutoff"] == 6 and meta["alphas"] == [0.0, 1.0]
