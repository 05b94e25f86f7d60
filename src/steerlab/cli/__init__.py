"""``steerlab``: the command line. One `Command` per job (`steerlab.cli.commands`); ``main`` wires them.

One error boundary (`main`): bad input (malformed options, unknown names, values out of range,
unavailable devices, corrupted or foreign files) ends with one line on stderr naming what was wrong
and what is allowed, and exit code 2; nothing partial is written. Any other exception is a bug: one
line on stderr naming the file under the system temp folder where its full traceback was written,
exit code 1 (``steerlab --debug ...`` prints the traceback instead). ``--plugin MODULE``
(repeatable) and the ``steerlab.plugins`` entry points are loaded before the commands are built, so
a plugin can add architectures, edits, attributes, methods and commands.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import traceback

from steerlab._version import __version__
from steerlab.cli import commands  # noqa: F401  (registers the built-in commands)
from steerlab.cli.base import COMMANDS, VOCABULARY, Parser, UsageError
from steerlab.reproduce import REPRODUCTIONS

EXIT_BAD_INPUT = 2
EXIT_BUG = 1
# What a job raises for bad input (ValueError covers FileFormatError, ModelMismatch and
# NonFiniteError); anything else is a bug and its traceback is kept.
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, FileExistsError, KeyError,
                                                 IsADirectoryError, NotADirectoryError, PermissionError,
                                                 UsageError)

# A value that starts with '-' and reads as a number list ("-0.3,0,0.3", "-1:0:0", "-inf"):
# argparse would take it for an option, so it is glued to the option before it (--alphas=-0.3,...).
_NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d|inf|nan)[\w.,:+\-]*$", re.IGNORECASE)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="steerlab",
        description="Find, apply and measure steering directions in generative image models.",
        epilog="Examples:\n  steerlab walk --model faces --edit zoom --out runs/zoom\n"
               "  steerlab apply runs/zoom --seeds 0-3 --alphas 0.5,1,2\n"
               "  steerlab evaluate runs/zoom --n-samples 64\n"
               f"  steerlab reproduce NAME   (NAME: {', '.join(REPRODUCTIONS)})\n"
               "  steerlab --plugin my_plugin.py walk --model mine.safetensors --edit zoom\n"
               "  steerlab models\n  steerlab edits\n\n" + VOCABULARY,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"steerlab {__version__}")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (a module name or a .py file) first, so its registrations "
                        "(architectures, edits, methods, commands...) are seen; repeatable")
    p.add_argument("--debug", action="store_true",
                   help="on an internal error print the full traceback (default: one line naming the file "
                        "it was written to)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for cls in COMMANDS.values():
        cls().register(sub)
    return p


def glue_negative_values(argv: list[str]) -> list[str]:
    """``['--alphas', '-0.3,0,0.3']`` -> ``['--alphas=-0.3,0,0.3']`` (see `_NEGATIVE_VALUE`)."""
    out: list[str] = []
    for tok in argv:
        prev = out[-1] if out else ""
        if (_NEGATIVE_VALUE.match(tok) and prev.startswith("--") and "=" not in prev and prev != "--"
                and "--" not in out):
            out[-1] = f"{prev}={tok}"
        else:
            out.append(tok)
    return out


def _plugins_first(argv: list[str]) -> None:
    """Load ``--plugin`` modules and entry points before the parser is built (they may add commands)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    from steerlab.core.plugins import load_plugins
    load_plugins(known.plugin)


def _one_line(e: BaseException) -> str:
    """The first line of an error's message (a KeyError's str() quotes it: use its argument)."""
    text = e.args[0] if isinstance(e, KeyError) and e.args and isinstance(e.args[0], str) else str(e)
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        text = f"{e.filename}: {e.strerror}"
    return text.strip().splitlines()[0] if text.strip() else e.__class__.__name__


def _bug(where: str, e: BaseException, debug: bool) -> int:
    """An internal error: the traceback inline (``debug``) or into a temp file, named in one line."""
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    if debug:
        sys.stderr.write(tb)
        print(f"{where}: internal error: {e.__class__.__name__}: {_one_line(e)}", file=sys.stderr)
        return EXIT_BUG
    try:
        fd, path = tempfile.mkstemp(prefix="steerlab-traceback-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(f"steerlab {__version__}\n{tb}")
        where_tb = f"full traceback in {path}"
    except OSError:
        where_tb = "rerun with --debug for the traceback"
    print(f"{where}: internal error: {e.__class__.__name__}: {_one_line(e)} ({where_tb}; "
          "please report it)", file=sys.stderr)
    return EXIT_BUG


def main(argv: list[str] | None = None) -> int:
    argv = glue_negative_values(sys.argv[1:] if argv is None else list(argv))
    debug = "--debug" in argv[:argv.index("--")] if "--" in argv else "--debug" in argv
    where = "steerlab"
    try:
        _plugins_first(argv)
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, --version
            return int(e.code or 0) if not isinstance(e.code, str) else EXIT_BAD_INPUT
        if args.command is None:
            parser.print_help()
            return 0
        where = f"steerlab {args.command}"
        from steerlab.core import distributed
        if distributed.launched():
            return _main_distributed(args)
        return args.command_object.run(args)
    except INPUT_ERRORS as e:
        print(f"{e.prog if isinstance(e, UsageError) else where}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{where}: interrupted; nothing partial was kept", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  (the one boundary: a bug becomes one line + a traceback file)
        return _bug(where, e, debug)


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
