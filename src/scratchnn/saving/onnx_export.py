"""ONNX export: a Sequential as an ONNX graph that takes NHWC input like the model.

Images are channels-last in scratchnn and channels-first in ONNX's Conv and pooling operators, so the
exported graph transposes to NCHW before the first of them and back to NHWC before anything that cares
about the order of the axes (Flatten, Reshape, Softmax, Dense, the output): Flatten then flattens in our
order and Dense kernels need no reordering. Layers are recognised by class name, so this module imports
no layer or model class. Import (the way back) is onnx_import.py.
"""
from __future__ import annotations

import math
import os
from typing import IO, Any, Union

import numpy as np

from .._optional import require
from ..layers.conv import window_geometry
from .files import atomic_file
from ..validation import check_file_suffix
from .onnx_common import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME, TO_NCHW, TO_NHWC
from .onnx_export_mask import export_layer
from .onnx_registry import exporters, onnx_exporter

SQRT_2 = math.sqrt(2.0)
GELU_TANH_COEFFICIENT = 0.044715

__all__ = ["export", "DEFAULT_OPSET"]


class _GraphBuilder:
    """Collects nodes and initializers; tracks whether the current 4-D tensor is NHWC or NCHW."""

    def __init__(self, onnx, dtype, opset):
        self.onnx, self.dtype, self.opset = onnx, dtype, opset
        self.nodes, self.initializers = [], []
        self.channels_first = False
        self.mask = None                # the padding mask of the tensor being exported (onnx_export_mask.py)
        self.count = 0

    def fresh(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def constant(self, hint, array, dtype=None):
        name = self.fresh(hint)
        array = np.array(array, dtype=dtype or self.dtype, order="C")
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op_type, inputs, hint, **attributes):
        output = self.fresh(hint)
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [output], name=output, **attributes))
        return output

    def channels(self, x, rank, first):
        """x with its channel axis first (NCHW) or last (NHWC); only 4-D tensors are ever transposed."""
        if rank != 4 or self.channels_first == first:
            return x
        self.channels_first = first
        return self.node("Transpose", [x], "to_nchw" if first else "to_nhwc", perm=TO_NCHW if first else TO_NHWC)


def export(model: Any, path: Union[str, os.PathLike, IO[bytes]], opset: int = DEFAULT_OPSET) -> Any:
    """Write ``model`` as an ONNX file: input "input" (N, *input_shape), output "output", N dynamic.

    Every layer of scratchnn.layers is supported (see the exporters below). ``path`` is a file name
    (written atomically) or a binary stream open for writing. Returns the onnx.ModelProto, which passes
    onnx.checker.check_model.
    """
    check_file_suffix(path, ".onnx", "export", "an ONNX file is written to a name ending in .onnx")
    onnx = require("onnx", "ONNX export")
    if not model.built:
        raise ValueError("export needs a built model: pass input_shape=... or call build() first")
    if not isinstance(opset, int) or not 13 <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"export: opset must be an int from 13 to {onnx.defs.onnx_opset_version()}, got {opset!r}")
    if hasattr(model, "nodes"):                            # a functional Model (a graph): onnx_export_graph.py
        from .onnx_export_graph import export_graph
        return export_graph(model, path, opset, onnx)
    dtype = np.dtype(model.dtype)
    builder = _GraphBuilder(onnx, dtype, opset)
    x = INPUT_NAME
    table = exporters()
    for index, layer in enumerate(model.layers):
        exporter = table.get(type(layer).__name__)
        if exporter is None:
            raise ValueError(f"export: no ONNX form for layer {index} ({layer.describe()}); supported: "
                             f"{sorted(table)}")
        x = export_layer(builder, exporter, layer, x, layer.name or f"{index}_{type(layer).__name__.lower()}")
    x = builder.channels(x, len(model.output_shape) + 1, first=False)
    builder.nodes.append(onnx.helper.make_node("Identity", [x], [OUTPUT_NAME], name=OUTPUT_NAME))
    elem_type = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    graph = onnx.helper.make_graph(
        builder.nodes, model.name,
        [onnx.helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.INT64 if model.layers[0].input_kind == "int"
                                            else elem_type, ["N", *model.input_shape])],           # ids: int64
        [onnx.helper.make_tensor_value_info(OUTPUT_NAME, elem_type, ["N", *model.output_shape])],
        builder.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="scratchnn", producer_version=_version())
    proto.ir_version = onnx.helper.find_min_ir_version_for(proto.opset_import)
    return write_checked(onnx, proto, path)


def write_checked(onnx, proto, path):
    """onnx.checker's full check, then the file (atomically) or the stream; returns the proto."""
    onnx.checker.check_model(proto, full_check=True)
    if hasattr(path, "write"):
        path.write(proto.SerializeToString())
    else:
        with atomic_file(path) as stream:
            stream.write(proto.SerializeToString())
    return proto


def _version():
    from .._version import __version__
    return __version__


def _export_unary(op_type, **attributes):
    def exporter(builder, layer, x, hint):
        return builder.node(op_type, [x], hint, **{k: getattr(layer, v) for k, v in attributes.items()})
    return exporter


@onnx_exporter("Dense")
def _export_dense(builder, layer, x, hint):
    """Y = X @ W + b on the last axis: one Gemm for (N, features); MatMul and Add for a sequence or an image."""
    rank = len(layer.input_shape) + 1
    kernel = builder.constant(f"{hint}_kernel", layer.params["kernel"])
    if rank != 2:
        x = builder.channels(x, rank, first=False)                                  # features last
    if not layer.use_bias:
        return builder.node("MatMul", [x, kernel], hint)                           # Y = X @ W
    bias = builder.constant(f"{hint}_bias", layer.params["bias"])
    if rank != 2:
        return builder.node("Add", [builder.node("MatMul", [x, kernel], f"{hint}_matmul"), bias], hint)
    return builder.node("Gemm", [x, kernel, bias], hint)                           # Y = X @ W + b


@onnx_exporter("Softmax")
def _export_softmax(builder, layer, x, hint):
    x = builder.channels(x, len(layer.input_shape) + 1, first=False)
    return builder.node("Softmax", [x], hint, axis=-1)


@onnx_exporter("GELU")
def _export_gelu(builder, layer, x, hint):
    if builder.opset >= 20:
        return builder.node("Gelu", [x], hint, approximate="tanh" if layer.approximate else "none")
    if layer.approximate:                       # y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = builder.node("Mul", [builder.node("Mul", [x, x], f"{hint}_square"), x], f"{hint}_cube")
        inner = builder.node("Add", [x, builder.node("Mul", [cube, builder.constant(
            f"{hint}_c", GELU_TANH_COEFFICIENT)], f"{hint}_scaled_cube")], f"{hint}_inner")
        phi = builder.node("Tanh", [builder.node("Mul", [inner, builder.constant(
            f"{hint}_k", math.sqrt(2 / math.pi))], f"{hint}_arg")], f"{hint}_tanh")
    else:                                       # y = x/2 (1 + erf(x / sqrt 2))
        phi = builder.node("Erf", [builder.node("Div", [x, builder.constant(f"{hint}_sqrt2", SQRT_2)],
                                                f"{hint}_scaled")], f"{hint}_erf")
    one_plus = builder.node("Add", [phi, builder.constant(f"{hint}_one", 1.0)], f"{hint}_one_plus")
    product = builder.node("Mul", [x, one_plus], f"{hint}_product")
    return builder.node("Mul", [product, builder.constant(f"{hint}_half", 0.5)], hint)


def window_pads(layer, window):
    """ONNX pads [top, left, bottom, right] of a "valid" or TensorFlow "same" window (odd pixel at the end)."""
    rows, cols = (window_geometry(size, span, stride, layer.padding, type(layer).__name__)
                  for size, span, stride in zip(layer.input_shape[:2], window, layer.strides))
    return [rows[1], cols[1], rows[2], cols[2]]


def _export_pooling(op_type, **attributes):
    def exporter(builder, layer, x, hint):
        x = builder.channels(x, 4, first=True)
        return builder.node(op_type, [x], hint, kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                            pads=window_pads(layer, layer.pool_size), **attributes)
    return exporter


def _export_global_pooling(op_type):
    def exporter(builder, layer, x, hint):
        pooled = builder.node(op_type, [builder.channels(x, 4, first=True)], f"{hint}_pooled")   # (N, C, 1, 1)
        builder.channels_first = False
        return builder.node("Flatten", [pooled], hint, axis=1)                                     # (N, C)
    return exporter


@onnx_exporter("Flatten")
def _export_flatten(builder, layer, x, hint):
    x = builder.channels(x, len(layer.input_shape) + 1, first=False)
    return builder.node("Flatten", [x], hint, axis=1)


@onnx_exporter("Reshape")
def _export_reshape(builder, layer, x, hint):
    x = builder.channels(x, len(layer.input_shape) + 1, first=False)
    shape = builder.constant(f"{hint}_shape", [-1, *layer.output_shape], dtype=np.int64)
    return builder.node("Reshape", [x, shape], hint)


@onnx_exporter("Dropout")
def _export_dropout(builder, layer, x, hint):
    """ONNX Dropout without training_mode is the identity; the ratio is kept so that import restores it."""
    return builder.node("Dropout", [x, builder.constant(f"{hint}_ratio", layer.rate)], hint)


@onnx_exporter("BatchNormalization")
def _export_batch_norm(builder, layer, x, hint):
    """ONNX BatchNormalization in inference form, features on axis 1 (transposed there if need be)."""
    rank = len(layer.input_shape) + 1
    axis = layer.axis % rank
    if rank == 4 and axis == 3:
        x, axis = builder.channels(x, 4, first=True), 1
    elif rank == 4 and builder.channels_first:
        axis = TO_NCHW.index(axis)              # where our NHWC axis sits in the graph's NCHW tensor
    order = [0, axis, *[i for i in range(1, rank) if i != axis]]
    if axis != 1:
        x = builder.node("Transpose", [x], f"{hint}_features_first", perm=order)
    features = layer.buffers["moving_mean"].shape[0]
    inputs = [x, builder.constant(f"{hint}_gamma", layer.params.get("gamma", np.ones(features))),
              builder.constant(f"{hint}_beta", layer.params.get("beta", np.zeros(features))),
              builder.constant(f"{hint}_mean", layer.buffers["moving_mean"]),
              builder.constant(f"{hint}_variance", layer.buffers["moving_variance"])]
    y = builder.node("BatchNormalization", inputs, hint, epsilon=layer.epsilon, momentum=layer.momentum)
    if axis != 1:
        y = builder.node("Transpose", [y], f"{hint}_features_back", perm=list(np.argsort(order)))
    return y


for _name, _exporter in {
    "Linear": _export_unary("Identity"), "Sigmoid": _export_unary("Sigmoid"), "Tanh": _export_unary("Tanh"),
    "ReLU": _export_unary("Relu"), "Softplus": _export_unary("Softplus"),
    "LeakyReLU": _export_unary("LeakyRelu", alpha="alpha"), "ELU": _export_unary("Elu", alpha="alpha"),
    "MaxPooling2D": _export_pooling("MaxPool"), "AveragePooling2D": _export_pooling("AveragePool", count_include_pad=0),
    "GlobalAveragePooling2D": _export_global_pooling("GlobalAveragePool"),
    "GlobalMaxPooling2D": _export_global_pooling("GlobalMaxPool"),
}.items():                                  # the operators of one attribute or none: made by the factories above
    onnx_exporter(_name)(_exporter)


@onnx_exporter("Residual")
def _export_residual(builder, layer, x, hint):
    """y = x + block(x): the block's layers through their own exporters (with a layer's own activation), then
    one Add with x brought to the layout the block ended in."""
    rank, first = len(layer.input_shape) + 1, builder.channels_first
    y, table = x, exporters()
    for index, inner in enumerate(layer.block):
        activation = getattr(inner, "activation", None)                 # Dense(8, activation="relu")'s layer
        for part in (inner, activation) if hasattr(activation, "get_config") else (inner,):
            if type(part).__name__ not in table:
                raise ValueError(f"export: no ONNX form for {part.describe()} inside {layer.describe()}")
            y = table[type(part).__name__](builder, part, y, f"{hint}_{index}_{type(part).__name__}")
    if rank == 4 and builder.channels_first != first:
        x = builder.node("Transpose", [x], "to_nchw" if builder.channels_first else "to_nhwc",
                         perm=TO_NCHW if builder.channels_first else TO_NHWC)
    return builder.node("Add", [x, y], hint)

