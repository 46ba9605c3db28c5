"""The data a command trains or evaluates on: --data specs, the datasets, CSV tables, and their labels."""
from __future__ import annotations

import argparse
import csv
import math
from collections import namedtuple

import numpy as np

from ..labels import class_indices
from .common import CommandError, is_numeric
from .model import class_count

DATA_HELP = ("digits (the 10,000 embedded MNIST digits, 8,000 train / 2,000 test), mnist[:DIR] or "
             "fashion[:DIR] (a folder holding the four IDX files, raw or .gz), or csv:FILE (numeric feature "
             "columns with the integer class label in the LAST column; an optional header row is skipped), "
             "or text:FILE (scratchnn train: a character-level language model of a text file)")

DOWNLOAD_HELP = ("fetch missing MNIST / Fashion-MNIST files (SHA-256 checked) into ~/.scratchnn/datasets "
                 "(or DIR when given)")

Dataset = namedtuple("Dataset", "name x_train y_train x_test y_test is_image vocabulary", defaults=(None,))


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


def load_dataset(spec: tuple[str, str | None], download: bool = False) -> Dataset:
    """The named dataset, images scaled to [0, 1] float32; a CSV has no test split (x_test is None).

    With download, missing MNIST / Fashion-MNIST files are fetched (SHA-256 checked) into the cache folder.
    """
    from .. import datasets
    name, path = spec
    if name == "text":                          # windows of a text file: cli/generate.py's load_text
        raise CommandError(f"text:{path} is a language model's data: train one with `scratchnn train --data "
                           f"text:{path}`, sample from it with `scratchnn generate`", 2)
    if name == "csv":
        x, y = split_label_column(read_numeric_csv(path), path)
        return Dataset(f"csv:{path}", x, y, None, None, False)
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
    return Dataset(label, scale_pixels(x_train), y_train, scale_pixels(x_test), y_test, True)


def limit_dataset(data: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` samples of each split (all of them for None)."""
    if limit is None:
        return data
    test = (None, None) if data.x_test is None else (data.x_test[:limit], data.y_test[:limit])
    return data._replace(x_train=data.x_train[:limit], y_train=data.y_train[:limit], x_test=test[0], y_test=test[1])


def scale_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 pixels 0..255 -> float32 in [0, 1]; other arrays are returned as they are."""
    return images / np.float32(255) if images.dtype == np.uint8 else images


def read_numeric_csv(path: str) -> np.ndarray:
    """The rows of a CSV file as a 2-D float array; a first row that is not numeric is a header."""
    with open(path, newline="") as stream:
        rows = [row for row in csv.reader(stream) if row and any(cell.strip() for cell in row)]
    if rows and not is_numeric(rows[0]):
        rows = rows[1:]
    if not rows:
        raise CommandError(f"{path}: no data rows")
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise CommandError(f"{path}: rows have different numbers of columns: {sorted(widths)}")
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        bad = next(number for number, row in enumerate(rows, 1) if not is_numeric(row))
        raise CommandError(f"{path}: data row {bad} is not all numbers: {','.join(rows[bad - 1])[:80]!r}") from None


def split_label_column(table: np.ndarray, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Features (float32) and integer labels (the last column, whole numbers >= 0).

    The labels are read by ``class_indices``; a fraction is refused first, because class_indices would read
    a column of fractions in [0, 1] as probabilities of class 1, and a CSV's label column holds classes.
    """
    if table.shape[1] < 2:
        raise CommandError(f"{path}: expected feature columns and a label column, got {table.shape[1]} column")
    column = table[:, -1]
    bad = (column != np.round(column)) | (column < 0)
    if bad.any():
        raise CommandError(f"{path}: the last column holds the class label and must be whole numbers >= 0, "
                           f"got values such as {float(column[bad][0]):g}")
    try:
        labels = class_indices(column, f"{path} (the label column)")
    except ValueError as error:                                  # inf
        raise CommandError(str(error)) from None
    return table[:, :-1].astype(np.float32), labels.astype(np.int64)


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
