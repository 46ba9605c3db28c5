"""Sequential: a stack of layers, structure only (the Trainer mixed in brings compile / fit / predict)."""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..layers.base import Layer, shape_str
from ..registry import layer_class, register_model
from .device import DeviceMixin
from .plan import execution_order
from .trainer import Trainer


def forward_with_mask(layer, x, mask, training):
    """layer.forward(x), given the padding mask of x when there is one and the layer reads masks."""
    if mask is not None and getattr(layer, "supports_masking", False):
        return layer.forward(x, training=training, mask=mask)
    return layer.forward(x, training=training)


def output_mask(layer, x, mask):
    """The mask of the layer's output: what its compute_mask makes of its input's (None if it has none)."""
    return layer.compute_mask(x, mask) if hasattr(layer, "compute_mask") else None


@register_model
class Sequential(DeviceMixin, Trainer):
    """Layers applied in order; the output of one is the input of the next (seed 004's Network).

    Args:
        layers: list of Layer objects. ``Dense(..., activation="relu")`` lists its activation as a layer
            of its own, right after it. A layer listed twice shares its weights (and gets the sum of both
            gradients).
        input_shape: shape of one sample, e.g. ``(784,)`` or ``(28, 28, 1)``; without it the model
            builds on the first batch it sees.
        seed: int or ``numpy.random.Generator``; one seed makes initialisation, shuffling and
            dropout reproducible.
        dtype: ``"float32"`` (default) or ``"float64"``.
        device: "cpu", "gpu" (CuPy) or a registered device; default: ``backend.use``'s ("cpu" unless set).

    >>> from scratchnn import layers
    >>> model = Sequential([layers.Dense(4, activation="relu"), layers.Dense(2)], input_shape=(3,), seed=0)
    >>> model(np.ones((5, 3))).shape, [type(layer).__name__ for layer in model.layers]
    ((5, 2), ['Dense', 'ReLU', 'Dense'])
    """

    def __init__(self, layers=None, input_shape=None, seed=None, dtype=None, name=None, device=None):
        self.layers: list[Layer] = []
        self.name = name or "sequential"
        self.dtype = backend.as_dtype(dtype)
        self.seed = seed if isinstance(seed, (int, np.integer)) else None
        self.rng = backend.make_rng(seed)
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.output_shape = None
        self.built = False
        self.metric_names = []
        self._activation_of: dict[int, Layer] = {}
        for layer in layers or []:
            self.add(layer)
        self._place(device)                                            # unbuilt: the layers move when built
        if self.input_shape is not None:
            self.build(self.input_shape)

    # ---- structure -------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer (and, for the ``activation=...`` shorthand, its activation layer)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expected a Layer, got {type(layer).__name__}")
        activation = getattr(layer, "activation", None)
        if activation is not None:
            layer.activation = None
            self._activation_of[id(layer)] = activation
        self.layers.append(layer)
        if id(layer) in self._activation_of:
            self.layers.append(self._activation_of[id(layer)])
        if self.built:
            self.built = False
            self.build(self.input_shape)

    def pop(self) -> Layer:
        """Remove the last layer and return it."""
        if not self.layers:
            raise ValueError("pop() on a Sequential with no layers")
        layer = self.layers.pop()
        if self.built and self.layers:
            self.build(self.input_shape)
        return layer

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name`` (as summary() prints it), or the one at ``index``."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; the layers are {[layer.name for layer in self.layers]}")

    def unique_layers(self) -> list[Layer]:
        """Each layer once, in the order of first appearance (a shared layer is listed twice)."""
        seen, unique = set(), []
        for layer in self.layers:
            if id(layer) not in seen:
                seen.add(id(layer))
                unique.append(layer)
        return unique

    def build(self, input_shape) -> None:
        """Build every layer for samples of shape input_shape (the batch axis excluded)."""
        shape = tuple(int(d) for d in input_shape)
        self.input_shape = shape
        names = {}
        for layer in self.unique_layers():
            if names.setdefault(layer.name, layer) is not layer:
                raise ValueError(f"two different layers of {self.name} are called {layer.name!r}: "
                                 "layer names must be unique within a model")
        for layer in self.layers:
            if not layer.built:
                if layer.dtype is None:
                    layer.dtype = self.dtype
                shape = layer.build(shape, self.rng)
            elif layer.input_shape != shape:
                raise ValueError(f"{layer.describe()} was built for inputs {shape_str(layer.input_shape)} "
                                 f"and gets {shape_str(shape)} here")
            else:
                shape = layer.output_shape
        self.output_shape = shape
        self._widest = max((math.prod(layer.output_shape) for layer in self.layers), default=0)
        self._order = execution_order(self.layers)
        self.built = True
        self._move_arrays()                                            # new layers join the model's device

    def parameters(self) -> list:
        """(param, grad) pairs of every trainable layer, each once, in a fixed order (what an optimizer
        steps over)."""
        return [(layer.params[k], layer.grads[k]) for layer in self.unique_layers() if layer.trainable
                for k in layer.params]

    def named_parameters(self) -> list:
        return [(f"{i}.{type(layer).__name__}.{k}", layer.params[k])
                for i, layer in enumerate(self.unique_layers()) if layer.trainable for k in layer.params]

    def count_params(self) -> int:
        """Trainable parameters (a shared layer counted once)."""
        return sum(layer.count_params() for layer in self.unique_layers() if layer.trainable)

    def zero_grad(self) -> None:
        for layer in self.unique_layers():
            layer.zero_grad()

    def clear_cache(self) -> None:
        """Empty every layer's tape."""
        for layer in self.unique_layers():
            layer.clear_cache()

    def regularization_loss(self) -> float:
        return sum(layer.regularization_loss() for layer in self.unique_layers()
                   if layer.regularizers and layer.trainable)

    # ---- forward and backward ----------------------------------------------------------------
    def forward(self, x, training: bool = False, with_last_input: bool = False):
        """The outputs for x; when training, each layer records what its backward needs.

        ``with_last_input``: (outputs, the last layer's input): a fused Sigmoid's logits for the loss."""
        x = self._as_input(x)
        mask = None                 # padding (Embedding(mask_zero=True)), passed to the layers that take one
        with backend.shared_work(len(x) * self._widest):
            for i in self._order:
                x, x_in = forward_with_mask(self.layers[i], x, mask, training), x
                mask = output_mask(self.layers[i], x_in, mask)
        return (x, x_in) if with_last_input else x

    def __call__(self, x, training: bool = False):
        """model(x): the outputs for one batch, in inference mode unless training=True."""
        return self.forward(x, training=training)

    def backward(self, grad_out, input_grad: bool = True, skip_output: bool = False):
        """Propagate dLoss/dy back through every layer; returns dLoss/dx (None if not input_grad).

        ``skip_output``: grad_out is already the gradient at the last layer's input (a loss that read the
        logits of the final Sigmoid, ``_fused_output``), so backward starts at the layer below it."""
        with backend.shared_work(len(grad_out) * self._widest):
            for k in range(len(self._order) - 1 - skip_output, -1, -1):
                grad_out = self.layers[self._order[k]].backward(grad_out, input_grad=input_grad or k > 0)
        return grad_out if input_grad else None

    def _fused_output(self):
        """The final layer whose input the loss reads instead of its output, or None: a Sigmoid ending a model
        trained with BinaryCrossentropy on probabilities (the loss's ``fuses_with``), so that the loss and
        its gradient come from the logits, exact at any logit (the trainer hands them over)."""
        fused = getattr(self.loss, "fuses_with", None)
        if fused is None or getattr(self.loss, "from_logits", True) or not self._order:
            return None
        last = self.layers[self._order[-1]]
        return last if type(getattr(last, "function", last)).__name__ == fused else None    # or Activation("sigmoid")

    def _as_input(self, x):
        x = self.device.asarray(x)                                     # host data -> the model's device
        if not self.built:
            self.build(x.shape[1:])
        if tuple(x.shape[1:]) != self.input_shape:
            hint = self.layers[0].shape_hint(x.shape[1:]) if self.layers else ""
            if x.ndim == len(self.input_shape) and self.input_shape[-1] == 1:
                hint = ": add a channel axis, x[..., None]"
            elif x.ndim == len(self.input_shape) and tuple(x.shape) == self.input_shape:
                hint = ": this is one sample; pass a batch of one, x[None]"
            raise ValueError(f"{self.name} expected input of shape {shape_str(self.input_shape)}, "
                             f"got {shape_str(x.shape[1:])}{hint}")
        if self.layers and self.layers[0].input_kind == "int":
            if x.dtype.kind not in "iu":
                raise ValueError(f"{self.name}: {self.layers[0].describe()} takes integer ids, got {x.dtype}")
            return x
        return x.astype(self.dtype, copy=False)                       # float layers: cast once, here

    # ---- description and persistence ---------------------------------------------------------
    def summary(self, print_fn=print) -> None:
        """Print a table of layers, output shapes and parameter counts (Keras's layout)."""
        if not self.built:
            raise RuntimeError("summary() needs a built model: pass input_shape=... or call build()")
        rows = [(f"{layer.name} ({type(layer).__name__})", shape_str(layer.output_shape).replace("N", "None"),
                 f"{layer.count_params():,}") for layer in self.layers]
        widths = [max(len(h), *(len(r[c]) for r in rows)) + 2 if rows else len(h) + 2
                  for c, h in enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = "=" * sum(widths)

        def fmt(cells):
            return "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        trainable = self.count_params()
        non_trainable = sum(b.size for layer in self.unique_layers() for b in layer.buffers.values()) + \
            sum(layer.count_params() for layer in self.unique_layers() if not layer.trainable)
        text = [f'Model: "{self.name}"', line, fmt(("Layer (type)", "Output Shape", "Param #")), line,
                *[fmt(r) for r in rows], line,
                f"Total params: {trainable + non_trainable:,}", f"Trainable params: {trainable:,}",
                f"Non-trainable params: {non_trainable:,}", line]
        print_fn("\n".join(text))

    def get_config(self) -> dict:
        return {"name": self.name, "input_shape": list(self.input_shape) if self.input_shape else None,
                "dtype": self.dtype.name, "seed": self.seed,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict, seed=None) -> Sequential:
        layers, by_name = [], {}
        for entry in config["layers"]:
            layer_config = entry.get("config", {})
            name = layer_config.get("name")
            if name is not None and name in by_name:                   # a shared layer, listed again
                layers.append(by_name[name])
                continue
            layer = layer_class(entry.get("class_name")).from_config(layer_config)
            by_name[layer.name] = layer
            layers.append(layer)
        return cls(layers, input_shape=config.get("input_shape"), seed=config.get("seed") if seed is None else seed,
                   dtype=config.get("dtype"), name=config.get("name"))

    def to_json(self, **json_args) -> str:
        """The architecture as JSON text (class_name and config, no weights); ``models.model_from_json`` reads it."""
        from .architecture import to_json
        return to_json(self, **json_args)

    def get_weights(self) -> list:
        """All parameter and buffer arrays, copied, in layer order (a shared layer once)."""
        return [a for layer in self.unique_layers() for a in layer.get_weights()]

    def set_weights(self, weights) -> None:
        targets = [a for layer in self.unique_layers() for a in (*layer.params.values(), *layer.buffers.values())]
        if len(weights) != len(targets):
            raise ValueError(f"set_weights expected {len(targets)} arrays, got {len(weights)}")
        for i, (target, value) in enumerate(zip(targets, weights)):
            value = backend.namespace(target).asarray(backend.to_numpy(value))
            if value.shape != target.shape:
                raise ValueError(f"set_weights: array {i} should have shape {target.shape}, got {value.shape}")
            target[...] = value

    def save(self, path) -> None:
        """Write the model (architecture, weights, compile settings, optimizer state) to one file."""
        from ..saving import save_model
        save_model(self, path)

    def save_weights(self, path) -> None:
        from ..saving import save_weights
        save_weights(self, path)

    def load_weights(self, path) -> None:
        from ..saving import load_weights
        load_weights(self, path)


__all__ = ["Sequential"]
