"""Callbacks: hooks that fit() calls around epochs and batches (Keras's names, order and semantics).

on_train_begin, (on_epoch_begin, (on_batch_begin, on_batch_end)*, on_epoch_end)*, on_train_end.
A callback may set ``model.stop_training = True`` to end training after the current batch or epoch.
Epochs are counted from 0 in the hooks and from 1 in everything printed or written to a file name.
"""
import csv
import inspect
import math
import os
import sys
import time

from .saving.files import atomic_file


class Callback:
    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass


class CallbackList:
    """Calls one hook on every callback in order."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.set_model(model)

    def __getattr__(self, hook):
        def call(*args, **kwargs):
            for callback in self.callbacks:
                getattr(callback, hook)(*args, **kwargs)
        return call


class History(Callback):
    """Records the logs of every epoch: ``history.history["loss"]`` is a list with one value per epoch.

    ``stopped_reason`` says why training ended early (interrupted, diverged), else None; ``diverged`` is
    True when it ended because a loss or an update became NaN or infinite (that batch's update undone).
    """

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.stopped_reason = None
        self.diverged = False
        self.params = {}                  # fit's {"epochs", "steps", "verbose"}, as Keras's History.params

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def format_logs(logs):
    return " - ".join(f"{key}: {value:.4g}" if key == "learning_rate" else f"{key}: {value:.4f}"
                      for key, value in logs.items())


class ProgressLogger(Callback):
    """Progress of fit(). verbose=1 on a terminal: a live tqdm bar during each epoch (batches done, elapsed
    and remaining time, samples/s, running loss and metrics), replaced at the end of the epoch by one
    complete line; verbose=1 elsewhere and verbose=2: that line only; verbose=0: nothing."""

    def __init__(self, epochs, steps, samples, verbose=1, stream=None):
        self.epochs, self.steps, self.samples, self.verbose = epochs, steps, samples, verbose
        self.stream = stream or sys.stdout
        self.bar = None

    def _title(self, epoch):
        return f"Epoch {epoch + 1:>{len(str(self.epochs))}}/{self.epochs}"

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        self.seen = 0
        if self.verbose == 1 and getattr(self.stream, "isatty", lambda: False)():
            from tqdm.auto import tqdm
            self.bar = tqdm(total=self.steps, desc=self._title(epoch), unit="batch", file=self.stream,
                            leave=False, dynamic_ncols=True,
                            bar_format="{desc} {bar:20} {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")

    def on_batch_end(self, batch, logs=None):
        self.seen += (logs or {}).get("size", 0)
        if self.bar is not None:
            rate = self.seen / max(time.perf_counter() - self.start, 1e-9)
            shown = {k: v for k, v in (logs or {}).items() if k != "size"}
            self.bar.set_postfix_str(f"{rate:,.0f} samples/s, {format_logs(shown)}", refresh=False)
            self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.start
        self._close_bar()
        if self.verbose:
            print(f"{self._title(epoch)} - {elapsed:.1f}s - {self.seen / max(elapsed, 1e-9):,.0f} samples/s - "
                  f"{format_logs(logs or {})}", file=self.stream, flush=True)

    def on_train_end(self, logs=None):
        self._close_bar()

    def _close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ---- monitoring a logged quantity -----------------------------------------------------------------
MAXIMIZED = ("acc", "auc", "precision", "recall", "f1")


def _check_mode(owner, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


def resolve_mode(monitor, mode):
    """'min' or 'max': mode itself, or for 'auto' 'max' when the name holds acc/auc/precision/recall/f1."""
    if mode != "auto":
        return mode
    return "max" if any(word in monitor for word in MAXIMIZED) else "min"


def monitored_value(owner, monitor, logs):
    """The monitored number from the epoch's logs; a clear error when fit did not log it."""
    logs = logs or {}
    if monitor not in logs:
        hint = " (pass validation_data or validation_split to fit)" if monitor.startswith("val_") else ""
        raise ValueError(f"{owner} monitors {monitor!r}, which this fit does not log{hint}; "
                         f"logged: {sorted(logs)}")
    return float(logs[monitor])


def _float_learning_rate(owner, optimizer):
    if optimizer is None:
        raise RuntimeError(f"{owner} needs a compiled model: call model.compile(...) first")
    if callable(optimizer.learning_rate):
        raise ValueError(f"{owner} sets the optimizer's learning rate, which is a schedule "
                         f"({type(optimizer.learning_rate).__name__}); use a float learning_rate with it")
    return float(optimizer.learning_rate)


class EarlyStopping(Callback):
    """Stop training when the monitored quantity has not improved for ``patience`` epochs (Keras's rules).

    Args:
        monitor: a key of the epoch logs, e.g. "val_loss" (default) or "val_accuracy".
        min_delta: an improvement must beat the best value by more than this.
        patience: epochs without improvement before stopping (0: stop at the first one).
        mode: "min", "max" or "auto" (max for accuracy-like names, min otherwise).
        baseline: the patience counter restarts only on values that also beat this.
        restore_best_weights: at the end of training, put back the weights of the best epoch.
        start_from_epoch: epochs of warm-up that are not monitored.

    After training, ``stopped_epoch`` (0-based; 0 if it never stopped) and ``best_epoch`` say what happened.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        self.monitor, self.min_delta, self.patience, self.verbose = monitor, abs(min_delta), patience, verbose
        self.mode = _check_mode("EarlyStopping", mode)
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch

    def _is_improvement(self, value, reference):
        if resolve_mode(self.monitor, self.mode) == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = math.inf if resolve_mode(self.monitor, self.mode) == "min" else -math.inf
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        current = monitored_value("EarlyStopping", self.monitor, logs)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) at the end of epochs.

    filepath may hold format fields filled from the epoch (from 1) and its logs, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.snn"``. With save_best_only a file is written only when the
    monitored value improves on the best seen (strictly; the first epoch always counts). Every file is
    written to a temporary name in the same folder and moved into place with os.replace, so a crash
    during a write leaves the previous checkpoint whole.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", initial_value_threshold=None):
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
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

    def _write(self, path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_file(path) as stream:
            (self.model.save_weights if self.save_weights_only else self.model.save)(stream)


class ReduceLROnPlateau(Callback):
    """Multiply ``model.optimizer.learning_rate`` by ``factor`` when the monitored quantity has not
    improved by more than ``min_delta`` for ``patience`` epochs; then wait ``cooldown`` epochs; never
    below ``min_lr`` (Keras's rules). The epoch logs get a "learning_rate" entry."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode = _check_mode("ReduceLROnPlateau", mode)
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.wait = self.cooldown_counter = 0
        self.best = math.inf if resolve_mode(self.monitor, self.mode) == "min" else -math.inf

    def _is_improvement(self, value):
        if resolve_mode(self.monitor, self.mode) == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        lr = _float_learning_rate("ReduceLROnPlateau", self.model.optimizer)
        logs["learning_rate"] = lr
        current = monitored_value("ReduceLROnPlateau", self.monitor, logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and lr > self.min_lr:
                new_lr = max(lr * self.factor, self.min_lr)
                self.model.optimizer.learning_rate = new_lr
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr:.4g}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set ``model.optimizer.learning_rate = schedule(epoch, lr)`` (or ``schedule(epoch)``) before each epoch.

    epoch counts from 0, as in Keras; the epoch logs get a "learning_rate" entry.
    """

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler expected a function schedule(epoch, lr), got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose
        self.takes_lr = len(inspect.signature(schedule).parameters) >= 2

    def on_epoch_begin(self, epoch, logs=None):
        lr = _float_learning_rate("LearningRateScheduler", self.model.optimizer)
        new_lr = self.schedule(epoch, lr) if self.takes_lr else self.schedule(epoch)
        if isinstance(new_lr, bool) or not isinstance(new_lr, (int, float)) or not math.isfinite(new_lr) \
                or new_lr <= 0:
            raise ValueError(f"LearningRateScheduler: the schedule must return a positive float, "
                             f"got {new_lr!r} at epoch {epoch}")
        self.model.optimizer.learning_rate = float(new_lr)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new_lr):.4g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch + 1}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


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


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    on_epoch_begin/end and on_batch_begin/end take (index, logs); on_train_begin/end take (logs).
    """

    HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end")

    def __init__(self, **hooks):
        unknown = sorted(set(hooks) - set(self.HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback got unknown hooks {unknown}; valid: {list(self.HOOKS)}")
        for name, function in hooks.items():
            if function is None:
                continue
            if name in ("on_train_begin", "on_train_end"):
                setattr(self, name, lambda logs=None, function=function: function(logs))
            else:
                setattr(self, name, lambda index, logs=None, function=function: function(index, logs))
