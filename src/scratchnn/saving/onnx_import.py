"""ONNX import: an ONNX graph back into a Sequential that takes NHWC input.

The importer walks the graph from its input one region (a layer's worth of nodes) at a time and keeps
track of whether the current tensor is NHWC or NCHW; a model written by another exporter that takes NCHW
input becomes a model that takes NHWC input (the Dense after its Flatten gets its kernel rows reordered
to match). What each ONNX operator becomes is registered in onnx_registry.py. Layer and model classes are found by
name in the registry, so this module imports no model module.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .._optional import require
from ..layers.conv import window_geometry
from ..registry import layer_class, model_class
from .budget import planned_layer_arrays
from .files import open_regular
from .onnx_common import TO_NCHW
from .onnx_import_ops import ELEMENTWISE, SCALAR_ARITHMETIC, SHAPE_OPERATIONS, import_reshape
from .onnx_registry import importers

__all__ = ["load"]

FLOAT_TYPES = {1: "float32", 11: "float64"}                  # TensorProto element types
INTEGER_TYPES = {6: "int32", 7: "int64"}


def load(path: str | os.PathLike[str]) -> Any:
    """Read an ONNX file that uses only the operators export writes (and torch's forms of them).

    Returns a built Sequential that takes NHWC input (a functional Model for a graph: onnx_import_graph.py);
    raises ValueError naming the first operator or attribute it cannot map.
    """
    onnx = require("onnx", "ONNX import")
    open_regular(path, "an ONNX file").close()            # a device or a FIFO is refused before onnx reads it
    try:               # by path: tensors stored in a data file beside it (torch's m.onnx.data) are found
        proto = onnx.load(os.fspath(path))
    except Exception as exc:        # protobuf's DecodeError has no common base with ValueError
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise ValueError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    try:                    # a straight chain: a Sequential; a graph: a functional Model (onnx_import_graph.py)
        from .onnx_import_graph import import_model
        return import_model(onnx, proto, str(path), _Importer)
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot import: {exc}") from None
    except (TypeError, KeyError, IndexError, AttributeError, OverflowError, ArithmeticError, MemoryError,
            RecursionError) as exc:                     # a malformed graph: say so, naming the file
        raise ValueError(f"{path}: cannot import: a malformed graph ({type(exc).__name__}: {exc})") from None


class _Importer:
    """Walks the graph from its input, one region (a layer's worth of nodes) at a time."""

    def read_graph(self, onnx, proto, path):
        """The constants (initializers and Constant nodes), the other nodes, who reads each tensor; refuses a
        cycle. Returns the graph (shared with onnx_import_graph.GraphImporter)."""
        self.onnx, self.path = onnx, path
        graph = proto.graph
        self.constants = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in graph.initializer}
        self.nodes = []
        for node in graph.node:
            if node.op_type == "Constant":
                self.constants[node.output[0]] = self.constant_node_value(node)
            elif node.op_type in SHAPE_OPERATIONS and node.input and all(
                    name in self.constants for name in node.input):           # constants only (torch's pads): folded
                try:
                    self.constants[node.output[0]] = SHAPE_OPERATIONS[node.op_type](
                        [self.constants[name] for name in node.input], self.attributes(node))
                except ValueError as error:
                    self.fail(f"{node.op_type} node {node.name!r}: {error}")
            else:
                self.nodes.append(node)
        self.consumers = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.check_acyclic()
        return graph

    def __init__(self, onnx, proto, path):
        graph = self.read_graph(onnx, proto, path)
        inputs = [value for value in graph.input if value.name not in self.constants]
        if len(inputs) != 1 or len(graph.output) != 1:
            self.fail(f"expected one input and one output, got {len(inputs)} inputs and {len(graph.output)} outputs")
        self.input, self.output = inputs[0], graph.output[0].name
        self.layers = []

    def fail(self, message):
        raise ValueError(f"{self.path}: cannot import: {message}")

    def check_acyclic(self):
        """Kahn's algorithm over the nodes: a graph with a cycle (which the walk would never leave) is refused."""
        produced_by = {name: node for node in self.nodes for name in node.output if name}
        waiting = {id(node): sum(name in produced_by for name in node.input) for node in self.nodes}
        ready = [node for node in self.nodes if waiting[id(node)] == 0]
        ordered = 0
        while ready:
            node = ready.pop()
            ordered += 1
            for name in node.output:
                for consumer in self.consumers.get(name, []):
                    waiting[id(consumer)] -= 1
                    if waiting[id(consumer)] == 0:
                        ready.append(consumer)
        if ordered < len(self.nodes):
            stuck = [node.name or node.op_type for node in self.nodes if waiting[id(node)] > 0]
            self.fail(f"the graph has a cycle (through nodes {stuck[:5]})")

    def constant_node_value(self, node):
        if len(node.attribute) != 1:
            self.fail(f"Constant node {node.name!r} has {len(node.attribute)} attributes; expected one value")
        attribute = node.attribute[0]
        value = self.onnx.helper.get_attribute_value(attribute)
        if attribute.name == "value":
            return self.onnx.numpy_helper.to_array(value)
        if attribute.name in ("value_float", "value_floats", "value_int", "value_ints"):
            return np.asarray(value)
        self.fail(f"Constant node {node.name!r} with attribute {attribute.name!r} is not supported")

    def constant(self, node, position, required=True):
        names = list(node.input)
        if position >= len(names) or not names[position]:
            if required:
                self.fail(f"{node.op_type} node {node.name!r} lacks input {position}")
            return None
        if names[position] not in self.constants:
            self.fail(f"{node.op_type} node {node.name!r}: input {position} ({names[position]!r}) must be a "
                      "constant (an initializer), not computed")
        return self.constants[names[position]]

    def attributes(self, node):
        values = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}
        return {name: self.onnx.numpy_helper.to_array(value) if isinstance(value, self.onnx.TensorProto) else value
                for name, value in values.items()}

    def region(self, tensor):
        """The nodes from ``tensor`` to the next tensor that every path from it goes through, and that tensor."""
        region, derived, members = [], {tensor}, set()
        for node in self.nodes:
            if not any(name in derived for name in node.input):
                continue
            region.append(node)
            members.add(id(node))
            derived.update(name for name in node.output if name)
            still_open = {name for name in derived if name == self.output or
                          any(id(c) not in members for c in self.consumers.get(name, []))}
            if len(still_open) == 1 and next(iter(still_open)) in node.output:
                return region, next(iter(still_open))
        self.fail(f"tensor {tensor!r} does not lead to the output {self.output!r}")

    # ---- the walk ----
    def run(self):
        kind = self.input.type.WhichOneof("value")
        if kind != "tensor_type":
            self.fail(f"the graph input {self.input.name!r} is a {kind or 'value of no type'}, not a tensor")
        dtype = self.input_dtype_of(self.input)
        all_dims = [d.dim_value for d in self.input.type.tensor_type.shape.dim]
        dims = all_dims[1:]
        if len(all_dims) < 2:
            self.fail(f"the input has {len(all_dims)} axes; expected a batch axis and at least one more, "
                      "e.g. (N, features) or (N, C, H, W)")
        if not all(d > 0 for d in dims):
            self.fail(f"every input dimension but the batch must be fixed, got {dims}")
        self.x, self.shape, self.row_order = self.input.name, tuple(dims), None
        self.batch = self.input.type.tensor_type.shape.dim[0].dim_value
        self.channels_first = len(dims) == 3 and not self.starts_with_transpose_to_nchw()
        if self.channels_first:
            self.shape = (dims[1], dims[2], dims[0])
        input_shape = self.shape
        while self.x != self.output:
            nodes, output = self.region(self.x)
            if len(nodes) == 1:
                handler = importers().get(nodes[0].op_type)
                if handler is None:
                    self.fail(f"operator {nodes[0].op_type} (node {nodes[0].name!r}) is not supported; "
                              f"supported: {sorted(importers())} and GELU written as Erf or Tanh formulas")
                output = handler(self, nodes[0]) or output
            elif nodes[-1].op_type == "Reshape" and all(
                    n.op_type == "Shape" or n.op_type in SHAPE_OPERATIONS for n in nodes[:-1]):
                self.import_computed_reshape(nodes)
            else:
                nodes, output = self.extend_by_scalar_arithmetic(nodes, output)
                self.import_elementwise_formula(nodes)
            self.x = output
        if self.row_order is not None or self.channels_first:
            self.fail("the output is in NCHW order (a Flatten or image output of an NCHW graph)")
        self.check_arrays(input_shape, dtype)
        model = model_class("Sequential")([layer for layer, _ in self.layers], input_shape=input_shape, dtype=dtype)
        for layer, arrays in self.layers:
            for name, array in arrays.items():
                target = layer.params[name] if name in layer.params else layer.buffers[name]
                target[...] = np.asarray(array, dtype=dtype).reshape(target.shape)
        return model

    def integer_inputs(self):
        """The names of the graph's integer inputs (ids)."""
        inputs = getattr(self, "graph_inputs", None) or [self.input]
        return {value.name for value in inputs if value.type.tensor_type.elem_type in INTEGER_TYPES}

    def input_dtype_of(self, value):
        """float32 / float64 for a float graph input; for integer ids (int32 / int64), the dtype of the constant
        table that every reader looks up (a Gather: an Embedding), which the model then computes in."""
        elem_type = value.type.tensor_type.elem_type
        if elem_type in FLOAT_TYPES:
            return np.dtype(FLOAT_TYPES[elem_type])
        readers = self.consumers.get(value.name, [])
        tables = [self.constants.get(node.input[0]) for node in readers
                  if node.op_type == "Gather" and list(node.input[1:]) == [value.name]]
        if elem_type in INTEGER_TYPES:
            if readers and len(tables) == len(readers) and all(t is not None and t.dtype.name in FLOAT_TYPES.values()
                                                               for t in tables):
                return np.dtype(tables[0].dtype)
            self.fail(f"the integer input {value.name!r} must be read only by Gather nodes that look it up in a "
                      "float32 or float64 constant table (an Embedding)")
        found = self.onnx.TensorProto.DataType.Name(elem_type) if elem_type in \
            self.onnx.TensorProto.DataType.values() else elem_type
        self.fail(f"the input {value.name!r} must be float32 or float64, got element type {found} (int32 and int64 "
                  "ids go into an Embedding's Gather)")

    def check_arrays(self, input_shape, dtype):
        """Every parameter the layers will allocate comes from the file, at its size: found on a plan of the
        model (nothing drawn), so a graph declaring a huge input cannot make the import draw huge weights."""
        planned = planned_layer_arrays([layer for layer, _ in self.layers], input_shape, dtype)
        for (layer, arrays), wanted in zip(self.layers, planned):
            for name, shape in wanted.items():
                given = arrays.get(name)
                if given is None or np.size(given) != math.prod(shape):
                    self.fail(f"{layer.describe()} needs {name} of shape {shape} for the input's shape, the graph "
                              f"gives {'none' if given is None else np.shape(given)}")

    def starts_with_transpose_to_nchw(self):
        nodes, _ = self.region(self.input.name)
        return (len(nodes) == 1 and nodes[0].op_type == "Transpose"
                and tuple(self.attributes(nodes[0]).get("perm", ())) == TO_NCHW)

    def add(self, layer, **arrays):
        self.shape = layer.compute_output_shape(self.shape)
        self.layers.append((layer, arrays))

    def require_our_order(self, node):
        if self.row_order is not None:
            self.fail(f"{node.op_type} node {node.name!r} follows a Flatten of an NCHW tensor; only Dense, "
                      "BatchNormalization and elementwise layers may")

    def onnx_dims(self):
        """The current tensor's dimensions (batch excluded) in the ONNX graph's own order."""
        if len(self.shape) == 3 and self.channels_first:
            return (self.shape[2], self.shape[0], self.shape[1])
        return self.shape

    def import_computed_reshape(self, nodes):
        """Shape -> Gather -> Unsqueeze -> Concat -> Reshape (torch's x.view(x.size(0), -1)), evaluated here."""
        batch = -9973                                   # a stand-in for the batch size, known to be dynamic
        values = {}
        for node in nodes[:-1]:
            attributes = self.attributes(node)
            if node.op_type == "Shape":
                dims = np.array([batch, *self.onnx_dims()])
                values[node.output[0]] = dims[attributes.get("start", 0):attributes.get("end", len(dims))]
                continue
            operands = [values.get(name, self.constants.get(name)) for name in node.input]
            if any(operand is None for operand in operands):
                self.fail(f"{node.op_type} node {node.name!r} computes a shape from something other than the "
                          "input's shape")
            values[node.output[0]] = SHAPE_OPERATIONS[node.op_type](operands, attributes)
        shape = values.get(nodes[-1].input[1])
        if shape is None:
            self.fail(f"Reshape node {nodes[-1].name!r}: its shape is neither a constant nor computed from the input's")
        import_reshape(self, nodes[-1], [0 if d == batch else int(d) for d in np.reshape(shape, -1)])

    def onnx_axis_to_ours(self, axis):
        rank = len(self.shape) + 1
        axis %= rank
        return TO_NCHW[axis] if rank == 4 and self.channels_first else axis

    def image_node(self, node):
        if len(self.shape) != 3 or not self.channels_first:
            self.fail(f"{node.op_type} node {node.name!r} needs an NCHW image tensor, got a tensor of "
                      f"{len(self.shape) + 1} axes{' in NHWC order' if len(self.shape) == 3 else ''}")

    def padding(self, node, window, strides, attributes):
        """Our "valid" or "same" from ONNX pads / auto_pad; anything else cannot be expressed."""
        auto_pad = attributes.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad in ("VALID", "SAME_UPPER"):
            return "valid" if auto_pad == "VALID" else "same"
        pads = list(attributes.get("pads", [0, 0, 0, 0]))
        if auto_pad != "NOTSET":
            self.fail(f"{node.op_type} node {node.name!r}: auto_pad={auto_pad} is not supported")
        if not any(pads):
            return "valid"
        geometry = [window_geometry(size, span, stride, "same", node.op_type)
                    for size, span, stride in zip(self.shape[:2], window, strides)]
        if pads == [geometry[0][1], geometry[1][1], geometry[0][2], geometry[1][2]]:
            return "same"
        self.fail(f"{node.op_type} node {node.name!r}: pads {pads} are neither 'valid' nor TensorFlow's "
                  f"'same' for a {self.shape[0]}x{self.shape[1]} input")

    def extend_by_scalar_arithmetic(self, nodes, output):
        """Absorb the single multiplications / additions by a constant that end a formula (GELU's x 0.5)."""
        while output != self.output:
            following, after = self.region(output)
            node = following[0]
            if len(following) != 1 or node.op_type not in SCALAR_ARITHMETIC or not all(
                    name == output or np.size(self.constants.get(name, ())) == 1 for name in node.input):
                break
            nodes, output = nodes + following, after
        return nodes, output

    def import_elementwise_formula(self, nodes):
        """A multi-node region made of elementwise arithmetic: accepted if it computes GELU (exact or tanh)."""
        probe = np.linspace(-5, 5, 101)
        values = {self.x: probe}
        for node in nodes:
            operation = ELEMENTWISE.get(node.op_type)
            operands = [values.get(name, self.constants.get(name)) for name in node.input]
            if operation is None or any(operand is None or (name not in values and np.size(operand) != 1)
                                        for operand, name in zip(operands, node.input)):
                self.fail(f"the nodes {[n.op_type for n in nodes]} after tensor {self.x!r} do not form a "
                          "supported layer")
            values[node.output[0]] = operation(*[np.asarray(o, dtype=np.float64) for o in operands])
        result = values[nodes[-1].output[0]]
        for approximate in (False, True):
            if np.allclose(result, layer_class("GELU")(approximate=approximate).fn(probe), rtol=1e-6, atol=1e-6):
                return self.add(layer_class("GELU")(approximate=approximate))
        self.fail(f"the formula {[n.op_type for n in nodes]} after tensor {self.x!r} is not a supported activation")
