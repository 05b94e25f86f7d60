"""Extension without editing steerlab: plugins, the architecture / network / zoo registries, and the
own-generator routes (subclass and wrap_generator) through save, load and the command line."""
import importlib.metadata
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from steerlab.core import plugins
from steerlab.core.io import FileFormatError
from steerlab.models import (
    ARCHITECTURES,
    NETWORKS,
    ZOO,
    Generator,
    ZooEntry,
    load_generator,
    load_model,
    register_architecture,
    register_model,
    register_network,
    save_generator,
    wrap_generator,
)


# --------------------------------------------------------------------------- a user's generator, two routes
class Mine(Generator):
    """Subclass route: the layers live on the Generator itself."""

    def __init__(self, z_dim: int = 8, resolution: int = 8, name: str = "mine"):
        super().__init__()
        self.z_dim, self.resolution, self.name = z_dim, resolution, name
        self.fc = nn.Linear(z_dim, 3 * resolution * resolution)

    def config(self):
        return {"z_dim": self.z_dim, "resolution": self.resolution, "name": self.name}

    def _synthesize(self, latent, space, classes):
        return torch.tanh(self.fc(latent)).view(-1, 3, self.resolution, self.resolution)


class MineNet(nn.Module):
    """wrap_generator route: the same network as a plain module."""

    def __init__(self, z_dim: int = 8, resolution: int = 8):
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
        self.fc = nn.Linear(z_dim, 3 * resolution * resolution)

    def config(self):
        return {"z_dim": self.z_dim, "resolution": self.resolution}

    def forward(self, z):
        return torch.tanh(self.fc(z)).view(-1, 3, self.resolution, self.resolution)


def _same_weights(seed: int = 0):
    """(subclass-route model, wrap-route model) holding identical weights."""
    torch.manual_seed(seed)
    sub = Mine()
    net = MineNet()
    net.load_state_dict(sub.state_dict())
    return sub.eval().requires_grad_(False), wrap_generator(net, z_dim=8, resolution=8, name="mine-wrapped")


@pytest.fixture
def scratch_registries():
    """Registrations made by a test are undone afterwards, so tests stay independent."""
    saved = {r: dict(r.items()) for r in (ARCHITECTURES, NETWORKS, ZOO)}
    yield
    for r, entries in saved.items():
        for name in r.names():
            r.unregister(name)
        for name, obj in entries.items():
            r.register(name, obj)


@pytest.fixture
def fresh_plugins(monkeypatch):
    """No plugin counts as loaded, and no entry point is installed unless the test says so."""
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setattr(plugins.importlib.metadata, "entry_points", lambda group=None: [])


# --------------------------------------------------------------------------- load_plugins
def test_plugin_is_imported_by_name_or_path_once(tmp_path, monkeypatch, fresh_plugins):
    log = tmp_path / "imports.log"
    (tmp_path / "steerlab_test_plugin_once.py").write_text(f"open({str(log)!r}, 'a').write('x')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "steerlab_test_plugin_once", raising=False)
    names = plugins.load_plugins(["steerlab_test_plugin_once", str(tmp_path / "steerlab_test_plugin_once.py"),
                                  "steerlab_test_plugin_once"])
    assert names == ["steerlab_test_plugin_once"]
    assert plugins.load_plugins(["steerlab_test_plugin_once"]) == names
    assert log.read_text() == "x"
    sys.modules.pop("steerlab_test_plugin_once")


def test_plugin_by_path_needs_nothing_on_sys_path(tmp_path, monkeypatch, fresh_plugins):
    (tmp_path / "steerlab_test_plugin_path.py").write_text("VALUE = 42\n")
    monkeypatch.delitem(sys.modules, "steerlab_test_plugin_path", raising=False)
    assert plugins.load_plugins([str(tmp_path / "steerlab_test_plugin_path.py")]) == ["steerlab_test_plugin_path"]
    assert sys.modules.pop("steerlab_test_plugin_path").VALUE == 42


def test_plugin_name_is_found_in_the_current_folder_as_python_m_would(tmp_path, monkeypatch, fresh_plugins):
    """The `steerlab` script, unlike `python -m`, lacks the current folder on its path: found anyway."""
    (tmp_path / "steerlab_test_plugin_cwd.py").write_text("VALUE = 7\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "steerlab_test_plugin_cwd", raising=False)
    assert plugins.load_plugins(["steerlab_test_plugin_cwd"]) == ["steerlab_test_plugin_cwd"]
    assert sys.modules.pop("steerlab_test_plugin_cwd").VALUE == 7


@pytest.mark.parametrize("make, cause", [
    (lambda d: "steerlab_no_such_plugin_xyz", "No module named"),
    (lambda d: str(d / "missing.py"), "no such file"),
    (lambda d: (d / "broken.py").write_text("raise RuntimeError('boom\\nsecond line')\n") and str(d / "broken.py"),
     "RuntimeError: boom"),
])
def test_plugin_that_fails_to_import_is_one_line_naming_it(tmp_path, fresh_plugins, make, cause):
    spec = make(tmp_path)
    with pytest.raises(ValueError) as e:
        plugins.load_plugins([spec])
    msg = str(e.value)
    assert f"plugin '{spec}'" in msg and cause in msg and "\n" not in msg
    assert "broken" not in sys.modules


def _entry_point(name: str, value: str):
    return importlib.metadata.EntryPoint(name=name, value=value, group=plugins.ENTRY_POINT_GROUP)


def test_entry_points_are_loaded_once_and_a_named_function_is_called(monkeypatch, fresh_plugins):
    calls = []
    mod = types.ModuleType("steerlab_test_ep_plugin")
    mod.register = lambda: calls.append("register")
    monkeypatch.setitem(sys.modules, "steerlab_test_ep_plugin", mod)
    asked = []

    def entry_points(group=None):
        asked.append(group)
        return [_entry_point("b-demo", "steerlab_test_ep_plugin:register"),
                _entry_point("a-module", "steerlab_test_ep_plugin")]

    monkeypatch.setattr(plugins.importlib.metadata, "entry_points", entry_points)
    assert plugins.load_plugins(None) == ["a-module", "b-demo"]  # sorted by name: a stable order
    assert plugins.load_plugins([]) == ["a-module", "b-demo"]
    assert calls == ["register"] and set(asked) == {"steerlab.plugins"}
    assert plugins.load_plugins(None, entry_points=False) == []


def test_broken_entry_point_is_one_line_naming_it(monkeypatch, fresh_plugins):
    monkeypatch.setattr(plugins.importlib.metadata, "entry_points",
                        lambda group=None: [_entry_point("bad", "steerlab_no_such_module_ep")])
    with pytest.raises(ValueError, match=r"plugin 'bad' \(steerlab_no_such_module_ep.*No module named") as e:
        plugins.load_plugins(None)
    assert "\n" not in str(e.value)


def test_generator_file_finds_its_architecture_in_an_installed_plugin(tmp_path, monkeypatch, fresh_plugins,
                                                                      scratch_registries):
    register_architecture("mine-ep", Mine)
    torch.manual_seed(0)
    G = Mine()
    save_generator(G, tmp_path / "mine")
    ARCHITECTURES.unregister("mine-ep")  # a fresh process: only the installed plugin knows it
    with pytest.raises(FileFormatError, match="unknown architecture 'mine-ep'.*--plugin MODULE"):
        load_generator(tmp_path / "mine.safetensors")
    mod = types.ModuleType("steerlab_test_ep_arch")
    mod.register = lambda: register_architecture("mine-ep", Mine)
    monkeypatch.setitem(sys.modules, "steerlab_test_ep_arch", mod)
    monkeypatch.setattr(plugins.importlib.metadata, "entry_points",
                        lambda group=None: [_entry_point("mine", "steerlab_test_ep_arch:register")])
    H = load_generator(tmp_path / "mine.safetensors")
    assert isinstance(H, Mine) and H.fingerprint == G.fingerprint


# --------------------------------------------------------------------------- registries
def test_duplicate_architecture_network_and_zoo_names_are_refused(scratch_registries):
    from steerlab.models import DCGANGenerator
    register_architecture("dcgan", DCGANGenerator)  # the same class again (a module imported twice) is fine
    with pytest.raises(ValueError, match="architecture 'dcgan' is already registered") as e:
        register_architecture("dcgan", Mine)
    assert "\n" not in str(e.value)
    register_architecture("dcgan", Mine, overwrite=True)
    assert ARCHITECTURES["dcgan"] is Mine

    register_network("mine-net", MineNet)
    with pytest.raises(ValueError, match="network 'mine-net' is already registered"):
        register_network("mine-net", lambda: MineNet())

    entry = ZOO["faces"]
    with pytest.raises(ValueError, match="zoo model 'faces' is already registered"):
        register_model(ZooEntry(**{**entry.__dict__, "description": "another"}))


def test_registries_refuse_wrong_types(scratch_registries):
    with pytest.raises(TypeError, match="architecture 'lin' must be a subclass of Generator, got Linear"):
        register_architecture("lin", nn.Linear)
    with pytest.raises(TypeError, match="network 'n' must be callable"):
        register_network("n", 3)
    with pytest.raises(TypeError, match="ZooEntry"):
        register_model({"name": "x"})


def test_unknown_zoo_model_looks_at_installed_plugins(monkeypatch, fresh_plugins, scratch_registries):
    entry = ZooEntry(name="mine-zoo", description="a plugin's model", resolution=8, latent_spaces=("z",),
                     num_classes=0, source="test", licence="MIT", load=lambda: _same_weights()[0])
    mod = types.ModuleType("steerlab_test_ep_zoo")
    mod.register = lambda: register_model(entry)
    monkeypatch.setitem(sys.modules, "steerlab_test_ep_zoo", mod)
    monkeypatch.setattr(plugins.importlib.metadata, "entry_points",
                        lambda group=None: [_entry_point("zoo", "steerlab_test_ep_zoo:register")])
    G = load_model("mine-zoo")
    assert isinstance(G, Mine) and not any(p.requires_grad for p in G.parameters())


# --------------------------------------------------------------------------- wrapped models: save and load
def test_wrapped_model_saves_and_loads_back_through_its_registered_network(tmp_path, scratch_registries):
    register_network("mine-net", MineNet)
    _, G = _same_weights()
    save_generator(G, tmp_path / "w", card={"description": "wrapped"})
    meta = json.loads((tmp_path / "w.json").read_text())
    assert meta["architecture"] == "wrapped"
    assert meta["config"]["network"] == "mine-net" and meta["config"]["network_config"] == {"z_dim": 8,
                                                                                           "resolution": 8}
    H = load_generator(tmp_path / "w.safetensors")
    assert type(H.module) is MineNet and H.name == "mine-wrapped" and H.output_range == (-1.0, 1.0)
    z = G.sample_z(4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(H.synthesize(z), G.synthesize(z))
    assert H.fingerprint == G.fingerprint == meta["fingerprint"]
    assert not H.training and not any(p.requires_grad for p in H.parameters())


def test_wrapped_model_built_by_a_registered_factory(tmp_path, scratch_registries):
    register_network("mine-factory", lambda width=8: nn.Sequential(nn.Linear(4, 3 * width * width), nn.Tanh(),
                                                                   nn.Unflatten(1, (3, width, width))))
    net = NETWORKS["mine-factory"](width=4)
    G = wrap_generator(net, z_dim=4, resolution=4, name="f", network="mine-factory", network_config={"width": 4})
    save_generator(G, tmp_path / "f")
    H = load_generator(tmp_path / "f.json")
    z = torch.randn(2, 4)
    assert torch.equal(H.synthesize(z), G.synthesize(z))


def test_unregistered_or_mismatched_wrapped_network_is_refused_at_save(tmp_path, scratch_registries):
    _, G = _same_weights()
    with pytest.raises(ValueError, match="network MineNet is not registered.*--plugin MODULE") as e:
        save_generator(G, tmp_path / "w")
    assert "\n" not in str(e.value) and not (tmp_path / "w.json").exists()
    register_network("mine-net", MineNet)
    wide = wrap_generator(MineNet(z_dim=8, resolution=8), z_dim=8, resolution=8, network_config={"z_dim": 4})
    with pytest.raises(ValueError, match="does not match the wrapped module.*fc.weight"):
        save_generator(wide, tmp_path / "w")
    assert not (tmp_path / "w.safetensors").exists()


def test_loading_a_wrapped_file_without_its_plugin_says_to_load_it(tmp_path, fresh_plugins, scratch_registries):
    register_network("mine-net", MineNet)
    save_generator(_same_weights()[1], tmp_path / "w")
    NETWORKS.unregister("mine-net")
    with pytest.raises(FileFormatError, match="network 'mine-net' is not registered.*--plugin MODULE") as e:
        load_generator(tmp_path / "w.safetensors")
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- one fingerprint per network
def test_same_weights_same_fingerprint_by_every_route(tmp_path, scratch_registries):
    sub, wrapped = _same_weights()
    assert sub.fingerprint == wrapped.fingerprint
    register_architecture("mine", Mine)
    register_network("mine-net", MineNet)
    save_generator(sub, tmp_path / "sub")
    save_generator(wrapped, tmp_path / "wrapped")
    prints = {load_generator(tmp_path / "sub.safetensors").fingerprint,
              load_generator(tmp_path / "wrapped.safetensors").fingerprint,
              json.loads((tmp_path / "sub.json").read_text())["fingerprint"],
              json.loads((tmp_path / "wrapped.json").read_text())["fingerprint"]}
    assert prints == {sub.fingerprint}


def test_fingerprint_tells_apart_weights_and_facts_not_names():
    sub, wrapped = _same_weights()
    assert _same_weights(seed=1)[1].fingerprint != wrapped.fingerprint
    assert wrap_generator(wrapped.module, z_dim=8, resolution=8, name="other").fingerprint == wrapped.fingerprint
    assert wrap_generator(wrapped.module, z_dim=8, resolution=8, output_range=(0, 1)).fingerprint \
        != wrapped.fingerprint
    f = sub.fingerprint
    with torch.no_grad():
        sub.fc.bias[0] += 1e-3
    assert sub.fingerprint != f


# --------------------------------------------------------------------------- docs/own-generator.md, fresh processes
DOC = Path(__file__).resolve().parents[1] / "docs" / "own-generator.md"


def _doc_file(name: str) -> str:
    """The python block of docs/own-generator.md whose first line is ``# name``: the test runs the docs' code."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if b.startswith(f"# {name}\n")]
    assert len(blocks) == 1, f"docs/own-generator.md needs one python block starting '# {name}'"
    return blocks[0]


def _run(args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("plugin, missing", [("my_generator", "unknown architecture 'mine'"),
                                             pytest.param("my_network", "network 'mine-net' is not registered",
                                                          marks=pytest.mark.slow)])
def test_own_generator_cli_route_through_plugin(tmp_path, plugin, missing):
    """The docs' plugin file: save, then `walk` and `apply` with --plugin; without it, one line and exit 2."""
    (tmp_path / f"{plugin}.py").write_text(_doc_file(f"{plugin}.py"))
    made = _run([f"{plugin}.py"], tmp_path)
    assert made.returncode == 0, made.stderr
    # -P: like the `steerlab` script, the current folder is not on the path; --plugin finds it anyway
    no_cwd = ["-P"] if sys.version_info >= (3, 11) else []
    walk = _run([*no_cwd, "-m", "steerlab.cli", "--plugin", plugin, "walk", "--model", "mine.safetensors",
                 "--edit", "zoom", "--steps", "3", "--out", "run"], tmp_path)
    assert walk.returncode == 0, walk.stderr
    direction = json.loads((tmp_path / "run" / "direction.json").read_text())
    assert direction["fingerprint"] == json.loads((tmp_path / "mine.json").read_text())["fingerprint"]
    apply = _run(["-m", "steerlab.cli", "--plugin", str(tmp_path / f"{plugin}.py"), "apply",
                  "run/direction.safetensors", "--model", "mine.safetensors", "--seeds", "0,1",
                  "--alphas=0.5,1,2", "--out", "strip"], tmp_path)
    assert apply.returncode == 0, apply.stderr
    assert (tmp_path / "strip" / "strip.png").stat().st_size > 0
    bare = _run(["-m", "steerlab.cli", "walk", "--model", "mine.safetensors", "--edit", "zoom", "--steps", "3",
                 "--out", "run2"], tmp_path)
    assert bare.returncode == 2 and "Traceback" not in bare.stderr
    lines = bare.stderr.strip().splitlines()
    assert len(lines) == 1 and missing in lines[0] and "--plugin MODULE" in lines[0]
    assert not (tmp_path / "run2").exists()


def test_both_plugin_files_write_the_same_fingerprint_for_the_same_seed(tmp_path, monkeypatch, scratch_registries):
    """The docs' two plugin files build the same network from the same seed, by different routes."""
    prints = []
    for name in ("my_generator", "my_network"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        exec(compile(_doc_file(f"{name}.py"), f"{name}.py", "exec"), {"__name__": "__main__"})
        prints.append(json.loads((tmp_path / name / "mine.json").read_text())["fingerprint"])
    assert prints[0] == prints[1]


def test_docs_python_route_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    space = {"__name__": "python_route"}
    exec(compile(_doc_file("python_route.py"), "python_route.py", "exec"), space)
    assert space["zoomed"].shape == (4, 3, 8, 8)
    assert (tmp_path / "mine-zoom.safetensors").is_file() and (tmp_path / "mine-zoom.json").is_file()
    z = space["z"]
    assert not torch.allclose(space["zoomed"], space["G"].synthesize(z))  # alpha 2 moved the images
