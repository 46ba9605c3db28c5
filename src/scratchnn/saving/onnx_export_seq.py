"""ONNX export of the non-recurrent sequence layers: Conv1D, the 1-D poolings, LayerNormalization,
MultiHeadAttention (self-attention, as a Sequential uses it) and PositionEmbedding.

Sequences are (N, steps, channels) in scratchnn and (N, channels, steps) in ONNX's Conv and pooling operators:
each of those is exported between two Transposes (perm [0, 2, 1]), so every 3-D tensor between layers keeps our
axis order. Attention is written out as MatMul / Softmax (the operators every runtime has), the mask as a
constant boolean table and a Where that sets the hidden logits to -1e9, as the layer does. The exporters register
themselves in onnx_registry.py.
"""
from __future__ import annotations

import math

import numpy as np

from ..layers.attention import LARGE_NEGATIVE
from .onnx_export_mask import attention_padding, masked_average
from .onnx_registry import onnx_exporter

TO_CHANNELS_FIRST = TO_STEPS_FIRST = [0, 2, 1]      # (N, T, C) <-> (N, C, T): the same swap both ways


def _channels_first(builder, x, hint):
    return builder.node("Transpose", [x], f"{hint}_to_nct", perm=TO_CHANNELS_FIRST)


def _steps_first(builder, x, hint):
    return builder.node("Transpose", [x], hint, perm=TO_STEPS_FIRST)


def _reduce(builder, op_type, x, axes, hint, keepdims):
    """ReduceMean / ReduceMax over axes: an attribute up to opset 17, an input from opset 18."""
    if builder.opset >= 18:
        return builder.node(op_type, [x, builder.constant(f"{hint}_axes", axes, dtype=np.int64)], hint,
                            keepdims=int(keepdims))
    return builder.node(op_type, [x], hint, axes=list(axes), keepdims=int(keepdims))


@onnx_exporter("Conv1D")
def _export_conv1d(builder, layer, x, hint):
    """Conv with a 1-D kernel: weight (filters, C_in, k) = our (k, C_in, filters) transposed; pads [before, after]
    ("causal": (k - 1) * dilation before, none after)."""
    inputs = [_channels_first(builder, x, hint),
              builder.constant(f"{hint}_kernel", layer.params["kernel"].transpose(2, 1, 0))]
    if layer.use_bias:
        inputs.append(builder.constant(f"{hint}_bias", layer.params["bias"]))
    y = builder.node("Conv", inputs, f"{hint}_conv", kernel_shape=[layer.kernel_size], strides=[layer.strides],
                     dilations=[layer.dilation_rate], pads=list(layer.pads))
    return _steps_first(builder, y, hint)


def _export_pooling1d(op_type, **attributes):
    def exporter(builder, layer, x, hint):
        y = builder.node(op_type, [_channels_first(builder, x, hint)], f"{hint}_pool", kernel_shape=[layer.pool_size],
                         strides=[layer.strides], pads=list(layer.pads), **attributes)
        return _steps_first(builder, y, hint)
    return exporter


def _export_global_pooling1d(op_type):
    def exporter(builder, layer, x, hint):
        if builder.mask is not None and op_type == "ReduceMean":                # the mean over the real steps
            return masked_average(builder, x, builder.mask, layer.keepdims, hint)
        return _reduce(builder, op_type, x, [1], hint, layer.keepdims)          # over the steps
    return exporter


@onnx_exporter("LayerNormalization")
def _export_layer_norm(builder, layer, x, hint):
    """ONNX LayerNormalization (opset 17+) normalises the trailing axes: ours are moved there first (in their
    order) and back after; below opset 17, its decomposition (mean, variance, scale, shift)."""
    rank = len(layer.input_shape) + 1
    axes = list(layer.axes)
    order = [a for a in range(rank) if a not in axes] + axes
    if order != list(range(rank)):
        x = builder.node("Transpose", [x], f"{hint}_axes_last", perm=order)
    shape = tuple(layer.input_shape[a - 1] for a in axes)
    gamma = builder.constant(f"{hint}_gamma", layer.params["gamma"] if layer.scale else np.ones(shape))
    beta = builder.constant(f"{hint}_beta", layer.params["beta"] if layer.center else np.zeros(shape))
    first = rank - len(axes)
    if builder.opset >= 17:
        y = builder.node("LayerNormalization", [x, gamma, beta], f"{hint}_norm", axis=first, epsilon=layer.epsilon)
    else:
        trailing = list(range(first, rank))
        mean = _reduce(builder, "ReduceMean", x, trailing, f"{hint}_mean", True)       # mu = mean x
        centered = builder.node("Sub", [x, mean], f"{hint}_centered")
        square = builder.node("Mul", [centered, centered], f"{hint}_square")
        var = _reduce(builder, "ReduceMean", square, trailing, f"{hint}_var", True)    # var = mean (x - mu)^2
        std = builder.node("Sqrt", [builder.node("Add", [var, builder.constant(f"{hint}_epsilon", layer.epsilon)],
                                                 f"{hint}_var_eps")], f"{hint}_std")
        x_hat = builder.node("Div", [centered, std], f"{hint}_x_hat")                  # (x - mu) / sigma
        y = builder.node("Add", [builder.node("Mul", [x_hat, gamma], f"{hint}_scaled"), beta], f"{hint}_norm")
    if order != list(range(rank)):
        y = builder.node("Transpose", [y], f"{hint}_axes_back", perm=[int(i) for i in np.argsort(order)])
    return builder.node("Identity", [y], hint)


@onnx_exporter("MultiHeadAttention")
def _export_attention(builder, layer, x, hint):
    """Self-attention: query, key and value are x."""
    return _attention(builder, layer, {"query": x, "key": x, "value": x}, hint, (builder.mask, builder.mask))


@onnx_exporter("MultiHeadAttention", merge=True)
def _export_cross_attention(builder, layer, xs, hint):
    """A functional model's cross-attention: [query, value] (the key is the value) or [query, value, key], with
    the padding masks of the query and of the key (the value's when the key has none)."""
    masks = list(builder.input_masks) + [None]
    padding = (masks[0], masks[1] if len(xs) < 3 or masks[2] is None else masks[2])
    return _attention(builder, layer, {"query": xs[0], "value": xs[1], "key": xs[2] if len(xs) > 2 else xs[1]}, hint,
                      padding)


def _attention(builder, layer, sources, hint, padding):
    """Attention as MatMul / Softmax: Q, K, V projections (of sources[part]) split into heads,
    softmax(Q K^T / sqrt(d_k)) V, the heads joined and projected. The 1 / sqrt(d_k) is folded into the query's
    kernel and bias. padding: the masks (N, T) of the queries and (N, S) of the keys, or None."""
    heads, scale = layer.num_heads, 1 / math.sqrt(layer.key_dim)
    p = layer.params

    def project(part, factor=1.0):                       # (N, S, F) -> (N, S, h * d) -> (N, h, S, d)
        kernel = p[f"{part}_kernel"]
        y = builder.node("MatMul", [sources[part], builder.constant(f"{hint}_{part}_kernel",
                                                        kernel.reshape(kernel.shape[0], -1) * factor)],
                         f"{hint}_{part}_product")
        if layer.use_bias:
            bias = builder.constant(f"{hint}_{part}_bias", p[f"{part}_bias"].reshape(-1) * factor)
            y = builder.node("Add", [y, bias], f"{hint}_{part}_biased")
        shape = builder.constant(f"{hint}_{part}_heads_shape", [0, 0, heads, kernel.shape[2]], dtype=np.int64)
        return builder.node("Reshape", [y, shape], f"{hint}_{part}_heads")   # (N, S, h, d); 0 keeps that axis

    query = builder.node("Transpose", [project("query", scale)], f"{hint}_q", perm=[0, 2, 1, 3])   # (N, h, T, d)
    key_t = builder.node("Transpose", [project("key")], f"{hint}_k_t", perm=[0, 2, 3, 1])          # (N, h, d, S)
    value = builder.node("Transpose", [project("value")], f"{hint}_v", perm=[0, 2, 1, 3])          # (N, h, S, d)
    logits = builder.node("MatMul", [query, key_t], f"{hint}_logits")                              # (N, h, T, S)
    allowed = None                                                           # the pairs (t, s) that may attend
    if layer.use_causal_mask:
        steps, key_steps = layer.shapes["query"][0], layer.shapes["key"][0]
        allowed = builder.constant(f"{hint}_causal", np.arange(steps)[:, None] >= np.arange(key_steps)[None, :],
                                   dtype=bool)                                                     # s <= t
    padding = attention_padding(builder, *padding, hint)         # a padded step neither reads nor is read
    if padding is not None:                                                                        # (N, 1, T, S)
        allowed = padding if allowed is None else builder.node("And", [padding, allowed], f"{hint}_allowed")
    if allowed is not None:
        logits = builder.node("Where", [allowed, logits, builder.constant(f"{hint}_masked", LARGE_NEGATIVE)],
                              f"{hint}_masked_logits")
    weights = builder.node("Softmax", [logits], f"{hint}_weights", axis=-1)
    attended = builder.node("MatMul", [weights, value], f"{hint}_attended")                        # (N, h, T, d_v)
    joined = builder.node("Reshape", [builder.node("Transpose", [attended], f"{hint}_steps_first", perm=[0, 2, 1, 3]),
                                      builder.constant(f"{hint}_joined_shape", [0, 0, -1], dtype=np.int64)],
                          f"{hint}_joined")                                                         # (N, T, h d_v)
    kernel = p["output_kernel"]
    flat_kernel = builder.constant(f"{hint}_output_kernel", kernel.reshape(-1, kernel.shape[-1]))
    y = builder.node("MatMul", [joined, flat_kernel], f"{hint}_output" if layer.use_bias else hint)
    if layer.use_bias:
        y = builder.node("Add", [y, builder.constant(f"{hint}_output_bias", p["output_bias"])], hint)
    return y


@onnx_exporter("PositionEmbedding")
def _export_position_embedding(builder, layer, x, hint):
    table = layer.params["embeddings"][:layer.input_shape[0]]                  # y = x + E[:T]
    return builder.node("Add", [x, builder.constant(f"{hint}_embeddings", table)], hint)


onnx_exporter("MaxPooling1D")(_export_pooling1d("MaxPool"))
onnx_exporter("AveragePooling1D")(_export_pooling1d("AveragePool", count_include_pad=0))
onnx_exporter("GlobalAveragePooling1D")(_export_global_pooling1d("ReduceMean"))
onnx_exporter("GlobalMaxPooling1D")(_export_global_pooling1d("ReduceMax"))
