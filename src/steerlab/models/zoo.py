"""The zoo: named models with their weights, and steerlab's own generator file format.

A steerlab generator file is ``<stem>.safetensors`` (the state dict) beside ``<stem>.json``
(``{"architecture": ..., "config": {...}, "card": {...}}``); the constructor signature is the
config. ``load_model`` takes a zoo name or the path of such a file.

Architectures and zoo models live in validating registries: a plugin adds its own with
`register_architecture` / `register_model` (or, for a `wrap_generator` model, registers its
network with `register_network`), and a file whose architecture is unknown first loads the
installed ``steerlab.plugins`` entry points, then says to load the plugin with ``--plugin``.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from steerlab.core.io import FileFormatError, read_json, read_tensors, read_torch_checkpoint, write_tensor_file
from steerlab.core.plugins import load_plugins
from steerlab.core.registry import Registry
from steerlab.models.base import Generator
from steerlab.models.dcgan import DCGANGenerator
from steerlab.models.nvlabs_pickle import load_nvlabs_pickle
from steerlab.models.vae import BetaVAE
from steerlab.models.wrap import NETWORKS, ModuleGenerator

WEIGHTS_DIR = Path(__file__).parent / "weights"
GENERATOR_FORMAT = "steerlab-generator/1"

# "architecture" of a generator file -> the Generator subclass that reads it.
ARCHITECTURES: Registry[type[Generator]] = Registry("architecture", Generator, subclass=True)
# The architecture name of every wrap_generator model; its config names the registered network.
WRAPPED = "wrapped"


def register_architecture(name: str, cls: type[Generator], *, overwrite: bool = False) -> type[Generator]:
    """Make ``cls`` loadable from steerlab generator files whose JSON says ``architecture: name``.

    ``cls(**config)`` must rebuild the model from its ``config()``. Refuses (one line) a name
    already taken by another class unless ``overwrite``, and a class that is not a `Generator`.
    """
    return ARCHITECTURES.register(name, cls, overwrite=overwrite)


register_architecture("dcgan", DCGANGenerator)
register_architecture("beta_vae", BetaVAE)
register_architecture(WRAPPED, ModuleGenerator)


@dataclass(frozen=True)
class ZooEntry:
    name: str
    description: str
    resolution: int
    latent_spaces: tuple[str, ...]
    num_classes: int
    source: str
    licence: str
    load: Callable[[], Generator]


ZOO: Registry[ZooEntry] = Registry("zoo model", ZooEntry)


def register_model(entry: ZooEntry, *, overwrite: bool = False) -> ZooEntry:
    """Add ``entry`` to the zoo under ``entry.name`` (``--model NAME``); refuses a taken name unless ``overwrite``."""
    if not isinstance(entry, ZooEntry):
        raise TypeError(f"register_model expects a ZooEntry, got {type(entry).__name__}")
    return ZOO.register(entry.name, entry, overwrite=overwrite)


# --------------------------------------------------------------------------- file format
def save_generator(G: Generator, stem: str | Path, card: dict | None = None) -> Path:
    """Write ``stem.safetensors`` + ``stem.json`` (architecture, config, model card, fingerprint).

    A `wrap_generator` model is saved as architecture ``wrapped`` with its facts and its
    network's registered name and ``network_config``; it refuses (one line) when the network is
    not registered or would not rebuild, so whatever is saved loads back.
    """
    arch = next((k for k, v in ARCHITECTURES.items() if type(G) is v), None)
    if arch is None:
        raise ValueError(f"{type(G).__name__} is not a registered architecture (allowed: "
                         f"{', '.join(ARCHITECTURES)}); register it with steerlab.models.register_architecture")
    if isinstance(G, ModuleGenerator):
        G.check_rebuildable()
    stem = Path(stem).with_suffix("")
    # the one steerlab file format: the header is embedded and copied to stem.json, which the
    # loader reads (files written before the header was embedded have only the .json)
    return write_tensor_file(stem, G.state_dict(), {"format": GENERATOR_FORMAT, "architecture": arch,
                                                    "config": G.config(), "card": card or {},
                                                    "fingerprint": G.fingerprint})


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Load a steerlab generator file (either the .safetensors or the .json path), frozen, in eval mode.

    An architecture (or wrapped network) that is not registered is looked for in the installed
    ``steerlab.plugins`` entry points first; if still missing, one line says to load its plugin.
    """
    stem = Path(path).with_suffix("")
    meta = read_json(stem.with_suffix(".json"))
    if not isinstance(meta, dict) or not isinstance(meta.get("config", {}), dict) \
            or not isinstance(meta.get("card", {}), dict) or not isinstance(meta.get("architecture"), str):
        raise FileFormatError(f"{stem}.json: not a steerlab generator header (a JSON object with architecture, "
                              "config and card objects)")
    arch, config = meta.get("architecture"), dict(meta.get("config", {}))
    if not _registered(arch, config):
        load_plugins(None)  # an installed plugin may provide it
    if arch not in ARCHITECTURES:
        raise FileFormatError(f"{stem}.json: unknown architecture {arch!r} (allowed: {', '.join(ARCHITECTURES)}); "
                              "if a plugin registers it, load it with --plugin MODULE")
    cls = ARCHITECTURES[arch]
    try:
        G = cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    except TypeError as e:
        raise FileFormatError(f"{stem}.json: config does not fit {arch} ({e})") from None
    except ValueError as e:
        raise FileFormatError(f"{stem}.json: {e}") from None
    state = read_tensors(stem.with_suffix(".safetensors"))
    _load_state(G, state, f"{stem}.safetensors")
    G.card = meta.get("card", {})
    return G.eval().requires_grad_(False).to(device)


def _registered(arch: object, config: dict) -> bool:
    """Whether the file's architecture, and for a wrapped model its network, are registered."""
    if arch not in ARCHITECTURES:
        return False
    return arch != WRAPPED or config.get("network") in NETWORKS


def _load_state(G: Generator, state: dict, where: str) -> None:
    own = G.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    bad = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        detail = (f"missing {missing[:3]}" if missing else
                  f"unexpected {unexpected[:3]}" if unexpected else f"shape mismatch at {bad[:3]}")
        raise FileFormatError(f"{where}: weights do not fit {G.name} ({detail})")
    G.load_state_dict(state)
    for t in G.state_dict().values():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise FileFormatError(f"{where}: weights contain NaN or inf")


# --------------------------------------------------------------------------- faces
def _package_file(package: str, relative: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package '{package}' is not installed; {install_hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; {install_hint}")
    return path


def load_faces() -> Generator:
    """The real pretrained 64x64 face DCGAN carried by the ``generateme==0.1.2`` wheel.

    Its file is a plain state dict (``convTr{i}.weight``, ``batchNorm{i}.*``); we read it with
    ``weights_only=True`` and map the keys onto `DCGANGenerator` (nz=100, ngf=64, tanh).
    """
    path = _package_file("generateme", "static/Models/dcGanGeneratorModel.pt",
                         "run `pip install --no-deps generateme==0.1.2` (make setup does)")
    raw = read_torch_checkpoint(path)
    state = {k.replace("convTr", "conv").replace("batchNorm", "bn"): v for k, v in raw.items()}
    G = DCGANGenerator(z_dim=100, resolution=64, channels=3, width=64, name="faces")
    _load_state(G, state, str(path))
    return G.eval().requires_grad_(False)


register_model(ZooEntry(
    name="faces", description="pretrained face DCGAN (PyTorch-tutorial architecture, CelebA-like crops)",
    resolution=64, latent_spaces=("z",), num_classes=0,
    source="generateme==0.1.2 wheel: generateme/static/Models/dcGanGeneratorModel.pt", licence="MIT",
    load=load_faces))


def _register_bundled() -> None:
    """Every steerlab generator file shipped in ``models/weights/`` joins the zoo."""
    for meta_path in sorted(WEIGHTS_DIR.glob("*.json")):
        if not meta_path.with_suffix(".safetensors").is_file():
            continue
        meta = read_json(meta_path)
        cfg, card = meta.get("config", {}), meta.get("card", {})
        name = cfg.get("name", meta_path.stem)
        register_model(ZooEntry(
            name=name, description=card.get("description", meta.get("architecture", "")),
            resolution=cfg.get("resolution", 0),
            latent_spaces=tuple(card.get("latent_spaces", ["z"])),
            num_classes=cfg.get("num_classes", 0), source=card.get("source", f"bundled: {meta_path.name}"),
            licence=card.get("licence", "MIT"),
            load=lambda p=meta_path: load_generator(p)))


_register_bundled()


# --------------------------------------------------------------------------- entry point
def load_model(name: str | Path, device: str | torch.device = "cpu") -> Generator:
    """A zoo model by name, a steerlab generator file or an NVlabs ``.pkl`` by path; frozen, eval, on ``device``.

    An NVlabs network pickle is read by the restricted unpickler of `steerlab.models.nvlabs_pickle`
    (nothing in it is executed) and built by the class registered for its generator's class name.

    Raises:
        ValueError: unknown name (the message lists the zoo), or a bad or refused file.
    """
    key = str(name)
    is_file = key.endswith((".safetensors", ".json"))
    foreign = key not in ZOO and checkpoint_format(key) is not None
    if key not in ZOO and not is_file and not foreign:
        load_plugins(None)  # an installed plugin may add the zoo model
    if key in ZOO:
        G = ZOO[key].load()
    elif is_file:
        G = load_generator(key)
    elif foreign:
        G = load_foreign(key)
    else:
        raise ValueError(f"unknown model '{key}'; allowed: {', '.join(sorted(ZOO))}, the path of a steerlab "
                         "generator .safetensors file, an NVlabs .pkl, a rosinality .pt or a BigGAN folder")
    return G.eval().requires_grad_(False).to(device)


# --------------------------------------------------------------------------- foreign checkpoints
FOREIGN_FORMATS = {"nvlabs-pkl": "NVlabs network pickle (stylegan2-ada-pytorch / stylegan3)",
                   "rosinality-pt": "rosinality stylegan2-pytorch checkpoint",
                   "biggan-folder": "pytorch-pretrained-biggan folder (pytorch_model.bin + config.json)"}


def checkpoint_format(path: str | Path) -> str | None:
    """Which foreign format a path is, by its name (a folder: by its files); None for anything else."""
    p = Path(path)
    if p.suffix == ".pkl":
        return "nvlabs-pkl"
    if p.suffix == ".pt":
        return "rosinality-pt"
    if p.is_dir() and (p / "config.json").is_file() and (p / "pytorch_model.bin").is_file():
        return "biggan-folder"
    return None


def load_foreign(path: str | Path) -> Generator:
    """Load an NVlabs ``.pkl``, a rosinality ``.pt`` or a BigGAN folder; nothing in any of them is executed."""
    from steerlab.models.biggan import load_biggan
    from steerlab.models.stylegan2 import load_rosinality
    fmt = checkpoint_format(path)
    if fmt is None:
        raise ValueError(f"{path}: not a known checkpoint format (allowed: {', '.join(FOREIGN_FORMATS.values())})")
    loader = {"nvlabs-pkl": load_nvlabs_pickle, "rosinality-pt": load_rosinality, "biggan-folder": load_biggan}[fmt]
    return loader(path)


def list_models() -> list[ZooEntry]:
    return [ZOO[k] for k in sorted(ZOO)]
