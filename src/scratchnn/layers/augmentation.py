"""Image augmentation layers: a random flip, shift, rotation or zoom of each training image.

They act only in training (``fit``); at inference (``predict``, ``evaluate``, export) they are the identity.
Images are channels-last, (N, H, W, C). The random numbers come from the layer's generator, which the model's
seed sets (as Dropout's masks do), so a seeded run draws the same transforms.

Shift, rotation and zoom move pixels by an affine map of the coordinates and read each output pixel from the
input by interpolation (bilinear by default, or nearest). For fixed draws the output is linear in the input:

    y[n, p] = sum_k w[n, p, k] x[n, q(n, p, k)]          (k: the 4 neighbours of the source point, or 1)
    dx[n, q] = sum over (p, k) with q(n, p, k) = q of w[n, p, k] dy[n, p]

so backward sends the gradient back through the same transform (a scatter-add of the same weights), and the
layers may sit anywhere in a network. Pixels that come from outside the image follow ``fill_mode``:
"constant" (fill_value, gradient 0), "nearest" (the edge pixel), "reflect" (d c b a | a b c d | d c b a) or
"wrap" (a b c d | a b c d).
"""
from __future__ import annotations

import math

from ..backend import namespace
from ..validation import check_number
from .base import Layer, register, shape_str

__all__ = ["RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom"]

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
INTERPOLATIONS = ("bilinear", "nearest")


def _factor_range(name, factor, owner, low=-1.0, high=1.0):
    """(lower, upper) from a number f (meaning [-f, f], f >= 0) or a pair (lower, upper)."""
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{owner}: {name} must be a number or a pair (lower, upper), got {factor!r}")
        lower, upper = (check_number(name, f, owner, low, high) for f in factor)
        if lower > upper:
            raise ValueError(f"{owner}: {name} must have lower <= upper, got {factor!r}")
        return lower, upper
    f = check_number(name, factor, owner, 0.0, high)
    return -f, f


def _as_config(factor):
    """A factor as its config keeps it: a pair as a list (what JSON gives back)."""
    return list(factor) if isinstance(factor, (tuple, list)) else factor


class _Augmentation(Layer):
    """Base: the identity at inference; in training, a transform drawn from self.rng for every image."""

    sample_rank = 3                                         # images (H, W, C)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} expected images of shape (N, height, width, channels), got "
                             f"{shape_str(input_shape)}: add a Reshape, e.g. Reshape((28, 28, 1)), before it")
        return tuple(input_shape)

    def forward(self, x, training=False):
        self.check_input(x)
        if not training:
            self.remember(training, None)
            return x
        record = self.draw(x)
        self.remember(training, record)
        return self.apply(x, record)

    def backward(self, grad_out, input_grad=True):
        (record,) = self.recall()
        if not input_grad:
            return None
        return grad_out if record is None else self.apply_backward(grad_out, record)


@register
class RandomFlip(_Augmentation):
    """Flip each training image left-right and / or upside down, each with probability 1/2.

    Args:
        mode: "horizontal" (left-right), "vertical" (upside down) or "horizontal_and_vertical" (Keras's default).

    A flip is its own inverse and its own transpose: backward flips the gradient the same way.
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if mode not in self.MODES:
            raise ValueError(f"RandomFlip: mode must be one of {list(self.MODES)}, got {mode!r}")
        self.mode = mode

    def flips(self, rng, n):
        """[(image axis, which images flip along it)]: width first, then height, as the mode says."""
        axes = [2] * ("horizontal" in self.mode) + [1] * ("vertical" in self.mode)
        return [(axis, rng.random(n) < 0.5) for axis in axes]

    def draw(self, x):
        xp = namespace(x)
        return [(axis, xp.asarray(chosen).reshape(-1, 1, 1, 1)) for axis, chosen in self.flips(self.rng, len(x))]

    def apply(self, x, record):
        xp = namespace(x)
        for axis, chosen in record:                                  # y = x reversed along axis, where chosen
            x = xp.where(chosen, xp.flip(x, axis=axis), x)
        return x

    def apply_backward(self, grad_out, record):
        return self.apply(grad_out, record)                          # dx = the same flips of dy

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _AffineAugmentation(_Augmentation):
    """Base of the shift / rotation / zoom: subclasses give ``transforms(rng, n, height, width)``, the 2 x 3
    matrix A (a list of 2 rows of 3 coefficients, each a sequence of n values: one A per image) that maps
    an output pixel (row, col, 1) to the point of the input it reads."""

    def __init__(self, fill_mode="constant", interpolation="bilinear", fill_value=0.0, name=None, dtype=None,
                 trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        owner = type(self).__name__
        if fill_mode not in FILL_MODES:
            raise ValueError(f"{owner}: fill_mode must be one of {list(FILL_MODES)}, got {fill_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{owner}: interpolation must be one of {list(INTERPOLATIONS)}, got {interpolation!r}")
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = check_number("fill_value", fill_value, owner)

    def draw(self, x):
        """(flat source indices (N, H W, K), weights (N, H W, K), weights of the fill (N, H W)) for this batch."""
        xp = namespace(x)
        n, height, width, _ = x.shape
        a = xp.reshape(xp.asarray(self.transforms(self.rng, n, height, width), dtype=xp.float64), (2, 3, n, 1))
        grid = xp.reshape(xp.arange(height * width), (1, -1))
        out_rows, out_cols = (grid // width).astype(xp.float64), (grid % width).astype(xp.float64)
        rows = a[0, 0] * out_rows + a[0, 1] * out_cols + a[0, 2]    # (row, col) read = A (row, col, 1)
        cols = a[1, 0] * out_rows + a[1, 1] * out_cols + a[1, 2]
        if self.interpolation == "nearest":
            points = [(xp.floor(rows + 0.5), xp.floor(cols + 0.5), xp.ones_like(rows))]
        else:                                                        # the 4 neighbours, weights (1 - f) or f
            r0, c0 = xp.floor(rows), xp.floor(cols)
            fr, fc = rows - r0, cols - c0
            points = [(r0, c0, (1 - fr) * (1 - fc)), (r0, c0 + 1, (1 - fr) * fc),
                      (r0 + 1, c0, fr * (1 - fc)), (r0 + 1, c0 + 1, fr * fc)]
        indices, weights = [], []
        for r, c, w in points:
            r, inside_r = self._fold(xp, r, height)
            c, inside_c = self._fold(xp, c, width)
            indices.append((xp.reshape(xp.arange(n), (-1, 1)) * height + r) * width + c)
            weights.append(w * (inside_r & inside_c))
        index, weight = xp.stack(indices, axis=-1), xp.stack(weights, axis=-1)
        fill = 1 - xp.sum(weight, axis=-1) if self.fill_mode == "constant" and self.fill_value else None
        return index, weight.astype(x.dtype), fill

    def _fold(self, xp, coords, size):
        """Integer coordinates (as floats) -> (indices in [0, size), inside mask) by the fill mode."""
        coords = coords.astype(xp.int64)
        inside = (coords >= 0) & (coords < size)
        if self.fill_mode == "reflect":                              # period 2 size: d c b a | a b c d
            coords = coords % (2 * size)
            return xp.where(coords >= size, 2 * size - 1 - coords, coords), xp.ones_like(inside)
        if self.fill_mode == "wrap":
            return coords % size, xp.ones_like(inside)
        coords = xp.clip(coords, 0, size - 1)
        return coords, inside if self.fill_mode == "constant" else xp.ones_like(inside)

    def apply(self, x, record):
        index, weight, fill = record
        xp = namespace(x)
        n, height, width, channels = x.shape
        gathered = xp.reshape(x, (-1, channels))[index]              # (N, H W, K, C): x[n, q(n, p, k)]
        y = xp.sum(gathered * weight[..., None], axis=2)             # y[n, p] = sum_k w[n, p, k] x[n, q]
        if fill is not None:
            y = y + (fill[..., None] * self.fill_value).astype(x.dtype)
        return xp.reshape(y, x.shape)

    def apply_backward(self, grad_out, record):
        index, weight, _ = record
        xp = namespace(grad_out)
        channels = grad_out.shape[-1]
        flat = xp.reshape(grad_out, (len(grad_out), -1, 1, channels))
        contributions = weight[..., None] * flat                     # w[n, p, k] dy[n, p], to q(n, p, k)
        targets = index[..., None] * channels + xp.arange(channels)
        grad_input = xp.bincount(xp.reshape(targets, (-1,)), weights=xp.reshape(contributions, (-1,)),
                                 minlength=grad_out.size)           # dx[n, q] = the sum of what reads q
        return xp.reshape(grad_input.astype(grad_out.dtype), grad_out.shape)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


def _centre(height, width):
    return (height - 1) / 2, (width - 1) / 2


@register
class RandomTranslation(_AffineAugmentation):
    """Shift each training image by a random fraction of its height and width.

    Args:
        height_factor: f (a shift drawn uniformly in [-f H, f H] pixels, f in [0, 1]) or (lower, upper);
            positive is down. width_factor: the same across, positive is right.
        fill_mode, interpolation, fill_value: see the module's docstring ("constant" with 0 by default).
    """

    def __init__(self, height_factor, width_factor, fill_mode="constant", interpolation="bilinear", fill_value=0.0,
                 name=None, dtype=None, trainable=True):
        super().__init__(fill_mode, interpolation, fill_value, name, dtype, trainable)
        self.height_factor, self.width_factor = _as_config(height_factor), _as_config(width_factor)
        self.height_range = _factor_range("height_factor", height_factor, "RandomTranslation")
        self.width_range = _factor_range("width_factor", width_factor, "RandomTranslation")

    def transforms(self, rng, n, height, width):
        shift_rows = rng.uniform(*self.height_range, n) * height
        shift_cols = rng.uniform(*self.width_range, n) * width
        one, zero = [1.0] * n, [0.0] * n
        return [[one, zero, -shift_rows], [zero, one, -shift_cols]]  # source = output - shift

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


@register
class RandomRotation(_AffineAugmentation):
    """Rotate each training image about its centre by a random angle.

    Args:
        factor: f (an angle drawn uniformly in [-f 2 pi, f 2 pi]) or (lower, upper), as a fraction of a full
            turn; positive is counter-clockwise. ``factor=0.05`` turns by up to 18 degrees.
        fill_mode, interpolation, fill_value: see the module's docstring ("constant" with 0 by default).
    """

    def __init__(self, factor, fill_mode="constant", interpolation="bilinear", fill_value=0.0, name=None,
                 dtype=None, trainable=True):
        super().__init__(fill_mode, interpolation, fill_value, name, dtype, trainable)
        self.factor = _as_config(factor)
        self.range = _factor_range("factor", factor, "RandomRotation")

    def transforms(self, rng, n, height, width):
        angles = rng.uniform(*self.range, n) * 2 * math.pi
        cos, sin = [math.cos(a) for a in angles], [math.sin(a) for a in angles]
        cy, cx = _centre(height, width)                              # source = centre + R(-angle) (output -
        return [[cos, sin, [cy - cy * c - cx * s for c, s in zip(cos, sin)]],   # centre), with rows down
                [[-s for s in sin], cos, [cx - cx * c + cy * s for c, s in zip(cos, sin)]]]

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@register
class RandomZoom(_AffineAugmentation):
    """Zoom each training image in or out about its centre by a random factor.

    Args:
        height_factor: f (a zoom drawn uniformly in [-f, f]) or (lower, upper), in (-1, 1]: positive zooms out
            (the image shrinks to 1 / (1 + f) of its height), negative zooms in.
        width_factor: the same across; None (default) keeps the aspect ratio (the height's zoom).
        fill_mode, interpolation, fill_value: see the module's docstring ("constant" with 0 by default).
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="constant", interpolation="bilinear",
                 fill_value=0.0, name=None, dtype=None, trainable=True):
        super().__init__(fill_mode, interpolation, fill_value, name, dtype, trainable)
        self.height_factor, self.width_factor = _as_config(height_factor), _as_config(width_factor)
        self.height_range = _factor_range("height_factor", height_factor, "RandomZoom")
        self.width_range = None if width_factor is None else _factor_range("width_factor", width_factor,
                                                                           "RandomZoom")
        if min(self.height_range[0], (self.width_range or (0.0,))[0]) <= -1:
            raise ValueError(f"RandomZoom: a zoom factor must be > -1, got {height_factor!r}, {width_factor!r}")

    def transforms(self, rng, n, height, width):
        zoom_rows = 1 + rng.uniform(*self.height_range, n)
        zoom_cols = zoom_rows if self.width_range is None else 1 + rng.uniform(*self.width_range, n)
        cy, cx = _centre(height, width)                              # source = centre + zoom (output - centre)
        zero = [0.0] * n
        return [[zoom_rows, zero, cy * (1 - zoom_rows)], [zero, zoom_cols, cx * (1 - zoom_cols)]]

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}
