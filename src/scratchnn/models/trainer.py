"""The Trainer: compile, fit, evaluate, predict, apart from the model's structure (Keras's split).

A model class mixes this in and provides ``forward``, ``backward``, ``parameters``, ``zero_grad``,
``clear_cache``, ``regularization_loss``, ``unique_layers``, ``output_shape`` and ``rng``. One training step is
``compute_gradients(x, y) -> (loss, grads)`` then ``apply_gradients(grads)``: the seam a data-parallel
worker overrides (it averages the gradients of every worker before applying them).
"""
from __future__ import annotations

import signal
import threading
import warnings

import numpy as np

from .. import losses, metrics as metrics_module, optim
from ..callbacks import CallbackList, History, ProgressLogger
from ..validation import check_finite_array, check_positive_int


class Trainer:
    """compile / fit / evaluate / predict / train_on_batch / train_step for a model (mixed into it)."""

    loss = None
    optimizer = None
    metric_names: list = []
    stop_training = False

    def compile(self, loss, optimizer="sgd", metrics=None, from_logits=False) -> None:
        """Choose the loss (name or Loss), the optimizer (name or Optimizer) and the metric names."""
        self.loss = losses.get(loss, from_logits=from_logits)
        self.optimizer = optim.get(optimizer)
        self.metric_names = list(metrics or [])

    def _make_metrics(self):
        from_logits = getattr(self.loss, "from_logits", False)
        out_dim = self.output_shape[-1] if self.output_shape else None
        return [metrics_module.get(m, output_dim=out_dim, from_logits=from_logits) for m in self.metric_names]

    def _require_compiled(self, method):
        if self.loss is None:
            raise RuntimeError(f"{method}() needs a loss: call model.compile(loss=..., optimizer=...) first")

    # ---- one step ------------------------------------------------------------------------------
    def _forward_backward(self, x, y, sample_weight=None):
        """Loss (with penalties), gradients (one per parameter, in parameters() order) and outputs."""
        self.clear_cache()                              # nothing left over from a forward without backward
        self.zero_grad()
        y_pred = self.forward(x, training=True)
        loss = self.loss.forward(y_pred, y, sample_weight)
        self.backward(self.loss.backward(), input_grad=False)
        for layer in self.unique_layers():
            layer.settle_grads()
            if layer.regularizers and layer.trainable:
                layer.add_regularization_grads()
        loss += self.regularization_loss()
        return loss, [grad for _, grad in self.parameters()], y_pred

    def compute_gradients(self, x, y, sample_weight=None):
        """(loss, grads) for one batch: grads[i] is dLoss/dparam for the i-th of ``parameters()``."""
        self._require_compiled("compute_gradients")
        loss, grads, _ = self._forward_backward(x, y, sample_weight)
        return loss, grads

    def apply_gradients(self, grads) -> None:
        """One optimizer step with these gradients (in ``parameters()`` order)."""
        params = [param for param, _ in self.parameters()]
        if len(grads) != len(params):
            raise ValueError(f"apply_gradients expected {len(params)} gradients, got {len(grads)}")
        self.optimizer.step(list(zip(params, grads)))

    def train_step(self, x, y, sample_weight=None):
        """Forward, backward and one optimizer step -> (loss, outputs). A NaN/inf loss changes no weight."""
        loss, grads, y_pred = self._forward_backward(x, y, sample_weight)
        if np.isfinite(loss):
            self.apply_gradients(grads)
        return loss, y_pred

    def train_on_batch(self, x, y, sample_weight=None) -> float:
        """One training step on one batch; returns the batch loss (with penalties)."""
        self._require_compiled("train_on_batch")
        return self.train_step(x, y, sample_weight)[0]

    # ---- fit -------------------------------------------------------------------------------------
    def fit(self, x, y, epochs=1, batch_size=32, shuffle=True, validation_data=None, validation_split=0.0,
            verbose=1, callbacks=None, initial_epoch=0, sample_weight=None, class_weight=None) -> History:
        """Train for ``epochs`` passes over (x, y) in mini-batches; returns a History.

        Labels may be integers or one-hot. ``validation_split`` holds out the last fraction of the data
        (as Keras). Ctrl-C stops after the current batch and returns the history so far.
        """
        self._require_compiled("fit")
        epochs = check_positive_int("epochs", epochs, "fit")
        batch_size = check_positive_int("batch_size", batch_size, "fit")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
        x, y = _check_data(x, y, "fit")
        if validation_split and validation_data is None:
            split = int(len(x) * (1 - validation_split))
            x, xv, y, yv = x[:split], x[split:], y[:split], y[split:]
            validation_data = (xv, yv)
            sample_weight = None if sample_weight is None else np.asarray(sample_weight)[:split]
        weights = _sample_weights(y, sample_weight, class_weight)
        self._as_input(x[:1])
        history = History()
        steps = -(-len(x) // batch_size)
        progress = ProgressLogger(epochs, steps, len(x), verbose)
        cbs = CallbackList([*(callbacks or []), history, progress], self)
        train_metrics = self._make_metrics()
        self.stop_training = False
        self.history = history
        with _StopOnSigint() as sigint:
            try:
                cbs.on_train_begin()
                for epoch in range(initial_epoch, epochs):
                    cbs.on_epoch_begin(epoch)
                    logs = self._train_epoch(x, y, weights, batch_size, shuffle, train_metrics, cbs,
                                             epoch, history, sigint)
                    if logs is None:
                        break
                    if validation_data is not None:
                        val = self.evaluate(*validation_data, batch_size=max(batch_size, 256))
                        logs.update({f"val_{k}": v for k, v in val.items()})
                    cbs.on_epoch_end(epoch, logs)
                    if self.stop_training:
                        break
            except KeyboardInterrupt:
                sigint.hit = True
            if sigint.hit:
                history.stopped_reason = (f"interrupted by the user after {len(history.epoch)} complete "
                                          "epoch(s); weights are those of the last completed batch")
                warnings.warn(history.stopped_reason, RuntimeWarning, stacklevel=2)
            cbs.on_train_end()
        self.clear_cache()
        return history

    def _train_epoch(self, x, y, weights, batch_size, shuffle, train_metrics, cbs, epoch, history, sigint):
        order = self.rng.permutation(len(x)) if shuffle else None         # None: plain slices, no copies
        for metric in train_metrics:
            metric.reset()
        loss_sum, seen = 0.0, 0
        for batch, start in enumerate(range(0, len(x), batch_size)):
            idx = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
            cbs.on_batch_begin(batch)
            xb, yb = x[idx], y[idx]
            wb = None if weights is None else weights[idx]
            loss, y_pred = self.train_step(xb, yb, wb)
            if not np.isfinite(loss):
                history.stopped_reason = (f"loss became {loss} at epoch {epoch + 1}, batch {batch + 1}: "
                                          "training stopped without that batch's update "
                                          "(lower the learning rate?)")
                warnings.warn(history.stopped_reason, RuntimeWarning, stacklevel=3)
                self.stop_training = True
                return None
            loss_sum += loss * len(xb)
            seen += len(xb)
            for metric in train_metrics:
                metric.update(yb, y_pred, wb)
            cbs.on_batch_end(batch, {"loss": loss_sum / seen, **{m.name: m.result() for m in train_metrics},
                                     "size": len(xb)})
            if self.stop_training or sigint.hit:
                if sigint.hit:
                    raise KeyboardInterrupt
                break
        return {"loss": loss_sum / seen, **{m.name: m.result() for m in train_metrics}}

    # ---- inference -------------------------------------------------------------------------------
    def evaluate(self, x, y, batch_size=256, sample_weight=None, verbose=0) -> dict:
        """Loss and metrics over (x, y) in inference mode -> {"loss": ..., "accuracy": ...}."""
        self._require_compiled("evaluate")
        batch_size = check_positive_int("batch_size", batch_size, "evaluate")
        x, y = _check_data(x, y, "evaluate")
        evaluators = self._make_metrics()
        total, count = 0.0, 0
        for start in range(0, len(x), batch_size):
            sl = slice(start, start + batch_size)
            wb = None if sample_weight is None else np.asarray(sample_weight)[sl]
            y_pred = self.forward(x[sl], training=False)
            total += self.loss.forward(y_pred, y[sl], wb) * len(y_pred)     # weighted sum, divided by N
            count += len(y_pred)                                             # as in fit (and Keras)
            for metric in evaluators:
                metric.update(y[sl], y_pred, wb)
        results = {"loss": total / count + self.regularization_loss()}
        results.update({m.name: m.result() for m in evaluators})
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in results.items()))
        return results

    def predict(self, x, batch_size=256):
        """Outputs for x, computed in batches in inference mode (records nothing; safe from several threads)."""
        batch_size = check_positive_int("batch_size", batch_size, "predict")
        x = check_finite_array(x, "predict")
        outputs = [self.forward(x[start:start + batch_size]) for start in range(0, len(x), batch_size)]
        if not outputs:
            return np.zeros((0, *self.output_shape), dtype=self.dtype)
        return np.concatenate(outputs)


def _check_data(x, y, method):
    x = check_finite_array(x, method)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{method}: x and y must have the same number of samples, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError(f"{method}: got an empty dataset")
    check_finite_array(y, method + " (labels)")
    return x, y


def _sample_weights(y, sample_weight, class_weight):
    """Per-sample weights from sample_weight and/or class_weight ({class: weight}); None if neither."""
    from ..labels import class_indices
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(-1)
    if weights is not None and len(weights) != len(y):
        raise ValueError(f"fit: sample_weight must have one value per sample ({len(y)}), got {len(weights)}")
    if class_weight:
        labels = class_indices(y, "fit (labels for class_weight)")
        per_class = np.array([class_weight.get(int(c), 1.0) for c in labels], dtype=float)
        weights = per_class if weights is None else weights * per_class
    return weights


class _StopOnSigint:
    """While fit runs, Ctrl-C sets a flag checked after each batch instead of raising mid-update."""

    def __enter__(self):
        self.hit = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.hit:                        # a second Ctrl-C interrupts at once
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False
