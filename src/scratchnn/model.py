"""Sequential: a stack of layers with build, compile, fit, evaluate, predict and summary."""
import signal
import threading
import warnings

import numpy as np

from . import backend, losses, metrics as metrics_module, optim
from .callbacks import CallbackList, History, ProgressLogger
from .layers import activations, pooling
from .layers.base import LAYERS, Layer, check_positive_int, shape_str


class Sequential:
    """Layers applied in order; the output of one is the input of the next (seed 004's Network).

    Args:
        layers: list of Layer objects (``Dense(..., activation="relu")`` adds its activation as a
            layer of its own).
        input_shape: shape of one sample, e.g. ``(784,)`` or ``(28, 28, 1)``; without it the model
            builds on the first batch it sees.
        seed: int or ``numpy.random.Generator``; one seed makes initialisation, shuffling and
            dropout reproducible.
        dtype: ``"float32"`` (default) or ``"float64"``.
    """

    def __init__(self, layers=None, input_shape=None, seed=None, dtype=None, name=None):
        self.layers = []
        self.name = name or "sequential"
        self.dtype = backend.as_dtype(dtype)
        self.seed = seed if isinstance(seed, (int, np.integer)) else None
        self.rng = backend.make_rng(seed)
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.built = False
        self.loss = self.optimizer = None
        self.metric_names = []
        self.stop_training = False
        for layer in layers or []:
            self.add(layer)
        if self.input_shape is not None:
            self.build(self.input_shape)

    # ---- structure -------------------------------------------------------------------------
    def add(self, layer):
        """Append a layer (and, for ``activation=...`` shorthand, its activation layer)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expected a Layer, got {type(layer).__name__}")
        activation = getattr(layer, "activation", None)
        if activation is not None:
            layer.activation = None
        self.layers.append(layer)
        if activation is not None and activation != "linear":
            self.layers.append(activations.get(activation))
        if self.built:
            self.built = False
            self.build(self.input_shape)

    def build(self, input_shape):
        """Build every layer for samples of shape input_shape (the batch axis excluded)."""
        shape = tuple(int(d) for d in input_shape)
        self.input_shape = shape
        for layer in self.layers:
            if not layer.built:
                if layer.dtype is None:
                    layer.dtype = self.dtype
                shape = layer.build(shape, self.rng)
            else:
                shape = layer.output_shape
        self.output_shape = shape
        self._widest = max(int(np.prod(layer.output_shape)) for layer in self.layers) if self.layers else 0
        self._order = execution_order(self.layers)
        self.built = True

    def parameters(self):
        """(param, grad) pairs of every layer, in a fixed order (what an optimizer steps over)."""
        return [(layer.params[k], layer.grads[k]) for layer in self.layers for k in layer.params]

    def named_parameters(self):
        return [(f"{i}.{type(layer).__name__}.{k}", layer.params[k])
                for i, layer in enumerate(self.layers) for k in layer.params]

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    # ---- forward and backward ----------------------------------------------------------------
    def forward(self, x, training=False):
        x = self._as_input(x)
        self._order = execution_order(self.layers)                     # backward follows the same order
        with backend.shared_work(len(x) * self._widest):
            for i in self._order:
                x = self.layers[i].forward(x, training=training)
        return x

    def backward(self, grad_out, input_grad=True):
        """Propagate dLoss/dy back through every layer; returns dLoss/dx (None if not input_grad)."""
        with backend.shared_work(len(grad_out) * self._widest):
            for k in range(len(self._order) - 1, -1, -1):
                grad_out = self.layers[self._order[k]].backward(grad_out, input_grad=input_grad or k > 0)
        return grad_out if input_grad else None

    def _as_input(self, x):
        x = np.asarray(x)
        if not self.built:
            self.build(x.shape[1:])
        if tuple(x.shape[1:]) != self.input_shape:
            hint = self.layers[0].shape_hint(x.shape[1:]) if self.layers else ""
            if x.ndim == len(self.input_shape) and self.input_shape[-1] == 1:
                hint = ": add a channel axis, x[..., None]"
            raise ValueError(f"{self.name} expected input of shape {shape_str(self.input_shape)}, "
                             f"got {shape_str(x.shape[1:])}{hint}")
        return x.astype(self.dtype, copy=False)

    # ---- training ------------------------------------------------------------------------------
    def compile(self, loss, optimizer="sgd", metrics=None, from_logits=False):
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

    def regularization_loss(self):
        return sum(layer.regularization_loss() for layer in self.layers if layer.regularizers)

    def train_on_batch(self, x, y, sample_weight=None):
        """One forward, backward and optimizer step; returns the batch loss (with penalties)."""
        return self._train_step(x, y, sample_weight)[0]

    def _train_step(self, x, y, sample_weight):
        y_pred = self.forward(x, training=True)
        loss = self.loss.forward(y_pred, y, sample_weight)
        self.backward(self.loss.backward(), input_grad=False)
        for layer in self.layers:
            if layer.regularizers:
                layer.add_regularization_grads()
        loss += self.regularization_loss()
        if np.isfinite(loss):                   # a NaN/inf loss leaves the weights as they were
            self.optimizer.step(self.parameters())
        return loss, y_pred

    def fit(self, x, y, epochs=1, batch_size=32, shuffle=True, validation_data=None, validation_split=0.0,
            verbose=1, callbacks=None, initial_epoch=0, sample_weight=None, class_weight=None):
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
        return history

    def _train_epoch(self, x, y, weights, batch_size, shuffle, train_metrics, cbs, epoch, history, sigint):
        order = self.rng.permutation(len(x)) if shuffle else None         # None: plain slices, no copies
        for metric in train_metrics:
            metric.reset()
        loss_sum = 0.0
        seen = 0
        for batch, start in enumerate(range(0, len(x), batch_size)):
            idx = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
            cbs.on_batch_begin(batch)
            xb, yb = x[idx], y[idx]
            wb = None if weights is None else weights[idx]
            loss, y_pred = self._train_step(xb, yb, wb)
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

    # ---- inference -----------------------------------------------------------------------------
    def evaluate(self, x, y, batch_size=256, sample_weight=None, verbose=0):
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
        self._clear_caches()
        results = {"loss": total / count + self.regularization_loss()}
        results.update({m.name: m.result() for m in evaluators})
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in results.items()))
        return results

    def predict(self, x, batch_size=256):
        """Outputs for x, computed in batches in inference mode; no caches are kept afterwards."""
        batch_size = check_positive_int("batch_size", batch_size, "predict")
        x = _check_finite(np.asarray(x), "predict")
        outputs = [self.forward(x[start:start + batch_size]) for start in range(0, len(x), batch_size)]
        self._clear_caches()
        if not outputs:
            return np.zeros((0, *self.output_shape), dtype=self.dtype)
        return np.concatenate(outputs)

    def _clear_caches(self):
        for layer in self.layers:
            layer.clear_cache()

    # ---- description and persistence ---------------------------------------------------------
    def summary(self, print_fn=print):
        """Print a table of layers, output shapes and parameter counts (Keras's layout)."""
        if not self.built:
            raise RuntimeError("summary() needs a built model: pass input_shape=... or call build()")
        rows = [(f"{layer.name or type(layer).__name__.lower() + '_' + str(i)} ({type(layer).__name__})",
                 shape_str(layer.output_shape).replace("N", "None"), f"{layer.count_params():,}")
                for i, layer in enumerate(self.layers)]
        widths = [max(len(h), *(len(r[c]) for r in rows)) + 2 if rows else len(h) + 2
                  for c, h in enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = "=" * sum(widths)
        fmt = lambda cells: "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        trainable = self.count_params()
        non_trainable = sum(b.size for layer in self.layers for b in layer.buffers.values())
        text = [f'Model: "{self.name}"', line, fmt(("Layer (type)", "Output Shape", "Param #")), line,
                *[fmt(r) for r in rows], line,
                f"Total params: {trainable + non_trainable:,}", f"Trainable params: {trainable:,}",
                f"Non-trainable params: {non_trainable:,}", line]
        print_fn("\n".join(text))

    def get_config(self):
        return {"name": self.name, "input_shape": list(self.input_shape) if self.input_shape else None,
                "dtype": self.dtype.name, "seed": self.seed,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers]}

    @classmethod
    def from_config(cls, config, seed=None):
        layers = []
        for entry in config["layers"]:
            if entry.get("class_name") not in LAYERS:
                raise ValueError(f"Unknown layer type {entry.get('class_name')!r} in the model config; "
                                 f"known layers: {sorted(LAYERS)}")
            layers.append(LAYERS[entry["class_name"]].from_config(entry.get("config", {})))
        return cls(layers, input_shape=config.get("input_shape"), seed=config.get("seed") if seed is None else seed,
                   dtype=config.get("dtype"), name=config.get("name"))

    def get_weights(self):
        """All parameter and buffer arrays, copied, in layer order."""
        return [a.copy() for layer in self.layers for a in (*layer.params.values(), *layer.buffers.values())]

    def set_weights(self, weights):
        targets = [a for layer in self.layers for a in (*layer.params.values(), *layer.buffers.values())]
        if len(weights) != len(targets):
            raise ValueError(f"set_weights expected {len(targets)} arrays, got {len(weights)}")
        for i, (target, value) in enumerate(zip(targets, weights)):
            value = np.asarray(value)
            if value.shape != target.shape:
                raise ValueError(f"set_weights: array {i} should have shape {target.shape}, got {value.shape}")
            target[...] = value

    def save(self, path):
        """Write the model (architecture, weights, compile settings, optimizer state) to one file."""
        from .io import save_model
        save_model(self, path)

    def save_weights(self, path):
        from .io import save_weights
        save_weights(self, path)

    def load_weights(self, path):
        from .io import load_weights
        load_weights(self, path)


def execution_order(layers):
    """The order in which forward runs the layers (backward runs it reversed): the listed one, except that
    a ReLU followed by a MaxPooling2D runs after it. max(relu(x)) = relu(max(x)) exactly, and the gradients
    are the same (a window whose maximum is not positive passes no gradient either way), but ReLU's two
    passes then touch a quarter of the data, and max pooling finds no ties at zero to break."""
    order = list(range(len(layers)))
    for k in range(len(order) - 1):
        if type(layers[order[k]]) is activations.ReLU and type(layers[order[k + 1]]) is pooling.MaxPooling2D:
            order[k], order[k + 1] = order[k + 1], order[k]
    return order


def _check_finite(x, method):
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{method}: expected a numeric array, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"{method}: the input contains NaN or inf values "
                         f"({int((~np.isfinite(x)).sum())} of {x.size})")
    return x


def _check_data(x, y, method):
    x = _check_finite(np.asarray(x), method)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{method}: x and y must have the same number of samples, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError(f"{method}: got an empty dataset")
    _check_finite(y, method + " (labels)")
    return x, y


def _sample_weights(y, sample_weight, class_weight):
    """Per-sample weights from sample_weight and/or class_weight ({class: weight}); None if neither."""
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(-1)
    if weights is not None and len(weights) != len(y):
        raise ValueError(f"fit: sample_weight must have one value per sample ({len(y)}), got {len(weights)}")
    if class_weight:
        labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1).astype(int)
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
