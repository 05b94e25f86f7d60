"""What every command shares: the `Command` base class, the shared options, argument types.

A command is one small class: its name, one line of help, the shared options it takes (declared
once here, with their help text), its own options, and ``run(args)`` that calls one job of
`steerlab.jobs` and prints what a person needs (numbers and where the results are). Register a
new one with `register_command` (a plugin may do so too):

    >>> @register_command                                              # doctest: +SKIP
    ... class Hello(Command):
    ...     name, help = "hello", "say hello"
    ...     def run(self, args): print("hello"); return 0
"""
from __future__ import annotations

import argparse
from typing import Any

from steerlab.core.registry import Registry


# --------------------------------------------------------------------------- argument types
def floats(text: str) -> list:
    """'0.5,1,2' -> [0.5, 1.0, 2.0]; colour triples as 'r:g:b', e.g. '0.3:0:0,-0.3:0:0'."""
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            vals = [float(v) for v in part.split(":")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number list: {text!r} (use e.g. 0.5,1,2 or 0.3:0:0)")
        out.append(vals[0] if len(vals) == 1 else vals)
    return out


def ints(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; a range '0-7' -> [0, ..., 7]."""
    try:
        if "-" in text and "," not in text and not text.startswith("-"):
            lo, hi = text.split("-")
            return list(range(int(lo), int(hi) + 1))
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a seed list: {text!r} (use e.g. 0,1,2 or 0-7)")


def layer_list(text: str) -> list[int]:
    """'0-5' -> [0, 1, 2, 3, 4, 5]; '0,2,4' -> [0, 2, 4] (w+ rows, counted from 0)."""
    try:
        if "-" in text and "," not in text:
            lo, hi = text.split("-", 1)
            rows = list(range(int(lo), int(hi) + 1))
        else:
            rows = [int(v) for v in text.split(",")]
    except ValueError:
        rows = []
    if not rows or min(rows) < 0:
        raise argparse.ArgumentTypeError(f"not a layer range: {text!r} (use A-B or A,B,C, rows from 0, e.g. 0-5)")
    return rows


def names(text: str) -> list[str]:
    """'a,b' -> ['a', 'b'] (empty parts dropped)."""
    return [t.strip() for t in text.split(",") if t.strip()]


# --------------------------------------------------------------------------- shared options
# One declaration per option used by several commands: the same name means the same thing everywhere.
SHARED: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "model": (("--model",), dict(help="zoo name (see `steerlab models`), a generator .safetensors file, "
                                      "an NVlabs StyleGAN .pkl (read without running its code), "
                                      "or a checkpoint a plugin can read")),
    "device": (("--device",), dict(default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default: cpu)")),
    "seed": (("--seed",), dict(type=int, default=0, help="seed of every random draw of the run, so a rerun "
                                                         "gives the same numbers (default: 0)")),
    "out": (("--out",), dict(help="output folder (default: {out})")),
    "overwrite": (("--overwrite",), dict(action="store_true", help="replace an existing, non-empty output "
                                                                   "folder (otherwise it is kept and the run stops)")),
    "truncation": (("--truncation",), dict(type=float, metavar="PSI", help="truncation psi for StyleGAN models: "
                                                                         "w = w_avg + psi (w - w_avg); 1 = none (default)")),
    "layers": (("--layers",), dict(type=layer_list, metavar="A-B", help="move only these w+ rows (e.g. 0-5 or "
                                                                        "0,2,4) with a linear direction in w or w+ "
                                                                        "(default: all)")),
    "force": (("--force",), dict(action="store_true", help="use a direction made for another model anyway "
                                                           "(its fingerprint differs)")),
}


class Command:
    """One subcommand. Subclasses set the class attributes and implement `add_arguments` and `run`.

    Attributes:
        name: as typed after ``steerlab``.
        help: one line for ``steerlab --help``.
        description: the paragraph of ``steerlab NAME --help``.
        shared: names of `SHARED` options this command takes.
        model_required: whether the shared ``--model`` is required.
        out_default: the ``--out`` default shown in its help.
        distributed: whether it runs data-parallel under torchrun.
    """
    name: str = ""
    help: str = ""
    description: str = ""
    shared: tuple[str, ...] = ()
    model_required: bool = False
    out_default: str = "runs/COMMAND"
    distributed: bool = False

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        """The command's own options (the shared ones are added by `register`)."""

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError

    def register(self, sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
        p = sub.add_parser(self.name, help=self.help, description=self.description or self.help,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        self.add_arguments(p)
        for key in self.shared:
            flags, kw = SHARED[key]
            kw = dict(kw)
            if key == "out":
                kw["help"] = kw["help"].format(out=self.out_default)
            if key == "model" and self.model_required:
                kw["required"] = True
            p.add_argument(*flags, **kw)
        p.set_defaults(command_object=self)
        return p


COMMANDS: Registry[type[Command]] = Registry("command", Command, subclass=True)


def register_command(cls: type[Command]) -> type[Command]:
    """Class decorator: add a command to ``steerlab`` (refuses a duplicate name)."""
    return COMMANDS.register(cls.name, cls)
