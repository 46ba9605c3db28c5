"""The data a command trains or evaluates on: --data specs, the datasets, CSV tables, and their labels.

Nothing here scales the data: images stay pixels 0..255, CSV features stay as written. The models that
``scratchnn train`` builds carry their preprocessing (``Rescaling(1 / 255)`` for images, an adapted
``Normalization`` for tables), so every command feeds a model raw values.
"""
from __future__ import annotations

import argparse
import csv
import math
from collections import namedtuple

import numpy as np

from ..labels import class_indices, name_indices
from .common import EXIT_USAGE, CommandError, is_numeric
from .model import class_count

DATA_HELP = ("digits (the 10,000 embedded MNIST digits, 8,000 train / 2,000 test), mnist[:DIR] or "
             "fashion[:DIR] (a folder holding the four IDX files, raw or .gz), or csv:FILE (numeric feature "
             "columns and a class label column, the last by default: whole numbers >= 0 or names such as "
             "yes/no; a header row is detected and its names kept), "
             "or text:FILE (scratchnn train: a character-level language model of a text file)")

DOWNLOAD_HELP = ("fetch missing MNIST / Fashion-MNIST files (SHA-256 checked) into ~/.scratchnn/datasets "
                 "(or DIR when given)")

Dataset = namedtuple("Dataset", "name x_train y_train x_test y_test is_image vocabulary feature_names class_names "
                     "label_column", defaults=(None, None, None, None))

DELIMITERS = {"tab": "\t", "\\t": "\t", "space": " ", "comma": ",", "semicolon": ";"}


def dataset_spec(text: str) -> tuple[str, str | None]:
    """argparse type: 'digits', 'mnist[:DIR]', 'fashion[:DIR]', 'csv:FILE' or 'text:FILE' -> (name, path or None)."""
    name, _, path = text.partition(":")
    if name not in ("digits", "mnist", "fashion", "csv", "text"):
        raise argparse.ArgumentTypeError(f"unknown dataset {text!r}: expected digits, mnist[:DIR], "
                                         "fashion[:DIR], csv:FILE or text:FILE")
    if name == "digits" and path:
        raise argparse.ArgumentTypeError(f"the embedded digits take no path, got {text!r}")
    if name in ("csv", "text") and not path:
        raise argparse.ArgumentTypeError(f"{name} needs a file: --data {name}:FILE")
    return name, path or None


def delimiter_type(text: str) -> str:
    """argparse type: one character, or tab / space / comma / semicolon."""
    value = DELIMITERS.get(text, text)
    if len(value) != 1 or value in "\"\r\n":
        raise argparse.ArgumentTypeError(f"expected one character (or tab, space, comma, semicolon), got {text!r}")
    return value


def add_csv_arguments(parser: argparse.ArgumentParser, trained: bool = True) -> None:
    """--label-column and --delimiter, for the commands that read a labelled CSV (``trained``: train, whose
    defaults are fixed; else a command on a model file, whose defaults are the ones it was trained with)."""
    default = "the last column" if trained else "the column the model was trained with, else the last"
    parser.add_argument("--label-column", metavar="NAME_OR_INDEX",
                        help=f"csv: the class label column, by its header name or its index (0 is the first, "
                             f"-1 the last) (default: {default})")
    add_delimiter_argument(parser, trained)


def add_delimiter_argument(parser: argparse.ArgumentParser, trained: bool = False) -> None:
    """--delimiter: None when not given; a command on a model file then takes the one it was trained with."""
    default = "a comma" if trained else "the one of the CSV the model was trained on, else a comma"
    parser.add_argument("--delimiter", type=delimiter_type,
                        help=f"csv: the character between cells: one character, or tab, space, semicolon "
                             f"(default: {default})")


def csv_options(args: argparse.Namespace, model=None) -> dict:
    """The CSV keywords of load_dataset from the arguments, completed by what the model file recorded."""
    metadata = (getattr(model, "metadata", None) or {}) if model is not None else {}
    label = args.label_column if args.label_column is not None else metadata.get("label_column")
    delimiter = args.delimiter or metadata.get("delimiter", ",")
    return {"label_column": label, "delimiter": delimiter, "class_names": metadata.get("class_names")}


def load_dataset(spec: tuple[str, str | None], download: bool = False, label_column: str | int | None = None,
                 delimiter: str = ",", class_names: list[str] | None = None) -> Dataset:
    """The named dataset as stored: images uint8 pixels 0..255, a CSV's features float32 (no test split).

    With download, missing MNIST / Fashion-MNIST files are fetched (SHA-256 checked) into the cache folder.
    ``label_column``, ``delimiter`` and ``class_names`` (the names a model's classes had in training) are
    read_labelled_csv's.
    """
    from .. import datasets
    name, path = spec
    if name == "text":                          # windows of a text file: cli/generate.py's load_text
        raise CommandError(f"text:{path} is a language model's data: train one with `scratchnn train --data "
                           f"text:{path}`, sample from it with `scratchnn generate`", 2)
    if name == "csv":
        return read_labelled_csv(path, label_column, delimiter, class_names)
    loaders = {"digits": lambda fetch: datasets.load_digits(),
               "mnist": lambda fetch: datasets.load_mnist(path, download=fetch),
               "fashion": lambda fetch: datasets.load_fashion_mnist(path, download=fetch)}
    try:
        try:
            (x_train, y_train), (x_test, y_test) = loaders[name](False)
        except FileNotFoundError:
            if not download:
                raise
            (x_train, y_train), (x_test, y_test) = loaders[name](True)
    except (OSError, ValueError) as error:
        hint = "" if download or name == "digits" else f" (from the command line: --download, or --data {name}:DIR)"
        raise CommandError(f"cannot load {name}: {error}{hint}") from None
    label = name if path is None else f"{name}:{path}"
    return Dataset(label, x_train, y_train, x_test, y_test, True)


def limit_dataset(data: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` samples of each split (all of them for None)."""
    if limit is None:
        return data
    test = (None, None) if data.x_test is None else (data.x_test[:limit], data.y_test[:limit])
    return data._replace(x_train=data.x_train[:limit], y_train=data.y_train[:limit], x_test=test[0], y_test=test[1])


# ---- CSV tables ---------------------------------------------------------------------------------------
def read_rows(path: str, delimiter: str = ",") -> tuple[list[str] | None, list[list[str]]]:
    """The header (or None) and the data rows of a CSV, cells stripped, blank lines skipped.

    The first row is a header when a cell of it is not a number in a column whose other cells all are
    (``sepal_length`` above numbers); a table whose every column is text has no column to tell by, so its
    first row is a header when none of its cells is a number.
    """
    with open(path, newline="") as stream:
        rows = [[cell.strip() for cell in row] for row in csv.reader(stream, delimiter=delimiter)
                if row and any(cell.strip() for cell in row)]
    if not rows:
        raise CommandError(f"{path}: no data rows")
    first, rest = rows[0], rows[1:]
    numeric_columns = [j for j in range(len(first)) if rest and all(j < len(row) and is_numeric([row[j]])
                                                                      for row in rest)]
    if numeric_columns:
        header = any(not is_numeric([first[j]]) for j in numeric_columns)
    else:
        header = not any(is_numeric([cell]) for cell in first)
    header_row, rows = (first, rest) if header else (None, rows)
    if not rows:
        raise CommandError(f"{path}: no data rows (only a header)")
    widths = {len(row) for row in rows} | ({len(header_row)} if header_row else set())
    if len(widths) > 1:
        hint = "" if delimiter != "," else " (a file separated by ';' or tabs needs --delimiter)"
        raise CommandError(f"{path}: rows have different numbers of columns: {sorted(widths)}{hint}")
    return header_row, rows


def numeric_table(rows: list[list[str]], path: str, shown: list[list[str]] | None = None) -> np.ndarray:
    """Rows of number cells as a 2-D float64 array; the first row holding text is named (as it is in
    ``shown``, the file's rows, when ``rows`` are some of their columns)."""
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    except ValueError:
        bad = next(number for number, row in enumerate(rows, 1) if not is_numeric(row))
        row = (shown or rows)[bad - 1]
        raise CommandError(f"{path}: data row {bad} is not all numbers: {','.join(row)[:80]!r}") from None


def read_numeric_csv(path: str, delimiter: str = ",") -> np.ndarray:
    """The rows of a CSV file as a 2-D float array; a header row (read_rows's rule) is skipped."""
    return numeric_table(read_rows(path, delimiter)[1], path)


def label_index(label_column: str | int | None, header: list[str] | None, width: int, path: str) -> int:
    """The position of the label column: a header name, or an index (0 the first, -1 the last)."""
    if label_column is None:
        return width - 1
    text = str(label_column).strip()
    if header is not None and text in header:
        return header.index(text)
    try:
        index = int(text)
    except ValueError:
        names = f"; its columns are {', '.join(header)}" if header else " (it has no header row)"
        raise CommandError(f"--label-column {text}: {path} has no column of that name{names}", EXIT_USAGE) from None
    if not -width <= index < width:
        raise CommandError(f"--label-column {index}: {path} has {width} columns (0 to {width - 1}, or -1 to "
                           f"-{width})", EXIT_USAGE)
    return index % width


def read_labelled_csv(path: str, label_column: str | int | None = None, delimiter: str = ",",
                      class_names: list[str] | None = None) -> Dataset:
    """A CSV as a Dataset: float32 features, integer labels, the header's feature names and the class names.

    The label column holds whole numbers >= 0 (the classes themselves) or names (``yes`` / ``no``,
    ``setosa``...), which become classes 0, 1, ... in sorted order, or the order of ``class_names`` when
    given (the names a model was trained with).
    """
    header, rows = read_rows(path, delimiter)
    width = len(rows[0])
    if width < 2:
        other = next((name for name, mark in (("';'", ";"), ("tabs", "\t")) if mark in rows[0][0]), None)
        hint = f" (its cells look separated by {other}: --delimiter)" if other and delimiter == "," else ""
        raise CommandError(f"{path}: expected feature columns and a label column, got {width} column{hint}")
    where = label_index(label_column, header, width, path)
    features = numeric_table([row[:where] + row[where + 1:] for row in rows], path, rows)
    labels, names = decode_label_column([row[where] for row in rows], path, class_names)
    feature_names = None if header is None else header[:where] + header[where + 1:]
    label_name = header[where] if header is not None else (None if label_column is None else where)
    return Dataset(f"csv:{path}", features.astype(np.float32), labels, None, None, False,
                   feature_names=feature_names, class_names=names, label_column=label_name)


def decode_label_column(cells: list[str], path: str, class_names: list[str] | None) -> tuple[np.ndarray, list | None]:
    """Class indices of a label column, and the class names when the labels are names (else None).

    Numbers are read by ``class_indices``; a fraction is refused first, because class_indices would read a
    column of fractions in [0, 1] as probabilities of class 1, and a CSV's label column holds classes.
    """
    source = f"{path} (the label column)"
    if class_names is not None or not is_numeric(cells):
        try:
            return name_indices(cells, source, class_names)
        except ValueError as error:
            raise CommandError(str(error)) from None
    column = np.array(cells, dtype=np.float64)
    bad = (column != np.round(column)) | (column < 0)
    if bad.any():
        raise CommandError(f"{path}: the label column holds the class and must be whole numbers >= 0 or names, "
                           f"got values such as {float(column[bad][0]):g}")
    try:
        return class_indices(column, source).astype(np.int64), None
    except ValueError as error:                                  # inf
        raise CommandError(str(error)) from None


def fit_to_model(x: np.ndarray, input_shape: tuple[int, ...], source: str) -> np.ndarray:
    """x as (N, *input_shape): reshaped when each sample holds as many values as the model takes."""
    sample = tuple(input_shape)
    if x.shape[1:] == sample:
        return x
    if math.prod(x.shape[1:]) == math.prod(sample):
        return x.reshape(len(x), *sample)
    raise CommandError(f"{source}: samples of shape {x.shape[1:]} ({math.prod(x.shape[1:])} values) do not fit "
                       f"the model, which takes input of shape {sample} ({math.prod(sample)} values)")


def check_labels(y: np.ndarray, model, source: str) -> np.ndarray:
    """The labels of ``source`` as class indices (``class_indices``), each a class of the model."""
    try:
        labels = class_indices(y, source)
    except ValueError as error:
        raise CommandError(str(error)) from None
    classes = class_count(model)
    if len(labels) and int(labels.max()) >= classes:
        raise CommandError(f"{source}: labels go up to {int(labels.max())} but the model has {classes} classes")
    return labels
