"""Several outputs: one loss per output with loss weights, per-output metrics, and a graph read from a config.

The loss of a model of several outputs is L = sum_k w_k L_k(y_pred_k, y_true_k); its backward gives each
output w_k dL_k/dy_pred_k. Fit and evaluate log the total as "loss" and each L_k (unweighted) as
"<output>_loss", and each metric of output k as "<output>_<metric>", as Keras does.
"""
from __future__ import annotations

from .. import losses, metrics as metrics_module
from ..metrics import Metric


class OutputLosses:
    """The loss of a model of several outputs: sum_k w_k loss_k (each loss_k averages over the batch)."""

    name = "loss"

    def __init__(self, names, loss, loss_weights=None, from_logits=False):
        self.names = list(names)
        chosen = _per_output(loss, self.names, "loss")
        self.losses = [losses.get(item, from_logits=from_logits and isinstance(item, str)     # logits: for the
                                  and "crossentropy" in item.lower()) for item in chosen]     # crossentropies
        if len({id(item) for item in self.losses}) != len(self.losses):             # one object given for all:
            import copy                                                              # each output its own state
            self.losses = [copy.copy(item) for item in self.losses]
        weights = [1.0] * len(self.names) if loss_weights is None else _per_output(loss_weights, self.names,
                                                                                   "loss_weights", one=False)
        self.weights = [float(w) for w in weights]
        self.values = [0.0] * len(self.names)
        self.from_logits = [bool(getattr(item, "from_logits", False)) for item in self.losses]

    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        """sum_k w_k loss_k(y_pred[k], y_true[k]); each loss_k is kept in ``values`` (for the logs)."""
        self.values = [loss.forward(p, t, sample_weight) for loss, p, t in zip(self.losses, y_pred, y_true)]
        return float(sum(w * v for w, v in zip(self.weights, self.values)))

    def backward(self) -> list:
        """[w_k dloss_k/dy_pred_k for each output k]."""
        grads = []
        for loss, weight in zip(self.losses, self.weights):
            grad = loss.backward()
            grads.append(grad if weight == 1.0 else grad * weight)
        return grads

    def get_config(self) -> dict:
        return {"losses": [losses.serialize(item) for item in self.losses], "loss_weights": self.weights}


def _per_output(value, names, what, one=True):
    """A list in output order from a list, a dict by output name, or (``one``) a single value for all."""
    if isinstance(value, dict):
        unknown = [key for key in value if key not in names]
        missing = [name for name in names if name not in value]
        if unknown or missing:
            raise ValueError(f"compile: {what} should have one entry per output {names}, got keys {list(value)}")
        return [value[name] for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"compile: {what} should have one entry per output {names}, got {len(value)}")
        return list(value)
    if not one:
        raise ValueError(f"compile: {what} should be a list or a dict with one entry per output {names}, "
                         f"got {value!r}")
    return [value] * len(names)


class OutputMetric(Metric):
    """A metric of one output of several: reads y_true[k] and y_pred[k], named "<output>_<metric>"."""

    def __init__(self, metric, index, output):
        self.metric, self.index = metric, index
        self.name = f"{output}_{metric.name}"

    def reset(self):
        self.metric.reset()

    def update(self, y_true, y_pred, sample_weight=None):
        self.metric.update(y_true[self.index], y_pred[self.index], sample_weight)

    def result(self):
        return self.metric.result()


class OutputLoss(Metric):
    """The (unweighted) loss of output k over everything seen since reset(), as the loss computed it."""

    def __init__(self, loss: OutputLosses, index):
        self.loss, self.index = loss, index
        self.name = f"{loss.names[index]}_loss"
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0

    def update(self, y_true, y_pred, sample_weight=None):
        rows = len(y_pred[self.index])
        self.total += self.loss.values[self.index] * rows
        self.count += rows

    def result(self):
        return self.total / self.count if self.count else 0.0


def output_metrics(loss: OutputLosses, spec, output_dims) -> list:
    """Each output's loss, then the metrics ``spec`` names: a list (for every output), a list of lists (one
    per output) or a dict by output name (its outputs only)."""
    names = loss.names
    if isinstance(spec, dict):
        unknown = [key for key in spec if key not in names]
        if unknown:
            raise ValueError(f"compile: metrics names outputs {unknown}; the outputs are {names}")
        per_output = [spec.get(name, []) for name in names]
    elif len(spec) == len(names) and spec and all(isinstance(item, (list, tuple)) for item in spec):
        per_output = list(spec)
    else:
        per_output = [spec] * len(names)
    result: list = [OutputLoss(loss, k) for k in range(len(names))]
    for k, (chosen, dim) in enumerate(zip(per_output, output_dims)):
        for item in chosen if isinstance(chosen, (list, tuple)) else [chosen]:
            metric = metrics_module.get(item, output_dim=dim, from_logits=loss.from_logits[k])
            result.append(OutputMetric(metric, k, names[k]))
    return result


def graph_from_config(config: dict, layers: dict, make_input, call_layer) -> dict:
    """The symbolic tensors of a Model config, by [name, call] reference, rebuilt by calling its layers.

    The nodes must come in topological order (as get_config writes them): a node that names a tensor made
    by a later node is an error, worded as a cycle when following references leads back to the node.
    """
    tensors = {}
    for spec in config["input_layers"]:
        tensors[(spec["name"], 0)] = make_input(tuple(spec["shape"]), name=spec["name"], dtype=spec.get("dtype"))
    nodes = config["nodes"]
    producer, calls = {}, {}
    for index, node in enumerate(nodes):
        call = calls.get(node["layer"], 0)
        calls[node["layer"]] = call + 1
        producer[(node["layer"], call)] = index
    made = {}
    for index, node in enumerate(nodes):
        if node["layer"] not in layers:
            raise ValueError(f"Model config: node {index} calls layer {node['layer']!r}, which the config does not "
                             "define")
        layer = layers[node["layer"]]
        inbound = []
        for ref in map(tuple, node["inbound"]):
            if ref not in tensors:
                raise ValueError(_undefined(ref, index, layer, nodes, producer))
            inbound.append(tensors[ref])
        call = made.get(layer.name, 0)
        made[layer.name] = call + 1
        tensors[(layer.name, call)] = call_layer(layer, inbound if node.get("multiple") else inbound[0])
    return tensors


def _undefined(ref, index, layer, nodes, producer) -> str:
    """Why node ``index`` cannot use tensor ``ref``: a cycle, a later node's tensor, or nothing makes it."""
    what = f"node {index} ({layer.describe()})"
    if ref not in producer:
        return f"Model config: {what} uses tensor {list(ref)}, which no input or node defines"
    path, stack, seen = {producer[ref]: None}, [producer[ref]], set()
    while stack:                                                    # follow references back from the producer
        current = stack.pop()
        for parent_ref in map(tuple, nodes[current]["inbound"]):
            parent = producer.get(parent_ref)
            if parent is None or parent in seen:
                continue
            seen.add(parent)
            path[parent] = current
            if parent == index:
                chain, step = [index], current
                while step is not None:
                    chain.append(step)
                    step = path[step]
                names = [nodes[i]["layer"] for i in chain] + [nodes[index]["layer"]]   # in data-flow order
                return f"Model config: the graph has a cycle: {' -> '.join(repr(n) for n in names)}"
            stack.append(parent)
    return (f"Model config: {what} uses tensor {list(ref)} before it is defined (by node {producer[ref]}): "
            "nodes must come in topological order")
