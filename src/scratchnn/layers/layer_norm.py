"""LayerNormalization: normalise each sample over its own feature axes (Ba, Kiros & Hinton, 2016).

Unlike BatchNormalization, the statistics are each sample's own (one mean and variance per sample and per
position of the axes not normalised), so training and inference compute the same thing and there are no
moving statistics: the normalisation a Transformer applies after each residual sum.
"""
from __future__ import annotations

from ..backend import host, integer_types, namespace
from ..validation import check_number
from .base import Layer, register


def normalized_axes(axis, rank, owner):
    """The sorted, non-negative feature axes (1 ... rank - 1) that ``axis`` names (an int or a list)."""
    axes = [axis] if isinstance(axis, integer_types) and not isinstance(axis, bool) else axis
    if not isinstance(axes, (list, tuple)) or not axes or \
            any(isinstance(a, bool) or not isinstance(a, integer_types) for a in axes):
        raise ValueError(f"{owner}: axis must be an int or a list of ints, got {axis!r}")
    resolved = sorted({int(a) % rank if -rank <= a < rank else -1 for a in axes})
    if -1 in resolved or 0 in resolved or len(resolved) != len(axes):
        raise ValueError(f"{owner}: axis {axis!r} must name distinct feature axes of inputs of rank {rank} "
                         f"(1 ... {rank - 1}, or -1 ... -{rank - 1}; the batch axis 0 is not one)")
    return tuple(resolved)


@register
class LayerNormalization(Layer):
    r"""y = gamma * (x - mean) / sqrt(var + epsilon) + beta, the statistics over ``axis`` of each sample.

    mean and var (the biased variance, divided by the count m of normalised elements) are taken over the
    axes ``axis`` of each sample separately; gamma and beta have the shape of those axes (Keras's layout)
    and broadcast over the others. Backward, with x_hat = (x - mean) / sigma and g = dy * gamma:

    .. math:: dx = \frac{1}{\sigma}\left(g - \mathrm{mean}(g) - \hat x\, \mathrm{mean}(g \hat x)\right),\quad
              d\gamma = \sum dy\, \hat x,\quad d\beta = \sum dy

    (the means over the normalised axes, the sums over the batch and every other axis).

    Args:
        axis: the feature axis or a list of them (default -1, the last: (N, steps, features) normalises
            each step's features, as in a Transformer). The batch axis 0 cannot be one.
        epsilon: added to var (default 1e-3, Keras's; PyTorch's nn.LayerNorm uses 1e-5).
        center: learn beta (default True). scale: learn gamma (default True).

    Parameters "gamma" (ones) and "beta" (zeros), shaped like the normalised axes of the input.

    Example::

        >>> layer = LayerNormalization(); layer.build((5, 8), rng=0)
        (5, 8)
        >>> layer.params["gamma"].shape
        (8,)
    """

    supports_masking = True        # each step is normalised on its own: padding passes through

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        normalized_axes(axis, 64, "LayerNormalization")                 # the type check, before any shape
        self.axis = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = check_number("epsilon", epsilon, "LayerNormalization", 0, low_open=True)
        self.center, self.scale = bool(center), bool(scale)

    def build(self, input_shape, rng=None):
        rank = len(input_shape) + 1
        self.axes = normalized_axes(self.axis, rank, "LayerNormalization")
        super().build(input_shape, rng)
        param_shape = tuple(input_shape[a - 1] for a in self.axes)
        self.broadcast_shape = tuple(input_shape[a - 1] if a in self.axes else 1 for a in range(1, rank))
        self.other_axes = tuple(a for a in range(rank) if a not in self.axes)    # the batch and the rest
        if self.scale:
            self.add_param("gamma", host.ones(param_shape))
        if self.center:
            self.add_param("beta", host.zeros(param_shape))
        return self.output_shape

    def broadcast(self, name, default):
        """gamma or beta reshaped to broadcast against x (1 on every axis not normalised)."""
        value = self.params.get(name)
        return default if value is None else namespace(value).reshape(value, self.broadcast_shape)

    def forward(self, x, training=False, mask=None):
        self.check_input(x)
        xp = namespace(x)
        mean = xp.mean(x, axis=self.axes, keepdims=True)                # mu = mean over the axes
        centered = x - mean
        var = xp.mean(centered * centered, axis=self.axes, keepdims=True)   # var = mean (x - mu)^2
        inv_std = 1 / xp.sqrt(var + x.dtype.type(self.epsilon))
        x_hat = centered * inv_std                                      # x_hat = (x - mu) / sigma
        y = x_hat * self.broadcast("gamma", 1) + self.broadcast("beta", 0)   # y = gamma x_hat + beta
        self.remember(training, x_hat, inv_std)
        return y

    def compute_mask(self, x, mask=None):
        return mask

    def backward(self, grad_out, input_grad=True):
        x_hat, inv_std = self.recall()
        xp = namespace(grad_out)
        if self.scale:
            self.accumulate("gamma", xp.sum(grad_out * x_hat, axis=self.other_axes))   # dgamma = sum dy x_hat
        if self.center:
            self.accumulate("beta", xp.sum(grad_out, axis=self.other_axes))            # dbeta = sum dy
        if not input_grad:
            return None
        g = grad_out * self.broadcast("gamma", 1)                       # g = dy gamma
        mean_g = xp.mean(g, axis=self.axes, keepdims=True)
        mean_g_x_hat = xp.mean(g * x_hat, axis=self.axes, keepdims=True)
        return inv_std * (g - mean_g - x_hat * mean_g_x_hat)            # dx = (g - mean g - x_hat mean g x_hat) / sigma

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale}
