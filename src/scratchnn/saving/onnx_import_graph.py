"""ONNX import of graph-shaped files (several inputs or outputs, fan-out, Add / Concat / ... of computed tensors)
into a functional ``scratchnn.Model``.

The straight-chain importer (onnx_import.py) walks one region at a time and keeps one state: the current
tensor's shape, whether it is NCHW in the file, and the row order a Flatten of an NCHW tensor left. Here that
state is kept per tensor: before each node the importer is set to the state of the node's input and the same
operator handlers (onnx_registry.importers()) run; ``add`` calls the new layer on the input's symbolic tensor
instead of appending it to a list. A node of several computed inputs is a merge layer (onnx_registry.merges());
its inputs must be in one layout, and Concat's axis is mapped to ours. Shape computations (Shape -> Gather -> Concat
-> Reshape, torch's ``x.view(x.size(0), -1)``) are evaluated here, the batch size standing in as unknown.
Two nodes of one operator that read the same weight initializers, with the same settings, are one layer
called twice (its weights shared), which is how export writes a shared layer.

Straight-chain files keep importing as a Sequential: ``import_model`` tries the chain importer first and
comes here for files of several inputs or outputs, or when the chain importer stops at a merge.
"""
from __future__ import annotations

import numpy as np

from ..registry import layer_class, model_class
from .budget import planned_layer_arrays
from .onnx_common import TO_NCHW
from .onnx_import import INTEGER_TYPES, _Importer
from .onnx_import_ops import ELEMENTWISE, SHAPE_OPERATIONS, import_reshape
from .onnx_registry import importers, merges

__all__ = ["import_model"]

BATCH = -9973                                       # a stand-in for the batch size in shape computations
GELU_PROBE = np.linspace(-5, 5, 101)


def import_model(onnx, proto, path, chain_importer):
    """A Sequential for a straight chain (``chain_importer``, onnx_import's), else a functional Model."""
    graph = proto.graph
    constants = {tensor.name for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in constants]
    if not inputs or not graph.output:
        return chain_importer(onnx, proto, path).run()          # which names what is missing
    if len(inputs) == 1 and len(graph.output) == 1:
        try:
            return chain_importer(onnx, proto, path).run()
        except ValueError:
            if not _has_merge(graph, constants):
                raise
    return GraphImporter(onnx, proto, path).run()


def _has_merge(graph, constants):
    """Whether a merge operator reads two tensors computed from the input (not a shape, not a constant)."""
    shapes = set(constants) | {node.output[0] for node in graph.node if node.op_type in ("Constant", "Shape")}
    for node in graph.node:
        if node.op_type in SHAPE_OPERATIONS and all(name in shapes for name in node.input if name):
            shapes.update(node.output)
        elif node.op_type in merges() and sum(bool(name) and name not in shapes for name in node.input) >= 2:
            return True
    return False


class GraphImporter(_Importer):
    """Walks the nodes in topological order, the chain importer's state set per tensor."""

    def __init__(self, onnx, proto, path):
        graph = self.read_graph(onnx, proto, path)
        self.graph_inputs = [value for value in graph.input if value.name not in self.constants]
        self.graph_outputs = [value.name for value in graph.output]
        self.output = None                           # no single output: MatMul's "last node" test never holds
        self.folded, self.done, self.state = set(), set(), {}
        self.calls, self.shared = [], {}

    # ---- what the operator handlers see ----
    def region(self, tensor):
        """The one node that reads ``tensor`` and the tensor it makes (what MatMul + Add, GlobalAveragePool +
        Flatten absorb); no node when several read it or it is a graph output."""
        readers = [node for node in self.consumers.get(tensor, []) if id(node) not in self.done]
        if tensor in self.graph_outputs or len(readers) != 1:
            return [], None
        return readers, readers[0].output[0]

    def add(self, layer, **arrays):
        key = (self.node.op_type, tuple(name for name in self.node.input if name in self.constants
                                        and name not in self.folded and np.size(self.constants[name]) > 1))
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        input_shape = self.current.shape[1:]
        for other, other_config, other_arrays, other_shape in self.shared.get(key, []) if key[1] else []:
            if type(other) is type(layer) and other_config == config and other_shape == input_shape and \
                    other_arrays.keys() == arrays.keys() and all(np.array_equal(other_arrays[k], arrays[k])
                                                                 for k in arrays):
                layer, arrays = other, None                        # the same layer, called again
                break
        try:
            self.current = layer(self.current)
        except (ValueError, TypeError) as error:
            self.fail(f"{self.node.op_type} node {self.node.name!r}: {error}")
        self.shape = self.current.shape[1:]
        if arrays is not None:
            self.calls.append((layer, arrays, input_shape))
            if key[1]:
                self.shared.setdefault(key, []).append((layer, config, arrays, input_shape))

    # ---- the walk ----
    def run(self):
        dtype = self.input_dtype()
        inputs = [self.make_input(value, dtype) for value in self.graph_inputs]
        self.order = self.ordered()
        for position, node in enumerate(self.order):
            if id(node) in self.done:
                continue
            self.node = node
            data = [name for name in node.input if name and name not in self.constants]
            if node.op_type in ELEMENTWISE and data and self.gelu_formula(position, data[0]):
                continue
            if not data:
                self.fold(node)
            elif node.op_type == "Shape":
                self.fold_shape(node, data[0])
            elif node.op_type in merges() and len(data) >= 2:
                self.merge(node, data)
            elif len(data) == 1:
                self.single(node, data[0])
            else:
                self.fail(f"{node.op_type} node {node.name!r} reads {len(data)} computed tensors; only "
                          f"{sorted(merges())} may")
        outputs = {}
        for name in self.graph_outputs:
            if name not in self.state:
                self.fail(f"the graph output {name!r} is not computed from the inputs")
            tensor, shape, channels_first, row_order = self.state[name]
            if row_order is not None or (channels_first and len(shape) == 3):
                self.fail(f"the output {name!r} is in NCHW order (a Flatten or image output of an NCHW graph)")
            outputs[name] = tensor
        self.check_arrays(dtype)
        model = model_class("Model")(inputs if len(inputs) > 1 else inputs[0],
                                     outputs if len(outputs) > 1 else next(iter(outputs.values())), dtype=dtype)
        for layer, arrays, _ in self.calls:
            for name, array in arrays.items():
                target = layer.params[name] if name in layer.params else layer.buffers[name]
                target[...] = np.asarray(array, dtype=dtype).reshape(target.shape)
        return model

    def input_dtype(self):
        """The model's dtype: that of its float inputs, and of the tables its integer inputs (ids) look up."""
        found = set()
        for value in self.graph_inputs:
            kind = value.type.WhichOneof("value")
            if kind != "tensor_type":
                self.fail(f"the graph input {value.name!r} is a {kind or 'value of no type'}, not a tensor")
            found.add(self.input_dtype_of(value).name)
        if len(found) != 1:
            self.fail(f"the inputs mix element types {sorted(found)}")
        return np.dtype(found.pop())

    def make_input(self, value, dtype):
        """An Input in our order: a 4-D input that the graph does not first transpose to NCHW is NCHW."""
        all_dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        dims = all_dims[1:]
        if len(all_dims) < 2 or not all(d > 0 for d in dims):
            self.fail(f"input {value.name!r} has dimensions {all_dims}: expected a batch axis and fixed others")
        self.batch = value.type.tensor_type.shape.dim[0].dim_value
        readers = self.consumers.get(value.name, [])
        transposed = bool(readers) and all(node.op_type == "Transpose" and
                                           tuple(self.attributes(node).get("perm", ())) == TO_NCHW for node in readers)
        channels_first = len(dims) == 3 and not transposed
        shape = (dims[1], dims[2], dims[0]) if channels_first else tuple(dims)
        ids = value.type.tensor_type.elem_type in INTEGER_TYPES                   # an Embedding's input
        tensor = model_class("Model").Input(shape, name=value.name, dtype=None if ids else dtype)
        self.state[value.name] = (tensor, shape, channels_first, None)
        return tensor

    def ordered(self):
        """The nodes in topological order (stable: the file's order where it allows)."""
        placed = set(self.constants) | {value.name for value in self.graph_inputs} | {""}
        order, pending = [], list(self.nodes)
        while pending:
            ready = [node for node in pending if all(name in placed for name in node.input)]
            if not ready:
                missing = sorted({name for node in pending for name in node.input if name not in placed})
                self.fail(f"nodes read tensors that no node makes: {missing[:5]}")
            for node in ready:
                placed.update(node.output)
            order += ready
            pending = [node for node in pending if all(node is not other for other in ready)]
        return order

    def set_state(self, name):
        self.x = name
        self.current, self.shape, self.channels_first, self.row_order = self.state[name]

    def single(self, node, name):
        handler = importers().get(node.op_type)
        if handler is None:
            self.fail(f"operator {node.op_type} (node {node.name!r}) is not supported; supported: "
                      f"{sorted(importers())}, and {sorted(merges())} of computed tensors")
        self.set_state(name)
        if node.op_type == "Reshape" and node.input[1] in self.folded:
            end = import_reshape(self, node, [0 if d == BATCH else int(d)
                                              for d in np.reshape(self.constants[node.input[1]], -1)])
        else:
            end = handler(self, node)
        end = end or node.output[0]
        if self.row_order is not None and np.prod(self.row_order[:2]) == 1:
            self.row_order = None                  # a Flatten of (C, 1, 1): the rows are in our order already
        if end != node.output[0]:                  # the handler absorbed the node after it
            self.done.update(id(other) for other in self.consumers[node.output[0]] if end in other.output)
        self.state[end] = (self.current, self.shape, self.channels_first, self.row_order)

    def merge(self, node, names):
        states = [self.state[name] for name in names]
        if any(row_order is not None for *_, row_order in states):
            self.fail(f"{node.op_type} node {node.name!r} reads a Flatten of an NCHW tensor")
        if len({(channels_first and len(shape) == 3) for _, shape, channels_first, _ in states}) > 1:
            self.fail(f"{node.op_type} node {node.name!r} reads tensors in different layouts (NCHW and NHWC)")
        self.set_state(names[0])
        options = {}
        if node.op_type == "Concat":
            axis = self.onnx_axis_to_ours(self.attributes(node).get("axis", 1))
            options["axis"] = -1 if axis == len(self.shape) else axis
        try:
            self.current = layer_class(merges()[node.op_type])(**options)([tensor for tensor, *_ in states])
        except (ValueError, TypeError) as error:
            self.fail(f"{node.op_type} node {node.name!r}: {error}")
        self.state[node.output[0]] = (self.current, self.current.shape[1:], self.channels_first, None)

    def gelu_formula(self, position, x):
        """GELU written as arithmetic (export below opset 20, torch's exporter): the elementwise nodes from
        ``position`` on that read ``x``, what they make and scalar constants, up to the first point where one
        tensor leaves them, if they compute GELU (exact or tanh) on a probe. Adds the layer; False if not."""
        derived, members, member_ids = {x}, [], set()
        for node in self.order[position:]:
            inputs = [name for name in node.input if name]
            if id(node) in self.done or node.op_type not in ELEMENTWISE or not any(n in derived for n in inputs):
                continue
            if not all(n in derived or (n in self.constants and np.size(self.constants[n]) == 1) for n in inputs):
                continue
            members.append(node)
            member_ids.add(id(node))
            derived.update(node.output)
            leaving = {n for n in derived - {x} if n in self.graph_outputs or
                       any(id(c) not in member_ids for c in self.consumers.get(n, []))}
            if len(members) >= 3 and leaving == {node.output[0]}:
                values = {x: GELU_PROBE}
                for member in members:
                    values[member.output[0]] = ELEMENTWISE[member.op_type](*[
                        np.asarray(values.get(n, self.constants.get(n)), dtype=np.float64) for n in member.input])
                for approximate in (False, True):
                    gelu = layer_class("GELU")(approximate=approximate)
                    if np.allclose(values[node.output[0]], gelu.fn(GELU_PROBE), rtol=1e-6, atol=1e-6):
                        self.set_state(x)
                        self.add(gelu)
                        self.done.update(member_ids)
                        self.state[node.output[0]] = (self.current, self.shape, self.channels_first, self.row_order)
                        return True
            if len(members) > 12:
                break
        return False

    def fold_shape(self, node, name):
        """Shape of a computed tensor: its dimensions in the file's order, the batch a stand-in."""
        _, shape, channels_first, _ = self.state[name]
        dims = (shape[2], shape[0], shape[1]) if channels_first and len(shape) == 3 else shape
        attributes = self.attributes(node)
        values = np.array([BATCH, *dims])
        self.constants[node.output[0]] = values[attributes.get("start", 0):attributes.get("end", len(values))]
        self.folded.add(node.output[0])

    def fold(self, node):
        """A node of constants only (a shape computation): evaluated now."""
        operation = SHAPE_OPERATIONS.get(node.op_type)
        if operation is None:
            self.fail(f"{node.op_type} node {node.name!r} computes from constants only; only shape computations "
                      f"({sorted(SHAPE_OPERATIONS)}) may")
        self.constants[node.output[0]] = operation([self.constants[name] for name in node.input if name],
                                                   self.attributes(node))
        self.folded.add(node.output[0])

    def check_arrays(self, dtype):
        """Every array a layer will allocate comes from the file at its size (planned, nothing drawn)."""
        for layer, arrays, input_shape in self.calls:
            for name, shape in planned_layer_arrays([layer], input_shape, dtype)[0].items():
                given = arrays.get(name)
                if given is None or np.size(given) != int(np.prod(shape)):
                    self.fail(f"{layer.describe()} needs {name} of shape {shape}, the graph gives "
                              f"{'none' if given is None else np.shape(given)}")
