"""Callbacks: hooks that fit() calls around epochs and batches (Keras's names and order).

on_train_begin, (on_epoch_begin, (on_batch_begin, on_batch_end)*, on_epoch_end)*, on_train_end.
A callback may set ``model.stop_training = True`` to end training after the current batch or epoch.
"""
import sys
import time


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
    """Records the logs of every epoch: ``history.history["loss"]`` is a list with one value per epoch."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.stopped_reason = None

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def format_logs(logs):
    return " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())


class ProgressLogger(Callback):
    """Progress of fit(): verbose=1 a live tqdm bar per epoch (one plain line when stdout is not a
    terminal), verbose=2 one line per epoch, verbose=0 nothing."""

    def __init__(self, epochs, steps, samples, verbose=1, stream=None):
        self.epochs, self.steps, self.samples, self.verbose = epochs, steps, samples, verbose
        self.stream = stream or sys.stdout
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        self.seen = 0
        live = self.verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        if live:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}", unit="batch",
                            file=self.stream, leave=True, dynamic_ncols=True)

    def on_batch_end(self, batch, logs=None):
        self.seen += (logs or {}).get("size", 0)
        if self.bar is not None:
            rate = self.seen / max(time.perf_counter() - self.start, 1e-9)
            shown = {k: f"{v:.4f}" for k, v in (logs or {}).items() if k != "size"}
            self.bar.set_postfix(shown | {"samples/s": f"{rate:,.0f}"}, refresh=False)
            self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.start
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs or {}))
            self.bar.close()
            self.bar = None
        elif self.verbose:
            rate = self.seen / max(elapsed, 1e-9)
            print(f"Epoch {epoch + 1}/{self.epochs} - {elapsed:.1f}s - {rate:,.0f} samples/s - "
                  f"{format_logs(logs or {})}", file=self.stream, flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
