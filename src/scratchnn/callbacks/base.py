"""The callback contract, the list fit() calls, History, the progress line and LambdaCallback."""
import sys
import time


class Callback:
    """The base class: every hook does nothing; a subclass overrides the ones it needs.

    ``runs_last = True`` puts a callback after every other one (History included) in fit's list, so that it
    sees the state each epoch ends in (BackupAndRestore)."""

    runs_last = False

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass


class CallbackList:
    """Calls one hook on every callback in order (those with ``runs_last`` after the others)."""

    def __init__(self, callbacks, model):
        self.callbacks = sorted(callbacks, key=lambda callback: getattr(callback, "runs_last", False))
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
            known = "{desc} {bar:20} {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
            unknown = "{desc} {n_fmt} batches [{elapsed}{postfix}]"      # a stream of unknown length
            self.bar = tqdm(total=self.steps, desc=self._title(epoch), unit="batch", file=self.stream,
                            leave=False, dynamic_ncols=True, bar_format=unknown if self.steps is None else known)

    def on_batch_end(self, batch, logs=None):
        self.seen += (logs or {}).get("size", 0)
        if self.bar is not None:
            rate = self.seen / max(time.perf_counter() - self.start, 1e-9)
            shown = {k: v for k, v in (logs or {}).items() if k != "size"}
            self.bar.set_postfix_str(f"{rate:,.0f} samples/s, {format_logs(shown)}", refresh=False)
            self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.start
        if self.steps is None and self.bar is not None:
            self.steps = self.bar.n                 # as Keras: a stream's first pass gives the next bars' total
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
