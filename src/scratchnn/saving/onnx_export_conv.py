"""ONNX export of the convolution family (issue 17): Conv2DTranspose (ConvTranspose), DepthwiseConv2D and
SeparableConv2D (Conv with group = channels, then a 1x1 Conv), UpSampling2D (Resize), ZeroPadding2D (Pad),
Cropping2D (Slice). Grouped Conv2D is onnx_export.py's Conv with its ``group`` attribute.

The convolutions run channels-first (the builder transposes to NCHW before them, as for Conv2D); Pad and Slice
work on the axes where height and width are in the graph's current layout, so they add no Transpose.
onnx_export.py adds this table to its exporters.
"""
from __future__ import annotations

import numpy as np


def _bias(builder, layer, inputs, hint):
    if layer.use_bias:
        inputs.append(builder.constant(f"{hint}_bias", layer.params["bias"]))
    return inputs


def _spatial_axes(builder):
    """Where height and width are in the current 4-D tensor: (2, 3) in NCHW, (1, 2) in NHWC."""
    return (2, 3) if builder.channels_first else (1, 2)


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


def _export_depthwise(builder, layer, x, hint):
    bias = [builder.constant(f"{hint}_bias", layer.params["bias"])] if layer.use_bias else []
    return _depthwise_conv(builder, layer, x, layer.params["kernel"], hint, bias)


def _export_separable(builder, layer, x, hint):
    z = _depthwise_conv(builder, layer, x, layer.params["depthwise_kernel"], f"{hint}_depthwise")
    inputs = [z, builder.constant(f"{hint}_pointwise_kernel", layer.params["pointwise_kernel"].transpose(3, 2, 0, 1))]
    return builder.node("Conv", _bias(builder, layer, inputs, hint), hint, kernel_shape=[1, 1])


def _export_upsampling(builder, layer, x, hint):
    """Resize by the integer factors: nearest as "asymmetric" + "floor" (x[floor(i / s)]), bilinear as "linear"
    with half-pixel centres (PyTorch's align_corners=False)."""
    x = builder.channels(x, 4, first=True)
    scales = builder.constant(f"{hint}_scales", [1.0, 1.0, *map(float, layer.size)], dtype=np.float32)
    if layer.interpolation == "nearest":
        modes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        modes = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    return builder.node("Resize", [x, "", scales], hint, **modes)


def _export_zero_padding(builder, layer, x, hint):
    """Pad with zeros: pads [begin of each axis..., end of each axis...] (int64 input, opset 11+)."""
    (top, bottom), (left, right) = layer.padding
    begins, ends = [0] * 4, [0] * 4
    rows, cols = _spatial_axes(builder)
    begins[rows], begins[cols], ends[rows], ends[cols] = top, left, bottom, right
    pads = builder.constant(f"{hint}_pads", begins + ends, dtype=np.int64)
    return builder.node("Pad", [x, pads], hint, mode="constant")


def _export_cropping(builder, layer, x, hint):
    """Slice [top, top + out_h) x [left, left + out_w) along the height and width axes."""
    (top, _), (left, _) = layer.cropping
    out_h, out_w, _ = layer.output_shape
    starts = builder.constant(f"{hint}_starts", [top, left], dtype=np.int64)
    ends = builder.constant(f"{hint}_ends", [top + out_h, left + out_w], dtype=np.int64)
    axes = builder.constant(f"{hint}_axes", list(_spatial_axes(builder)), dtype=np.int64)
    return builder.node("Slice", [x, starts, ends, axes], hint)


CONV_EXPORTERS = {
    "Conv2DTranspose": _export_conv_transpose, "DepthwiseConv2D": _export_depthwise,
    "SeparableConv2D": _export_separable, "UpSampling2D": _export_upsampling,
    "ZeroPadding2D": _export_zero_padding, "Cropping2D": _export_cropping,
}
