"""BatchNormalization: normalise each feature (channel) by the batch statistics, as Keras does."""
import numpy as np

from .. import backend
from .base import Layer, register


@register
class BatchNormalization(Layer):
    r"""y = gamma * (x - mean) / sqrt(var + epsilon) + beta, per feature of ``axis`` (Ioffe & Szegedy, 2015).

    Training: mean and var are the batch's, over every axis but ``axis`` (the batch, and H, W after a
    Conv2D); var is the biased variance (divided by the count m). The moving statistics follow Keras:
    ``moving = moving * momentum + batch * (1 - momentum)``, with the same biased variance (PyTorch's
    running_var uses the unbiased one, m / (m - 1) times larger, and its momentum is 1 - this one).
    Inference: mean and var are the moving statistics.

    Args:
        axis: the feature axis (default -1, the channels of an NHWC image or the features of (N, F)).
        momentum: weight of the old moving statistics (default 0.99). epsilon: added to var (1e-3).
        center: learn beta (default True). scale: learn gamma (default True).

    Parameters "gamma" (ones) and "beta" (zeros); buffers "moving_mean" (zeros), "moving_variance" (ones),
    saved with the model but not trained.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
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
            self.add_param("gamma", np.ones(features))
        if self.center:
            self.add_param("beta", np.zeros(features))
        self.buffers = {"moving_mean": np.zeros(features, dtype=self.dtype),
                        "moving_variance": np.ones(features, dtype=self.dtype)}
        return self.output_shape

    def rows(self, a):
        """a as (count, features): one row per value of every axis but the feature axis (a view if it can)."""
        return np.moveaxis(a, self.feature_axis, -1).reshape(-1, a.shape[self.feature_axis])

    def per_feature(self, name, default):
        value = self.params.get(name)
        return default if value is None else value.reshape(self.broadcast_shape)

    def forward(self, x, training=False):
        """Each pass runs over blocks of the batch on the threads (backend.parallel_rows); the per-feature
        sums are added up block by block."""
        self.check_input(x)
        n, shape = len(x), self.broadcast_shape
        centered = np.empty_like(x)
        if training:
            count = x.size // x.shape[self.feature_axis]
            mean = backend.parallel_sum(lambda rows: np.einsum("ij->j", self.rows(x[rows])), n, x.size) / count

            def center(rows):                                           # var = mean (x - mu)^2
                np.subtract(x[rows], mean.reshape(shape), out=centered[rows])
                centered_rows = self.rows(centered[rows])
                return np.einsum("ij,ij->j", centered_rows, centered_rows)

            var = backend.parallel_sum(center, n, 2 * x.size) / count
            self.update_moving(mean, var)
        else:
            mean, var = self.buffers["moving_mean"], self.buffers["moving_variance"]
            backend.parallel_rows(lambda rows: np.subtract(x[rows], mean.reshape(shape).astype(x.dtype),
                                                           out=centered[rows]), n, x.size)
        inv_std = (1 / np.sqrt(var + self.epsilon)).astype(x.dtype).reshape(shape)
        gamma, beta = self.per_feature("gamma", None), self.per_feature("beta", None)
        x_hat, y = centered, np.empty_like(x)

        def normalize(rows):                                            # x_hat = (x - mu) / sqrt(var + eps)
            x_hat[rows] *= inv_std
            if gamma is None:                                           # y = gamma x_hat + beta
                np.copyto(y[rows], x_hat[rows])
            else:
                np.multiply(x_hat[rows], gamma, out=y[rows])
            if beta is not None:
                y[rows] += beta

        backend.parallel_rows(normalize, n, 2 * x.size)
        self.cache = {"x_hat": x_hat, "inv_std": inv_std, "training": training}
        return y

    def update_moving(self, mean, var):
        for name, batch_value in (("moving_mean", mean), ("moving_variance", var)):
            moving = self.buffers[name]
            moving *= self.momentum                                     # moving = m moving + (1 - m) batch
            moving += (1 - self.momentum) * batch_value.astype(moving.dtype)

    def backward(self, grad_out, input_grad=True):
        x_hat, inv_std = self.cache["x_hat"], self.cache["inv_std"]
        n, shape = len(grad_out), self.broadcast_shape

        def sums(rows):                                                 # dbeta = sum dy, dgamma = sum dy x_hat
            grad_rows, x_hat_rows = self.rows(grad_out[rows]), self.rows(x_hat[rows])
            return np.stack([np.einsum("ij->j", grad_rows), np.einsum("ij,ij->j", grad_rows, x_hat_rows)])

        sum_grad, sum_grad_x_hat = backend.parallel_sum(sums, n, 2 * grad_out.size)
        if self.scale:
            self.grads["gamma"][...] = sum_grad_x_hat
        if self.center:
            self.grads["beta"][...] = sum_grad
        if not input_grad:
            return None
        scaled = inv_std * self.per_feature("gamma", 1)
        grad_input = np.empty_like(grad_out)
        if not self.cache["training"]:                                  # dx = dy gamma / sqrt(var + eps)
            backend.parallel_rows(lambda rows: np.multiply(grad_out[rows], scaled, out=grad_input[rows]),
                                  n, grad_out.size)
            return grad_input
        count = grad_out.size // grad_out.shape[self.feature_axis]
        mean_grad = (sum_grad / count).reshape(shape)
        mean_grad_x_hat = (-sum_grad_x_hat / count).reshape(shape)

        def combine(rows):                      # dx = gamma / sigma (dy - mean(dy) - x_hat mean(dy x_hat))
            block = grad_input[rows]
            np.multiply(x_hat[rows], mean_grad_x_hat, out=block)
            block += grad_out[rows]
            block -= mean_grad
            block *= scaled

        backend.parallel_rows(combine, n, 3 * grad_out.size)
        return grad_input

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}
