"""Preprocessing layers: the input scaling a model was trained with, saved inside the model file.

A model that starts with ``Rescaling(1 / 255)`` or an adapted ``Normalization()`` takes raw inputs in
``predict``, ``evaluate``, the command line and ONNX: nobody has to remember the scaling it was trained on.
Both are affine maps, so their backward is one product and they may sit anywhere in a network.
"""
from __future__ import annotations

import math
import numbers

from ..backend import host, integer_types, namespace
from ..validation import check_number
from .base import Layer, register, shape_str

__all__ = ["Rescaling", "Normalization"]

EPSILON = 1e-7                   # Keras's backend.epsilon(): the smallest standard deviation divided by


def _number_or_list(name, value, owner):
    """A float, or a list of floats (one per channel, on the last axis), checked finite."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_number(name, value, owner)
    try:
        values = host.asarray(value, dtype=float)
    except (TypeError, ValueError):
        values = host.array([host.nan])
    if values.ndim != 1 or not values.size or not host.isfinite(values).all():
        raise ValueError(f"{owner}: {name} must be a finite number or a list of them (one per channel), "
                         f"got {value!r}")
    return [float(v) for v in values]


@register
class Rescaling(Layer):
    """y = x * scale + offset (Keras's Rescaling): ``Rescaling(1 / 255)`` takes pixels in 0..255 to [0, 1],
    ``Rescaling(1 / 127.5, offset=-1)`` to [-1, 1].

    Args:
        scale, offset: numbers, or lists with one value per channel (the last axis).
    """

    def __init__(self, scale, offset=0.0, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.scale = _number_or_list("scale", scale, "Rescaling")
        self.offset = _number_or_list("offset", offset, "Rescaling")

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        for name in ("scale", "offset"):
            value = getattr(self, name)
            if isinstance(value, list) and (not input_shape or len(value) not in (1, input_shape[-1])):
                raise ValueError(f"Rescaling: {name} has {len(value)} values, the inputs {shape_str(input_shape)} "
                                 f"have {input_shape[-1] if input_shape else 'no'} channels on the last axis")
        self.scale_array = host.asarray(self.scale, dtype=self.dtype)
        self.offset_array = host.asarray(self.offset, dtype=self.dtype)
        return self.output_shape

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        self.remember(training, None)
        return x * xp.asarray(self.scale_array, dtype=x.dtype) + xp.asarray(self.offset_array, dtype=x.dtype)

    def backward(self, grad_out, input_grad=True):
        self.recall()
        if not input_grad:
            return None
        return grad_out * namespace(grad_out).asarray(self.scale_array, dtype=grad_out.dtype)   # dx = dy * scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


@register
class Normalization(Layer):
    """y = (x - mean) / max(sqrt(variance), 1e-7), with mean and variance per feature (Keras's Normalization).

    The statistics come from ``adapt(data)`` (the mean and variance over every axis but ``axis``, over the
    whole data set, in one streaming pass) or from the ``mean`` / ``variance`` arguments. They are buffers:
    saved in the model file, never trained.

    Args:
        axis: the axis (or axes) that keep their own statistics; -1 (default) is one mean per feature or
            channel, None one mean for everything. The batch axis cannot be one of them.
        mean, variance: the statistics, if known (numbers, or arrays that broadcast to the kept axes).

    Shapes: the buffers "mean" and "variance" have the input's shape without the batch, with 1 on every
    axis that is averaged over (for images (N, H, W, C) and axis=-1: (1, 1, C)).
    """

    def __init__(self, axis=-1, mean=None, variance=None, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if axis is None:
            axes = ()
        else:
            axes = (axis,) if isinstance(axis, integer_types) else tuple(axis)
            if not all(isinstance(a, integer_types) and not isinstance(a, bool) for a in axes):
                raise ValueError(f"Normalization: axis must be an int, a tuple of ints or None, got {axis!r}")
        self.axis = None if axis is None else (int(axes[0]) if isinstance(axis, integer_types)
                                                  else [int(a) for a in axes])
        self.axes = tuple(int(a) for a in axes)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: pass both mean and variance, or neither (and call adapt(data))")
        self.given = None if mean is None else (host.asarray(mean, dtype=float), host.asarray(variance, dtype=float))
        if self.given is not None and (self.given[1] < 0).any():
            raise ValueError("Normalization: variance must be >= 0")
        self.mean_config = None if mean is None else host.asarray(mean, dtype=float).tolist()
        self.variance_config = None if variance is None else host.asarray(variance, dtype=float).tolist()

    def kept_axes(self, input_shape):
        """The kept axes as positions in the sample's shape (0 is the first axis after the batch)."""
        rank = len(input_shape) + 1
        kept = []
        for axis in self.axes:
            position = axis % rank if -rank <= axis < rank else None
            if position is None or position == 0:
                raise ValueError(f"Normalization: axis {axis} does not fit inputs {shape_str(input_shape)} "
                                 "(the batch axis 0 cannot keep its own statistics)")
            kept.append(position - 1)
        return sorted(set(kept))

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        kept = self.kept_axes(self.input_shape)
        self.stat_shape = tuple(d if i in kept else 1 for i, d in enumerate(self.input_shape))
        mean, variance = host.zeros(self.stat_shape), host.ones(self.stat_shape)
        if self.given is not None:
            try:
                mean = host.broadcast_to(self.given[0].reshape(self._given_shape(self.given[0])), self.stat_shape)
                variance = host.broadcast_to(self.given[1].reshape(self._given_shape(self.given[1])), self.stat_shape)
            except ValueError:
                raise ValueError(f"Normalization: mean {self.given[0].shape} and variance {self.given[1].shape} "
                                 f"do not fit the statistics' shape {self.stat_shape} for inputs "
                                 f"{shape_str(self.input_shape)}") from None
        self.buffers["mean"] = host.array(mean, dtype=self.dtype)
        self.buffers["variance"] = host.array(variance, dtype=self.dtype)
        return self.output_shape

    def _given_shape(self, array):
        """A given array laid along the kept axes: a (C,) mean for images goes to (1, 1, C)."""
        kept = [i for i, d in enumerate(self.stat_shape) if i in self.kept_axes(self.input_shape)]
        if array.ndim == len(kept) and array.ndim < len(self.stat_shape):
            shape = [1] * len(self.stat_shape)
            for i, d in zip(kept, array.shape):
                shape[i] = d
            return tuple(shape)
        return array.shape

    def adapt(self, data, batch_size=1024):
        """Set mean and variance from data: an array (N, ...), or an iterable of such batches (or of (x, y)
        pairs), read once. The statistics are over every sample and every axis but the kept ones."""
        batches = _batches(data, batch_size)
        count, mean, m2 = 0, None, None
        for batch in batches:
            batch = host.asarray(batch, dtype=host.float64)
            if not self.built:
                self.build(batch.shape[1:])
            if batch.shape[1:] != self.input_shape:
                raise ValueError(f"Normalization.adapt: expected batches of shape {shape_str(self.input_shape)}, "
                                 f"got {shape_str(batch.shape[1:])}")
            averaged = tuple(i for i, d in enumerate((len(batch), *self.stat_shape)) if d == 1 or i == 0)
            n = batch.size // math.prod(self.stat_shape)
            if n == 0:
                continue
            batch_mean = batch.mean(axis=averaged, keepdims=True)[0]
            batch_m2 = ((batch - batch_mean) ** 2).sum(axis=averaged, keepdims=True)[0]
            if mean is None:
                count, mean, m2 = n, batch_mean, batch_m2
            else:                                   # Chan et al.: merge two (count, mean, M2) summaries
                delta = batch_mean - mean
                total = count + n
                mean = mean + delta * (n / total)
                m2 = m2 + batch_m2 + delta ** 2 * (count * n / total)
                count = total
        if mean is None:
            raise ValueError("Normalization.adapt: got no data")
        xp = namespace(self.buffers["mean"])                         # the statistics join the model's device
        self.buffers["mean"][...] = xp.asarray(mean, dtype=self.dtype)
        self.buffers["variance"][...] = xp.asarray(m2 / count, dtype=self.dtype)   # the population variance
        return self

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        mean = xp.asarray(self.buffers["mean"], dtype=x.dtype)
        std = xp.maximum(xp.sqrt(xp.asarray(self.buffers["variance"], dtype=x.dtype)), EPSILON)
        self.remember(training, std)
        return (x - mean) / std                                      # y = (x - mean) / std

    def backward(self, grad_out, input_grad=True):
        (std,) = self.recall()
        return None if not input_grad else grad_out / std            # dx = dy / std

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "mean": self.mean_config,
                "variance": self.variance_config}


def _batches(data, batch_size):
    """Batches of inputs from an array (sliced) or an iterable of arrays or (x, y[, w]) tuples."""
    if hasattr(data, "shape") and hasattr(data, "__getitem__"):
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size]
        return
    for item in data:
        yield item[0] if isinstance(item, (tuple, list)) else item
