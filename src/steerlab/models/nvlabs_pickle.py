"""A safe reader for NVlabs network pickles (stylegan2-ada-pytorch, stylegan3 ``.pkl``).

Those files are pickles of a dict ``{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'}``
whose networks were saved by ``torch_utils.persistence``: each network (and each of its
submodules) is pickled as a call ``_reconstruct_persistent_obj(meta)``, where ``meta`` holds the
Python source of the module that defined it, its class name and its ``__dict__`` (init kwargs,
``_parameters``, ``_buffers``, ``_modules``). The usual loader *executes* that source.

This reader never does. `SafeUnpickler.find_class` allows an explicit list of globals, each
mapped to a function that only builds data:

- tensor and parameter rebuild functions -> plain tensors (detached);
- ``torch.storage._load_from_bytes`` -> the embedded bytes read with ``torch.load(weights_only=True)``;
- ``collections.OrderedDict``, ``dnnlib`` ``EasyDict`` -> dicts; ``builtins`` set / frozenset;
- numpy scalars, dtypes and arrays -> numpy data;
- the persistence hook -> a `PersistentRecord`: class name, module name (recognised from the
  source text, which is kept as a string and never run), init args/kwargs, and state.

Any other global is refused with one line naming it, e.g.
``refused: pickle global 'posix.system' is not allowed``, before anything is called.

``read_network_pickle(path)`` returns the generator (``G_ema``, else ``G``) as a plain dict:
``class_name`` (e.g. ``training.networks.Generator``), ``init_kwargs``, ``state`` (a flat dict
of tensors named exactly as upstream's ``state_dict()``) and ``attributes`` (each submodule's
plain attributes). Which steerlab class builds a
generator from such a record is looked up by class name in `NVLABS_GENERATORS`.
"""
from __future__ import annotations

import collections
import hashlib
import io
import pickle
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from steerlab.core.errors import FileFormatError
from steerlab.core.registry import Registry
from steerlab.models.base import Generator

__all__ = ["SafeUnpickler", "PersistentRecord", "read_pickle_data", "read_network_pickle",
           "NVLABS_GENERATORS", "register_nvlabs_generator", "load_nvlabs_pickle", "ALLOWED_GLOBALS"]


class PickleRefused(FileFormatError):
    """The pickle names a global outside the allow-list."""


class PersistentRecord:
    """What one ``torch_utils.persistence`` object becomes: data, no code.

    Attributes:
        name: the class name in its module, e.g. ``"SynthesisBlock"``.
        module: the upstream module, recognised from the embedded source (see `module_of`).
        source_sha256: hash of the embedded source (the source itself is never executed).
        init_args, init_kwargs: the constructor arguments upstream recorded.
        state: the object's ``__dict__`` as unpickled (tensors, records, plain values).
    """

    def __init__(self, meta: dict):
        if not isinstance(meta, dict) or meta.get("type") != "class":
            raise FileFormatError(f"persistent object of unknown kind {meta.get('type') if isinstance(meta, dict) else meta!r}")
        src, state = meta.get("module_src", ""), meta.get("state") or {}
        if not isinstance(src, str) or not isinstance(state, dict):
            raise FileFormatError("persistent object without source text or state")
        self.name = str(meta.get("class_name"))
        self.module = module_of(src)
        self.source_sha256 = hashlib.sha256(src.encode()).hexdigest()[:16]
        self.version = meta.get("version")
        self.state = state
        self.init_args = plain(state.get("_init_args", ()))
        self.init_kwargs = plain(state.get("_init_kwargs", {}))

    @property
    def class_name(self) -> str:
        return f"{self.module}.{self.name}"

    def __setstate__(self, state: Any) -> None:  # the format never sets state on the hook's result
        raise FileFormatError("unexpected state for a persistent object")

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers of this module and its submodules, upstream's state_dict names."""
        out: dict[str, torch.Tensor] = {}
        skip = self.state.get("_non_persistent_buffers_set") or set()
        if not isinstance(skip, (set, frozenset, list, tuple)):
            raise FileFormatError(f"{prefix}_non_persistent_buffers_set is a {type(skip).__name__}")
        for group in ("_parameters", "_buffers"):
            for k, v in _mapping(self.state.get(group), f"{prefix}{group}").items():
                if v is not None and k not in skip:
                    if not torch.is_tensor(v):
                        raise FileFormatError(f"{prefix}{k} is a {type(v).__name__}, not a tensor")
                    out[prefix + k] = v
        for k, sub in _mapping(self.state.get("_modules"), f"{prefix}_modules").items():
            if isinstance(sub, PersistentRecord):
                out.update(sub.tensors(f"{prefix}{k}."))
            elif sub is not None:
                raise FileFormatError(f"submodule {prefix}{k} is a {type(sub).__name__}, not a network")
        return out

    def attributes(self, prefix: str = "") -> dict[str, Any]:
        """Plain attributes of this module and its submodules (``synthesis.b16.conv_clamp``, ...):
        the values upstream's constructors settled on, defaults included."""
        out: dict[str, Any] = {}
        for k, v in self.state.items():
            if k.startswith("_") or k == "training":
                continue
            v = plain(v)
            if v is None or isinstance(v, (bool, int, float, str)) or (
                    isinstance(v, list) and all(isinstance(x, (bool, int, float, str)) for x in v)):
                out[prefix + k] = v
        for k, sub in _mapping(self.state.get("_modules"), f"{prefix}_modules").items():
            if isinstance(sub, PersistentRecord):
                out.update(sub.attributes(f"{prefix}{k}."))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"class_name": self.class_name, "module": self.module, "name": self.name,
                "init_args": self.init_args, "init_kwargs": self.init_kwargs, "state": self.tensors(),
                "attributes": self.attributes(), "source_sha256": self.source_sha256}

    def __repr__(self) -> str:
        return f"PersistentRecord({self.class_name}, {self.init_kwargs})"


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FileFormatError(f"{where} is a {type(value).__name__}, not a dict")
    return value


def module_of(src: str) -> str:
    """The upstream module a persistent class came from, recognised from its source text.

    stylegan3's ``networks_stylegan3`` (``SynthesisInput``), its copy of the StyleGAN2 networks
    ``networks_stylegan2`` (``fused_modconv_default``), stylegan2-ada-pytorch's ``networks``,
    the augmentation pipeline; otherwise ``"unknown"``.
    """
    if "class SynthesisInput" in src:
        return "training.networks_stylegan3"
    if "class SynthesisBlock" in src:
        return "training.networks_stylegan2" if "fused_modconv_default" in src else "training.networks"
    if "class AugmentPipe" in src:
        return "training.augment"
    return "unknown"


def plain(value: Any) -> Any:
    """Init kwargs as JSON-able Python: dicts, lists, numbers, strings (numpy scalars unwrapped)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


# --------------------------------------------------------------------------- the allow-list
class _EasyDict(dict):
    """Stand-in for ``dnnlib.EasyDict``: its data is the dict's items."""


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                    metadata=None) -> torch.Tensor:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise FileFormatError(f"tensor rebuilt from a {type(storage).__name__}, not a storage")
    with warnings.catch_warnings():  # the embedded saves hold TypedStorage, which torch calls deprecated
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
        dtype = storage.dtype if isinstance(storage, torch.TypedStorage) else torch.uint8
        raw = storage.untyped() if isinstance(storage, torch.TypedStorage) else storage
    t = torch.empty((0,), dtype=dtype)
    return t.set_(raw, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None) -> torch.Tensor:
    if not torch.is_tensor(data):
        raise FileFormatError(f"parameter rebuilt from a {type(data).__name__}, not a tensor")
    return data.detach()


def _rebuild_from_type(func, new_type, args, state=None) -> torch.Tensor:
    if func not in (_rebuild_tensor, _rebuild_parameter) or new_type not in (torch.Tensor, torch.nn.Parameter):
        raise FileFormatError("tensor subclass rebuild outside the allow-list")
    return func(*args)


def _load_storage(data: bytes):
    if not isinstance(data, (bytes, bytearray)):
        raise FileFormatError("storage bytes expected")
    # the embedded bytes are themselves a torch save: read them weights-only, never as code
    with warnings.catch_warnings():  # TypedStorage deprecation; unusual protocol numbers in damaged files
        warnings.simplefilter("ignore", UserWarning)
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _np_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise FileFormatError("numpy scalar of a non-numeric dtype")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _np_dtype(obj, align=False, copy=False):
    return np.dtype(obj, align, copy)


def _np_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise FileFormatError("numpy array subclass")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _np_frombuffer(buf, dtype, shape, order="C"):
    """How protocol-5 pickles spell a numpy array: its raw bytes, dtype, shape and order."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or order not in ("C", "F"):
        raise FileFormatError("numpy array of a non-numeric dtype")
    return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape, order=order).copy()


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """How protocol-2 pickles spell a bytes object: ``_codecs.encode(text, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise FileFormatError("_codecs.encode is allowed only to rebuild bytes from latin1 text")
    return text.encode("latin1")


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentRecord,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,  # protocol 2 writes Python 2 module names
    ("__builtin__", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._utils", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch", "Size"): tuple,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
    ("numpy", "dtype"): _np_dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _np_scalar,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _np_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _np_frombuffer,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
}
# numpy dtype classes (numpy.dtypes.Float32DType, ...) as numpy >= 1.25 pickles dtypes
ALLOWED_GLOBALS.update({("numpy.dtypes", type(np.dtype(c)).__name__): type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFD"})
# torch dtypes (torch.float32, ...) as tensors' metadata may name them
ALLOWED_GLOBALS.update({("torch", n): getattr(torch, n) for n in dir(torch) if isinstance(getattr(torch, n, None), torch.dtype)})


class SafeUnpickler(pickle.Unpickler):
    """A `pickle.Unpickler` that resolves only `ALLOWED_GLOBALS`; anything else raises `PickleRefused`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise PickleRefused(f"refused: pickle global '{module}.{name}' is not allowed "
                                "(allowed: tensors, storages, OrderedDict, numpy scalars and dtypes, "
                                "the NVlabs persistence hook)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise PickleRefused("refused: pickle persistent id is not allowed in a network pickle")


def read_pickle_data(path: str | Path) -> Any:
    """Unpickle ``path`` with `SafeUnpickler`: networks come back as `PersistentRecord`s.

    Raises:
        FileFormatError: one line: a refused global (named), or a file that is not a pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: file not found")
    try:
        with open(path, "rb") as f:
            return SafeUnpickler(f).load()
    except PickleRefused as e:
        raise PickleRefused(f"{path}: {e}") from None
    except FileFormatError as e:
        raise FileFormatError(f"{path}: not a readable NVlabs network pickle ({e})") from None
    except Exception as e:  # truncated or corrupt pickles raise many types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise FileFormatError(f"{path}: not a readable NVlabs network pickle ({type(e).__name__}: {first})") from None


def read_network_pickle(path: str | Path, key: str | None = None) -> dict[str, Any]:
    """The generator of an NVlabs network pickle as a plain record, without executing its code.

    Args:
        path: a stylegan2-ada-pytorch or stylegan3 ``.pkl``.
        key: which network to read (default ``G_ema``, else ``G``).

    Returns:
        ``{"class_name", "module", "name", "init_args", "init_kwargs", "state", "attributes",
        "source_sha256", "key"}``; ``state`` maps upstream's ``state_dict()`` names to tensors,
        ``attributes`` the plain attributes of every submodule (e.g. ``synthesis.b16.conv_clamp``).
    """
    data = read_pickle_data(path)
    if not isinstance(data, dict):
        raise FileFormatError(f"{path}: not an NVlabs network pickle (a {type(data).__name__}, not a dict)")
    keys = [key] if key else ["G_ema", "G"]
    found = next((k for k in keys if isinstance(data.get(k), PersistentRecord)), None)
    if found is None:
        nets = [k for k, v in data.items() if isinstance(v, PersistentRecord)]
        raise FileFormatError(f"{path}: no network {' or '.join(keys)} in the pickle "
                              f"(networks: {', '.join(map(str, nets)) or 'none'})")
    try:
        record = data[found].to_dict()
    except FileFormatError as e:
        raise FileFormatError(f"{path}: network {found}: {e}") from None
    except (TypeError, AttributeError, KeyError, ValueError) as e:  # a damaged state (e.g. a non-string name)
        first = (str(e).strip().splitlines() or [""])[0][:120]
        raise FileFormatError(f"{path}: network {found} has a damaged state ({type(e).__name__}: {first})") from None
    record["key"] = found
    return record


# --------------------------------------------------------------------------- record -> Generator
# upstream class name (e.g. "training.networks.Generator") -> builder(record, name) -> Generator
NVLABS_GENERATORS: Registry[Callable[..., Generator]] = Registry("NVlabs generator class", callable_=True)


def register_nvlabs_generator(class_name: str, build: Callable[..., Generator], *,
                              overwrite: bool = False) -> Callable[..., Generator]:
    """Make pickles whose generator is ``class_name`` loadable: ``build(record, name=...) -> Generator``."""
    return NVLABS_GENERATORS.register(class_name, build, overwrite=overwrite)


def load_nvlabs_pickle(path: str | Path, *, key: str | None = None, name: str | None = None,
                       device: str | torch.device = "cpu") -> Generator:
    """Read an NVlabs ``.pkl`` safely and build the steerlab generator its class name is registered to."""
    record = read_network_pickle(path, key)
    cls = record["class_name"]
    if cls not in NVLABS_GENERATORS:
        raise FileFormatError(f"{path}: generator class {cls} is not supported "
                              f"(allowed: {', '.join(NVLABS_GENERATORS) or 'none'})")
    for k, t in record["state"].items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise FileFormatError(f"{path}: tensor {k} contains NaN or inf")
    try:
        G = NVLABS_GENERATORS[cls](record, name=name or Path(path).stem)
    except FileFormatError as e:
        raise FileFormatError(f"{path}: {e}") from None
    except (TypeError, AttributeError, KeyError, IndexError, RuntimeError) as e:  # damaged kwargs or state
        first = (str(e).strip().splitlines() or [""])[0][:120]
        raise FileFormatError(f"{path}: the {cls} record does not build ({type(e).__name__}: {first})") from None
    G.card = {"format": "nvlabs-pkl", "class_name": cls, "network": record["key"],
              "source_sha256": record["source_sha256"], "source": str(path)}
    return G.eval().requires_grad_(False).to(device)
