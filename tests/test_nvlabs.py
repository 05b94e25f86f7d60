"""NVlabs network pickles: the safe reader, and StyleGAN2-ADA images equal to the upstream code's.

The fixtures in tests/fixtures/nvlabs/ were built, pickled and rendered by NVlabs'
stylegan2-ada-pytorch itself (tools/make_nvlabs_fixtures.py names the commit).
"""
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from steerlab.core.errors import FileFormatError
from steerlab.models import StyleGAN2ADAGenerator, load_generator, load_model, read_network_pickle, save_generator
from steerlab.models.nvlabs_pickle import SafeUnpickler, read_pickle_data

FIXTURES = Path(__file__).parent / "fixtures" / "nvlabs"
MODELS = ["sg2ada_skip", "sg2ada_cond_resnet", "sg2ada_orig", "sg3_stylegan2"]
TOL = 1e-4


def _expected(name):
    return load_file(str(FIXTURES / f"{name}_expected.safetensors"))


def _classes(e):
    return e["c"].argmax(1) if "c" in e else None


def test_reader_returns_plain_record_with_upstream_names():
    r = read_network_pickle(FIXTURES / "sg2ada_skip.pkl")
    assert r["key"] == "G_ema" and r["class_name"] == "training.networks.Generator"
    assert r["init_kwargs"]["synthesis_kwargs"]["architecture"] == "skip"
    assert r["init_kwargs"]["mapping_kwargs"] == {"num_layers": 2}
    assert type(r["state"]["synthesis.b16.conv0.weight"]) is torch.Tensor
    assert {"mapping.w_avg", "mapping.fc1.weight", "synthesis.b4.const", "synthesis.b8.conv0.noise_const",
            "synthesis.b16.torgb.affine.bias"} <= set(r["state"])
    data = read_pickle_data(FIXTURES / "sg2ada_skip.pkl")  # every network of the snapshot is data
    assert data["D"].class_name == "training.networks.Discriminator"
    assert data["training_set_kwargs"] == {"resolution": 16, "use_labels": False}


@pytest.mark.parametrize("name", MODELS)
def test_images_equal_upstream(name):
    e = _expected(name)
    G = load_model(str(FIXTURES / f"{name}.pkl"))
    assert isinstance(G, StyleGAN2ADAGenerator) and G.num_classes == (e["c"].shape[1] if "c" in e else 0)
    c = _classes(e)
    with torch.no_grad():
        assert (G.to_space(e["z"], "w+", c) - e["ws"]).abs().max() < TOL
        for psi, key in [(1.0, "img_psi1"), (0.7, "img_psi07")]:
            G.truncation_psi = psi
            raw = G._synthesize(e["z"], "z", c)
            assert (raw - e[key]).abs().max() < TOL, (psi, (raw - e[key]).abs().max())
            img = G.synthesize(e["z"], space="z", classes=c)  # the protocol's [0, 1] images
            assert (img - ((e[key] + 1) / 2).clamp(0, 1)).abs().max() < TOL
        G.truncation_psi = 1.0
        w = e["ws"][:, 0]
        assert (G.synthesize(w, space="w", classes=c) - ((e["img_w"] + 1) / 2).clamp(0, 1)).abs().max() < TOL
        assert (G._synthesize(w, "w", c) - e["img_w"]).abs().max() < TOL
        assert (G._synthesize(e["wplus"], "w+", c) - e["img_wplus"]).abs().max() < TOL
        G.noise_mode = "none"
        assert (G._synthesize(e["z"], "z", c) - e["img_psi1_none"]).abs().max() < TOL
        G.noise_mode = "random"  # fresh noise: differs from the stored maps, same shape
        assert G._synthesize(e["z"], "z", c).shape == e["img_psi1"].shape


def test_golden_comparison_can_fail():
    """A one-weight change is seen: the tolerance is not loose enough to pass anything."""
    e = _expected("sg2ada_skip")
    G = load_model(str(FIXTURES / "sg2ada_skip.pkl"))
    with torch.no_grad():
        G.synthesis.b8.conv1.weight[0, 0, 1, 1] += 0.05
        assert (G._synthesize(e["z"], "z", None) - e["img_psi1"]).abs().max() > 10 * TOL


def test_save_load_roundtrip_and_gradients(tmp_path):
    G = load_model(str(FIXTURES / "sg2ada_cond_resnet.pkl"))
    path = save_generator(G, tmp_path / "g")
    G2 = load_generator(path)
    assert G2.fingerprint == G.fingerprint and isinstance(G2, StyleGAN2ADAGenerator)
    ws = G.sample_latent(2, generator=torch.Generator().manual_seed(0), space="w+", classes=torch.tensor([1, 3]))
    ws.requires_grad_(True)
    G.synthesize(ws, space="w+", classes=torch.tensor([1, 3])).mean().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0
    assert set(G.shiftable_weights()) >= {"synthesis.b16.conv0.weight", "synthesis.b4.conv1.weight"}


class _Payload:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _write(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return path


def test_malicious_pickle_refused_by_cli_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = _write(tmp_path / "evil.pkl", {"G_ema": _Payload(os.system, f"touch {marker}")})
    r = subprocess.run([sys.executable, "-m", "steerlab.cli", "walk", "--model", str(evil), "--edit", "zoom",
                        "--steps", "1", "--out", str(tmp_path / "run")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"pickle global '{os.system.__module__}.system' is not allowed" in lines[0]
    assert not marker.exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("obj, needle", [
    (_Payload(eval, "1+1"), "builtins.eval"),
    (_Payload(subprocess.call, ["true"]), "subprocess.call"),
    (_Payload(io.BytesIO, b""), "_io.BytesIO"),
    (_Payload(torch.load, "x.pt"), "torch.serialization.load"),
    ({"G_ema": torch.nn.Linear(2, 2)}, "torch.nn.modules.linear.Linear"),
])
def test_any_other_global_is_refused_by_name(tmp_path, obj, needle):
    path = _write(tmp_path / "bad.pkl", obj)
    with pytest.raises(FileFormatError, match="refused") as info:
        load_model(str(path))
    assert f"pickle global '{needle}' is not allowed" in str(info.value)
    assert "\n" not in str(info.value)


def test_refusal_happens_before_any_call():
    """find_class refuses the name itself: the callable is never even looked up."""
    data = b"\x80\x04cos\nsystem\n."  # GLOBAL 'os system' then STOP
    with pytest.raises(FileFormatError, match="'os.system' is not allowed"):
        SafeUnpickler(io.BytesIO(data)).load()


def test_not_a_network_pickle_and_truncated(tmp_path):
    with pytest.raises(FileFormatError, match="no network G_ema or G"):
        load_model(str(_write(tmp_path / "plain.pkl", {"a": 1})))
    raw = (FIXTURES / "sg2ada_orig.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FileFormatError, match="not a readable NVlabs network pickle"):
        load_model(str(tmp_path / "cut.pkl"))


def test_linear_walk_through_cli(tmp_path):
    from steerlab.cli import main
    out = tmp_path / "walk"
    code = main(["walk", "--model", str(FIXTURES / "sg2ada_orig.pkl"), "--edit", "zoom", "--space", "w",
                 "--steps", "3", "--batch-size", "2", "--out", str(out)])
    assert code == 0
    assert (out / "direction.safetensors").is_file() and (out / "metrics.json").is_file()


def test_models_scan_lists_checkpoints_and_refusals(tmp_path, capsys):
    import shutil

    from steerlab.cli import main
    from test_stylegan2 import rosinality_state
    for name in ("sg2ada_cond_resnet", "sg2ada_orig"):
        shutil.copy(FIXTURES / f"{name}.pkl", tmp_path / f"{name}.pkl")
    torch.save({"g_ema": rosinality_state(), "latent_avg": torch.randn(1, 12)}, tmp_path / "ros.pt")
    assert load_model(str(tmp_path / "ros.pt")).resolution == 16  # --model takes a .pt too
    (tmp_path / "sub").mkdir()
    marker = tmp_path / "pwned"
    _write(tmp_path / "sub" / "evil.pkl", {"G_ema": _Payload(os.system, f"touch {marker}")})
    save_generator(load_model(str(FIXTURES / "sg2ada_orig.pkl")), tmp_path / "sub" / "mine")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    assert main(["models", "--scan", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {Path(line.split()[0]).name: line for line in out.splitlines()[1:-1]}
    assert set(rows) == {"sg2ada_cond_resnet.pkl", "sg2ada_orig.pkl", "ros.pt", "evil.pkl", "mine.safetensors"}
    assert "training.networks.Generator" in rows["sg2ada_cond_resnet.pkl"]
    assert rows["sg2ada_cond_resnet.pkl"].split()[-3:] == ["16", "z/w/w+", "4"]
    assert rows["sg2ada_orig.pkl"].split()[-3:] == ["8", "z/w/w+", "0"]
    assert "stylegan2" in rows["ros.pt"] and "stylegan2-ada" in rows["mine.safetensors"]
    assert "not loadable" in rows["evil.pkl"] and "is not allowed" in rows["evil.pkl"]
    assert "5 checkpoint(s)" in out and not marker.exists()


def test_stylegan3_copy_defaults_and_attribute_check():
    from steerlab.models.stylegan2ada import from_nvlabs_record
    r = read_network_pickle(FIXTURES / "sg3_stylegan2.pkl")
    assert r["class_name"] == "training.networks_stylegan2.Generator"
    assert "synthesis_kwargs" not in r["init_kwargs"] and "conv_clamp" not in r["init_kwargs"]
    assert r["attributes"]["synthesis.b16.conv1.conv_clamp"] == 256  # upstream's default, recorded
    assert from_nvlabs_record(r).synthesis.b16.conv1.conv_clamp == 256
    r = read_network_pickle(FIXTURES / "sg2ada_skip.pkl")
    r["init_kwargs"]["synthesis_kwargs"]["conv_clamp"] = None  # arguments that disagree with the weights' record
    with pytest.raises(FileFormatError, match="conv_clamp is 1.5 in the pickle"):
        from_nvlabs_record(r)


def test_damaged_pickles_load_or_fail_with_one_line(tmp_path):
    """Random byte changes: each file either loads or is refused with a one-line FileFormatError."""
    import random
    raw = (FIXTURES / "sg2ada_orig.pkl").read_bytes()
    rng = random.Random(0)
    refused = 0
    for i in range(60):
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        path = tmp_path / f"{i}.pkl"
        path.write_bytes(bytes(b))
        try:
            load_model(str(path))
        except FileFormatError as e:
            refused += 1
            assert "\n" not in str(e)
    assert refused > 20


def test_bad_arguments_are_one_line():
    kw = dict(z_dim=8, w_dim=8, img_resolution=8, mapping_kwargs={"num_layers": 1},
              synthesis_kwargs={"channel_base": 32, "channel_max": 4})
    StyleGAN2ADAGenerator(**kw)
    for bad, needle in [(dict(noise_mode="loud"), "noise_mode"), (dict(truncation_psi=3.0), "truncation_psi"),
                        (dict(synthesis_kwargs={"architecture": "unet"}), "architecture"),
                        (dict(synthesis_kwargs={"magic": 1}), "not supported"),
                        (dict(mapping_kwargs={"activation": "gelu"}), "activation")]:
        with pytest.raises(ValueError, match=needle):
            StyleGAN2ADAGenerator(**{**kw, **bad})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_images_equal_upstream_on_cuda():
    e = _expected("sg2ada_cond_resnet")
    G = load_model(str(FIXTURES / "sg2ada_cond_resnet.pkl"), device="cuda")
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # full fp32, as upstream's reference
    try:
        with torch.no_grad():
            raw = G._synthesize(e["z"].cuda(), "z", _classes(e).cuda())
            assert (raw.cpu() - e["img_psi1"]).abs().max() < TOL
            assert (G._synthesize(e["wplus"].cuda(), "w+", _classes(e).cuda()).cpu() - e["img_wplus"]).abs().max() < TOL
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_data_the_format_may_hold_reads_in_every_protocol(protocol):
    """numpy arrays / scalars (stylegan3 layers keep some as attributes), sets, dtypes, parameters."""
    import collections

    import numpy as np

    from steerlab.models.nvlabs_pickle import plain
    obj = {"size": np.broadcast_to(np.asarray(16), [2]), "gain": np.float32(0.5), "m": np.ones((1, 2)),
           "n": np.int64(3), "od": collections.OrderedDict(x=torch.arange(3.0)), "dt": torch.float16,
           "s": {1, 2}, "p": torch.nn.Parameter(torch.ones(2)), "b": b"\x00\xff"}
    r = SafeUnpickler(io.BytesIO(pickle.dumps(obj, protocol=protocol))).load()
    assert plain({k: r[k] for k in ("size", "gain", "m", "n")}) == {"size": [16, 16], "gain": 0.5, "m": [[1.0, 1.0]], "n": 3}
    assert torch.equal(r["od"]["x"], torch.arange(3.0)) and r["dt"] is torch.float16 and r["s"] == {1, 2}
    assert type(r["p"]) is torch.Tensor and r["b"] == b"\x00\xff"
