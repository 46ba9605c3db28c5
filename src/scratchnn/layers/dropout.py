"""Dropout: zero a random fraction of the inputs during training (inverted dropout, as Keras and PyTorch)."""
from __future__ import annotations

from ..validation import check_number
from .base import Layer, register


@register
class Dropout(Layer):
    """y = x * mask / (1 - rate) in training, mask[i] ~ Bernoulli(1 - rate); y = x at inference.

    Scaling the kept inputs by 1 / (1 - rate) keeps the expectation of every output equal to its input,
    so nothing changes at inference. The mask is drawn from the layer's generator (the model's seed),
    so a seeded run drops the same units.

    Args:
        rate: fraction of inputs to drop, in [0, 1).
    """

    def __init__(self, rate, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.rate = check_number("rate", rate, "Dropout", 0, 1, high_open=True)

    def forward(self, x, training=False):
        self.check_input(x)
        if not training or self.rate == 0:
            self.remember(training, None)
            return x
        keep = self.rng.random(x.shape, dtype=x.dtype) >= self.rate    # mask[i] ~ Bernoulli(1 - rate)
        mask = keep * x.dtype.type(1 / (1 - self.rate))
        self.remember(training, mask)
        return x * mask                                                 # y = x * mask / (1 - rate)

    def backward(self, grad_out, input_grad=True):
        (mask,) = self.recall()
        return grad_out if mask is None else grad_out * mask            # dx = dy * mask / (1 - rate)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
