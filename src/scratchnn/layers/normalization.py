"""BatchNormalization: normalise each feature (channel) by the batch statistics, as Keras does.

On NumPy, the passes over the batch run in ``backend.kernels_cpu.batch_norm_*`` (the same numbers, the
batch split over threads, the sums as einsum reductions).
"""
from __future__ import annotations

from ..backend import host, integer_types, is_numpy, kernels_cpu, namespace
from .base import Layer, register


@register
class BatchNormalization(Layer):
    r"""y = gamma * (x - mean) / sqrt(var + epsilon) + beta, per feature of ``axis`` (Ioffe & Szegedy, 2015).

    Training: mean and var are the batch's, over every axis but ``axis`` (the batch, and H, W after a
    Conv2D); var is the biased variance (divided by the count m). The moving statistics follow Keras:
    ``moving = moving * momentum + batch * (1 - momentum)``, with the same biased variance (PyTorch's
    running_var uses the unbiased one, m / (m - 1) times larger, and its momentum is 1 - this one).
    Inference, and a frozen layer (trainable=False, as in Keras): mean and var are the moving statistics.

    Args:
        axis: the feature axis (default -1, the channels of an NHWC image or the features of (N, F)).
        momentum: weight of the old moving statistics (default 0.99). epsilon: added to var (1e-3).
        center: learn beta (default True). scale: learn gamma (default True).

    Parameters "gamma" (ones) and "beta" (zeros); buffers "moving_mean" (zeros), "moving_variance" (ones),
    saved with the model but not trained.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, name=None, dtype=None,
                 trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if isinstance(axis, bool) or not isinstance(axis, integer_types):
            raise ValueError(f"BatchNormalization: axis must be an int, got {axis!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum!r}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization: epsilon must be positive, got {epsilon!r}")
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def build(self, input_shape, rng=None):
        if not (1 <= self.axis <= len(input_shape) or -len(input_shape) <= self.axis <= -1):
            raise ValueError(f"BatchNormalization: axis {self.axis} is not a feature axis of inputs of shape "
                             f"(N, {', '.join(map(str, input_shape))})")
        super().build(input_shape, rng)
        rank = len(input_shape) + 1
        self.feature_axis = self.axis % rank
        features = input_shape[self.feature_axis - 1]
        self.broadcast_shape = tuple(features if i == self.feature_axis else 1 for i in range(rank))
        if self.scale:
            self.add_param("gamma", host.ones(features))
        if self.center:
            self.add_param("beta", host.zeros(features))
        self.buffers = {"moving_mean": host.zeros(features, dtype=self.dtype),
                        "moving_variance": host.ones(features, dtype=self.dtype)}
        return self.output_shape

    def rows(self, a):
        """a as (count, features): one row per value of every axis but the feature axis (a view if it can)."""
        xp = namespace(a)
        return xp.reshape(xp.moveaxis(a, self.feature_axis, -1), (-1, a.shape[self.feature_axis]))

    def per_feature(self, name, default):
        value = self.params.get(name)
        return default if value is None else namespace(value).reshape(value, self.broadcast_shape)

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        fast = is_numpy(xp) and kernels_cpu.enabled("batch_norm")
        shape, centered = self.broadcast_shape, None
        use_batch = training and self.trainable                         # a frozen layer keeps its statistics
        if use_batch:                                                   # mu, var over all but the feature axis
            if fast:
                mean, var, centered = kernels_cpu.batch_norm_statistics(self, x)
            else:
                mean = xp.mean(self.rows(x), axis=0)                    # mu = mean x
                var = xp.mean(self.rows(x - xp.reshape(mean, shape)) ** 2, axis=0)   # var = mean (x - mu)^2
            self.update_moving(mean, var)
        else:
            mean, var = self.buffers["moving_mean"], self.buffers["moving_variance"]
        inv_std = xp.reshape((1 / xp.sqrt(var + self.epsilon)).astype(x.dtype), shape)
        if fast:
            x_hat, y = kernels_cpu.batch_norm_normalize(self, x, xp.reshape(mean.astype(x.dtype), shape),
                                                        inv_std, centered)
        else:
            x_hat = (x - xp.reshape(mean.astype(x.dtype), shape)) * inv_std   # x_hat = (x - mu) / sigma
            y = x_hat * self.per_feature("gamma", 1) + self.per_feature("beta", 0)   # y = gamma x_hat + beta
        self.remember(training, x_hat, inv_std, use_batch)
        return y

    def update_moving(self, mean, var):
        for name, batch_value in (("moving_mean", mean), ("moving_variance", var)):
            moving = self.buffers[name]
            moving *= self.momentum                                     # moving = m moving + (1 - m) batch
            moving += (1 - self.momentum) * batch_value.astype(moving.dtype)

    def backward(self, grad_out, input_grad=True):
        x_hat, inv_std, training = self.recall()                        # training: batch statistics were used
        xp = namespace(grad_out)
        if is_numpy(xp) and kernels_cpu.enabled("batch_norm"):
            grad_input, sum_grad, sum_grad_x_hat = kernels_cpu.batch_norm_backward(
                self, grad_out, x_hat, inv_std, training, input_grad)
        else:
            grad_input, sum_grad, sum_grad_x_hat = self.reference_backward(grad_out, x_hat, inv_std, training,
                                                                           input_grad)
        if self.scale:
            self.accumulate("gamma", sum_grad_x_hat)                    # dgamma = sum dy x_hat
        if self.center:
            self.accumulate("beta", sum_grad)                           # dbeta = sum dy
        return grad_input

    def reference_backward(self, grad_out, x_hat, inv_std, training, input_grad):
        xp = namespace(grad_out)
        shape = self.broadcast_shape
        sum_grad = xp.sum(self.rows(grad_out), axis=0)
        sum_grad_x_hat = xp.sum(self.rows(grad_out * x_hat), axis=0)
        if not input_grad:
            return None, sum_grad, sum_grad_x_hat
        scaled = inv_std * self.per_feature("gamma", 1)
        if not training:                                                # dx = dy gamma / sqrt(var + eps)
            return grad_out * scaled, sum_grad, sum_grad_x_hat
        count = grad_out.size // grad_out.shape[self.feature_axis]      # dx = gamma / sigma (dy - mean(dy)
        mean_grad = xp.reshape(sum_grad / count, shape)                 #      - x_hat mean(dy x_hat))
        mean_grad_x_hat = xp.reshape(sum_grad_x_hat / count, shape)
        return scaled * (grad_out - mean_grad - x_hat * mean_grad_x_hat), sum_grad, sum_grad_x_hat

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}
