"""ONNX export of a functional Model: one ONNX node group per layer call, in the model's topological order.

Each layer call goes through the same exporter as in a Sequential (onnx_registry's), then
its own activation's (a Sequential lists ``Dense(8, activation="relu")`` as two layers, a Model keeps one), and
merge layers through the merge exporters below (Add / Sum, Sub, Mul, Mean, Max, Concat). What the straight
chain keeps in one flag, whether the current 4-D tensor is NHWC or NCHW, is kept here per tensor: before a
call the builder is told the layout of the call's input, after it the layout of the output is recorded.
A merge brings its inputs to one layout (NCHW if any of them is, as the convolutions around it want) and
Concatenate's axis (ours, NHWC) becomes the axis of that layout. A transposed tensor is kept, so a tensor
read by several NCHW layers is transposed once. Constants are stored once by value: the kernel of a layer
called twice is one initializer that both of its nodes read.

The graph's inputs are the model's Input names, its outputs the model's output names (the dict keys, else
the layers' names); the batch axis is the symbolic "N" throughout. Integer inputs (Embedding ids) are int64.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .onnx_common import TO_NCHW
from .onnx_export_mask import export_layer, merged_mask
from .onnx_registry import exporters, merge_exporters, onnx_exporter, onnx_merge

__all__ = ["export_graph"]


def _builder_class():
    from .onnx_export import _GraphBuilder

    class GraphBuilder(_GraphBuilder):
        """The Sequential's builder, with names kept clear of the graph's inputs and outputs, constants stored
        once by value, and the Transposes of a tensor remembered (fan-out transposes once)."""

        def __init__(self, onnx, dtype, opset, reserved):
            super().__init__(onnx, dtype, opset)
            self.reserved = set(reserved)
            self.stored, self.transposed = {}, {}
            self.input_masks = []       # the padding masks of a merge's (or cross-attention's) inputs, during it

        def fresh(self, hint):
            name = super().fresh(hint)
            while name in self.reserved:
                name = super().fresh(hint)
            self.reserved.add(name)
            return name

        def constant(self, hint, array, dtype=None):
            array = np.array(array, dtype=dtype or self.dtype, order="C")
            key = (array.dtype.str, array.shape, hashlib.sha256(array.tobytes()).hexdigest())
            if key not in self.stored:
                self.stored[key] = super().constant(hint, array, array.dtype)
            return self.stored[key]

        def channels(self, x, rank, first):
            if rank != 4 or self.channels_first == first:
                return x
            if (x, first) not in self.transposed:
                self.transposed[(x, first)] = super().channels(x, rank, first)
            self.channels_first = first
            return self.transposed[(x, first)]

    return GraphBuilder


def _merge(op_type, variadic):
    """y = x_1 (op) x_2 (op) ...: one variadic node (Sum, Max, Mean), or a chain of binary ones (Add, Mul)."""
    def exporter(builder, layer, xs, hint):
        if variadic or len(xs) == 2:
            return builder.node(variadic if variadic and len(xs) > 2 else op_type, xs, hint)
        y = xs[0]
        for k, x in enumerate(xs[1:], start=1):
            y = builder.node(op_type, [y, x], hint if k == len(xs) - 1 else f"{hint}_partial")
        return y
    return exporter


def _export_concatenate(builder, layer, xs, hint):
    rank = len(layer.input_shape[0]) + 1
    axis = layer._axis(rank - 1) + 1                               # our axis, batch included, NHWC
    if rank == 4 and builder.channels_first:
        axis = TO_NCHW.index(axis)                                 # where it sits in the NCHW tensor
    return builder.node("Concat", xs, hint, axis=axis)


for _layer, _op_type, _variadic in (("Add", "Add", "Sum"), ("Subtract", "Sub", None), ("Multiply", "Mul", None),
                                   ("Average", "Mean", "Mean"), ("Maximum", "Max", "Max")):
    onnx_exporter(_layer, merge=True)(_merge(_op_type, _variadic))
    onnx_merge(_layer, *{_op_type, _variadic} - {None})           # import: the operator read with computed inputs
onnx_exporter("Concatenate", merge=True)(_export_concatenate)
onnx_merge("Concatenate", "Concat")


def graph_proto(model, onnx, dtype, opset):
    """The onnx.ModelProto of a built functional Model (not yet checked)."""
    from .onnx_export import _version
    table, merge_table = exporters(), merge_exporters()
    input_names = list(model.input_names)
    output_names = list(model.output_names)
    builder = _builder_class()(onnx, dtype, opset, input_names + output_names)
    tensors = {id(t): (name, False) for t, name in zip(model.inputs, input_names)}     # id -> (name, NCHW?)
    masks = {}                                                     # id -> the tensor's padding mask, if any
    for index, node in enumerate(model.nodes):
        layer = node.layer
        kind = type(layer).__name__
        hint = layer.name or f"{index}_{kind.lower()}"
        sources = [tensors[id(t)] for t in node.inputs]
        if node.multiple:
            exporter = merge_table.get(kind)
            if exporter is None:
                raise ValueError(f"export: no ONNX form for {layer.describe()} (a layer of several inputs); "
                                 f"supported: {sorted(merge_table)}")
            rank = len(layer.input_shape[0]) + 1
            first = rank == 4 and any(nchw for _, nchw in sources)
            xs = []
            for name, nchw in sources:                             # every input in the merge's layout
                builder.channels_first = nchw
                xs.append(builder.channels(name, rank, first))
            builder.channels_first = first
            builder.input_masks = [masks.get(id(t)) for t in node.inputs]
            y = exporter(builder, layer, xs, hint)
            masks[id(node.output)] = merged_mask(builder, layer, xs, builder.input_masks, hint)
            builder.input_masks = []
        else:
            exporter = table.get(kind)
            if exporter is None:
                raise ValueError(f"export: no ONNX form for {layer.describe()}; supported: "
                                 f"{sorted(set(table) | set(merge_table))}")
            builder.channels_first, builder.mask = sources[0][1], masks.get(id(node.inputs[0]))
            y = export_layer(builder, exporter, layer, sources[0][0], hint)
            masks[id(node.output)], builder.mask = builder.mask, None
        activation = getattr(layer, "activation", None)            # Dense(8, activation="relu") in a Model
        if activation is not None:
            y = table[type(activation).__name__](builder, activation, y, f"{hint}_{type(activation).__name__}")
        tensors[id(node.output)] = (y, builder.channels_first)
    elem_type = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    for t, name in zip(model.outputs, output_names):               # outputs in NHWC, as predict gives them
        source, nchw = tensors[id(t)]
        builder.channels_first = nchw
        source = builder.channels(source, len(t.shape), first=False)
        builder.nodes.append(onnx.helper.make_node("Identity", [source], [name], name=name))
    graph_inputs = [onnx.helper.make_tensor_value_info(
        name, onnx.TensorProto.INT64 if ints else elem_type, ["N", *t.shape[1:]])
        for t, name, ints in zip(model.inputs, input_names, model._int_inputs)]
    graph_outputs = [onnx.helper.make_tensor_value_info(name, elem_type, ["N", *t.shape[1:]])
                     for t, name in zip(model.outputs, output_names)]
    graph = onnx.helper.make_graph(builder.nodes, model.name, graph_inputs, graph_outputs, builder.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="scratchnn", producer_version=_version())
    proto.ir_version = onnx.helper.find_min_ir_version_for(proto.opset_import)
    return proto


def export_graph(model, path, opset, onnx):
    """onnx_export.export for a functional Model: build, check (full check), write; returns the ModelProto."""
    from .onnx_export import write_checked
    return write_checked(onnx, graph_proto(model, onnx, np.dtype(model.dtype), opset), path)
