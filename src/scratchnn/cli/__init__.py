"""The `scratchnn` command: train, evaluate, predict, explain, plot and export from the shell.

One module per command, each with its arguments beside its handler (``NAME``, ``HELP``,
``add_arguments(parser)``, ``run(args) -> exit status``); ``common``, ``data``, ``model`` and ``inputs``
hold what several commands share. Exit status: 0 done, 1 a runtime error, 2 a usage error, 130 interrupted;
an error is one line on stderr (``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import datasets, evaluate, explain, export, generate, plot, predict, serve, summary, train, tune
from .common import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, ArgumentParser, CommandError, describe_error

COMMANDS = (train, evaluate, predict, summary, export, explain, plot, datasets, serve, tune, generate)

__all__ = ["main", "build_parser", "describe_error", "CommandError", "COMMANDS", "EXIT_RUNTIME", "EXIT_USAGE",
           "EXIT_INTERRUPTED"]


def build_parser() -> ArgumentParser:
    from .. import __version__
    common = ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    parser = ArgumentParser(prog="scratchnn", parents=[common],
                            description="Neural networks from scratch on NumPy: train, evaluate, predict, "
                                        "explain, plot and export from the shell.")
    parser.add_argument("--version", action="version", version=f"scratchnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.NAME, parents=[common], help=command.HELP, description=command.HELP)
        sub.set_defaults(handler=command.run)
        command.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in argv (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return stop.code
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"scratchnn {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:                   # the reader of stdout went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_RUNTIME
    except Exception as error:
        if getattr(args, "debug", False):
            raise
        print(f"scratchnn {args.command}: error: {describe_error(error)}", file=sys.stderr)
        return error.code if isinstance(error, CommandError) else EXIT_RUNTIME
