"""The harness cases of the convolution family (issue 17): Conv2DTranspose, DepthwiseConv2D, SeparableConv2D,
UpSampling2D, ZeroPadding2D, Cropping2D and grouped Conv2D.

PyTorch is channels-first: each builder permutes inside the graph (as tests/layer_cases.py's do). Our
TensorFlow-style "same" padding is given to PyTorch as an explicit F.pad; Conv2DTranspose's Keras output size
as PyTorch's full transposed convolution (padding 0) cropped / zero-extended by F.pad (negative = crop).
"""
from __future__ import annotations

import numpy as np

from scratchnn import layers

from harness import Case
from layer_cases import as_numpy, away_from_kinks, nchw, nhwc, torch_activation, torch_pad

CASES: list[Case] = []


def leaf(torch, array):
    """A float64 leaf tensor holding a C-contiguous copy of array (PyTorch wants contiguous weight grads)."""
    return torch.tensor(np.ascontiguousarray(array), requires_grad=True)


def add(id, make, shape, **options):
    CASES.append(Case(id, make, tuple(shape), **options))


def bias_of(layer, torch, params):
    if not layer.use_bias:
        return None
    bias = leaf(torch, layer.params["bias"])
    params["bias"] = (bias, as_numpy)
    return bias


# ---- PyTorch builders ------------------------------------------------------------------------------------
def torch_grouped_conv2d(layer, torch, training):
    """F.conv2d(groups=G): PyTorch's weight (F, C/G, kh, kw) is our (kh, kw, C/G, F) transposed."""
    F = torch.nn.functional
    kernel = leaf(torch, layer.params["kernel"].transpose(3, 2, 0, 1))
    params = {"kernel": (kernel, lambda g: g.numpy().transpose(2, 3, 1, 0))}
    bias = bias_of(layer, torch, params)
    activation = torch_activation(layer.activation, torch)

    def fn(t):
        y = F.conv2d(F.pad(nchw(t), torch_pad(layer)), kernel, bias, stride=layer.strides,
                     dilation=layer.dilation_rate, groups=layer.groups)
        return activation(nhwc(y))
    return fn, params


def torch_conv_transpose(layer, torch, training):
    """F.conv_transpose2d (weight (C_in, F, kh, kw) = our (kh, kw, F, C_in) transposed) with padding 0, then
    the window [start, start + out) of Keras's output size through F.pad (negative widths crop)."""
    F = torch.nn.functional
    kernel = leaf(torch, layer.params["kernel"].transpose(3, 2, 0, 1))
    params = {"kernel": (kernel, lambda g: g.numpy().transpose(2, 3, 1, 0))}
    bias = bias_of(layer, torch, params)
    activation = torch_activation(layer.activation, torch)
    (top, left), _ = layer.crops
    out_h, out_w, _ = layer.output_shape

    def fn(t):
        y = F.conv_transpose2d(nchw(t), kernel, None, stride=layer.strides, dilation=layer.dilation_rate)
        full_h, full_w = y.shape[2:]
        y = F.pad(y, (-left, left + out_w - full_w, -top, top + out_h - full_h))
        if bias is not None:
            y = y + bias[:, None, None]
        return activation(nhwc(y))
    return fn, params


def depthwise_weight(torch, kernel):
    """Our (kh, kw, C, dm) as PyTorch's groups=C weight (C dm, 1, kh, kw): output channel c dm + m."""
    kh, kw, channels, multiplier = kernel.shape
    return leaf(torch, kernel.reshape(kh, kw, channels * multiplier).transpose(2, 0, 1)[:, None])


def depthwise_grad(kernel):
    kh, kw, channels, multiplier = kernel.shape
    return lambda g: g.numpy()[:, 0].transpose(1, 2, 0).reshape(kh, kw, channels, multiplier)


def torch_depthwise(layer, torch, training):
    F = torch.nn.functional
    kernel = depthwise_weight(torch, layer.params["kernel"])
    params = {"kernel": (kernel, depthwise_grad(layer.params["kernel"]))}
    bias = bias_of(layer, torch, params)
    activation = torch_activation(layer.activation, torch)

    def fn(t):
        y = F.conv2d(F.pad(nchw(t), torch_pad(layer)), kernel, bias, stride=layer.strides,
                     dilation=layer.dilation_rate, groups=layer.input_shape[2])
        return activation(nhwc(y))
    return fn, params


def torch_separable(layer, torch, training):
    F = torch.nn.functional
    depthwise = depthwise_weight(torch, layer.params["depthwise_kernel"])
    pointwise = leaf(torch, layer.params["pointwise_kernel"].transpose(3, 2, 0, 1))
    params = {"depthwise_kernel": (depthwise, depthwise_grad(layer.params["depthwise_kernel"])),
              "pointwise_kernel": (pointwise, lambda g: g.numpy().transpose(2, 3, 1, 0))}
    bias = bias_of(layer, torch, params)
    activation = torch_activation(layer.activation, torch)

    def fn(t):
        z = F.conv2d(F.pad(nchw(t), torch_pad(layer)), depthwise, None, stride=layer.strides,
                     dilation=layer.dilation_rate, groups=layer.input_shape[2])
        return activation(nhwc(F.conv2d(z, pointwise, bias)))
    return fn, params


def torch_upsampling(layer, torch, training):
    F = torch.nn.functional
    mode = {"nearest": {"mode": "nearest"}, "bilinear": {"mode": "bilinear", "align_corners": False}}
    return (lambda t: nhwc(F.interpolate(nchw(t), scale_factor=layer.size, **mode[layer.interpolation]))), {}


def torch_zero_padding(layer, torch, training):
    F = torch.nn.functional
    (top, bottom), (left, right) = layer.padding
    return (lambda t: nhwc(F.pad(nchw(t), (left, right, top, bottom)))), {}


def torch_cropping(layer, torch, training):
    F = torch.nn.functional
    (top, bottom), (left, right) = layer.cropping
    return (lambda t: nhwc(F.pad(nchw(t), (-left, -right, -top, -bottom)))), {}


# ---- the table ---------------------------------------------------------------------------------------------
# Conv2DTranspose: valid / same, strides 1-3, odd and even kernels, stride > kernel (zero-extended output),
# output_padding, dilation, rectangular, no bias, an activation
TRANSPOSE = {                                   # id: (positional args, keyword args, input shape)
    "k3_valid_s1": ((3, 3), {}, (2, 4, 3, 2)),
    "k3_valid_s2": ((2, 3, 2), {}, (2, 3, 4, 2)),
    "k3_same_s2": ((2, 3, 2, "same"), {}, (2, 3, 4, 3)),
    "k2_same_s2": ((3, 2, 2, "same"), {}, (2, 3, 3, 2)),
    "k4_same_s2": ((2, 4, 2, "same"), {}, (2, 3, 2, 2)),
    "k3_same_s1": ((2, 3, 1, "same"), {}, (2, 4, 3, 2)),
    "k1_valid_s3": ((2, 1, 3), {}, (2, 3, 2, 2)),                                # stride > kernel
    "k2_same_s3": ((2, 2, 3, "same"), {}, (2, 2, 3, 2)),
    "k3_valid_s2_output_padding": ((2, 3, 2, "valid"), {"output_padding": 1}, (2, 3, 3, 2)),
    "k3_same_s2_output_padding": ((2, 3, 2, "same"), {"output_padding": (0, 1)}, (2, 3, 3, 2)),
    "k3_same_s3_output_padding": ((2, 3, 3, "same"), {"output_padding": 2}, (1, 2, 3, 2)),
    "k2x3_rect_s2x1": ((2, (2, 3), (2, 1), "same"), {}, (2, 3, 4, 2)),
    "dilation2_valid": ((2, 3, 1, "valid"), {"dilation_rate": 2}, (2, 3, 3, 2)),
    "dilation2_same": ((2, 3, 1, "same"), {"dilation_rate": (2, 1)}, (2, 3, 4, 2)),
    "no_bias": ((2, 3, 2, "same"), {"use_bias": False}, (2, 3, 3, 2)),
    "tanh_l2": ((2, 3, 2), {"activation": "tanh", "kernel_regularizer": "l2"}, (2, 3, 3, 2)),
    "one_channel": ((1, 3, 2, "same"), {}, (3, 3, 3, 1)),
}
for name, (args, kwargs, shape) in TRANSPOSE.items():
    add(f"conv_transpose_{name}", lambda args=args, kwargs=kwargs: layers.Conv2DTranspose(*args, **kwargs), shape,
        torch=torch_conv_transpose)
add("conv_transpose_frozen", lambda: layers.Conv2DTranspose(2, 3, trainable=False), (2, 3, 3, 1),
    torch=torch_conv_transpose)

DEPTHWISE = {
    "k3_valid": ((3,), {}, (2, 5, 4, 2)),
    "k3_same_dm2": ((3, 1, "same", 2), {}, (2, 4, 5, 3)),
    "k3_same_s2": ((3, 2, "same"), {}, (2, 5, 6, 2)),
    "k2_same_s2_dm3": ((2, 2, "same", 3), {}, (2, 5, 4, 2)),
    "k2x3_rect_s1x2": (((2, 3), (1, 2)), {}, (2, 4, 6, 2)),
    "dilation2_same": ((3, 1, "same"), {"dilation_rate": 2}, (2, 5, 5, 2)),
    "no_bias_relu": ((3,), {"use_bias": False, "activation": "relu"}, (2, 4, 4, 3)),
    "l2": ((3,), {"kernel_regularizer": "l2"}, (2, 4, 4, 2)),
}
for name, (args, kwargs, shape) in DEPTHWISE.items():
    add(f"depthwise_{name}", lambda args=args, kwargs=kwargs: layers.DepthwiseConv2D(*args, **kwargs), shape,
        torch=torch_depthwise, inputs=away_from_kinks)

SEPARABLE = {
    "k3_valid": ((3, 3), {}, (2, 5, 4, 2)),
    "k3_same_dm2": ((4, 3, 1, "same", 2), {}, (2, 4, 5, 3)),
    "k3_same_s2": ((3, 3, 2, "same"), {}, (2, 5, 6, 2)),
    "dilation2_valid": ((2, 2, 1, "valid"), {"dilation_rate": 2}, (2, 5, 5, 2)),
    "no_bias_tanh": ((3, 3), {"use_bias": False, "activation": "tanh"}, (2, 4, 4, 2)),
    "regularized": ((2, 3), {"depthwise_regularizer": "l2", "pointwise_regularizer": "l1"}, (2, 4, 4, 2)),
}
for name, (args, kwargs, shape) in SEPARABLE.items():
    add(f"separable_{name}", lambda args=args, kwargs=kwargs: layers.SeparableConv2D(*args, **kwargs), shape,
        torch=torch_separable)

GROUPED = {
    "g2_k3_valid": ((4, 3), {"groups": 2}, (2, 5, 4, 4)),
    "g3_k3_same_s2": ((6, 3, 2, "same"), {"groups": 3}, (2, 5, 6, 3)),
    "g2_k2_dilated_same": ((2, 2, 1, "same"), {"groups": 2, "dilation_rate": 2}, (2, 5, 5, 4)),
    "depthwise_g4": ((8, 3), {"groups": 4}, (2, 4, 4, 4)),                      # groups = C_in: depthwise
    "g2_no_bias_relu": ((4, 3), {"groups": 2, "use_bias": False, "activation": "relu"}, (2, 4, 4, 2)),
}
for name, (args, kwargs, shape) in GROUPED.items():
    add(f"conv_grouped_{name}", lambda args=args, kwargs=kwargs: layers.Conv2D(*args, **kwargs), shape,
        torch=torch_grouped_conv2d, inputs=away_from_kinks)

UPSAMPLING = {
    "nearest_2": ((2,), (2, 3, 4, 2)),
    "nearest_2x3": (((2, 3),), (2, 3, 2, 2)),
    "nearest_1x2": (((1, 2),), (2, 2, 3, 1)),
    "bilinear_2": ((2, "bilinear"), (2, 3, 4, 2)),
    "bilinear_3x2": (((3, 2), "bilinear"), (2, 3, 3, 2)),
    "bilinear_one_row": (((2, 2), "bilinear"), (2, 1, 3, 2)),
}
for name, (args, shape) in UPSAMPLING.items():
    add(f"upsampling_{name}", lambda args=args: layers.UpSampling2D(*args), shape, torch=torch_upsampling)

MARGINS = {                                     # Keras's argument forms: int, (rows, cols), ((t, b), (l, r))
    "int": (1, (2, 3, 4, 2)),
    "pair": ((2, 1), (2, 5, 4, 2)),
    "pairs": (((1, 0), (2, 3)), (2, 4, 7, 2)),
    "zero": (0, (2, 3, 3, 1)),
}
for name, (margins, shape) in MARGINS.items():
    add(f"zero_padding_{name}", lambda m=margins: layers.ZeroPadding2D(m), shape, torch=torch_zero_padding)
    add(f"cropping_{name}", lambda m=margins: layers.Cropping2D(m), shape, torch=torch_cropping)
