"""Direction kinds: one registry, every built-in kind usable in a fresh process, files of v1 still render."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from steerlab.core.io import FileFormatError
from steerlab.core.registry import Registry
from steerlab.directions import (
    KINDS,
    AlphaSpec,
    Direction,
    Kind,
    alpha_spec,
    get_kind,
    plain_alpha,
    register_kind,
    steer,
)
from steerlab.directions.kinds import Linear
from steerlab.directions.ops import piecewise_linear
from steerlab.edits import get_edit
from steerlab.models import load_model

V1 = Path(__file__).parent / "fixtures" / "v1"
BUILT_IN = ("linear", "nonlinear", "nn-linear", "weight", "trajectory")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def G():
    return load_model(str(V1 / "tiny.safetensors"))


def z_of(n=3, seed=11):
    return torch.randn(n, 8, generator=torch.Generator().manual_seed(seed))


def inside(d, frac):
    """An alpha a fraction ``frac`` of the way through the direction's range."""
    lo, hi = d.alpha.alpha_range
    return lo + frac * (hi - lo)


# ----------------------------------------------------------------------------- v1 files
@pytest.mark.parametrize("kind", BUILT_IN)
def test_every_v1_direction_file_loads_and_renders(G, kind):
    d = Direction.load(V1 / f"{kind}.safetensors", model=G)
    head = json.loads((V1 / f"{kind}.json").read_text())
    assert d.kind == kind and d.fingerprint == G.fingerprint
    assert isinstance(d.alpha, AlphaSpec) and d.alpha.to_dict() == head["alpha"]
    z = z_of()
    for frac in (0.1, 0.35, 0.9):
        a = inside(d, frac)
        x = d.render(G, z, a)
        assert x.shape == (3, 3, 16, 16) and torch.isfinite(x).all() and 0 <= x.min() and x.max() <= 1
        assert torch.equal(x, steer(G, [(d, a)], z))  # one knob: the same images
    far = d.render(G, z, inside(d, 0.95))
    assert (far - G.synthesize(z)).abs().max() > 1e-4  # the knob does something


def test_v1_linear_direction_renders_exactly_its_offset(G):
    d = Direction.load(V1 / "linear.safetensors", model=G)
    z = z_of()
    alpha_g = torch.log(torch.full((3, 1), 2.0))  # zoom x2 is alpha_g = log 2 (float32, as the knob maps it)
    want = G.synthesize(z + torch.einsum("nk,kd->nd", alpha_g, d.tensors["w"]))
    assert torch.equal(d.render(G, z, 2.0), want)  # bit-identical


def test_v1_weight_and_trajectory_files_render_what_their_kinds_define(G):
    w = Direction.load(V1 / "weight.safetensors", model=G)
    z = z_of()
    want = G.synthesize_shifted(z, {"conv2.weight": 1.5 * w.tensors["xi"]})
    assert torch.allclose(w.render(G, z, 1.5), want, atol=1e-6)
    per_sample = w.render(G, z, torch.tensor([-1.0, 0.0, 1.5]))
    assert torch.allclose(per_sample[2], want[2], atol=1e-5)
    assert torch.allclose(per_sample[1], G.synthesize(z)[1], atol=1e-5)  # t = 0: the plain sample
    # a trajectory direction moves each latent to the factor value asked for: g(<u, z'>) = t
    t = Direction.load(V1 / "trajectory.safetensors", model=G)
    targets = torch.tensor([inside(t, 0.2), 0.0, inside(t, 0.8)])
    moved = KINDS["trajectory"].move(t, G, z, t.to_g(targets, 3))
    got = piecewise_linear(moved @ t.tensors["u"], t.tensors["knots_x"], t.tensors["knots_y"])
    assert torch.allclose(got, targets, atol=1e-5)


def test_v1_files_save_again_with_the_same_header(tmp_path, G):
    for kind in BUILT_IN:
        d = Direction.load(V1 / f"{kind}.safetensors")
        d.save(tmp_path / kind)
        old, new = (json.loads(p.read_text()) for p in (V1 / f"{kind}.json", tmp_path / f"{kind}.json"))
        new.pop("steerlab_version")  # the writer's version, stamped on every file since v2
        assert new == old, kind
        back = Direction.load(tmp_path / f"{kind}.safetensors", model=G)
        assert back.alpha == d.alpha and all(torch.equal(back.tensors[k], v) for k, v in d.tensors.items())


# ----------------------------------------------------------------------------- alpha spec
def test_alpha_spec_is_a_dataclass_with_the_edits_mapping():
    spec = alpha_spec(get_edit("zoom"))
    assert (spec.unit, spec.alpha_range, spec.identity, spec.mapping, spec.alpha_dim) == \
        (get_edit("zoom").unit, (0.25, 4.0), 1.0, "log", 1)
    assert AlphaSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert plain_alpha(2.0, "t").alpha_range == (-2.0, 2.0)
    ok = {"unit": "u", "alpha_range": [-1, 1], "identity": 0, "mapping": "linear", "scale": 1, "alpha_dim": 1}
    assert AlphaSpec.from_dict(ok) == plain_alpha(1.0, "u")
    for bad in ({**ok, "alpha_range": [1, -1]}, {**ok, "mapping": "log"}, {**ok, "scale": 0, "alpha_dim": 2},
                {**ok, "extra": 1}, {"unit": "u", "alpha_range": [-1, 1]}, [1, 2]):
        with pytest.raises(ValueError) as e:
            AlphaSpec.from_dict(bad)
        assert "\n" not in str(e.value) and "alpha spec" in str(e.value)


@pytest.mark.parametrize("damage", ["no alpha", "alpha key", "no kind", "kind type", "config type"])
def test_a_header_missing_a_field_is_a_one_line_file_format_error(tmp_path, damage):
    from safetensors.torch import load_file, save_file
    head = json.loads((V1 / "linear.json").read_text())
    if damage == "no alpha":
        del head["alpha"]
    elif damage == "alpha key":
        del head["alpha"]["mapping"]
    elif damage == "no kind":
        del head["kind"]
    elif damage == "kind type":
        head["kind"] = 3
    else:
        head["config"] = [1, 2]
    path = tmp_path / "bad.safetensors"
    save_file(load_file(str(V1 / "linear.safetensors")), str(path), metadata={"steerlab": json.dumps(head)})
    with pytest.raises(FileFormatError) as e:
        Direction.load(path)
    assert "\n" not in str(e.value) and "bad.safetensors" in str(e.value)


# ----------------------------------------------------------------------------- the registry
def test_every_built_in_kind_is_registered_as_a_kind():
    assert isinstance(KINDS, Registry) and set(BUILT_IN) <= set(KINDS.names())
    for name in BUILT_IN:
        assert isinstance(get_kind(name), Kind) and get_kind(name).name == name
    assert [KINDS[k].moves_latents for k in BUILT_IN] == [True, True, True, False, True]
    assert KINDS["weight"].shifts_weights


def test_registry_refuses_a_duplicate_and_a_non_kind_in_one_line():
    with pytest.raises(ValueError) as e:
        register_kind("linear")(Linear)
    assert "direction kind 'linear' is already registered" in str(e.value)
    bad = [lambda d, G, lat, a, c: lat, type("NotAKind", (), {}), object(), type("Empty", (Kind,), {})]
    for obj in bad:
        with pytest.raises(TypeError, match="direction kind 'test-bad'.*(Kind|override)") as e:
            register_kind("test-bad")(obj)
        assert "\n" not in str(e.value)
    assert "test-bad" not in KINDS and isinstance(KINDS["linear"], Linear)


def test_an_unknown_kind_is_refused_naming_the_known_ones(G):
    d = Direction.load(V1 / "linear.safetensors")
    d.kind = "no-such-kind"
    for call in (lambda: d.render(G, z_of(1), 2.0), lambda: steer(G, [(d, 2.0)], z_of(1))):
        with pytest.raises(ValueError, match="unknown direction kind 'no-such-kind'; allowed: .*linear") as e:
            call()
        assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------- a kind from outside
class Mirror(Kind):
    """A user's kind: add alpha_g * v, then mirror the latent's first half (a latent move)."""

    def move(self, d, G, latent, alpha_g):
        moved = latent + alpha_g[:, :1] * d.tensors["v"].to(latent)
        return torch.cat([moved[:, :4].flip(1), moved[:, 4:]], dim=1)


@pytest.fixture
def mirror_kind():
    register_kind("test-mirror")(Mirror)
    yield KINDS["test-mirror"]
    KINDS.unregister("test-mirror")


def test_a_user_kind_works_through_render_save_and_steer(tmp_path, G, mirror_kind):
    v = torch.randn(8, generator=torch.Generator().manual_seed(1))
    d = Direction(kind="test-mirror", space="z", tensors={"v": v}, model=G.name, fingerprint=G.fingerprint,
                  alpha=plain_alpha(2.0, "mirror strength"))
    z = z_of()
    moved = z + 1.5 * v
    want = G.synthesize(torch.cat([moved[:, :4].flip(1), moved[:, 4:]], dim=1))
    assert torch.equal(d.render(G, z, 1.5), want)
    back = Direction.load(d.save(tmp_path / "m"), model=G)
    assert torch.equal(back.render(G, z, 1.5), want)
    # combined with a linear walk: moves compose in the order given
    lin = Direction.load(V1 / "linear.safetensors", model=G)
    first = z + math.log(2.0) * lin.tensors["w"][0]
    after = mirror_kind.move(d, G, first, torch.full((3, 1), 1.5))
    assert torch.allclose(steer(G, [(lin, 2.0), (d, 1.5)], z), G.synthesize(after), atol=1e-6)
    other = mirror_kind.move(d, G, z, torch.full((3, 1), 1.5)) + math.log(2.0) * lin.tensors["w"][0]
    assert torch.allclose(steer(G, [(d, 1.5), (lin, 2.0)], z), G.synthesize(other), atol=1e-6)
    assert not torch.allclose(after, other, atol=1e-3)  # the two orders are different moves


# ----------------------------------------------------------------------------- fresh processes
def _run(*args, timeout=120):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_import_directions_alone_registers_every_built_in_kind():
    code = ("import sys, steerlab.directions as D; print(','.join(D.KINDS.names())); "
            "print(sorted(m for m in sys.modules if m.startswith('steerlab.methods')))")
    r = _run("-c", code)
    assert r.returncode == 0, r.stderr
    names, methods = r.stdout.splitlines()
    assert set(BUILT_IN) <= set(names.split(",")) and methods == "[]"


# evaluate reads an attribute: a direction with an edit has the edit's; one without is read by colour
EVALUATE_ARGS = {"weight": ["--measure", "colour"], "trajectory": ["--measure", "colour"]}


@pytest.mark.parametrize("kind", [k if k == "linear" else pytest.param(k, marks=pytest.mark.slow) for k in BUILT_IN])
def test_apply_then_evaluate_each_kind_in_a_fresh_process(tmp_path, kind):
    fixture, model = str(V1 / f"{kind}.safetensors"), str(V1 / "tiny.safetensors")
    r = _run("-m", "steerlab.cli", "apply", fixture, "--model", model, "--seeds", "0,1",
             "--out", str(tmp_path / "apply"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "apply" / "strip.png").stat().st_size > 0 and (tmp_path / "apply" / "strip.gif").exists()
    r = _run("-m", "steerlab.cli", "evaluate", fixture, "--model", model, "--n", "4", "--n-alphas", "3",
             "--batch-size", "4", "--no-fid", *EVALUATE_ARGS.get(kind, []), "--out", str(tmp_path / "evaluate"))
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = json.loads((tmp_path / "evaluate" / "metrics.json").read_text())
    assert len(metrics["alphas"]) == 3 and (tmp_path / "evaluate" / "report.html").exists()
