"""Callbacks that write files every epoch: ModelCheckpoint (the model or its weights) and CSVLogger."""
import csv
import math
import os
import re
import string

from ..saving.files import atomic_file
from ..validation import check_positive_int
from .base import Callback
from .monitoring import _check_mode, monitored_value, resolve_mode


class ModelCheckpoint(Callback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) at the end of epochs.

    filepath may hold format fields filled from the epoch (from 1) and its logs, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.snn"``. With save_best_only a file is written only when the
    monitored value improves on the best seen (strictly; the first epoch always counts). Every file is
    written to a temporary name in the same folder and moved into place with os.replace, so a crash
    during a write leaves the previous checkpoint whole.

    ``keep_last=N`` keeps the N most recently written files of the series the filepath names and deletes
    the older ones after each write. The series is every file in the filepath's folder whose name the
    pattern produces (``{epoch}`` any number, any other field anything), so the files of an earlier run
    with the same pattern (a run resumed by BackupAndRestore) count too; the filepath must then name
    ``{epoch}`` in its file name, and its folder must hold no format field.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", initial_value_threshold=None, keep_last=None):
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.keep_last = None if keep_last is None else check_positive_int("keep_last", keep_last, "ModelCheckpoint")
        self.series = None if keep_last is None else _series_pattern(self.filepath)
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _check_mode("ModelCheckpoint", mode)
        self.initial_value_threshold = initial_value_threshold
        self.best = None

    def on_train_begin(self, logs=None):
        if self.best is None:
            minimize = resolve_mode(self.monitor, self.mode) == "min"
            self.best = self.initial_value_threshold if self.initial_value_threshold is not None else (
                math.inf if minimize else -math.inf)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            current = monitored_value("ModelCheckpoint", self.monitor, logs)
            minimize = resolve_mode(self.monitor, self.mode) == "min"
            if not (current < self.best if minimize else current > self.best):
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}")
            self.best = current
        try:
            self.last_path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as missing:
            raise ValueError(f"ModelCheckpoint: filepath {self.filepath!r} names {missing}, which this fit does "
                             f"not log; available: ['epoch', {', '.join(repr(k) for k in sorted(logs))}]") from None
        self._write(self.last_path)
        if self.keep_last is not None:
            self._remove_older(self.last_path)

    def _write(self, path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_file(path) as stream:
            (self.model.save_weights if self.save_weights_only else self.model.save)(stream)

    def _remove_older(self, latest):
        """Delete the series' files beyond the keep_last most recently written (the latest always stays)."""
        folder = os.path.dirname(os.path.abspath(latest))
        written = []
        for name in os.listdir(folder):
            match = self.series.fullmatch(name)
            path = os.path.join(folder, name)
            if match and os.path.isfile(path) and not os.path.samefile(path, latest):
                written.append((os.stat(path).st_mtime_ns, int(match["epoch"]), path))
        for *_, path in sorted(written)[:max(0, len(written) - (self.keep_last - 1))]:
            os.remove(path)


def _series_pattern(filepath):
    """A regular expression matching the file names ``filepath`` produces, its epoch as the group "epoch"."""
    folder, name = os.path.split(filepath)
    if any(field is not None for _, field, _, _ in string.Formatter().parse(folder)):
        raise ValueError(f"ModelCheckpoint: with keep_last the folder of filepath {filepath!r} must not hold "
                         "format fields (the files of one series sit in one folder)")
    parts, named_epoch = [], False
    for literal, field, _, _ in string.Formatter().parse(name):
        parts.append(re.escape(literal))
        if field == "epoch" and not named_epoch:
            parts.append(r"\s*(?P<epoch>\d+)")
            named_epoch = True
        elif field is not None:
            parts.append(r"\s*\d+" if field == "epoch" else ".+?")
    if not named_epoch:
        raise ValueError(f"ModelCheckpoint: keep_last needs a filepath whose file name holds {{epoch}} (e.g. "
                         f"'ckpt-{{epoch:03d}}.snn'), got {filepath!r}: it would write one file only")
    return re.compile("".join(parts))


class CSVLogger(Callback):
    """Append one row per epoch to a CSV file: the epoch (from 0, as Keras) and every logged value."""

    def __init__(self, filename, separator=",", append=False):
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.file = self.writer = None

    def on_train_begin(self, logs=None):
        has_rows = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.file = open(self.filename, "a" if self.append else "w", newline="")
        self.keys = None
        self.header_written = has_rows

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.writer is None:
            self.keys = sorted(logs)
            self.writer = csv.DictWriter(self.file, fieldnames=["epoch", *self.keys], delimiter=self.separator)
            if not self.header_written:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: logs.get(key, "NA") for key in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None:
            self.file.close()
        self.file = self.writer = None
