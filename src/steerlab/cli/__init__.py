"""The command line: `steerlab <command> --help`."""
from steerlab.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
