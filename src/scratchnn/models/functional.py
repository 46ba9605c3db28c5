"""Model: a network that is a graph of layer calls, Keras's functional API (the Trainer brings compile / fit).

    x = scratchnn.Input(shape=(784,))
    h = layers.Dense(64, activation="relu")(x)
    y = layers.Dense(10)(layers.Add()([h, layers.Dense(64)(h)]))
    model = scratchnn.Model(x, y)

The nodes (layer calls) are put in topological order once, at construction (models/graph.py); forward runs
them in that order, backward in the reverse one, adding the gradients of a tensor that several layers use.
A layer called twice is one layer: its weights are shared and its tape holds one entry per call.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend, metrics as metrics_module
from ..layers.base import Layer, shape_str
from ..registry import layer_class, register_model
from .device import DeviceMixin
from .graph import Input, Node, SymbolicTensor, call_layer, none_shape, topological_nodes
from .sequential import Sequential, forward_with_mask, output_mask
from .trainer import Trainer


def _flatten(structure, what):
    """(kind, keys, tensors) of a model's inputs or outputs: one tensor, a list, or a dict."""
    if isinstance(structure, dict):
        return "dict", list(structure), list(structure.values())
    if isinstance(structure, (list, tuple)):
        return "list", None, list(structure)
    return "tensor", None, [structure]


def _arrange(kind, keys, values):
    """Values (in order) back in the structure the model was given."""
    if kind == "dict":
        return dict(zip(keys, values))
    return list(values) if kind == "list" else values[0]


@register_model
class Model(DeviceMixin, Trainer):
    """A network from its symbolic inputs to its outputs (``scratchnn.Input`` and layer calls).

    Args:
        inputs: an ``Input`` tensor, a list of them, or a dict of them (data is then given in that structure).
        outputs: a tensor made by layer calls on the inputs, a list or a dict of them; ``predict`` returns
            that structure; the losses and targets of several outputs are lists or dicts in it.
        name: the model's name (default "model").
        seed: int or ``numpy.random.Generator``: the layers are built (initialised) in topological order
            from it, and shuffling and dropout draw from it.
        dtype: "float32" (default: the inputs' float dtype, else floatx) or "float64".
        device: "cpu", "gpu" (CuPy) or a registered device; default: ``backend.use``'s ("cpu" unless set).

    >>> import scratchnn as snn
    >>> from scratchnn import layers
    >>> x = snn.Input(shape=(3,))
    >>> y = layers.Add()([layers.Dense(4)(x), layers.Dense(4)(x)])
    >>> snn.Model(x, y, seed=0).predict(np.ones((2, 3))).shape
    (2, 4)
    """

    Input = staticmethod(Input)         # for code that reaches the class by name (ONNX import, registry)

    def __init__(self, inputs, outputs, name=None, seed=None, dtype=None, device=None):
        self.name = name or "model"
        self.seed = seed if isinstance(seed, (int, np.integer)) else None
        self.rng = backend.make_rng(seed)
        self.metric_names = []
        self._input_kind, self._input_keys, self.inputs = _flatten(inputs, "inputs")
        self._output_kind, self._output_keys, self.outputs = _flatten(outputs, "outputs")
        self._check_ends()
        nodes = topological_nodes(self.outputs)
        self._check_connected(nodes)
        self.dtype = backend.as_dtype(dtype if dtype is not None else self._input_dtype())
        self.nodes = [node for node in nodes if node.layer is not None]
        self.layers: list[Layer] = list({id(node.layer): node.layer for node in self.nodes}.values())
        self._check_names()
        self._build()
        self.built = True
        self._place(device)

    # ---- construction ------------------------------------------------------------------------------
    def _check_ends(self):
        for what, tensors in (("input", self.inputs), ("output", self.outputs)):
            if not tensors:
                raise ValueError(f"Model needs at least one {what}")
            for i, t in enumerate(tensors):
                if not isinstance(t, SymbolicTensor):
                    raise TypeError(f"Model {what} {i} is a {type(t).__name__}, not a symbolic tensor: build the "
                                    "model from scratchnn.Input(...) tensors and layer calls on them")
        for i, t in enumerate(self.inputs):
            if t.node.layer is not None:
                raise ValueError(f"Model input {i} is the output of {t.describe()}, not an Input: pass the "
                                 "scratchnn.Input(...) tensors the graph starts from")
        for what, tensors in (("an Input", self.inputs), ("an output", self.outputs)):
            if len({id(t) for t in tensors}) != len(tensors):
                twice = next(t for t in tensors if sum(u is t for u in tensors) > 1)
                raise ValueError(f"Model: {what} is listed twice (the tensor of {twice.describe()})")

    def _check_connected(self, nodes):
        given = {id(t.node) for t in self.inputs}
        for node in nodes:
            if node.layer is None and id(node) not in given:
                needs = [t.describe() for t in self.outputs if node in topological_nodes([t])]
                raise ValueError(f"Model: the output of {', '.join(needs)} depends on Input '{node.name}', which "
                                 f"is not among the model's inputs {[t.name for t in self.inputs]}: it is "
                                 "disconnected from them (add it to inputs)")
        used = {id(node) for node in nodes}
        for t in self.inputs:
            if id(t.node) not in used:
                raise ValueError(f"Model: no output uses Input '{t.name}': remove it from inputs or use it")

    def _input_dtype(self):
        floats = {t.dtype.name for t in self.inputs if t.dtype is not None and t.dtype.kind == "f"}
        return floats.pop() if len(floats) == 1 else None

    def _check_names(self):
        owners: dict = {}
        for thing in [*(t.node for t in self.inputs), *self.layers]:
            other = owners.setdefault(thing.name, thing)
            if other is not thing:
                labels = [f"Input '{t.name}'" if isinstance(t, Node) else t.describe() for t in (other, thing)]
                raise ValueError(f"Model: {labels[0]} and {labels[1]} have the same name: names must be unique "
                                 "within a model (pass name=...)")

    def _build(self):
        """Build every layer in topological order from the model's generator; lay out the steps of forward."""
        slot = {id(t): i for i, t in enumerate(self.inputs)}
        calls: dict[int, int] = {}
        self._steps, self._refs = [], {id(t): (t.name, 0) for t in self.inputs}
        for node in self.nodes:
            layer = node.layer
            shapes = [t.shape[1:] for t in node.inputs]
            input_shape = shapes if node.multiple else shapes[0]
            call = calls.get(id(layer), 0)
            calls[id(layer)] = call + 1
            if not layer.built:
                if layer.dtype is None:
                    layer.dtype = self.dtype
                layer.build(input_shape, self.rng)
            elif layer.input_shape != input_shape:
                what = f"its call {call + 1}" if call else "this model"
                raise ValueError(f"{layer.describe()} was built for inputs {_shapes(layer.input_shape)} and gets "
                                 f"{_shapes(input_shape)} in {what}: a shared layer takes one input shape")
            if tuple(layer.output_shape) != node.output.shape[1:]:
                raise ValueError(f"{layer.describe()} built an output of shape {none_shape(layer.output_shape)}, "
                                 f"its call promised {none_shape(node.output.shape[1:])}")
            slot[id(node.output)] = len(slot)
            self._refs[id(node.output)] = (layer.name, call)
            self._steps.append((layer, [slot[id(t)] for t in node.inputs], slot[id(node.output)], node.multiple,
                                all(slot[id(t)] < len(self.inputs) for t in node.inputs)))
        self._slots = len(slot)
        self._output_slots = [slot[id(t)] for t in self.outputs]
        self._int_inputs = [any(t in node.inputs and node.layer.input_kind == "int" for node in self.nodes)
                            for t in self.inputs]
        self.input_shape = _one_or_list([t.shape[1:] for t in self.inputs])
        self.output_shape = _one_or_list([t.shape[1:] for t in self.outputs])
        self.input_names = [t.name for t in self.inputs]
        self.output_names = self._output_keys or [_ref_name(self._refs[id(t)]) for t in self.outputs]
        self._widest = max((math.prod(node.output.shape[1:]) for node in self.nodes), default=0)

    # ---- the layers, as Sequential keeps them ------------------------------------------------------
    def unique_layers(self) -> list[Layer]:
        """Each layer once, in the order of its first call."""
        return self.layers

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        return Sequential.get_layer(self, name, index)

    def named_parameters(self) -> list:
        return [(f"{layer.name}.{k}", layer.params[k]) for layer in self.layers if layer.trainable
                for k in layer.params]

    parameters = Sequential.parameters
    count_params = Sequential.count_params
    zero_grad = Sequential.zero_grad
    clear_cache = Sequential.clear_cache
    regularization_loss = Sequential.regularization_loss
    get_weights = Sequential.get_weights
    set_weights = Sequential.set_weights
    save = Sequential.save
    save_weights = Sequential.save_weights
    load_weights = Sequential.load_weights

    # ---- forward and backward ----------------------------------------------------------------------
    def forward(self, x, training: bool = False):
        """The outputs for x (one array, or a list in output order); training: each layer records."""
        values = self._as_input(x) + [None] * (self._slots - len(self.inputs))
        masks = [None] * self._slots                  # padding masks (Embedding(mask_zero=True)), as in Sequential
        with backend.shared_work(len(values[0]) * self._widest):
            for layer, sources, target, multiple, _ in self._steps:
                if multiple:                          # a merge or cross-attention: a list of inputs and of masks
                    given = [masks[i] for i in sources]
                    x, mask = [values[i] for i in sources], None if all(m is None for m in given) else given
                else:
                    x, mask = values[sources[0]], masks[sources[0]]
                values[target] = forward_with_mask(layer, x, mask, training)
                masks[target] = output_mask(layer, x, mask)
        outputs = [values[i] for i in self._output_slots]
        return outputs[0] if len(outputs) == 1 else outputs

    def __call__(self, x, training: bool = False):
        """model(x): the outputs for one batch, in the structure the model was given."""
        if isinstance(x, SymbolicTensor) or (isinstance(x, (list, tuple)) and any(isinstance(t, SymbolicTensor)
                                                                                   for t in x)):
            raise TypeError(f"{self.name}: calling a Model on symbolic tensors (a model inside a model) is not "
                            "supported; call its layers on them")
        y = self.forward(x, training=training)
        return _arrange(self._output_kind, self._output_keys, y if len(self.outputs) > 1 else [y])

    def backward(self, grad_out, input_grad: bool = True):
        """dLoss/d(outputs) (one array, or a list in output order) -> dLoss/d(inputs), node by node in
        reverse topological order; the gradients of a tensor used several times are added."""
        grads = [None] * self._slots
        for target, grad in zip(self._output_slots, [grad_out] if len(self.outputs) == 1 else grad_out):
            grads[target] = grad if grads[target] is None else grads[target] + grad
        with backend.shared_work(len(grads[self._output_slots[0]]) * self._widest):
            for layer, sources, target, multiple, from_inputs in reversed(self._steps):
                grad, grads[target] = grads[target], None
                wanted = input_grad or not from_inputs
                result = layer.backward(grad, input_grad=wanted)
                if not wanted:
                    continue
                for source, part in zip(sources, result if multiple else [result]):
                    if input_grad or source >= len(self.inputs):
                        grads[source] = part if grads[source] is None else grads[source] + part
        if not input_grad:
            return None
        return grads[0] if len(self.inputs) == 1 else grads[:len(self.inputs)]

    def _as_input(self, x) -> list:
        """The arrays of every input, in order, checked against the inputs' shapes and cast once."""
        arrays = self._arrange_inputs(x, self.name)
        arrays = arrays if isinstance(arrays, list) else [arrays]
        result = []
        for t, keep_ints, array in zip(self.inputs, self._int_inputs, arrays):
            array = self.device.asarray(array)                              # host data -> the model's device
            if tuple(array.shape[1:]) != t.shape[1:]:
                hint = ": this is one sample; pass a batch of one, x[None]" if array.shape == t.shape[1:] else ""
                raise ValueError(f"{self.name} expected input '{t.name}' of shape {shape_str(t.shape[1:])}, got "
                                 f"{shape_str(array.shape[1:])}{hint}")
            if keep_ints:
                if array.dtype.kind not in "iu":
                    raise ValueError(f"{self.name}: input '{t.name}' takes integer ids, got {array.dtype}")
                result.append(array)
            else:
                result.append(array.astype(t.dtype or self.dtype, copy=False))
        return result

    # ---- data in the user's structure (the Trainer's hooks) ----------------------------------------
    def _arrange_inputs(self, x, method):
        return _in_order(x, self._input_keys or self.input_names, "inputs", method)

    def _arrange_targets(self, y, method):
        return _in_order(y, self.output_names, "targets", method)

    def _join_batches(self, outputs):
        if not outputs:
            empty = [np.zeros((0, *t.shape[1:]), dtype=self.dtype) for t in self.outputs]
            return _arrange(self._output_kind, self._output_keys, empty)
        if len(self.outputs) == 1:
            return _arrange(self._output_kind, self._output_keys, [backend.namespace(*outputs).concatenate(outputs)])
        joined = [backend.namespace(*outputs[0]).concatenate([batch[k] for batch in outputs])
                  for k in range(len(self.outputs))]
        return _arrange(self._output_kind, self._output_keys, joined)

    def _make_loss(self, loss, from_logits, loss_weights):
        from .outputs import OutputLosses
        if len(self.outputs) == 1:                                    # as a Sequential's (loss_weights refused)
            return super()._make_loss(_in_order(loss, self.output_names, "losses", "compile"), from_logits,
                                      loss_weights)
        return OutputLosses(self.output_names, loss, loss_weights, from_logits)

    def _make_metrics(self):
        if len(self.outputs) == 1:
            names = self.metric_names
            if isinstance(names, dict):
                names = _in_order(names, self.output_names, "metrics", "compile", allow_one=True)
            from_logits = getattr(self.loss, "from_logits", False)
            return [metrics_module.get(m, output_dim=self.outputs[0].shape[-1], from_logits=from_logits)
                    for m in (names if isinstance(names, list) else [names])]
        from .outputs import output_metrics
        return output_metrics(self.loss, self.metric_names, [t.shape[-1] for t in self.outputs])

    # ---- description and persistence ---------------------------------------------------------------
    def summary(self, print_fn=print) -> None:
        """A table of every input and layer call: output shape, parameters and the calls it takes from."""
        rows = [(f"{t.name} (Input)", none_shape(t.shape[1:]), "0", "") for t in self.inputs]
        seen = set()
        for node in self.nodes:
            layer = node.layer
            params = "(shared)" if id(layer) in seen else f"{layer.count_params():,}"
            seen.add(id(layer))
            rows.append((f"{_ref_name(self._refs[id(node.output)])} ({type(layer).__name__})",
                         none_shape(node.output.shape[1:]), params,
                         ", ".join(_ref_name(self._refs[id(t)]) for t in node.inputs)))
        header = ("Layer (type)", "Output Shape", "Param #", "Connected to")
        widths = [max(len(h), *(len(r[c]) for r in rows)) + 2 for c, h in enumerate(header)]
        line = "=" * sum(widths)

        def fmt(cells):
            return "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        trainable = self.count_params()
        non_trainable = sum(b.size for layer in self.layers for b in layer.buffers.values()) + \
            sum(layer.count_params() for layer in self.layers if not layer.trainable)
        print_fn("\n".join([f'Model: "{self.name}"', line, fmt(header), line, *[fmt(r) for r in rows], line,
                            f"Total params: {trainable + non_trainable:,}", f"Trainable params: {trainable:,}",
                            f"Non-trainable params: {non_trainable:,}", line]))

    def get_config(self) -> dict:
        """The graph as JSON: each layer once, the inputs, and the nodes in topological order, each naming its
        layer and its inbound tensors as [layer or input name, call index] (what an exporter walks)."""
        def ref(t):
            return list(self._refs[id(t)])
        return {"name": self.name, "dtype": self.dtype.name, "seed": self.seed,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self.layers],
                "input_layers": [{"name": t.name, "shape": list(t.shape[1:]),
                                  "dtype": None if t.dtype is None else t.dtype.name} for t in self.inputs],
                "nodes": [{"layer": node.layer.name, "inbound": [ref(t) for t in node.inputs],
                           "multiple": node.multiple} for node in self.nodes],
                "inputs": {"kind": self._input_kind, "keys": self._input_keys, "refs": [ref(t) for t in self.inputs]},
                "outputs": {"kind": self._output_kind, "keys": self._output_keys,
                            "refs": [ref(t) for t in self.outputs]}}

    def to_json(self, **json_args) -> str:
        """The architecture as JSON text (class_name and config, no weights); ``models.model_from_json`` reads it."""
        from .architecture import to_json
        return to_json(self, **json_args)

    @classmethod
    def from_config(cls, config: dict, seed=None, prepare=None) -> Model:
        """The model a get_config() describes; ``prepare(layer)``, if given, sees each layer before it is built
        (saving's memory plan uses it to build the graph without drawing weights)."""
        from .outputs import graph_from_config
        layers = [layer_class(entry["class_name"]).from_config(entry.get("config", {})) for entry in config["layers"]]
        for layer in layers if prepare is not None else ():
            prepare(layer)
        tensors = graph_from_config(config, {layer.name: layer for layer in layers}, Input, call_layer)

        def structure(block):
            return _arrange(block["kind"], block.get("keys"), [tensors[tuple(r)] for r in block["refs"]])
        return cls(structure(config["inputs"]), structure(config["outputs"]), name=config.get("name"),
                   seed=config.get("seed") if seed is None else seed, dtype=config.get("dtype"))


def _one_or_list(shapes):
    return shapes[0] if len(shapes) == 1 else shapes


def _shapes(shape) -> str:
    return "[" + ", ".join(none_shape(s) for s in shape) + "]" if isinstance(shape, list) else none_shape(shape)


def _ref_name(ref) -> str:
    """How a summary names a tensor: the layer (or input), with [k] for its call k > 0."""
    name, call = ref
    return name if call == 0 else f"{name}[{call}]"


def _in_order(data, names, what, method, allow_one=False):
    """Data for each input (or output) in the model's order, from a list, a dict by name, or one item.

    One input or output: the item itself (a list or dict of one is unwrapped)."""
    if isinstance(data, dict):
        missing = [name for name in names if name not in data]
        extra = [key for key in data if key not in names]
        if missing or extra:
            raise ValueError(f"{method}: the {what} dict should have the keys {names}, got {list(data)}")
        ordered = [data[name] for name in names]
    elif isinstance(data, (list, tuple)) and len(names) > 1:
        if len(data) != len(names):
            raise ValueError(f"{method}: the model has {len(names)} {what} ({', '.join(names)}), got a list "
                             f"of {len(data)}")
        ordered = list(data)
    elif isinstance(data, (list, tuple)) and len(data) == 1 and not isinstance(data[0], (int, float, str)):
        ordered = [data[0]]
    elif len(names) > 1:
        if allow_one:
            return data
        raise ValueError(f"{method}: the model has {len(names)} {what} ({', '.join(names)}): pass a list or a "
                         f"dict of {len(names)}, got one {type(data).__name__}")
    else:
        ordered = [data]
    return ordered[0] if len(ordered) == 1 else ordered


__all__ = ["Model", "Input"]
