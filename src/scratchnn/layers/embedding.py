"""Embedding: integer ids in, rows of a learned table out (Keras's layer, PyTorch's nn.Embedding)."""
from __future__ import annotations

from .. import initializers
from ..backend import namespace
from .base import Layer, check_positive_int, register


@register
class Embedding(Layer):
    """y[..., :] = embeddings[ids[...], :]: a lookup, which is x @ embeddings for one-hot rows x.

    Its backward is the one-hot product's transpose, a scatter-add: d embeddings[v] = sum of dy over the
    positions whose id is v (a repeated id gets the sum of all its positions). Ids carry no gradient.

    Args:
        input_dim: the number of ids (the table's rows); ids must lie in [0, input_dim).
        output_dim: the length of each vector.
        embeddings_initializer: name or Initializer (default ``"uniform"``: U(-0.05, 0.05), as Keras).
        mask_zero: id 0 is padding: ``compute_mask(ids)`` gives ``ids != 0``, which a recurrent layer after
            this one takes (padded steps keep the carried state). Id 0 still has a row of the table.

    Shapes: input (N, ...) integer ids, output (N, ..., output_dim); embeddings (input_dim, output_dim).

    Example::

        >>> import numpy as np
        >>> layer = Embedding(10, 3); layer.build((4,), rng=0)
        (4, 3)
        >>> layer(np.array([[1, 2, 2, 9]])).shape
        (1, 4, 3)
    """

    input_kind = "int"

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False, name=None,
                 dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.input_dim = check_positive_int("input_dim", input_dim, "Embedding")
        self.output_dim = check_positive_int("output_dim", output_dim, "Embedding")
        if embeddings_initializer == "uniform":
            embeddings_initializer = initializers.RandomUniform(-0.05, 0.05)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        self.add_param("embeddings", self.embeddings_initializer((self.input_dim, self.output_dim), self.rng,
                                                                 self.dtype))
        return self.output_shape

    def check_input(self, x):
        """Ids of any shape (N, ...): a model built for T steps can look up one step at a time."""

    def check_ids(self, ids):
        xp = namespace(ids)
        if ids.dtype.kind not in "iu":
            raise ValueError(f"{self.describe()} takes integer ids, got {ids.dtype}: pass x.astype('int64')")
        outside = (ids < 0) | (ids >= self.input_dim)
        if bool(xp.any(outside)):
            bad = ids[outside]
            raise ValueError(f"{self.describe()}: id {int(bad[0])} is outside [0, {self.input_dim}) "
                             f"({int(bad.size)} id(s) out of range): input_dim is {self.input_dim}; "
                             f"make it at least {int(xp.max(ids)) + 1}, or map unknown ids to one reserved id")

    def forward(self, x, training=False):
        self.check_input(x)
        self.check_ids(x)
        self.remember(training, x)
        return self.params["embeddings"][x]                                 # y = E[ids]

    def backward(self, grad_out, input_grad=True):
        (ids,) = self.recall()
        xp = namespace(grad_out)
        rows = xp.reshape(ids, (-1,))
        grad_rows = xp.reshape(grad_out, (-1, self.output_dim))
        # dE[v] += sum of dy at every position with id v: a scatter-add, one bincount over (id, column)
        # pairs (exact with repeated ids; sums in float64)
        cells = rows[:, None] * self.output_dim + xp.arange(self.output_dim)
        sums = xp.bincount(xp.reshape(cells, (-1,)), weights=xp.reshape(grad_rows, (-1,)),
                           minlength=self.input_dim * self.output_dim)
        self.accumulate("embeddings", xp.asarray(xp.reshape(sums, (self.input_dim, self.output_dim)),
                                                 dtype=grad_out.dtype))
        return None                                                         # integer ids have no gradient

    def compute_mask(self, x, mask=None):
        """ids != 0 with mask_zero (id 0 is padding), else None."""
        return (x != 0) if self.mask_zero else None

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "mask_zero": self.mask_zero}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "embeddings_initializer" in config:
            config["embeddings_initializer"] = initializers.deserialize(config["embeddings_initializer"])
        return cls(**config)
