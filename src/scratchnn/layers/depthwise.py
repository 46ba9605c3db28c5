"""DepthwiseConv2D and SeparableConv2D: one small kernel per channel, then (Separable) a 1x1 mix of channels.

A depthwise convolution filters each input channel on its own (``depth_multiplier`` filters per channel):
it is Conv2D(groups=C_in) with C_in * depth_multiplier filters. SeparableConv2D follows it with a pointwise
(1x1) convolution that mixes the channels, with far fewer weights than a full Conv2D (MobileNet, Xception).
"""
from __future__ import annotations

from .. import initializers, regularizers
from ..backend import namespace
from .base import KernelLayer, Layer, activation_name, check_positive_int, register
from .conv import as_pair, check_image_shape, check_padding, window_geometry
from .conv_transpose import gather_windows, scatter_windows


class _WindowGeometry:
    """Output shape and "same" padding as Conv2D's (TensorFlow's rule), for the depthwise layers."""

    sample_rank = 3                                         # images (H, W, C)

    def compute_output_shape(self, input_shape):
        owner = type(self).__name__
        check_image_shape(input_shape, owner)
        spans = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate)]
        rows, cols = (window_geometry(size, span, stride, self.padding, owner)
                      for size, span, stride in zip(input_shape[:2], spans, self.strides))
        self.pads = (rows[1:], cols[1:])
        return rows[0], cols[0], self.output_channels(input_shape[2])

    def shape_hint(self, got):
        return ": add a channel axis, x[..., None]" if len(got) == 2 else ""

    def depthwise_forward(self, x, kernel):
        r"""z[n, i, j, c dm + m] = \sum_{u, v} x_p[n, i s_h + u d_h, j s_w + v d_w, c] K[u, v, c, m]."""
        xp = namespace(x)
        (top, bottom), (left, right) = self.pads
        x_padded = xp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0))) if top + bottom + left + right else x
        windows = gather_windows(x_padded, self.output_shape[:2], self.strides, self.dilation_rate,
                                 self.kernel_size)                                  # P: (N, Ho, Wo, kh kw, C)
        kernel = xp.reshape(kernel, (-1, *kernel.shape[2:]))                        # K: (kh kw, C, dm)
        z = xp.einsum("nhwkc,kcm->nhwcm", windows, kernel)
        return xp.reshape(z, (*z.shape[:3], -1)), (windows, x_padded.shape)

    def depthwise_backward(self, grad_z, saved, kernel, input_grad):
        """dK[k, c, m] = sum_{n,i,j} P[.., k, c] dZ[.., c, m];  dP[.., k, c] = sum_m dZ[.., c, m] K[k, c, m]."""
        xp = namespace(grad_z)
        windows, padded_shape = saved
        grad_z = xp.reshape(grad_z, (*grad_z.shape[:3], kernel.shape[2], kernel.shape[3]))
        flat_kernel = xp.reshape(kernel, (-1, *kernel.shape[2:]))
        grad_kernel = xp.reshape(xp.einsum("nhwkc,nhwcm->kcm", windows, grad_z), kernel.shape)
        if not input_grad:
            return None, grad_kernel
        grad_windows = xp.einsum("nhwcm,kcm->nhwkc", grad_z, flat_kernel)
        grad_padded = scatter_windows(grad_windows, padded_shape, self.strides, self.dilation_rate, self.kernel_size)
        (top, _), (left, _) = self.pads
        height, width, _ = self.input_shape
        return grad_padded[:, top:top + height, left:left + width], grad_kernel

    def window_config(self):
        return {"kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": self.padding,
                "depth_multiplier": self.depth_multiplier, "dilation_rate": list(self.dilation_rate)}

    def set_window(self, kernel_size, strides, padding, depth_multiplier, dilation_rate):
        owner = type(self).__name__
        self.kernel_size = as_pair("kernel_size", kernel_size, owner)
        self.strides = as_pair("strides", strides, owner)
        self.padding = check_padding(padding, owner)
        self.depth_multiplier = check_positive_int("depth_multiplier", depth_multiplier, owner)
        self.dilation_rate = as_pair("dilation_rate", dilation_rate, owner)


@register
class DepthwiseConv2D(_WindowGeometry, KernelLayer):
    r"""Depthwise 2-D convolution: each input channel convolved with its own ``depth_multiplier`` kernels.

    .. math:: y[n, i, j, c\,m_{dm} + m] = b[c\,m_{dm} + m]
              + \sum_{u, v} x_p[n, i s_h + u d_h, j s_w + v d_w, c]\, K[u, v, c, m]

    (x_p as in Conv2D; output channel c * depth_multiplier + m, as Keras and PyTorch's groups=C_in order them).
    Backward: dK[u, v, c, m] = sum over n, i, j of x_p[.., window (u, v), c] dZ[.., c, m];
    dx_p[window (u, v), c] += sum_m dZ[.., c, m] K[u, v, c, m]; db = sum dY.

    Args: kernel_size, strides, padding, depth_multiplier (default 1), dilation_rate, activation, use_bias,
    kernel_initializer, bias_initializer, kernel_regularizer (as in Conv2D).

    Shapes: input (N, H, W, C), output (N, H_out, W_out, C * depth_multiplier); kernel (kh, kw, C, dm).
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, name=None, dtype=None, trainable=True):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, name,
                         dtype, trainable)
        self.set_window(kernel_size, strides, padding, depth_multiplier, dilation_rate)

    def output_channels(self, channels):
        return channels * self.depth_multiplier

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        shape = (*self.kernel_size, input_shape[2], self.depth_multiplier)
        self.add_param("kernel", self.kernel_initializer(shape, self.rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((self.output_shape[2],), self.rng, self.dtype))
        return self.output_shape

    def forward(self, x, training=False):
        self.check_input(x)
        z, saved = self.depthwise_forward(x, self.params["kernel"])
        if self.use_bias:
            z = z + self.params["bias"]
        self.remember(training, saved)
        return self.activate(z, training)

    def backward(self, grad_out, input_grad=True):
        grad_out = self.activate_backward(grad_out)
        (saved,) = self.recall()
        grad_input, grad_kernel = self.depthwise_backward(grad_out, saved, self.params["kernel"], input_grad)
        self.accumulate("kernel", grad_kernel)
        if self.use_bias:
            self.accumulate("bias", namespace(grad_out).sum(grad_out, axis=(0, 1, 2)))
        return grad_input

    def get_config(self):
        return {**super().get_config(), **self.window_config()}


@register
class SeparableConv2D(_WindowGeometry, KernelLayer):
    r"""Depthwise-separable 2-D convolution: a DepthwiseConv2D (no bias) then a 1x1 Conv2D (Keras's layer).

    .. math:: z = \mathrm{depthwise}(x; K_d) \in \mathbb{R}^{N \times H_o \times W_o \times C\,dm}, \qquad
              y[n, i, j, f] = b[f] + \sum_{k} z[n, i, j, k]\, P[0, 0, k, f]

    Backward: dP = Z.T @ dY (Z, dY as rows of pixels), db = sum dY, dZ = dY @ P.T, then the depthwise
    backward (see DepthwiseConv2D) gives dK_d and dx.

    Args: filters, kernel_size, strides, padding, depth_multiplier, dilation_rate, activation, use_bias,
    depthwise_initializer / pointwise_initializer (default "glorot_uniform"), bias_initializer,
    depthwise_regularizer / pointwise_regularizer.

    Shapes: input (N, H, W, C), output (N, H_out, W_out, filters); depthwise_kernel (kh, kw, C, dm),
    pointwise_kernel (1, 1, C dm, filters).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", depth_multiplier=1, dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, name=None, dtype=None, trainable=True):
        super().__init__(activation, use_bias, "glorot_uniform", bias_initializer, None, name, dtype, trainable)
        self.filters = check_positive_int("filters", filters, "SeparableConv2D")
        self.set_window(kernel_size, strides, padding, depth_multiplier, dilation_rate)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        for part, regularizer in (("depthwise_kernel", depthwise_regularizer),
                                  ("pointwise_kernel", pointwise_regularizer)):
            if regularizer is not None:
                self.regularizers[part] = regularizers.get(regularizer)

    def output_channels(self, channels):
        return self.filters

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        channels = input_shape[2]
        self.add_param("depthwise_kernel", self.depthwise_initializer(
            (*self.kernel_size, channels, self.depth_multiplier), self.rng, self.dtype))
        self.add_param("pointwise_kernel", self.pointwise_initializer(
            (1, 1, channels * self.depth_multiplier, self.filters), self.rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((self.filters,), self.rng, self.dtype))
        return self.output_shape

    def pointwise_matrix(self):
        kernel = self.params["pointwise_kernel"]
        return namespace(kernel).reshape(kernel, kernel.shape[2:])                  # P: (C dm, filters)

    def forward(self, x, training=False):
        self.check_input(x)
        z, saved = self.depthwise_forward(x, self.params["depthwise_kernel"])      # z = depthwise(x)
        y = z @ self.pointwise_matrix()                                             # y = z @ P + b
        if self.use_bias:
            y = y + self.params["bias"]
        self.remember(training, saved, z)
        return self.activate(y, training)

    def backward(self, grad_out, input_grad=True):
        grad_out = self.activate_backward(grad_out)
        xp = namespace(grad_out)
        saved, z = self.recall()
        z_rows = xp.reshape(z, (-1, z.shape[3]))
        grad_rows = xp.reshape(grad_out, (-1, self.filters))
        self.accumulate("pointwise_kernel", xp.reshape(z_rows.T @ grad_rows, self.params["pointwise_kernel"].shape))
        if self.use_bias:
            self.accumulate("bias", xp.sum(grad_rows, axis=0))                      # db = sum dY
        grad_z = grad_out @ self.pointwise_matrix().T                               # dZ = dY @ P.T
        grad_input, grad_kernel = self.depthwise_backward(grad_z, saved, self.params["depthwise_kernel"], input_grad)
        self.accumulate("depthwise_kernel", grad_kernel)
        return grad_input

    def get_config(self):
        config = {**Layer.get_config(self), "filters": self.filters, **self.window_config(),
                  "use_bias": self.use_bias,
                  "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                  "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                  "bias_initializer": initializers.serialize(self.bias_initializer)}
        if self.activation is not None:
            config["activation"] = activation_name(self.activation)
        for part in ("depthwise", "pointwise"):
            if f"{part}_kernel" in self.regularizers:
                config[f"{part}_regularizer"] = regularizers.serialize(self.regularizers[f"{part}_kernel"])
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("depthwise_initializer", "pointwise_initializer", "bias_initializer"):
            if key in config:
                config[key] = initializers.deserialize(config[key])
        for key in ("depthwise_regularizer", "pointwise_regularizer"):
            if config.get(key) is not None:
                config[key] = regularizers.deserialize(config[key])
        return cls(**config)
