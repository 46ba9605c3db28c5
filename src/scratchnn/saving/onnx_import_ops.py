"""ONNX import, operator by operator: what each ONNX operator (or torch's form of it) becomes.

Each handler ``handler(importer, node)`` adds layers through ``importer.add(layer, **arrays)`` and may
return the tensor where its region ends (when it absorbed the nodes after it, as MatMul does an Add);
each registers itself with ``@onnx_importer(operator)`` (onnx_registry.py). Layers are made from the layer
registry by class name. The convolutions are onnx_conv.py, Resize / Pad / Slice onnx_resize.py.
"""
from __future__ import annotations

import math

import numpy as np

from ..registry import layer_class
from .onnx_common import TO_NCHW, TO_NHWC
from .onnx_registry import onnx_importer


def _shortest(value):
    """A float32 attribute as the shortest decimal that rounds to it (0.2, not 0.20000000298)."""
    return float(str(np.float32(value)))


def _import_activation(class_name, **attributes):
    """An elementwise ONNX operator -> our layer; attributes maps our argument to (ONNX name, default)."""
    def import_layer(importer, node):
        given = importer.attributes(node)
        importer.add(layer_class(class_name)(**{ours: _shortest(given.get(theirs, default))
                                                for ours, (theirs, default) in attributes.items()}))
    return import_layer


@onnx_importer("Identity")
def _import_identity(importer, node):
    return None


@onnx_importer("Gelu")
def _import_gelu(importer, node):
    approximate = importer.attributes(node).get("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    importer.add(layer_class("GELU")(approximate=approximate == "tanh"))


@onnx_importer("Softmax")
def _import_softmax(importer, node):
    axis = importer.attributes(node).get("axis", -1)
    if importer.onnx_axis_to_ours(axis) != len(importer.shape):
        importer.fail(f"Softmax node {node.name!r} over axis {axis}: only the feature (last, channel) axis is "
                      "supported")
    importer.add(layer_class("Softmax")())


@onnx_importer("Dropout")
def _import_dropout(importer, node):
    ratio = importer.constant(node, 1, required=False)
    training = importer.constant(node, 2, required=False)
    if training is not None and bool(training):
        importer.fail(f"Dropout node {node.name!r} is in training mode")
    importer.add(layer_class("Dropout")(rate=0.5 if ratio is None else _shortest(ratio)))


def _dense(importer, node, kernel, bias):
    if len(importer.shape) != 1:
        importer.fail(f"{node.op_type} node {node.name!r} needs a 2-D (N, features) input, got "
                      f"{len(importer.shape) + 1} axes")
    if kernel.shape[0] != importer.shape[0]:
        importer.fail(f"{node.op_type} node {node.name!r}: a kernel of {kernel.shape[0]} rows for an input of "
                      f"{importer.shape[0]} features")
    if bias is not None and np.size(bias) != kernel.shape[1]:
        importer.fail(f"{node.op_type} node {node.name!r}: a bias (C) of shape {np.shape(bias)} for {kernel.shape[1]} "
                      "outputs; only a vector of one value per output (or a scalar) is supported")
    if importer.row_order is not None:
        kernel, importer.row_order = kernel[nchw_rows(importer)], None
    importer.add(layer_class("Dense")(kernel.shape[1], use_bias=bias is not None), kernel=kernel,
                 **({} if bias is None else {"bias": np.reshape(bias, -1)}))


@onnx_importer("Gemm")
def _import_gemm(importer, node):
    attributes = importer.attributes(node)
    if attributes.get("transA", 0):
        importer.fail(f"Gemm node {node.name!r} with transA=1 is not supported")
    kernel = importer.constant(node, 1) * attributes.get("alpha", 1.0)
    kernel = kernel.T if attributes.get("transB", 0) else kernel
    bias = importer.constant(node, 2, required=False)
    if bias is not None:
        if np.ndim(bias) > 1 and np.shape(bias)[0] != 1 or np.size(bias) not in (1, kernel.shape[1]):
            importer.fail(f"Gemm node {node.name!r}: C of shape {list(np.shape(bias))} is not a vector of one value "
                          f"per output ({kernel.shape[1]}) or a scalar; a matrix C (a per-sample bias) is not "
                          "supported")
        bias = np.broadcast_to(bias * attributes.get("beta", 1.0), (1, kernel.shape[1]))
    _dense(importer, node, kernel, bias)


@onnx_importer("MatMul")
def _import_matmul(importer, node):
    """MatMul by a constant, with the following Add of a constant vector taken as the bias."""
    kernel = importer.constant(node, 1)
    if kernel.ndim != 2:
        importer.fail(f"MatMul node {node.name!r}: the second operand must be a 2-D constant")
    if node.output[0] == importer.output:                  # the graph's last node: a Dense without bias
        _dense(importer, node, kernel, None)
        return None
    following, output = importer.region(node.output[0])
    if len(following) == 1 and following[0].op_type == "Add":
        operands = [name for name in following[0].input if name != node.output[0]]
        value = importer.constants.get(operands[0]) if len(operands) == 1 else None
        if value is not None and np.size(value) == kernel.shape[1]:
            _dense(importer, node, kernel, value)
            return output
    _dense(importer, node, kernel, None)
    return None


def _flatten(importer):
    """A Flatten layer; after an NCHW tensor, remember where each (C, H, W) value lands in our (H, W, C) order."""
    if len(importer.shape) == 3 and importer.channels_first:
        importer.row_order = importer.shape                # (H, W, C): the permutation is made when used
        importer.channels_first = False
    importer.add(layer_class("Flatten")())


def nchw_rows(importer):
    """Where each value of a flattened (C, H, W) tensor lands in our flattened (H, W, C) order."""
    height, width, channels = importer.row_order
    return np.arange(channels * height * width).reshape(channels, height, width).transpose(1, 2, 0).reshape(-1)


@onnx_importer("Flatten")
def _import_flatten(importer, node):
    if importer.attributes(node).get("axis", 1) != 1:
        importer.fail(f"Flatten node {node.name!r}: only axis=1 is supported")
    importer.require_our_order(node)
    _flatten(importer)


@onnx_importer("Reshape")
def import_reshape(importer, node, shape=None):
    """Reshape to a constant shape, or to one computed from the input's (see import_computed_reshape)."""
    shape = [int(d) for d in (importer.constant(node, 1) if shape is None else shape)]
    importer.require_our_order(node)
    if importer.attributes(node).get("allowzero", 0) and 0 in shape:   # without a 0 the flag changes nothing
        importer.fail(f"Reshape node {node.name!r} with allowzero=1 and a 0 in its shape {shape} is not supported")
    if shape[0] not in (0, -1, importer.batch) or (shape[0] == -1 and -1 in shape[1:]):
        importer.fail(f"Reshape node {node.name!r} to {shape}: the batch axis must stay first (0 or -1)")
    dims = importer.onnx_dims()
    target = [dims[i] if d == 0 else d for i, d in enumerate(shape[1:])]
    if importer.channels_first and len(dims) == 3:
        if len(target) != 1 or target[0] not in (-1, int(np.prod(dims))):
            importer.fail(f"Reshape node {node.name!r} of an NCHW tensor to {shape}: only flattening is supported")
        return _flatten(importer)
    importer.add(layer_class("Reshape")(tuple(target)))


@onnx_importer("Transpose")
def _import_transpose(importer, node):
    perm = tuple(importer.attributes(node).get("perm", ()))
    importer.require_our_order(node)
    if len(importer.shape) == 3 and perm == (TO_NHWC if importer.channels_first else TO_NCHW):
        importer.channels_first = not importer.channels_first
    else:
        importer.fail(f"Transpose node {node.name!r} with perm {list(perm)} is not supported (only NHWC <-> NCHW)")


def _import_pooling(class_name):
    def import_layer(importer, node):
        importer.image_node(node)
        attributes = importer.attributes(node)
        if "kernel_shape" not in attributes:
            importer.fail(f"{node.op_type} node {node.name!r} has no kernel_shape attribute (required by ONNX)")
        pool_size = tuple(attributes["kernel_shape"])
        strides = tuple(attributes.get("strides", (1, 1)))
        unsupported = {name: attributes[name] for name in ("ceil_mode", "storage_order") if attributes.get(name)}
        if any(d != 1 for d in attributes.get("dilations", (1, 1))):
            unsupported["dilations"] = attributes["dilations"]
        counts_padding = attributes.get("count_include_pad", 0) and any(attributes.get("pads", ()))
        if class_name == "AveragePooling2D" and counts_padding:
            unsupported["count_include_pad"] = 1
        if unsupported:
            importer.fail(f"{node.op_type} node {node.name!r}: {unsupported} is not supported")
        padding = importer.padding(node, pool_size, strides, attributes)
        importer.add(layer_class(class_name)(pool_size, strides=strides, padding=padding))
    return import_layer


def _import_global_pooling(class_name):
    """GlobalAveragePool / GlobalMaxPool give (N, C, 1, 1); the Flatten (or Reshape) that follows is ours."""
    def import_layer(importer, node):
        importer.image_node(node)
        following, output = importer.region(node.output[0])
        if len(following) != 1 or following[0].op_type not in ("Flatten", "Reshape", "Squeeze"):
            importer.fail(f"{node.op_type} node {node.name!r} must be followed by a Flatten to (N, C)")
        importer.channels_first = False
        importer.add(layer_class(class_name)())
        return output
    return import_layer


@onnx_importer("BatchNormalization")
def _import_batch_norm(importer, node):
    attributes = importer.attributes(node)
    if attributes.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
        importer.fail(f"BatchNormalization node {node.name!r} is in training mode")
    gamma, beta, mean, variance = (importer.constant(node, i) for i in range(1, 5))
    channels = importer.onnx_dims()[0]
    if any(np.size(a) not in (1, channels) for a in (gamma, beta, mean, variance)):
        importer.fail(f"BatchNormalization node {node.name!r}: scale, bias, mean and variance need {channels} "
                      f"values (the input's channels), got {[np.size(a) for a in (gamma, beta, mean, variance)]}")
    if importer.row_order is not None:
        rows = nchw_rows(importer)
        gamma, beta, mean, variance = (np.broadcast_to(a, importer.shape)[rows] for a in (gamma, beta, mean, variance))
    axis = importer.onnx_axis_to_ours(1)
    normalization = layer_class("BatchNormalization")(axis=-1 if axis == len(importer.shape) else axis,
                                                      momentum=_shortest(attributes.get("momentum", 0.9)),
                                                      epsilon=_shortest(attributes.get("epsilon", 1e-5)))
    importer.add(normalization, gamma=gamma, beta=beta, moving_mean=mean, moving_variance=variance)


for _op_type, _importer in {
    "Relu": _import_activation("ReLU"), "Sigmoid": _import_activation("Sigmoid"), "Tanh": _import_activation("Tanh"),
    "Softplus": _import_activation("Softplus"), "LeakyRelu": _import_activation("LeakyReLU", alpha=("alpha", 0.01)),
    "Elu": _import_activation("ELU", alpha=("alpha", 1.0)), "MaxPool": _import_pooling("MaxPooling2D"),
    "AveragePool": _import_pooling("AveragePooling2D"),
    "GlobalAveragePool": _import_global_pooling("GlobalAveragePooling2D"),
    "GlobalMaxPool": _import_global_pooling("GlobalMaxPooling2D"),
}.items():                                  # made by the factories above
    onnx_importer(_op_type)(_importer)

SCALAR_ARITHMETIC = ("Add", "Sub", "Mul", "Div")
CAST_TYPES = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}    # TensorProto element types
FOLDED_VALUES = 1 << 20                     # the most values one constant computed from constants may hold


def _constant_of_shape(operands, attributes):
    shape = [int(d) for d in np.reshape(operands[0], -1)]
    if any(d < 0 for d in shape) or math.prod(shape) > FOLDED_VALUES:
        raise ValueError(f"a constant of shape {shape}: a negative size or over {FOLDED_VALUES} values")
    value = np.reshape(attributes.get("value", np.zeros(1, np.float32)), -1)
    return np.full(shape, value[0], dtype=value.dtype)


def _slice(operands, attributes):
    """ONNX Slice of a constant: starts, ends (axes, steps) as inputs (opset 10 on) or attributes (before);
    Python's slices clamp out-of-range bounds as ONNX does."""
    data = np.asarray(operands[0])
    if len(operands) > 1:
        starts, ends = operands[1], operands[2]
        axes = operands[3] if len(operands) > 3 else range(np.size(starts))
        steps = operands[4] if len(operands) > 4 else [1] * np.size(starts)
    else:
        starts, ends = attributes["starts"], attributes["ends"]
        axes, steps = attributes.get("axes", range(len(starts))), [1] * len(starts)
    index = [slice(None)] * data.ndim
    for axis, start, end, step in zip(*(np.reshape(list(v), -1) for v in (axes, starts, ends, steps))):
        index[int(axis)] = slice(int(start), int(end), int(step))
    return data[tuple(index)]


def _reshape(operands, attributes):
    shape = [int(d) for d in np.reshape(operands[1], -1)]
    return np.reshape(operands[0], [np.shape(operands[0])[i] if d == 0 else d for i, d in enumerate(shape)])


SHAPE_OPERATIONS = {   # what a shape computation (or any constants-only node) may use, evaluated at import
    "Gather": lambda operands, attributes: np.take(operands[0], operands[1], axis=attributes.get("axis", 0)),
    "Unsqueeze": lambda operands, attributes: np.expand_dims(
        operands[0], tuple(operands[1] if len(operands) > 1 else attributes["axes"])),
    "Squeeze": lambda operands, attributes: np.squeeze(operands[0], axis=tuple(np.reshape(
        operands[1], -1)) if len(operands) > 1 else tuple(attributes["axes"]) if "axes" in attributes else None),
    "Concat": lambda operands, attributes: np.concatenate([np.atleast_1d(o) for o in operands],
                                                          axis=attributes.get("axis", 0)),
    "Cast": lambda operands, attributes: np.asarray(operands[0], dtype=CAST_TYPES.get(attributes.get("to"), np.int64)),
    "Transpose": lambda operands, attributes: np.transpose(operands[0], attributes.get("perm")),
    "Reshape": _reshape, "Slice": _slice, "ConstantOfShape": _constant_of_shape,
}
ELEMENTWISE = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power,
               "Tanh": np.tanh, "Erf": np.vectorize(math.erf, otypes=[float]), "Sqrt": np.sqrt}
