"""What every command shares: exit codes, the one-line errors, argument types, tables and figures."""
from __future__ import annotations

import argparse
import csv
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .._optional import require
from ..validation import check_number, check_positive_int

EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class CommandError(Exception):
    """A failure reported as one line on stderr: code 1 (runtime) or 2 (usage)."""

    def __init__(self, message: str, code: int = EXIT_RUNTIME):
        super().__init__(message)
        self.code = code


class ArgumentParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit 2) instead of the usage text and the error."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def describe_error(error: BaseException) -> str:
    """One line for an error: the message for expected failures, the type too for anything else."""
    if isinstance(error, OSError) and error.filename is not None:
        message = f"{error.filename}: {error.strerror or error}"
    elif isinstance(error, (CommandError, ValueError, TypeError, ImportError, OSError, csv.Error)):
        message = str(error)
    else:
        message = f"internal error ({type(error).__name__}: {error}); run again with --debug for the traceback"
    return " ".join(message.split())


# ---- argument types: the checks are validation's, the wording argparse's ---------------------------------
def _checked(text: str, convert: Callable[[str], Any], check: Callable[[Any], Any], expected: str):
    """argparse type: convert text and check it, or fail with 'expected ..., got ...'."""
    try:
        return check(convert(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def positive_int(text: str) -> int:
    return _checked(text, int, lambda v: check_positive_int("value", v, "scratchnn"), "a positive integer")


def positive_float(text: str) -> float:
    return _checked(text, float, lambda v: check_number("value", v, "scratchnn", low=0, low_open=True),
                    "a positive number")


def fraction(text: str) -> float:
    return _checked(text, float, lambda v: check_number("value", v, "scratchnn", low=0, high=1, high_open=True),
                    "a fraction in [0, 1)")


# ---- output -------------------------------------------------------------------------------------------
def is_numeric(row: Sequence[str]) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def table(rows: Sequence[Sequence[Any]], header: Sequence[Any]) -> str:
    """Rows of cells as aligned text: columns of numbers right-aligned, the others left-aligned."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(is_numeric([row[i].replace(",", "")]) for row in cells[1:]) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric))
                     .rstrip() for row in cells)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=1))


def check_folder(path: str | os.PathLike) -> None:
    """A file is about to be written at ``path``: its folder must exist."""
    path = Path(path)
    if not path.resolve().parent.is_dir():
        raise CommandError(f"{path}: the folder {str(path.parent)!r} does not exist")


def import_plot() -> ModuleType:
    """scratchnn.plot with matplotlib's file-only backend, or a one-line error naming the extra."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        require("matplotlib", "drawing figures")
    except ImportError as error:
        raise CommandError(f"{error} (or write a .npy)") from None
    from .. import plot
    return plot


def close_figure(figure) -> None:
    require("matplotlib.pyplot", "drawing figures").close(figure)
