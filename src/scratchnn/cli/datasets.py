"""scratchnn datasets: the datasets available on this machine, and the embedded digits as files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .._optional import require
from ..saving.files import atomic_file
from .common import EXIT_USAGE, CommandError, positive_int, table

NAME = "datasets"
HELP = "the datasets available on this machine and where they are"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--export-digits", metavar="DIR",
                        help="write the first embedded test digits to DIR (PNGs, digits.npy, labels.npy)")
    parser.add_argument("--count", type=positive_int, default=3, help="how many digits to export (default: 3)")


def run(args: argparse.Namespace) -> int:
    if args.export_digits:
        return export_digits(args.export_digits, args.count)
    from ..datasets import digits, mnist
    embedded = Path(digits.__file__).parent / "data" / "mnist-10k.npz"
    rows = [["digits", "available", "10,000 MNIST digits (8,000 train / 2,000 test), embedded", str(embedded)]]
    for name, folder in (("mnist", mnist.default_cache_dir("mnist")), ("fashion", Path(mnist.FASHION_DIR))):
        found = all((folder / stem).is_file() or (folder / f"{stem}.gz").is_file() for stem in mnist.FILES)
        rows.append([name, "available" if found else "not found", "four IDX files (raw or .gz)", str(folder)])
    rows.append(["csv", "any file", "--data csv:FILE: feature columns, integer label last", ""])
    print(table(rows, ["dataset", "status", "what", "where"]))
    print("\nUse a folder elsewhere with --data mnist:DIR or --data fashion:DIR; "
          "`make fashion` installs Fashion-MNIST (Debian's dataset-fashion-mnist).")
    return 0


def export_digits(folder: str, count: int) -> int:
    """The first ``count`` embedded test digits as PNGs (with Pillow), one .npy of them and their labels.

    Every file is written through ``atomic_file``.
    """
    from ..datasets import load_digits
    _, (images, labels) = load_digits()
    if count > len(images):
        raise CommandError(f"--count {count}: the embedded test split holds {len(images)} digits", EXIT_USAGE)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, array in (("digits.npy", images[:count]), ("labels.npy", labels[:count])):
        with atomic_file(folder / name) as stream:
            np.save(stream, array)
        written.append(folder / name)
    try:
        Image = require("PIL.Image", "writing PNGs")
    except ImportError as error:
        print(f"{error}; no PNGs written", file=sys.stderr)
    else:
        for index in range(count):
            path = folder / f"digit-{index}-label-{labels[index]}.png"
            with atomic_file(path) as stream:
                Image.fromarray(images[index]).save(stream, format="PNG")
            written.append(path)
    print("\n".join(f"wrote {path}" for path in written))
    return 0
