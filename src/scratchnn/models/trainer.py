"""The Trainer: compile, fit, evaluate, predict, apart from the model's structure (Keras's split).

A model class mixes this in and provides ``forward``, ``backward``, ``parameters``, ``zero_grad``,
``clear_cache``, ``regularization_loss``, ``unique_layers``, ``output_shape`` and ``rng``. One training step is
``compute_gradients(x, y) -> (loss, grads)`` then ``apply_gradients(grads)``: the seam a data-parallel
worker overrides (it averages the gradients of every worker before applying them).

Data is one array, or (for a model of several inputs or outputs) a list of arrays in the model's order: a
batch of it is ``_rows(data, index)`` (data_args.py: the data arguments, and the feeds that cut arrays or a
``scratchnn.data.Dataset`` into batches). A model of several inputs or outputs turns the lists and dicts a user
passes into that order (``_arrange_inputs`` / ``_arrange_targets``), builds its loss (``_make_loss``) and
metrics, and puts predictions back into the user's structure (``_join_batches``).
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import warnings

import numpy as np

from .. import losses, metrics as metrics_module, optim
from ..backend import namespace, shared_work
from ..callbacks import CallbackList, History, ProgressLogger
from ..validation import check_positive_int
from .data_args import (ArrayFeed, StreamFeed, _callback_list, _finite, _length, _rows, _sample_weights,
                        _validation_tuple, as_stream, stream_batches)


class Trainer:
    """compile / fit / evaluate / predict / train_on_batch / train_step for a model (mixed into it)."""

    loss = None
    optimizer = None
    metric_names: list = []
    stop_training = False

    def compile(self, loss, optimizer="sgd", metrics=None, from_logits=False, loss_weights=None) -> None:
        """Choose the loss (name or Loss), the optimizer (name or Optimizer) and the metric names.

        A model of several outputs takes one loss per output (a list in output order or a dict by output
        name; one loss is used for every output), ``loss_weights`` (list or dict; the loss is
        sum_k w_k loss_k), and metrics as a list (each output) or a dict by output name."""
        self.loss = self._make_loss(loss, from_logits, loss_weights)
        self.optimizer = optim.get(optimizer)
        self.metric_names = metrics_module.checked(metrics)     # unknown names fail here; functions wrapped

    def _make_loss(self, loss, from_logits, loss_weights):
        if loss_weights is not None:
            raise ValueError("compile: loss_weights applies to a model of several outputs; this one has one")
        return losses.get(loss, from_logits=from_logits)

    def _make_metrics(self):
        from_logits = getattr(self.loss, "from_logits", False)
        out_dim = self.output_shape[-1] if self.output_shape else None
        return [metrics_module.get(m, output_dim=out_dim, from_logits=from_logits) for m in self.metric_names]

    def _fused_output(self):
        """The final layer whose input (logits) the loss reads instead of its output, or None (Sequential's)."""
        return None

    def _inference_loss(self, x, y, sample_weight):
        """(loss, outputs) of one batch in inference mode; a fused final layer's input goes to the loss as its
        logits (handed back by forward, nothing recorded: evaluate stays safe from several threads)."""
        y = self._on_device(y)                          # the targets join the outputs on the model's device
        if self._fused_output() is None:
            y_pred = self.forward(x, training=False)
            return self.loss.forward(y_pred, y, sample_weight), y_pred
        y_pred, logits = self.forward(x, training=False, with_last_input=True)
        return self.loss.forward(y_pred, y, sample_weight, logits=logits), y_pred

    def _require_compiled(self, method):
        if self.loss is None:
            raise RuntimeError(f"{method}() needs a loss: call model.compile(loss=..., optimizer=...) first")

    # ---- one step ------------------------------------------------------------------------------
    def _forward_backward(self, x, y, sample_weight=None):
        """Loss (with penalties), gradients (one per parameter, in parameters() order) and outputs."""
        self.clear_cache()                              # nothing left over from a forward without backward
        self.zero_grad()
        y = self._on_device(y)                          # the targets join the outputs on the model's device
        head = self._fused_output()
        if head is None:
            y_pred = self.forward(x, training=True)
            loss = self.loss.forward(y_pred, y, sample_weight)
            self.backward(self.loss.backward(), input_grad=False)
        else:                                           # the loss reads the head's input: dL/dz goes below it
            y_pred, logits = self.forward(x, training=True, with_last_input=True)
            head.recall()                               # the head's backward is skipped: its record goes
            loss = self.loss.forward(y_pred, y, sample_weight, logits=logits)
            self.backward(self.loss.backward(), input_grad=False, skip_output=True)
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
        if math.isfinite(loss):             # the step shares the cores as the batch's passes did (BLAS at one
            with shared_work(_length(y_pred) * self._widest):   # thread beside scratchnn's own, or all BLAS's)
                self.apply_gradients(grads)  # rolled back if it made a weight NaN/inf (optimizer.last_step_finite)
        return loss, y_pred

    def train_on_batch(self, x, y, sample_weight=None) -> float:
        """One training step on one batch; returns the batch loss (with penalties)."""
        self._require_compiled("train_on_batch")
        return self.train_step(x, y, sample_weight)[0]

    # ---- fit -------------------------------------------------------------------------------------
    def fit(self, x, y=None, epochs=1, batch_size=None, shuffle=True, validation_data=None, validation_split=0.0,
            verbose=1, callbacks=None, initial_epoch=0, sample_weight=None, class_weight=None,
            strategy=None, steps_per_epoch=None, validation_steps=None) -> History:
        """Train for ``epochs`` passes over (x, y) in mini-batches (32 unless ``batch_size``); returns a History.

        Labels may be integers or one-hot. ``validation_split`` holds out the last fraction of the data
        (as Keras). Ctrl-C stops after the current batch and returns the history so far.

        x may instead be a batched ``scratchnn.data.Dataset`` or a generator yielding (x, y) or
        (x, y, sample_weight) batches (y omitted; the Dataset's own order, so ``shuffle`` is not used).
        ``steps_per_epoch`` makes an epoch that many batches, continuing the data across epochs (arrays:
        a new shuffled pass when one is used up; a stream that runs out ends the epoch); a generator
        object, which has no length, needs it. ``validation_data`` may be a Dataset too, read for at most
        ``validation_steps`` batches.
        """
        self._require_compiled("fit")
        stream = as_stream(x, y, "fit", batch_size=batch_size, sample_weight=sample_weight,
                           validation_split=validation_split or None)
        batch_size = 32 if batch_size is None else batch_size
        if strategy is not None:            # e.g. scratchnn.distributed.RayStrategy: the same fit on W workers
            if stream is not None or steps_per_epoch is not None:
                raise ValueError("fit: a strategy takes arrays or .npy file names and whole epochs; pass those "
                                 "instead of a Dataset or steps_per_epoch")
            return strategy.fit(self, x, y, epochs, batch_size, shuffle, validation_data, validation_split,
                                verbose, callbacks, initial_epoch, sample_weight, class_weight)
        epochs = check_positive_int("epochs", epochs, "fit")
        if steps_per_epoch is not None:
            steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch, "fit")
        validation_data = _validation_tuple(validation_data)
        callbacks = _callback_list(callbacks)
        if stream is None:
            feed, validation_data = self._array_feed(x, y, batch_size, shuffle, validation_data, validation_split,
                                                     sample_weight, class_weight, steps_per_epoch)
        else:
            feed = StreamFeed(self, stream, "fit", steps_per_epoch, class_weight)
        history = History()
        history.params = {"epochs": epochs, "steps": feed.steps, "verbose": verbose}          # as Keras
        progress = ProgressLogger(epochs, feed.steps, feed.samples, verbose)
        cbs = CallbackList([*callbacks, history, progress], self)
        train_metrics = self._make_metrics()
        self.stop_training = False
        self.history = history
        with _StopOnSigint(self.optimizer) as sigint, contextlib.closing(feed):     # a prefetch thread stops
            try:
                cbs.on_train_begin()
                initial_epoch = self.__dict__.pop("_initial_epoch", initial_epoch)   # set by BackupAndRestore
                for epoch in range(initial_epoch, epochs):
                    cbs.on_epoch_begin(epoch)
                    logs = self._train_epoch(feed, train_metrics, cbs, epoch, history, sigint)
                    if logs is None:
                        break
                    if isinstance(validation_data, tuple):
                        xv, yv, wv = validation_data
                        val = self.evaluate(xv, yv, batch_size=max(batch_size, 256), sample_weight=wv)
                        logs.update({f"val_{k}": v for k, v in val.items()})
                    elif validation_data is not None:
                        val = self.evaluate(validation_data, steps=validation_steps)
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

    def _array_feed(self, x, y, batch_size, shuffle, validation_data, validation_split, sample_weight,
                    class_weight, steps_per_epoch):
        """fit's arrays checked, the validation rows split off -> (ArrayFeed, validation_data)."""
        batch_size = check_positive_int("batch_size", batch_size, "fit")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
        if y is None:
            raise ValueError("fit: y is missing: pass fit(x, y) with arrays, or a Dataset or generator that "
                             "yields (x, y) batches as x")
        x, y = self._check_data(x, y, "fit")
        if validation_split and validation_data is None:
            split = int(_length(x) * (1 - validation_split))
            head, tail = slice(None, split), slice(split, None)
            x, xv, y, yv = _rows(x, head), _rows(x, tail), _rows(y, head), _rows(y, tail)
            validation_data = (xv, yv, None if sample_weight is None else np.asarray(sample_weight)[split:])
            sample_weight = None if sample_weight is None else np.asarray(sample_weight)[:split]
        weights = _sample_weights(y, sample_weight, class_weight)
        self._as_input(_rows(x, slice(0, 1)))
        return ArrayFeed(x, y, weights, batch_size, shuffle, self.rng, steps_per_epoch), validation_data

    def _train_epoch(self, feed, train_metrics, cbs, epoch, history, sigint):
        for metric in train_metrics:
            metric.reset()
        loss_sum, seen = 0.0, 0
        batches = feed.epoch()
        for batch, (xb, yb, wb) in enumerate(batches):
            cbs.on_batch_begin(batch)
            loss, y_pred = self.train_step(xb, yb, wb)
            finite_step = getattr(self.optimizer, "last_step_finite", True)
            if not np.isfinite(loss) or not finite_step:
                history.stopped_reason = (f"loss became {loss} at epoch {epoch + 1}, batch {batch + 1}: "
                                          "training stopped without that batch's update "
                                          "(lower the learning rate?)") if not np.isfinite(loss) else (
                    f"the update of epoch {epoch + 1}, batch {batch + 1} made weights NaN or infinite: it was "
                    "rolled back and training stopped (lower the learning rate?)")
                history.diverged = True
                warnings.warn(history.stopped_reason, RuntimeWarning, stacklevel=3)
                self.stop_training = True
                return None
            rows = _length(xb)
            loss_sum += loss * rows
            seen += rows
            host_pred = self._to_host(y_pred) if train_metrics else None      # metrics add up on the host
            for metric in train_metrics:
                metric.update(yb, host_pred, wb)
            cbs.on_batch_end(batch, {"loss": loss_sum / seen, **{m.name: m.result() for m in train_metrics},
                                     "size": rows})
            if self.stop_training or sigint.hit:
                batches.close()
                if sigint.hit:
                    raise KeyboardInterrupt
                break
        if seen == 0:
            history.stopped_reason = (f"the data ran out at epoch {epoch + 1}: it gave no batch (a generator "
                                      "object runs once: give Dataset.from_generator a function that makes "
                                      "it, or lower epochs or steps_per_epoch)")
            warnings.warn(history.stopped_reason, RuntimeWarning, stacklevel=3)
            return None
        return {"loss": loss_sum / seen, **{m.name: m.result() for m in train_metrics}}

    # ---- inference -------------------------------------------------------------------------------
    def evaluate(self, x, y=None, batch_size=None, sample_weight=None, verbose=0, return_dict=True, steps=None):
        """Loss and metrics over (x, y) in inference mode, in batches of 256 unless ``batch_size`` ->
        {"loss": ..., "accuracy": ...}. x may be a batched Dataset or a generator of (x, y[, w]) batches
        instead (y omitted); ``steps`` reads at most that many batches.

        ``return_dict=False`` gives Keras's other form: the values as a list, the loss first."""
        self._require_compiled("evaluate")
        stream = as_stream(x, y, "evaluate", batch_size=batch_size, sample_weight=sample_weight)
        steps = None if steps is None else check_positive_int("steps", steps, "evaluate")
        if stream is None:
            batch_size = check_positive_int("batch_size", 256 if batch_size is None else batch_size, "evaluate")
            if y is None:
                raise ValueError("evaluate: y is missing: pass evaluate(x, y) with arrays, or a Dataset or "
                                 "generator that yields (x, y) batches as x")
            x, y = self._check_data(x, y, "evaluate")
            weights = None if sample_weight is None else np.asarray(sample_weight)
            batches = ((_rows(x, sl), _rows(y, sl), None if weights is None else weights[sl])
                       for sl in _slices(_length(x), batch_size, steps))
        else:
            batches = stream_batches(self, stream, "evaluate", steps)
        evaluators = self._make_metrics()
        total, count = 0.0, 0
        for xb, yb, wb in batches:
            loss, y_pred = self._inference_loss(xb, yb, wb)
            rows = _length(xb)
            total += loss * rows                                             # weighted sum, divided by N
            count += rows                                                    # as in fit (and Keras)
            host_pred = self._to_host(y_pred) if evaluators else None         # metrics add up on the host
            for metric in evaluators:
                metric.update(yb, host_pred, wb)
        if count == 0:
            raise ValueError("evaluate: the data gave no batch (an exhausted generator?): pass data that yields "
                             "at least one (x, y) batch")
        results = {"loss": total / count + self.regularization_loss()}
        results.update({m.name: m.result() for m in evaluators})
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in results.items()))
        return results if return_dict else list(results.values())

    def test_on_batch(self, x, y, sample_weight=None, return_dict=True):
        """evaluate() of one batch, as Keras's test_on_batch."""
        return self.evaluate(x, y, batch_size=max(1, _length(self._arrange_inputs(x, "test_on_batch"))),
                             sample_weight=sample_weight, return_dict=return_dict)

    def predict_on_batch(self, x):
        """predict() of one batch in one forward pass, as Keras's predict_on_batch."""
        return self.predict(x, batch_size=max(1, _length(self._arrange_inputs(x, "predict_on_batch"))))

    def predict(self, x, batch_size=None, verbose=0, steps=None, to_numpy=True):
        """Outputs for x, computed in batches (of 256 unless ``batch_size``) in inference mode (records
        nothing; safe from several threads). x may be a batched Dataset or a generator of batches (x, or
        tuples whose first item is x); ``steps`` reads at most that many batches.

        The result is NumPy on the host; ``to_numpy=False`` keeps it on the model's device (a CuPy array on
        the GPU). ``verbose`` is accepted for Keras's signature; predict prints nothing."""
        stream = as_stream(x, None, "predict", batch_size=batch_size)
        steps = None if steps is None else check_positive_int("steps", steps, "predict")
        if stream is not None:
            batches = stream_batches(self, stream, "predict", steps, with_targets=False)
            return self._join_batches([self._output(xb, to_numpy) for xb, _, _ in batches])
        batch_size = check_positive_int("batch_size", 256 if batch_size is None else batch_size, "predict")
        x = _finite(self._arrange_inputs(x, "predict"), "predict")
        outputs = [self._output(_rows(x, sl), to_numpy) for sl in _slices(_length(x), batch_size, steps)]
        return self._join_batches(outputs)

    def _output(self, xb, to_numpy):
        """One batch's outputs in inference mode, on the host when ``to_numpy``."""
        y_pred = self.forward(xb)
        return self._to_host(y_pred) if to_numpy else y_pred

    # ---- data: one array, or a list of arrays in the model's order -------------------------------------------
    def _arrange_inputs(self, x, method):
        return x

    def _arrange_targets(self, y, method):
        return y

    def _join_batches(self, outputs):
        """The predictions of every batch as one array (a model of several outputs: in its structure)."""
        if not outputs:
            return np.zeros((0, *self.output_shape), dtype=self.dtype)
        return namespace(*outputs).concatenate(outputs)

    def _check_data(self, x, y, method):
        x = _finite(self._arrange_inputs(x, method), method)
        y = self._arrange_targets(y, method)
        y = [np.asarray(a) for a in y] if isinstance(y, list) else np.asarray(y)
        lengths = [len(a) for a in (x if isinstance(x, list) else [x]) + (y if isinstance(y, list) else [y])]
        if len(set(lengths)) > 1:
            raise ValueError(f"{method}: x and y must have the same number of samples, got "
                             f"{' and '.join(map(str, lengths))}")
        if _length(x) == 0:
            raise ValueError(f"{method}: got an empty dataset")
        _finite(y, method + " (labels)")
        return x, y


def _slices(rows, batch_size, steps=None):
    """The slices of consecutive batches of ``rows`` rows, at most ``steps`` of them."""
    stop = rows if steps is None else min(rows, steps * batch_size)
    return [slice(start, start + batch_size) for start in range(0, stop, batch_size)]


class _StopOnSigint:
    """While fit runs, Ctrl-C sets a flag checked after each batch instead of raising mid-update.

    A second Ctrl-C raises KeyboardInterrupt at once, except during the optimizer's step (``stepping``),
    which it lets finish: the batch ends either wholly applied or not at all, never half-way."""

    def __init__(self, optimizer=None):
        self.optimizer = optimizer

    def __enter__(self):
        self.hit = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.hit and not getattr(self.optimizer, "stepping", False):     # a second Ctrl-C: at once
            raise KeyboardInterrupt
        self.hit = True                     # (during a step, the loop raises once the step is done)

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False
