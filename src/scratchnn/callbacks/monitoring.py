"""Callbacks that watch a logged quantity or set the learning rate: EarlyStopping, ReduceLROnPlateau,
LearningRateScheduler, TerminateOnNaN, and the helpers that read a monitored value and its direction."""
import inspect
import math

from .base import Callback

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
