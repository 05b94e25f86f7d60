"""Plugins: user code that extends steerlab without editing it.

A plugin is an ordinary Python module whose import registers things in steerlab's registries.
``steerlab --plugin MODULE ...`` (repeatable) imports it before the command runs, and every
installed package that declares an entry point in the group ``steerlab.plugins`` is imported
the same way, so the ``steerlab`` process sees the user's registrations.

What a plugin may register (each registry refuses a duplicate name unless ``overwrite=True``,
and an object of the wrong type, with one line):

- architectures: ``steerlab.models.register_architecture(name, GeneratorSubclass)``, so generator
  files whose JSON says ``"architecture": name`` load;
- wrapped networks: ``steerlab.models.register_network(name, ModuleClassOrFactory)``, so a
  `wrap_generator` model can be saved and loaded back;
- zoo models: ``steerlab.models.register_model(ZooEntry(...))``, so ``--model NAME`` works;
- edits (``steerlab.edits``), attributes (``steerlab.attributes``), losses
  (``steerlab.metrics.losses``), discovery methods (``steerlab.methods``), direction kinds
  (``steerlab.directions``) and commands (``steerlab.cli``), through their ``register_*`` functions.

Example plugin module, ``my_plugin.py``:
    >>> from torch import nn                                      # doctest: +SKIP
    >>> from steerlab.models import register_network             # doctest: +SKIP
    >>> @register_network("mine")                                 # doctest: +SKIP
    ... class Mine(nn.Module): ...

used as ``steerlab --plugin my_plugin walk --model mine.safetensors --edit zoom`` (or
``--plugin ./my_plugin.py``), or declared by an installed package in its ``pyproject.toml``:

    [project.entry-points."steerlab.plugins"]
    mine = "my_package.steerlab_plugin"

An entry point names a module (imported) or a callable in one (``"my_package:register"``,
imported and then called with no arguments).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path

ENTRY_POINT_GROUP = "steerlab.plugins"

# What was loaded in this process, by the key it was asked for (module name, resolved .py path or
# entry point value) -> plugin name, so a plugin named twice, or named and also installed, runs once.
_LOADED: dict[str, str] = {}


def load_plugins(modules: list[str] | tuple[str, ...] | None = None, *,
                 entry_points: bool = True) -> list[str]:
    """Import each named plugin module, then every ``steerlab.plugins`` entry point, each once.

    Args:
        modules: module names (``my_pkg.plugin``, or ``my_plugin`` for ``my_plugin.py`` in the current
            folder) or paths of ``.py`` files (``./my_plugin.py``); ``None`` or empty for none.
        entry_points: also load the installed entry points of the group ``steerlab.plugins``.

    Returns:
        the names of the plugins loaded (now or earlier in this process), in order, without repeats.

    Raises:
        ValueError: one line naming the plugin that failed to import and the cause.
    """
    names: list[str] = []
    for spec in modules or ():
        names.append(_load_module(spec))
    if entry_points:
        for ep in _entry_points():
            names.append(_load_entry_point(ep))
    return list(dict.fromkeys(names))


def _load_module(spec: str) -> str:
    """Import one ``--plugin`` value (a module name or a ``.py`` path); returns the module name."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"plugin must be a module name or a .py file path, got {spec!r}")
    spec = spec.strip()
    is_path = spec.endswith(".py") or "/" in spec or "\\" in spec
    key = str(Path(spec).resolve()) if is_path else spec
    if key in _LOADED:
        return _LOADED[key]
    try:
        name = _import_path(Path(spec)) if is_path else _import_name(spec)
    except Exception as e:  # noqa: BLE001  (any error in user code becomes one line naming the plugin)
        raise ValueError(f"plugin '{spec}' failed to import ({_one_line(e)})") from e
    _LOADED[key] = name
    return name


def _import_name(name: str) -> str:
    """Import a module by name, from the installed packages or, as ``python -m`` would, the current folder.

    The current folder is searched only when the name is found nowhere else, so the ``steerlab``
    script (whose path, unlike ``python -m``'s, lacks the current folder) finds ``my_plugin.py``
    beside the user, and a local file never shadows an installed module.
    """
    try:
        return importlib.import_module(name).__name__
    except ModuleNotFoundError as e:
        top, here = name.split(".")[0], Path.cwd()
        local = (here / f"{top}.py").is_file() or (here / top / "__init__.py").is_file()
        if e.name != top or not local or str(here) in sys.path:
            raise
    sys.path.append(str(here))
    return importlib.import_module(name).__name__


def _import_path(path: Path) -> str:
    """Import a ``.py`` file as a module named after its stem (so its classes pickle and print sanely)."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file {path}")
    name = path.stem
    known = sys.modules.get(name)
    if known is not None and Path(getattr(known, "__file__", "") or "").resolve() == path.resolve():
        return name  # already imported under its own name, e.g. from the current folder
    if known is not None:
        raise ImportError(f"a different module named '{name}' is already imported; rename the file")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]  # a failed import leaves no half-initialised module behind
        raise
    return name


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """The installed entry points of ``steerlab.plugins``, sorted by name for a stable order."""
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> str:
    """Load one entry point: import its module and, if it names a function, call it once."""
    if ep.value in _LOADED:
        return _LOADED[ep.value]
    try:
        obj = ep.load()
        if callable(obj) and not isinstance(obj, (type, types.ModuleType)):
            obj()
    except Exception as e:  # noqa: BLE001  (an installed plugin that breaks gives one line, not a traceback)
        raise ValueError(f"plugin '{ep.name}' ({ep.value}, entry point group {ENTRY_POINT_GROUP}) failed to "
                         f"load ({_one_line(e)})") from e
    _LOADED[ep.value] = ep.name
    return ep.name


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
