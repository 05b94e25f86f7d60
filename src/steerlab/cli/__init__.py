"""``steerlab``: the command line. One `Command` per job (`steerlab.cli.commands`); ``main`` wires them.

Bad input (unknown names, values out of range, corrupted or foreign files) ends with one line on
stderr and exit code 2; nothing partial is written. ``--plugin MODULE`` (repeatable) and the
``steerlab.plugins`` entry points are loaded before the commands are built, so a plugin can add
architectures, edits, attributes, methods and commands.
"""
from __future__ import annotations

import argparse
import os
import sys

from steerlab._version import __version__
from steerlab.cli import commands  # noqa: F401  (registers the built-in commands)
from steerlab.cli.base import COMMANDS

EXIT_BAD_INPUT = 2
# What a job raises for bad input; anything else is a bug and keeps its traceback.
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, FileExistsError, KeyError)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="steerlab",
        description="Find, apply and measure steering directions in generative image models.",
        epilog="Examples:\n  steerlab walk --model faces --edit zoom --out runs/zoom\n"
               "  steerlab apply runs/zoom/direction.safetensors --seeds 0-3 --alphas=0.5,1,2\n"
               "  steerlab evaluate runs/zoom/direction.safetensors --n 64\n"
               "  steerlab --plugin my_plugin.py walk --model mine.safetensors --edit zoom\n"
               "  steerlab models\n  steerlab edits",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"steerlab {__version__}")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (a module name or a .py file) first, so its registrations "
                        "(architectures, edits, methods, commands...) are seen; repeatable")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for cls in COMMANDS.values():
        cls().register(sub)
    return p


def _plugins_first(argv: list[str] | None) -> None:
    """Load ``--plugin`` modules and entry points before the parser is built (they may add commands)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    from steerlab.core.plugins import load_plugins
    load_plugins(known.plugin)


def _one_line(e: BaseException) -> str:
    """The first line of an error's message (a KeyError's str() quotes it: use its argument)."""
    text = e.args[0] if isinstance(e, KeyError) and e.args and isinstance(e.args[0], str) else str(e)
    return text.strip().splitlines()[0] if text.strip() else e.__class__.__name__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        _plugins_first(argv)
    except INPUT_ERRORS as e:
        print(f"steerlab: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from steerlab.core import distributed
    if distributed.launched():
        return _main_distributed(args)
    try:
        return args.command_object.run(args)
    except INPUT_ERRORS as e:
        print(f"steerlab {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("steerlab: interrupted; nothing partial was kept", file=sys.stderr)
        return 130


def _main_distributed(args) -> int:
    """One rank of a torchrun job: any failure is one line and an immediate exit of this rank
    (torchrun then stops the others), never a traceback or a hang on a collective."""
    from steerlab.core import distributed
    if not args.command_object.distributed:
        allowed = sorted(name for name, cls in COMMANDS.items() if cls.distributed)
        print(f"steerlab {args.command}: error: runs in one process only; under torchrun use one of "
              f"{', '.join(allowed)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    distributed.stop_on_sigterm()
    try:
        if getattr(args, "device", None) is not None:
            args.device = distributed.init(args.device)
        else:
            distributed.init()
        if not distributed.is_main():  # one rank prints the results
            sys.stdout = open(os.devnull, "w")
        code = args.command_object.run(args)
        distributed.finish()
        return code
    except INPUT_ERRORS as e:
        distributed.fail(args.command, e, EXIT_BAD_INPUT)
    except BaseException as e:  # noqa: BLE001  (a rank must not hang its peers, whatever went wrong)
        distributed.fail(args.command, e, 1)
    return 1

