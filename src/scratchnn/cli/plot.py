"""scratchnn plot: draw a model's network and/or the training curves of a history CSV."""
from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

from .common import EXIT_USAGE, CommandError, check_folder, close_figure, import_plot
from .model import open_model

NAME = "plot"
HELP = "draw a model's network and/or the training curves of a history CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", nargs="?")
    parser.add_argument("--out", default="model.png", help="the figure file (default: model.png); with both a "
                        "MODEL and --history the curves go to OUT with -history before the suffix")
    parser.add_argument("--history", metavar="CSV", help="a history CSV written by train --history")
    parser.add_argument("--style", choices=("auto", "neurons", "layers"), default="auto")


def run(args: argparse.Namespace) -> int:
    """Each figure is written atomically by scratchnn.plot (saving.files.atomic_file), in the format of its
    file's extension."""
    if args.model is None and args.history is None:
        raise CommandError("plot needs a MODEL file, --history FILE, or both", EXIT_USAGE)
    plot = import_plot()
    written = []
    if args.model is not None:
        model = open_model(args.model)
        check_folder(args.out)
        close_figure(plot.plot_model(model, style=args.style, path=args.out))
        written.append(args.out)
    if args.history is not None:
        out = args.out if args.model is None else str(Path(args.out).with_stem(Path(args.out).stem + "-history"))
        logs = read_history(args.history)
        check_folder(out)
        close_figure(plot.plot_history(logs, path=out))
        written.append(out)
    print("figure written to " + " and ".join(written))
    return 0


def read_history(path: str) -> dict[str, list[float]]:
    """The columns of a history CSV (`train --history`) as lists, without the epoch column."""
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such history file")
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows or "loss" not in rows[0]:
        raise CommandError(f"{path}: expected a history CSV with a 'loss' column (from train --history)")
    try:
        return {key: [float(row[key]) for row in rows] for key in rows[0] if key != "epoch"}
    except (TypeError, ValueError):
        raise CommandError(f"{path}: the history holds values that are not numbers") from None
