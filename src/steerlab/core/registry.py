"""`Registry`: the one kind of name -> object table behind every extension point.

Edits, attributes, losses, feature networks, datasets, architectures, zoo models, direction
kinds, methods and reproductions are all looked up by name. A registry refuses a duplicate name
(unless ``overwrite=True``) and an object of the wrong type, with one line that says what was
wrong and what is allowed, so a plugin that registers twice or registers the wrong thing fails
at registration, not later in a run.

Example:
    >>> LOSSES = Registry("loss", kind=object)
    >>> _ = LOSSES.register("l2", lambda x, y: (x - y).pow(2).mean())
    >>> "l2" in LOSSES, LOSSES.names()
    (True, ['l2'])
    >>> try:
    ...     LOSSES.get("l1")
    ... except ValueError as e:
    ...     print(e)
    unknown loss 'l1'; allowed: l2
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownName(KeyError, ValueError):
    """A name that is not in a registry; ``str(e)`` is the one-line message (not KeyError's repr)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """A validating name -> object table.

    Args:
        what: what an entry is, for messages ("edit", "direction kind", ...).
        kind: entries must be instances of this type (or of one of a tuple of types, e.g.
            ``(str, collections.abc.Callable)``); or, with ``subclass=True``, subclasses of it.
        subclass: check ``issubclass`` instead of ``isinstance`` (registries of classes).
        callable_: entries must be callable (for registries of factories and functions).
    """

    def __init__(self, what: str, kind: type | tuple[type, ...] | None = None, *, subclass: bool = False,
                 callable_: bool = False):
        self.what, self.kind, self.subclass, self.callable_ = what, kind, subclass, callable_
        self._entries: dict[str, T] = {}

    # ------------------------------------------------------------------ writing
    def register(self, name: str, obj: T, *, overwrite: bool = False) -> T:
        """Add ``obj`` under ``name``; returns ``obj``."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a {self.what} name must be a non-empty string, got {name!r}")
        if name in self._entries and not overwrite and self._entries[name] is not obj:
            raise ValueError(f"{self.what} '{name}' is already registered; choose another name "
                             "or pass overwrite=True")
        self._check_type(name, obj)
        self._entries[name] = obj
        return obj

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return its entry (e.g. a test's temporary registration);
        `UnknownName` if there is none."""
        entry = self.get(name)
        del self._entries[name]
        return entry

    def pop(self, name: str, *default: T) -> T:
        """Like ``dict.pop``: remove and return ``name``'s entry, or ``default`` if it is not there."""
        if name not in self._entries and default:
            return default[0]
        return self.unregister(name)

    def __delitem__(self, name: str) -> None:
        self.unregister(name)

    def decorator(self, name: str, *, overwrite: bool = False) -> Callable[[T], T]:
        """``@REGISTRY.decorator("name")`` registers the decorated function or class."""
        def deco(obj: T) -> T:
            return self.register(name, obj, overwrite=overwrite)
        return deco

    def _check_type(self, name: str, obj: object) -> None:
        if self.callable_ and not callable(obj):
            raise TypeError(f"{self.what} '{name}' must be callable, got {type(obj).__name__}")
        if self.kind is None:
            return
        if self.subclass:
            ok = isinstance(obj, type) and issubclass(obj, self.kind)
            got = obj.__name__ if isinstance(obj, type) else f"an instance of {type(obj).__name__}"
        else:
            ok, got = isinstance(obj, self.kind), type(obj).__name__
        if not ok:
            rel = "a subclass" if self.subclass else "an instance"
            kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
            allowed = " or ".join(k.__name__ for k in kinds)
            raise TypeError(f"{self.what} '{name}' must be {rel} of {allowed}, got {got}")

    # ------------------------------------------------------------------ reading
    def get(self, name: str) -> T:
        """The entry ``name``; `UnknownName` (a KeyError and a ValueError) listing the allowed names."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownName(f"unknown {self.what} '{name}'; allowed: {', '.join(self.names()) or '(none)'}") \
                from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    keys = names

    def items(self) -> list[tuple[str, T]]:
        return [(k, self._entries[k]) for k in self.names()]

    def values(self) -> list[T]:
        return [self._entries[k] for k in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self.names())})"
