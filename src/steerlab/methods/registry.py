"""`METHODS`: every way to find a direction, by name, as ``(Config dataclass, learn(G, config))``.

A method is a `Method`: a name, a Config dataclass whose fields are the method's options (each
with a default and a help text, see `option`), a ``learn(G, config) -> list[Direction]``
function and a one-line summary. The CLI builds its options from the Config's fields, the
Python API accepts the same names, and every direction a method returns records the options it
was learned with (``direction.config``, `recorded`), so the three can never disagree.

    >>> from steerlab.methods import METHODS
    >>> m = METHODS.get("linear")
    >>> cfg = m.make_config(edit="zoom", steps=40, seed=3)
    >>> [d] = m(G, cfg)                                        # doctest: +SKIP
    >>> d.config["steps"], d.config["edit"]                    # doctest: +SKIP
    (40, 'zoom')

A plugin adds a method with `register_method` (the name must be new; the Config must be a
dataclass whose every field has a default and a help text).
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from steerlab.core.registry import Registry

__all__ = ["METHODS", "FAMILIES", "Learned", "Method", "MethodConfig", "Option", "config_options",
           "learn", "option", "recorded", "register_method"]

# what a method's directions move: a latent walk for an edit, a factor, weights, or k latent
# directions found without an edit (sefa, ganspace, boundary, latent-discovery)
FAMILIES = ("walk", "trajectory", "weight", "latent")


def option(default: Any, help: str, *, saved: bool = True) -> Any:
    """A Config field with its default and help text.

    Args:
        default: the value used when the option is not given (immutable: a number, str, None).
        help: one line for ``--help`` and the docs.
        saved: False for options that do not change the result (a progress bar, a checkpoint
            path): they are left out of ``direction.config``.
    """
    return dataclasses.field(default=default, metadata={"help": help, "saved": saved})


@dataclass
class MethodConfig:
    """Options every method takes: the seed of its random draws and whether to show progress.

    The generator given to ``learn`` carries the device, so a config has none.
    """

    seed: int = option(0, "seeds every random draw of the method; the same seed gives the same "
                          "direction on the CPU")
    progress: bool = option(True, "show a progress bar", saved=False)


@dataclass(frozen=True)
class Option:
    """One field of a Config, resolved for a command line: name, type, default and help."""

    name: str
    type: Any       # the annotation, resolved (int, float, str, bool, "int | None" -> int | None)
    default: Any
    help: str
    saved: bool


def config_options(config: type | object) -> list[Option]:
    """The fields of a Config class (or instance) as `Option` rows, in declaration order."""
    cls = config if isinstance(config, type) else type(config)
    hints = typing.get_type_hints(cls)
    return [Option(f.name, hints.get(f.name, Any), f.default, f.metadata.get("help", ""),
                   f.metadata.get("saved", True)) for f in dataclasses.fields(cls)]


def recorded(config: object) -> dict[str, Any]:
    """The options a direction records: ``dataclasses.asdict(config)`` less the unsaved ones."""
    skip = {o.name for o in config_options(config) if not o.saved}
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}


class Learned(list):
    """What ``learn`` returns: a list of `Direction` plus ``info``, run-level results a job may
    show or save beside them (eigenvalues, training curves, the trajectory data set...)."""

    def __init__(self, directions: Iterable = (), info: Mapping[str, Any] | None = None):
        super().__init__(directions)
        self.info: dict[str, Any] = dict(info or {})


@dataclass(frozen=True)
class Method:
    """A registered method.

    Args:
        name: its registry name ("linear", "svd", ...).
        config: its Config dataclass (fields with defaults and help, see `option`).
        learn: ``learn(G, config) -> list[Direction]`` (a `Learned` list to pass ``info``).
        summary: one line for listings and ``--help``.
        family: "walk" (a latent edit walk, one direction), "trajectory" (a factor's encoding
            model), "weight" (k directions in one layer's weights) or "latent" (k linear
            latent directions found without an edit); commands list the methods of the family they run.
    """

    name: str
    config: type
    learn: Callable[..., list]
    summary: str
    family: str = "walk"

    def __post_init__(self) -> None:
        if not (isinstance(self.config, type) and dataclasses.is_dataclass(self.config)):
            raise TypeError(f"method '{self.name}': config must be a dataclass, got {self.config!r}")
        if not callable(self.learn):
            raise TypeError(f"method '{self.name}': learn must be callable")
        if self.family not in FAMILIES:
            raise ValueError(f"method '{self.name}': unknown family '{self.family}'; allowed: "
                             f"{', '.join(FAMILIES)}")
        for f in dataclasses.fields(self.config):
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise TypeError(f"method '{self.name}': option '{f.name}' has no default")
            if not f.metadata.get("help"):
                raise TypeError(f"method '{self.name}': option '{f.name}' has no help text "
                                "(declare it with steerlab.methods.option)")

    def options(self) -> list[Option]:
        """The Config's fields as `Option` rows (what a command line offers)."""
        return config_options(self.config)

    def make_config(self, *, strict: bool = True, **options: Any) -> Any:
        """A Config from keyword options.

        Args:
            strict: refuse names the Config does not have (one line listing the allowed ones);
                ``strict=False`` ignores them, for a job that passes one set of options to
                several methods.
        """
        names = [f.name for f in dataclasses.fields(self.config)]
        unknown = [k for k in options if k not in names]
        if unknown and strict:
            raise ValueError(f"method '{self.name}' has no option '{unknown[0]}'; allowed: {', '.join(names)}")
        return self.config(**{k: v for k, v in options.items() if k in names})

    def __call__(self, G: Any, config: Any = None, **options: Any) -> Learned:
        """Learn directions of ``G``: ``config`` (this method's Config) or keyword options.

        Returns:
            a `Learned` list of `Direction`, each recording the options in ``config``
            (`recorded`, under what the method itself records).
        """
        if config is None:
            config = self.make_config(**options)
        elif options:
            config = dataclasses.replace(config, **options)
        if type(config) is not self.config:  # exact: a hybrid's config is also an optimize config
            raise TypeError(f"method '{self.name}' takes a {self.config.__name__}, got {type(config).__name__}")
        out = self.learn(G, config)
        learned = out if isinstance(out, Learned) else Learned(out)
        options_used = recorded(config)
        for d in learned:
            d.config = {"method": self.name, **options_used, **d.config}
        return learned


METHODS: Registry[Method] = Registry("method", kind=Method)


def register_method(name: str, config: type, learn: Callable[..., list], summary: str, *,
                    family: str = "walk", overwrite: bool = False) -> Method:
    """Register a method; returns its `Method`. Refuses a taken name unless ``overwrite``."""
    return METHODS.register(name, Method(name, config, learn, summary, family), overwrite=overwrite)


def learn(name: str, G: Any, config: Any = None, **options: Any) -> Learned:
    """Run the method ``name`` on ``G``: ``learn("linear", G, edit="zoom", steps=200)``."""
    return METHODS.get(name)(G, config, **options)
