"""ONNX forms of the 2-D convolutions, both directions: Conv2D (Conv; ``groups`` is Conv's ``group``),
DepthwiseConv2D (Conv with group = channels), SeparableConv2D (that Conv, then a 1x1 Conv) and
Conv2DTranspose (ConvTranspose).

The convolutions run channels-first: export transposes to NCHW before them (the builder's ``channels``),
import requires an NCHW tensor (``importer.image_node``). Kernels: ours are (kh, kw, C_in / groups, F), ONNX's
(F, C_in / group, kh, kw); ConvTranspose's (C_in, F, kh, kw) is ours (kh, kw, F, C_in) transposed.
Import decides by ``group`` which layer a Conv is: 1 a Conv2D, the input's channel count a DepthwiseConv2D
(fused with a 1x1 Conv that alone reads it, the exact pattern export writes, into one SeparableConv2D), any
other divisor a grouped Conv2D.
"""
from __future__ import annotations

import numpy as np

from ..registry import layer_class
from .onnx_export import window_pads
from .onnx_registry import onnx_exporter, onnx_importer


# ---- export ------------------------------------------------------------------------------------------------
def _bias(builder, layer, inputs, hint):
    if layer.use_bias:
        inputs.append(builder.constant(f"{hint}_bias", layer.params["bias"]))
    return inputs


@onnx_exporter("Conv2D")
def _export_conv(builder, layer, x, hint):
    x = builder.channels(x, 4, first=True)
    span = [(k - 1) * d + 1 for k, d in zip(layer.kernel_size, layer.dilation_rate)]
    inputs = [x, builder.constant(f"{hint}_kernel", layer.params["kernel"].transpose(3, 2, 0, 1))]
    return builder.node("Conv", _bias(builder, layer, inputs, hint), hint, kernel_shape=list(layer.kernel_size),
                        strides=list(layer.strides), dilations=list(layer.dilation_rate),
                        pads=window_pads(layer, span), group=layer.groups)


@onnx_exporter("Conv2DTranspose")
def _export_conv_transpose(builder, layer, x, hint):
    """ConvTranspose with weight (C_in, F, kh, kw) = our (kh, kw, F, C_in) transposed. ONNX's output length is
    (in - 1) s + span + output_padding - pad_begin - pad_end: pad_begin is our crop start, and the rest of the
    window [start, start + out) is either cut off the end (pad_end) or added at it (output_padding, < stride)."""
    x = builder.channels(x, 4, first=True)
    (top, left), _ = layer.crops
    begins, ends, extras = [top, left], [], []
    for size, out, kernel, stride, dilation, start in zip(layer.input_shape[:2], layer.output_shape[:2],
                                                          layer.kernel_size, layer.strides, layer.dilation_rate,
                                                          begins):
        extra = start + out - ((size - 1) * stride + (kernel - 1) * dilation + 1)
        ends.append(max(-extra, 0))
        extras.append(max(extra, 0))
    inputs = [x, builder.constant(f"{hint}_kernel", layer.params["kernel"].transpose(3, 2, 0, 1))]
    return builder.node("ConvTranspose", _bias(builder, layer, inputs, hint), hint,
                        kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                        dilations=list(layer.dilation_rate), pads=begins + ends, output_padding=extras)


def _depthwise_conv(builder, layer, x, kernel, hint, inputs_after=()):
    """Conv(group = C): our depthwise kernel (kh, kw, C, dm) as ONNX's (C dm, 1, kh, kw)."""
    kh, kw, channels, multiplier = kernel.shape
    weight = kernel.reshape(kh, kw, channels * multiplier).transpose(2, 0, 1)[:, None]
    (top, bottom), (left, right) = layer.pads                          # TensorFlow's "same" (or none)
    inputs = [builder.channels(x, 4, first=True), builder.constant(f"{hint}_depthwise_kernel", weight),
              *inputs_after]
    return builder.node("Conv", inputs, hint, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                        dilations=list(layer.dilation_rate), pads=[top, left, bottom, right], group=channels)


@onnx_exporter("DepthwiseConv2D")
def _export_depthwise(builder, layer, x, hint):
    bias = [builder.constant(f"{hint}_bias", layer.params["bias"])] if layer.use_bias else []
    return _depthwise_conv(builder, layer, x, layer.params["kernel"], hint, bias)


@onnx_exporter("SeparableConv2D")
def _export_separable(builder, layer, x, hint):
    z = _depthwise_conv(builder, layer, x, layer.params["depthwise_kernel"], f"{hint}_depthwise")
    inputs = [z, builder.constant(f"{hint}_pointwise_kernel", layer.params["pointwise_kernel"].transpose(3, 2, 0, 1))]
    return builder.node("Conv", _bias(builder, layer, inputs, hint), hint, kernel_shape=[1, 1])


# ---- import ------------------------------------------------------------------------------------------------
def _weights(importer, node, attributes, axis, count, layout):
    """The 4-D weight constant with ``count`` on ``axis``; kernel_shape, when given, checked against it."""
    weights = importer.constant(node, 1)
    if np.ndim(weights) != 4 or weights.shape[axis] != count:
        importer.fail(f"{node.op_type} node {node.name!r}: weights of shape {list(np.shape(weights))} for an input of "
                      f"{importer.onnx_dims()[0]} channels (expected {layout})")
    if "kernel_shape" in attributes and tuple(attributes["kernel_shape"]) != weights.shape[2:]:
        importer.fail(f"{node.op_type} node {node.name!r}: kernel_shape {list(attributes['kernel_shape'])} differs "
                      f"from the weights' {list(weights.shape[2:])}")
    return weights


def _bias_of(importer, node, outputs):
    bias = importer.constant(node, 2, required=False)
    if bias is not None and np.size(bias) != outputs:
        importer.fail(f"{node.op_type} node {node.name!r}: a bias of shape {list(np.shape(bias))} for {outputs} "
                      "output channels")
    return {} if bias is None else {"bias": np.reshape(bias, -1)}


@onnx_importer("Conv")
def _import_conv(importer, node):
    importer.image_node(node)
    attributes = importer.attributes(node)
    channels, group = importer.onnx_dims()[0], attributes.get("group", 1)
    if group < 1 or channels % group:
        importer.fail(f"Conv node {node.name!r}: group={group} does not divide the input's {channels} channels")
    weights = _weights(importer, node, attributes, 1, channels // group, f"(filters, {channels // group}, kh, kw)")
    filters, kernel_size = weights.shape[0], tuple(weights.shape[2:])
    if filters % group:
        importer.fail(f"Conv node {node.name!r}: group={group} does not divide its {filters} filters")
    strides = tuple(attributes.get("strides", (1, 1)))
    dilations = tuple(attributes.get("dilations", (1, 1)))
    span = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilations)]
    padding = importer.padding(node, span, strides, attributes)
    bias = _bias_of(importer, node, filters)
    window = {"strides": strides, "padding": padding, "dilation_rate": dilations}
    if group == channels and group > 1:                             # one group per channel: depthwise
        kernel = weights[:, 0].transpose(1, 2, 0).reshape(*kernel_size, channels, filters // channels)
        if not bias:
            separable = _pointwise_after(importer, node, filters)
            if separable is not None:
                pointwise, pointwise_bias, end = separable
                importer.add(layer_class("SeparableConv2D")(pointwise.shape[0], kernel_size, depth_multiplier=(
                    filters // channels), use_bias=bool(pointwise_bias), **window), depthwise_kernel=kernel,
                    pointwise_kernel=pointwise.transpose(2, 3, 1, 0), **pointwise_bias)
                return end
        importer.add(layer_class("DepthwiseConv2D")(kernel_size, depth_multiplier=filters // channels,
                                                    use_bias=bool(bias), **window), kernel=kernel, **bias)
        return None
    conv = layer_class("Conv2D")(filters, kernel_size, groups=group, use_bias=bool(bias), **window)
    importer.add(conv, kernel=weights.transpose(2, 3, 1, 0), **bias)
    return None


def _pointwise_after(importer, node, channels):
    """(weights, bias, end) of a 1x1 Conv (stride 1, no padding, group 1) that alone reads the depthwise
    Conv's output, as export writes a SeparableConv2D; None when what follows is anything else."""
    if node.output[0] == importer.output:                          # the chain's last node
        return None
    following, end = importer.region(node.output[0])
    if len(following) != 1 or following[0].op_type != "Conv" or list(following[0].input[:1]) != [node.output[0]]:
        return None
    pointwise = following[0]
    attributes = importer.attributes(pointwise)
    weights = importer.constants.get(pointwise.input[1]) if len(pointwise.input) > 1 else None
    auto_pad = attributes.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if weights is None or np.ndim(weights) != 4 or weights.shape[1:] != (channels, 1, 1) or \
            attributes.get("group", 1) != 1 or any(attributes.get("pads", ())) or \
            any(s != 1 for s in attributes.get("strides", ())) or auto_pad not in ("NOTSET", "VALID"):
        return None
    bias = importer.constant(pointwise, 2, required=False)
    if bias is not None and np.size(bias) != weights.shape[0]:
        return None
    return weights, {} if bias is None else {"bias": np.reshape(bias, -1)}, end


@onnx_importer("ConvTranspose")
def _import_conv_transpose(importer, node):
    """A Conv2DTranspose whose padding ("valid" / "same") and output_padding give the same output window:
    ONNX's output is the window [pad_begin, pad_begin + out) of the full scatter ((in - 1) s + span long,
    zero-extended by output_padding), out = (in - 1) s + span + output_padding - pad_begin - pad_end."""
    importer.image_node(node)
    attributes = importer.attributes(node)
    channels = importer.onnx_dims()[0]
    for name in ("group", "output_shape"):
        if name in attributes and attributes[name] != 1:
            importer.fail(f"ConvTranspose node {node.name!r}: attribute {name}={attributes[name]} is not supported"
                          f"{' (give pads instead)' if name == 'output_shape' else ''}")
    weights = _weights(importer, node, attributes, 0, channels, f"({channels}, filters, kh, kw)")
    filters, kernel_size = weights.shape[1], tuple(weights.shape[2:])
    strides = tuple(attributes.get("strides", (1, 1)))
    dilations = tuple(attributes.get("dilations", (1, 1)))
    extras = list(attributes.get("output_padding", (0, 0)))
    spans = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilations)]
    fulls = [(size - 1) * s + span for size, s, span in zip(importer.shape[:2], strides, spans)]
    pads = _transpose_pads(importer, node, attributes, fulls, extras, strides)
    starts = tuple(pads[:2])
    outs = tuple(full + extra - begin - end for full, extra, begin, end in zip(fulls, extras, pads[:2], pads[2:]))
    bias = _bias_of(importer, node, filters)
    for padding in ("valid", "same"):
        for output_padding in (None, tuple(out - full + (2 * (span // 2) if padding == "same" else 0)
                                           for out, full, span in zip(outs, fulls, spans))):
            try:
                layer = layer_class("Conv2DTranspose")(filters, kernel_size, strides=strides, padding=padding,
                                                       output_padding=output_padding, dilation_rate=dilations,
                                                       use_bias=bool(bias))
                shape = layer.compute_output_shape(importer.shape)
            except ValueError:                                     # an output_padding the layer does not take
                continue
            if shape[:2] == outs and layer.crops[0] == starts:
                return importer.add(layer, kernel=weights.transpose(2, 3, 1, 0), **bias)
    try:        # any other window (PyTorch's padding=1, output_padding=1): the whole scatter, then a crop
        layer = layer_class("Conv2DTranspose")(filters, kernel_size, strides=strides, padding="valid",
                                               output_padding=tuple(extras),  # out = full + extra
                                               dilation_rate=dilations, use_bias=bool(bias))
        layer.compute_output_shape(importer.shape)
    except ValueError as error:
        importer.fail(f"ConvTranspose node {node.name!r}: pads {pads} with output_padding {extras}: {error}")
    importer.add(layer, kernel=weights.transpose(2, 3, 1, 0), **bias)
    importer.add(layer_class("Cropping2D")(((pads[0], pads[2]), (pads[1], pads[3]))))


def _transpose_pads(importer, node, attributes, fulls, extras, strides):
    """[top, left, bottom, right] from pads or auto_pad (SAME_*: output = input * stride, as ONNX defines)."""
    auto_pad = attributes.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad == "NOTSET":
        return list(attributes.get("pads", (0, 0, 0, 0)))
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        importer.fail(f"ConvTranspose node {node.name!r}: auto_pad={auto_pad} is not supported")
    totals = [full + extra - size * s for full, extra, size, s in zip(fulls, extras, importer.shape[:2], strides)]
    begins = [t // 2 if auto_pad == "SAME_UPPER" else t - t // 2 for t in totals]
    return begins + [t - b for t, b in zip(totals, begins)]
