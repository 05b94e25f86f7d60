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
import math
from pathlib import Path
from typing import Any

from steerlab.core import checks
from steerlab.core.registry import Registry


# --------------------------------------------------------------------------- parser
class UsageError(ValueError):
    """A malformed command line (unknown option, bad value, missing argument): one line, exit 2."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors are one line (a `UsageError`) instead of a usage
    block and an exit; its sub-parsers are of this class too. ``--help`` works as usual."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(self.prog, f"{message.splitlines()[0]} (see `{self.prog} --help`)")


# --------------------------------------------------------------------------- argument types
# Each type refuses a bad value with one line naming what is allowed (argparse prefixes the option).
def _typed(name: str, fn, **bounds):
    def parse(text: str):
        try:
            return fn(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix("the value ")) from None
    parse.__name__ = name
    parse.bounds = bounds  # type: ignore[attr-defined]  (lo, hi, ...: what the tests probe)
    return parse


def count(lo: int = 1, hi: int = checks.MAX_COUNT):
    """A whole number in [lo, hi] (argparse type)."""
    return _typed("count", lambda text: checks.check_int("the value", _number(text), lo, hi), lo=lo, hi=hi)


def number(lo: float = 0.0, hi: float = math.inf, lo_open: bool = True):
    """A finite number in (lo, hi] (``lo_open``) or [lo, hi] (argparse type)."""
    return _typed("number", lambda text: checks.check_float("the value", _number(text), lo, hi, lo_open=lo_open),
                  lo=lo, hi=hi, lo_open=lo_open)


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"not a number: {text!r}") from None


def floats(text: str) -> list:
    """'0.5,1,2' -> [0.5, 1.0, 2.0]; colour triples as 'r:g:b', e.g. '0.3:0:0,-0.3:0:0'. Finite only,
    at most `MAX_COUNT` values."""
    out = []
    parts = text.split(",")
    if len(parts) > checks.MAX_COUNT:
        raise argparse.ArgumentTypeError(f"at most {checks.MAX_COUNT} values, got {len(parts)}")
    for part in parts:
        part = part.strip()
        try:
            vals = [float(v) for v in part.split(":")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number list: {text!r} (use e.g. 0.5,1,2 or 0.3:0:0)")
        if not all(math.isfinite(v) for v in vals):
            raise argparse.ArgumentTypeError(f"values must be finite numbers, got {text!r}")
        out.append(vals[0] if len(vals) == 1 else vals)
    return out


def _int_list(text: str, hi: int) -> list[int]:
    bad = argparse.ArgumentTypeError(f"not a list of whole numbers >= 0: {text!r} (use e.g. 0,1,2 or 0-7)")
    try:
        if "-" in text and "," not in text and not text.startswith("-"):
            lo_s, hi_s = text.split("-")
            lo, up = int(lo_s), int(hi_s)
            if up < lo:
                raise argparse.ArgumentTypeError(f"empty range {text!r}: the end must be >= the start "
                                                 "(use e.g. 0-7)")
            if up - lo + 1 > hi:
                raise argparse.ArgumentTypeError(f"range {text!r} names {up - lo + 1} values; at most {hi}")
            values = list(range(lo, up + 1))
        else:
            values = [int(v) for v in text.split(",")]
    except ValueError:
        raise bad from None
    if not values or len(values) > hi:
        raise argparse.ArgumentTypeError(f"{len(values)} values; give 1 to {hi}")
    if any(v < 0 or v > 2 ** 63 - 1 for v in values):
        raise bad
    return values


def ints(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; a range '0-7' -> [0, ..., 7]; whole numbers >= 0, at most `MAX_SEEDS`
    of them (seeds, class labels)."""
    return _int_list(text, checks.MAX_SEEDS)


def class_list(text: str) -> list[int | str]:
    """'5,6' -> [5, 6]; '0-3' -> [0, 1, 2, 3]; 'disc,ring' -> ['disc', 'ring'] (names from the model card,
    resolved by the job once the model is loaded)."""
    parts = names(text)
    if not parts:
        raise argparse.ArgumentTypeError(f"no class in {text!r} (use e.g. 5 or 5,6 or 0-3 or disc,ring)")
    if all(p.isdigit() or ("-" in p and p.replace("-", "").isdigit()) for p in parts):
        return ints(text)
    if len(parts) > checks.MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"{len(parts)} classes; give 1 to {checks.MAX_SEEDS}")
    return [int(p) if p.isdigit() else p for p in parts]


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


def device(text: str) -> str:
    """A torch device this build and machine can use (one line listing the available ones)."""
    if text == "cpu":  # the default: no torch import while parsing
        return text
    try:
        return checks.check_device(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def out_path(text: str) -> str:
    """An output folder: refused when it names an existing file (or is empty)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a folder")
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is a file, not a folder; choose another --out")
    return text


# --------------------------------------------------------------------------- shared options
# One declaration per option used by several commands: the same name means the same thing everywhere.
SHARED: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "model": (("--model",), dict(help="zoo name (see `steerlab models`), a generator .safetensors file, "
                                      "an NVlabs StyleGAN .pkl (read without running its code), "
                                      "or a checkpoint a plugin can read")),
    "device": (("--device",), dict(default="cpu", type=device, help="torch device, e.g. cpu, cuda, cuda:1 (default: cpu)")),
    "seed": (("--seed",), dict(type=count(0, 2 ** 63 - 1), default=0, help="seed of every random draw of the run, so a rerun "
                                                         "gives the same numbers (default: 0)")),
    "out": (("--out",), dict(type=out_path, help="output folder (default: {out})")),
    "overwrite": (("--overwrite",), dict(action="store_true", help="replace an existing output (a non-empty "
                                                                   "output folder; train: OUT.safetensors); otherwise "
                                                                   "it is kept and the run stops")),
    "truncation": (("--truncation",), dict(type=number(0.0, 2.0, lo_open=False), metavar="PSI",
                                           help="truncation psi for StyleGAN models: w = w_avg + psi (w - w_avg); "
                                                "1 = none (default)")),
    "truncation_cutoff": (("--truncation-cutoff",), dict(type=count(0, 10_000), metavar="N",
                                                         help="apply --truncation only to the first N w+ rows "
                                                              "(NVlabs' truncation_cutoff; default: every row)")),
    "layers": (("--layers",), dict(type=layer_list, metavar="A-B", help="move only these w+ rows (e.g. 0-5 or "
                                                                        "0,2,4) with a linear direction in w or w+ "
                                                                        "(default: all)")),
    "force": (("--force",), dict(action="store_true", help="use a direction made for another model anyway "
                                                           "(its fingerprint differs)")),
    "resume": (("--resume",), dict(action="store_true", help="continue a run into the same --out that died (kill -9, "
                                                             "power loss) from its last checkpoint (.OUT.ckpt.safetensors "
                                                             "beside --out), with the same result as an uninterrupted "
                                                             "run; the options must be the same. Without it an old "
                                                             "checkpoint is ignored")),
    "checkpoint_every": (("--checkpoint-every",), dict(type=count(1, checks.MAX_STEPS), metavar="N",
                                                       help="save the progress for --resume every N steps (walk, "
                                                            "invert: Adam steps, default 50; evaluate: alphas, "
                                                            "default 1; trajectory: sub-problems, default 1; "
                                                            "discover: Eq. 1 steps, default 100)")),
}


def hidden_alias(p: argparse.ArgumentParser, action: argparse.Action, *flags: str) -> argparse.Action:
    """Old spellings of ``action``'s option: still accepted, same destination and type, not shown in
    ``--help`` (so scripts written before the vocabulary was unified keep working)."""
    kw: dict[str, Any] = dict(dest=action.dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    if isinstance(action, argparse._StoreTrueAction):
        kw["action"] = "store_true"
    else:
        kw.update(type=action.type, metavar=action.metavar)
    return p.add_argument(*flags, **kw)


# The words every command uses for the same things (`steerlab --help` prints this; docs/cli.md too).
VOCABULARY = """\
One vocabulary: an option means the same thing in every command that takes it.
  DIRECTION        a direction .safetensors file, or a run folder holding one (runs/zoom)
  --model          the generator: zoo name (`steerlab models`), .safetensors file or NVlabs .pkl
  --out            the run folder; default runs/COMMAND-MODEL-EDIT-N with the first free N,
                   so a rerun never stops on an existing folder (discover keeps one name to resume)
  --overwrite      replace an existing, non-empty --out
  --force          use a direction or latent file made for another model anyway
  --device         torch device (cpu, cuda, cuda:1); --seed: seed of every random draw of a run
  --seeds          the samples a command renders (apply); training seeds are --train-seeds
  --steps          optimisation steps of the command's loop; --batch-size: samples per step;
                   --lr: Adam learning rate
  --n-samples      held-out samples measured (evaluate, trajectory, compare-spaces, reproduce)
  --alphas         values in the direction's units; a leading minus works: --alphas -0.3,0,0.3
  --classes        class numbers or the model card's names (--classes disc,ring)
  --truncation, --truncation-cutoff, --layers   StyleGAN truncation psi (on the first N w+ rows) and w+ rows
Older spellings still work: --n and --n-eval (= --n-samples), --train-steps (reproduce --steps),
reproduce --seeds (= --train-seeds)."""


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
    checkpoint_every: int = 50  # the default of the shared --checkpoint-every

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        """The command's own options (the shared ones are added by `register`)."""

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError

    def register(self, sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
        p = sub.add_parser(self.name, help=self.help, description=self.description or self.help,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        self.add_arguments(p)
        # --truncation-cutoff goes with --truncation: every command that takes the one takes the other
        for key in [k for key in self.shared for k in ((key, "truncation_cutoff") if key == "truncation" else (key,))]:
            flags, kw = SHARED[key]
            kw = dict(kw)
            if key == "out":
                kw["help"] = kw["help"].format(out=self.out_default)
            if key == "checkpoint_every":
                kw["default"] = self.checkpoint_every
            if key == "model" and self.model_required:
                kw["required"] = True
            p.add_argument(*flags, **kw)
        p.set_defaults(command_object=self)
        return p


COMMANDS: Registry[type[Command]] = Registry("command", Command, subclass=True)


def register_command(cls: type[Command]) -> type[Command]:
    """Class decorator: add a command to ``steerlab`` (refuses a duplicate name)."""
    return COMMANDS.register(cls.name, cls)
