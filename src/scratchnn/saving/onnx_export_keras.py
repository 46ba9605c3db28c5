"""ONNX forms of issue 16's layers: the activations Keras has, the preprocessing layers and augmentation.

Each exporter takes (builder, layer, x, hint) like those of onnx_export.py and returns the output's name.
ONNX has Selu, HardSigmoid (alpha = 1/6, beta = 1/2 is relu6(x + 3) / 6), PRelu and, from opset 18, Mish;
SiLU is x * Sigmoid(x) and ReLU6 a Clip. Rescaling and Normalization are a Mul / Add and a Sub / Div with
their numbers as constants (the model file's buffers at export time); the augmentation layers are the
identity, as at inference.
"""
from __future__ import annotations

import numpy as np

from ..layers.activations import SELU_ALPHA, SELU_SCALE
from .onnx_registry import exporters, onnx_exporter

MISH_OPSET = 18


def _per_position(builder, hint, array, rank):
    """A constant laid out like one sample in NHWC order (broadcasting from the right), moved to NCHW when
    the graph's 4-D tensor is channels-first at this point."""
    array = np.asarray(array)
    if rank == 4 and builder.channels_first and array.ndim >= 1:
        array = array.reshape((1,) * (3 - array.ndim) + array.shape).transpose(2, 0, 1)
    return builder.constant(hint, array)


@onnx_exporter("SELU")
def _export_selu(builder, layer, x, hint):
    return builder.node("Selu", [x], hint, alpha=SELU_ALPHA, gamma=SELU_SCALE)


@onnx_exporter("SiLU")
def _export_silu(builder, layer, x, hint):                          # y = x * sigmoid(x)
    return builder.node("Mul", [x, builder.node("Sigmoid", [x], f"{hint}_sigmoid")], hint)


@onnx_exporter("ReLU6")
def _export_relu6(builder, layer, x, hint):                         # y = clip(x, 0, 6)
    return builder.node("Clip", [x, builder.constant(f"{hint}_min", 0.0), builder.constant(f"{hint}_max", 6.0)], hint)


@onnx_exporter("HardSigmoid")
def _export_hard_sigmoid(builder, layer, x, hint):                  # y = max(0, min(1, x / 6 + 1/2))
    return builder.node("HardSigmoid", [x], hint, alpha=1 / 6, beta=0.5)


@onnx_exporter("Mish")
def _export_mish(builder, layer, x, hint):
    if builder.opset >= MISH_OPSET:
        return builder.node("Mish", [x], hint)
    softplus = builder.node("Softplus", [x], f"{hint}_softplus")    # y = x tanh(softplus(x))
    return builder.node("Mul", [x, builder.node("Tanh", [softplus], f"{hint}_tanh")], hint)


@onnx_exporter("PReLU")
def _export_prelu(builder, layer, x, hint):                         # y = x if x > 0 else alpha x
    slope = _per_position(builder, f"{hint}_alpha", layer.params["alpha"], len(layer.input_shape) + 1)
    return builder.node("PRelu", [x, slope], hint)


@onnx_exporter("Activation")
def _export_activation(builder, layer, x, hint):
    """Activation("name"): the named activation's own form."""
    return exporters()[type(layer.function).__name__](builder, layer.function, x, hint)


@onnx_exporter("Rescaling")
def _export_rescaling(builder, layer, x, hint):                     # y = x * scale + offset
    rank = len(layer.input_shape) + 1
    y = builder.node("Mul", [x, _per_position(builder, f"{hint}_scale", layer.scale_array, rank)], f"{hint}_scaled")
    return builder.node("Add", [y, _per_position(builder, f"{hint}_offset", layer.offset_array, rank)], hint)


@onnx_exporter("Normalization")
def _export_normalization(builder, layer, x, hint):                 # y = (x - mean) / max(sqrt(variance), eps)
    from ..layers.preprocessing import EPSILON
    rank = len(layer.input_shape) + 1
    std = np.maximum(np.sqrt(layer.buffers["variance"]), EPSILON)
    centred = builder.node("Sub", [x, _per_position(builder, f"{hint}_mean", layer.buffers["mean"], rank)],
                           f"{hint}_centred")
    return builder.node("Div", [centred, _per_position(builder, f"{hint}_std", std, rank)], hint)


@onnx_exporter("RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom")
def _export_identity(builder, layer, x, hint):
    return builder.node("Identity", [x], hint)

