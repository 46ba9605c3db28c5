"""UpSampling2D, ZeroPadding2D and Cropping2D: layers that change an image's height and width, no weights."""
from __future__ import annotations

from ..backend import host, integer_types, namespace
from ..validation import check_non_negative_int
from .base import Layer, register
from .conv import as_pair, check_image_shape

INTERPOLATIONS = ("nearest", "bilinear")


def as_margins(name, value, owner):
    """Keras's forms of a border: an int (all four sides), a pair (rows, columns: both sides each) or a pair
    of pairs ((top, bottom), (left, right)) -> ((top, bottom), (left, right)) of non-negative ints."""
    def side(v):
        return check_non_negative_int(name, v, owner)

    if isinstance(value, integer_types) and not isinstance(value, bool):
        return (side(value),) * 2, (side(value),) * 2
    if isinstance(value, (tuple, list)) and len(value) == 2:
        if all(isinstance(v, (tuple, list)) for v in value):
            if all(len(v) == 2 for v in value):
                return tuple(tuple(side(s) for s in v) for v in value)
        elif not any(isinstance(v, (tuple, list)) for v in value):
            return (side(value[0]),) * 2, (side(value[1]),) * 2
    raise ValueError(f"{owner}: {name} must be an int, a pair (rows, columns) or a pair of pairs "
                     f"((top, bottom), (left, right)), got {value!r}")


class _ImageLayer(Layer):
    sample_rank = 3                                         # images (H, W, C)

    def shape_hint(self, got):
        return ": add a channel axis, x[..., None]" if len(got) == 2 else ""


def linear_weights(size, factor):
    """A (size * factor, size) matrix: bilinear upsampling along one axis, half-pixel centres (PyTorch's
    align_corners=False, TensorFlow's resize): output i reads the input at s = (i + 1/2) / factor - 1/2,
    clamped to [0, size - 1], as (1 - t) x[floor s] + t x[floor s + 1] with t = s - floor s."""
    out = host.arange(size * factor)
    source = host.clip((out + 0.5) / factor - 0.5, 0, size - 1)
    low = host.floor(source).astype(int)
    high = host.minimum(low + 1, size - 1)
    t = source - low
    weights = host.zeros((size * factor, size))
    host.add.at(weights, (out, low), 1 - t)
    host.add.at(weights, (out, high), t)
    return weights


@register
class UpSampling2D(_ImageLayer):
    r"""Repeat (or interpolate) rows and columns: (N, H, W, C) -> (N, H s_h, W s_w, C).

    nearest:  y[n, i, j, c] = x[n, floor(i / s_h), floor(j / s_w), c]; backward sums dY over each s_h x s_w block.
    bilinear: y = A_h x A_w^T on each channel, A the (H s, H) matrices of ``linear_weights``;
              backward dX = A_h^T dY A_w.

    Args: size: an int or a pair (s_h, s_w); interpolation: "nearest" (default) or "bilinear".
    """

    def __init__(self, size=(2, 2), interpolation="nearest", name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.size = as_pair("size", size, "UpSampling2D")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"UpSampling2D: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        check_image_shape(input_shape, "UpSampling2D")
        height, width, channels = input_shape
        return height * self.size[0], width * self.size[1], channels

    def build(self, input_shape, rng=None):
        shape = super().build(input_shape, rng)
        if self.interpolation == "bilinear":
            self.weights = tuple(linear_weights(n, s).astype(self.dtype) for n, s in zip(input_shape[:2], self.size))
        return shape

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        if self.interpolation == "nearest":
            return xp.repeat(xp.repeat(x, self.size[0], axis=1), self.size[1], axis=2)
        rows, cols = (xp.asarray(w, dtype=x.dtype) for w in self.weights)
        return xp.einsum("ih,nhwc,jw->nijc", rows, x, cols)                 # y = A_h x A_w^T

    def backward(self, grad_out, input_grad=True):
        xp = namespace(grad_out)
        n = grad_out.shape[0]
        height, width, channels = self.input_shape
        if self.interpolation == "nearest":                                 # each block's gradients summed
            blocks = xp.reshape(grad_out, (n, height, self.size[0], width, self.size[1], channels))
            return xp.sum(blocks, axis=(2, 4))
        rows, cols = (xp.asarray(w, dtype=grad_out.dtype) for w in self.weights)
        return xp.einsum("ih,nijc,jw->nhwc", rows, grad_out, cols)          # dX = A_h^T dY A_w

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}


@register
class ZeroPadding2D(_ImageLayer):
    """A border of zeros: y = x inside zeros, (N, H, W, C) -> (N, t + H + b, l + W + r, C); backward: dX is
    dY's inner window (the border's gradients go nowhere).

    Args: padding: an int, a pair (rows, columns) or ((top, bottom), (left, right)), as in Keras.
    """

    def __init__(self, padding=(1, 1), name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.padding = as_margins("padding", padding, "ZeroPadding2D")

    def compute_output_shape(self, input_shape):
        check_image_shape(input_shape, "ZeroPadding2D")
        (top, bottom), (left, right) = self.padding
        height, width, channels = input_shape
        return top + height + bottom, left + width + right, channels

    def forward(self, x, training=False):
        self.check_input(x)
        return namespace(x).pad(x, ((0, 0), *self.padding, (0, 0)))

    def backward(self, grad_out, input_grad=True):
        (top, _), (left, _) = self.padding
        height, width, _ = self.input_shape
        return grad_out[:, top:top + height, left:left + width]

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


@register
class Cropping2D(_ImageLayer):
    """Cut a border off: y = x[:, t : H - b, l : W - r], (N, H, W, C) -> (N, H - t - b, W - l - r, C);
    backward: dX is dY inside a border of zeros (the cropped pixels do not reach the loss).

    Args: cropping: an int, a pair (rows, columns) or ((top, bottom), (left, right)), as in Keras.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.cropping = as_margins("cropping", cropping, "Cropping2D")

    def compute_output_shape(self, input_shape):
        check_image_shape(input_shape, "Cropping2D")
        (top, bottom), (left, right) = self.cropping
        height, width, channels = input_shape
        if top + bottom >= height or left + right >= width:
            raise ValueError(f"Cropping2D: cropping {self.cropping} leaves nothing of an input of "
                             f"{height} x {width} pixels")
        return height - top - bottom, width - left - right, channels

    def forward(self, x, training=False):
        self.check_input(x)
        (top, _), (left, _) = self.cropping
        out_h, out_w, _ = self.output_shape
        return x[:, top:top + out_h, left:left + out_w]

    def backward(self, grad_out, input_grad=True):
        return namespace(grad_out).pad(grad_out, ((0, 0), *self.cropping, (0, 0)))

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping]}
