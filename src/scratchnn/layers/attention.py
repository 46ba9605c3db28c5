"""Attention: MultiHeadAttention (Vaswani et al., 2017) and a learned PositionEmbedding.

Scaled dot-product attention of every head h, for queries Q (T of them) over keys K and values V (S each):

    A_h = softmax(Q_h K_h^T / sqrt(key_dim))      (T, S): row t says how much query t reads each step s
    O_h = A_h V_h                                   (T, value_dim)

with Q_h = query W_q[:, h] + b_q[h] and so on, and the heads joined by the output projection. A mask sets the
logits of the pairs it hides to -1e9 before the softmax (Keras's rule), so they get weight 0 and gradient 0.
"""
from __future__ import annotations

import math

from .. import initializers
from ..backend import namespace
from ..backend.special import softmax
from ..validation import check_number
from .base import Layer, check_positive_int, register, shape_str
from .conv1d import check_sequence_shape

LARGE_NEGATIVE = -1e9          # the logit of a masked pair (Keras's; exp of it is exactly 0 next to any real logit)
PROJECTIONS = ("query", "key", "value")


@register
class MultiHeadAttention(Layer):
    r"""Multi-head scaled dot-product attention, with Keras's arguments and weight layout.

    .. math:: \mathrm{MHA}(q, k, v) = \sum_h \mathrm{softmax}\!\left(\frac{(q W^q_h + b^q_h)(k W^k_h + b^k_h)^T}
              {\sqrt{d_k}}\right)(v W^v_h + b^v_h)\, W^o_h + b^o

    Forward, per head (batched as matrix products): Q = q Wq + bq, scaled by 1 / sqrt(key_dim); K = k Wk + bk;
    V = v Wv + bv; L = Q K^T (masked pairs set to -1e9); A = softmax(L) over the keys; O = A V; y = O Wo + bo.
    Backward, the same steps in reverse: dO = dy Wo^T; dA = dO V^T; dV = A^T dO;
    dL = A * (dA - sum_s(dA * A)) (the softmax's Jacobian), zero where masked; dQ = dL K; dK = dL^T Q.
    The key bias gets gradient 0: it shifts every logit of a row by the same q_t . b_k, which the softmax
    ignores (Keras and PyTorch keep the parameter too, so that their weights load as they are).

    In a Sequential the layer is self-attention: query = key = value = its input, and backward returns the
    sum of the three input gradients. ``attend(query, value, key)`` (and ``layer(query, value)``, as Keras
    calls it) is cross-attention; its ``attend_backward`` returns the gradient of each input.

    Args:
        num_heads: the number of heads h. key_dim: the size d_k of each head's queries and keys.
        value_dim: the size of each head's values (default key_dim).
        dropout: fraction of attention weights dropped in training (inverted dropout, default 0).
        use_bias: add the projections' biases (default True).
        output_shape: the output's feature size (default: the query's features).
        use_causal_mask: query t attends to keys s <= t only (Keras passes this at call time; here it is also
            the layer's default, so that a Sequential can ask for it).
        kernel_initializer (default ``"glorot_uniform"``), bias_initializer (``"zeros"``).

    Shapes: query (N, T, F_q), value (N, S, F_v), key (N, S, F_k) (default: value); output (N, T, F_out).
    Parameters (Keras's layout): query_kernel (F_q, h, d_k), query_bias (h, d_k), key_kernel (F_k, h, d_k),
    key_bias (h, d_k), value_kernel (F_v, h, d_v), value_bias (h, d_v), output_kernel (h, d_v, F_out),
    output_bias (F_out,).

    Example::

        >>> layer = MultiHeadAttention(num_heads=2, key_dim=4); layer.build((6, 8), rng=0)
        (6, 8)
        >>> layer.params["query_kernel"].shape, layer.params["output_kernel"].shape
        ((8, 2, 4), (2, 4, 8))
    """

    supports_masking = True        # a padding mask (Embedding(mask_zero=True)) hides the padded steps
    cross_inputs = True            # in a functional model, also called on [query, value] or [query, value, key]

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 use_causal_mask=False, kernel_initializer="glorot_uniform", bias_initializer="zeros", name=None,
                 dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        owner = "MultiHeadAttention"
        self.num_heads = check_positive_int("num_heads", num_heads, owner)
        self.key_dim = check_positive_int("key_dim", key_dim, owner)
        self.value_dim = self.key_dim if value_dim is None else check_positive_int("value_dim", value_dim, owner)
        self.dropout = check_number("dropout", dropout, owner, 0, 1, high_open=True)
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, (tuple, list)) and len(output_shape) == 1:
            output_shape = output_shape[0]
        self.output_dim = None if output_shape is None else check_positive_int("output_shape", output_shape, owner)
        self.use_causal_mask = bool(use_causal_mask)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    # ---- shapes and parameters -----------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        query = input_shape[0] if isinstance(input_shape, list) else input_shape      # [query, value(, key)]
        check_sequence_shape(query, "MultiHeadAttention")
        return query[0], self.output_dim or query[1]

    def build(self, input_shape, rng=None, value_shape=None, key_shape=None):
        """Build for queries of shape input_shape (steps, features); value_shape and key_shape (default: the
        query's, and the value's) for cross-attention, or input_shape the list [query, value(, key)] of a
        functional model's call. Returns the output shape."""
        if isinstance(input_shape, list):
            shapes = [tuple(shape) for shape in input_shape]
            self.build(shapes[0], rng, *shapes[1:])
            self.input_shape = shapes                                   # what a second call must match
            return self.output_shape
        value_shape = tuple(input_shape if value_shape is None else value_shape)
        key_shape = tuple(value_shape if key_shape is None else key_shape)
        for what, shape in (("value", value_shape), ("key", key_shape)):
            check_sequence_shape(shape, f"MultiHeadAttention ({what})")
        if key_shape[0] != value_shape[0]:
            raise ValueError(f"MultiHeadAttention: key and value need the same number of steps, got key "
                             f"{shape_str(key_shape)} and value {shape_str(value_shape)}")
        super().build(input_shape, rng)
        self.shapes = {"query": self.input_shape, "key": key_shape, "value": value_shape}
        heads = self.num_heads
        for part in PROJECTIONS:
            size = self.value_dim if part == "value" else self.key_dim
            self.add_param(f"{part}_kernel", self.kernel_initializer((self.shapes[part][1], heads, size), self.rng))
            if self.use_bias:
                self.add_param(f"{part}_bias", self.bias_initializer((heads, size), self.rng))
        features = self.output_shape[1]
        self.add_param("output_kernel", self.kernel_initializer((heads, self.value_dim, features), self.rng))
        if self.use_bias:
            self.add_param("output_bias", self.bias_initializer((features,), self.rng))
        return self.output_shape

    def check_part(self, part, x):
        if tuple(x.shape[1:]) != self.shapes[part]:
            raise ValueError(f"{self.describe()} expected {part} of shape {shape_str(self.shapes[part])}, got "
                             f"{shape_str(x.shape[1:])}")

    # ---- the projections -----------------------------------------------------------------------
    def project(self, part, x):
        """(N, S, F) -> (N, h, S, d): x @ W + b, split into heads: X_h = x W[:, h] + b[h]."""
        xp = namespace(x)
        kernel = self.params[f"{part}_kernel"]
        y = x @ xp.reshape(kernel, (kernel.shape[0], -1))
        if self.use_bias:
            y = y + xp.reshape(self.params[f"{part}_bias"], (-1,))
        return xp.transpose(xp.reshape(y, (*x.shape[:2], self.num_heads, -1)), (0, 2, 1, 3))

    def project_backward(self, part, x, grad_heads, input_grad):
        """dW = x^T dX, db = sum dX, and dx = dX W^T (None when not input_grad), dX the heads' gradient."""
        xp = namespace(grad_heads)
        kernel = self.params[f"{part}_kernel"]
        flat_kernel = xp.reshape(kernel, (kernel.shape[0], -1))
        grad_rows = xp.reshape(xp.transpose(grad_heads, (0, 2, 1, 3)), (-1, flat_kernel.shape[1]))
        self.accumulate(f"{part}_kernel", xp.reshape(xp.reshape(x, (-1, x.shape[-1])).T @ grad_rows, kernel.shape))
        if self.use_bias and part == "key":     # b_k adds q_t . b_k to every logit of row t, a shift that the
            self.accumulate("key_bias", xp.zeros(kernel.shape[1:], dtype=grad_rows.dtype))   # softmax ignores: 0
        elif self.use_bias:
            self.accumulate(f"{part}_bias", xp.reshape(xp.sum(grad_rows, axis=0), kernel.shape[1:]))   # db = sum dX
        if not input_grad:
            return None
        return xp.reshape(grad_rows @ flat_kernel.T, x.shape)

    def attention_mask(self, xp, attention_mask, use_causal_mask, batch, steps, key_steps, query_mask=None,
                       key_mask=None):
        """The pairs (t, s) that may attend, (N or 1, 1, T, S) booleans, or None when nothing is masked: the
        attention mask, and the causal one, and the padding masks of the queries (N, T) and keys (N, S)."""
        mask = None
        for what, padding, length, pairs in (("query", query_mask, steps, (batch, 1, steps, 1)),   # row t
                                             ("key", key_mask, key_steps, (batch, 1, 1, key_steps))):  # column s
            if padding is not None:
                padding = xp.asarray(padding)
                if tuple(padding.shape) != (batch, length):
                    raise ValueError(f"{self.describe()}: the {what} padding mask must have shape {(batch, length)} "
                                     f"(True for the real steps), got {tuple(padding.shape)}")
                padding = xp.reshape(padding != 0, pairs)
                mask = padding if mask is None else mask & padding
        if attention_mask is not None:
            attention_mask = xp.asarray(attention_mask)
            if attention_mask.ndim not in (2, 3) or tuple(attention_mask.shape[-2:]) != (steps, key_steps) \
                    or (attention_mask.ndim == 3 and attention_mask.shape[0] not in (1, batch)):
                raise ValueError(f"{self.describe()}: attention_mask must have shape (N, {steps}, {key_steps}) or "
                                 f"({steps}, {key_steps}) (queries x keys, 1 = attend), got "
                                 f"{tuple(attention_mask.shape)}")
            given = xp.reshape(attention_mask != 0, (-1, 1, steps, key_steps))
            mask = given if mask is None else mask & given
        if use_causal_mask:
            causal = xp.arange(steps)[:, None] >= xp.arange(key_steps)[None, :]     # query t sees s <= t
            mask = causal[None, None] if mask is None else mask & causal
        return mask

    # ---- forward and backward ------------------------------------------------------------------
    def forward(self, x, training=False, attention_mask=None, mask=None):
        """Self-attention: query = key = value = x (N, T, F). mask: (N, T) padding, True for the real steps
        (Keras's rule: a padded step neither reads nor is read; its row then averages every step uniformly)."""
        if isinstance(x, list):                                         # a functional model's cross-attention
            masks = (mask or [None] * len(x)) + [None]                  # [query, value(, key)] padding masks
            return self.attend(x[0], x[1], x[2] if len(x) > 2 else None, training=training, query_mask=masks[0],
                               value_mask=masks[1], key_mask=masks[2])
        self.check_input(x)
        return self._attend("self", x, x, x, attention_mask, None, training, mask, mask)[0]

    def compute_mask(self, x, mask=None):
        """The output's padding is the query's (the first mask of a cross-attention's list)."""
        return mask[0] if isinstance(mask, list) else mask

    def attend(self, query, value, key=None, attention_mask=None, use_causal_mask=None, training=False,
               return_attention_scores=False, query_mask=None, value_mask=None, key_mask=None):
        """Cross-attention of query (N, T, F_q) over value (N, S, F_v) and key (N, S, F_k; default value).

        attention_mask: (N, T, S) or (T, S), 1 / True where query t may attend to key s. use_causal_mask:
        None takes the layer's. query_mask (N, T), value_mask and key_mask (N, S): padding, True for the real
        steps (key_mask defaults to value_mask). Returns the output (N, T, F_out), and the attention weights
        (N, h, T, S) (after the softmax, before dropout) when return_attention_scores. Undo with
        ``attend_backward``."""
        if not self.built:
            self.build(query.shape[1:], None, value.shape[1:], None if key is None else key.shape[1:])
        for part, x in (("query", query), ("value", value), ("key", value if key is None else key)):
            self.check_part(part, x)
        kind = "cross" if key is None else "cross_key"
        y, weights = self._attend(kind, query, value if key is None else key, value, attention_mask,
                                  use_causal_mask, training, query_mask, value_mask if key_mask is None else key_mask)
        return (y, weights) if return_attention_scores else y

    def __call__(self, query, value=None, key=None, attention_mask=None, training=False, use_causal_mask=None,
                 return_attention_scores=False):
        """``layer(x)``: self-attention (build on the first call); ``layer(query, value[, key])``: attend(); on
        symbolic tensors, the call of a functional model."""
        plain = attention_mask is None and use_causal_mask is None and not return_attention_scores
        if plain and value is None and key is None:
            return super().__call__(query, training=training)
        if plain and getattr(query, "is_symbolic", False):
            return super().__call__([query, value] + ([] if key is None else [key]), training=training)
        return self.attend(query, query if value is None else value, key, attention_mask, use_causal_mask,
                           training, return_attention_scores)

    def _attend(self, kind, query, key, value, attention_mask, use_causal_mask, training, query_mask=None,
                key_mask=None):
        xp = namespace(query)
        scale = query.dtype.type(1 / math.sqrt(self.key_dim))
        q = self.project("query", query) * scale                        # Q = (q Wq + bq) / sqrt(d_k)
        k = self.project("key", key)                                    # K = k Wk + bk
        v = self.project("value", value)                                # V = v Wv + bv
        logits = q @ xp.swapaxes(k, -1, -2)                             # L = Q K^T   (N, h, T, S)
        causal = self.use_causal_mask if use_causal_mask is None else bool(use_causal_mask)
        mask = self.attention_mask(xp, attention_mask, causal, *query.shape[:2], key.shape[1], query_mask, key_mask)
        if mask is not None:
            logits = xp.where(mask, logits, logits.dtype.type(LARGE_NEGATIVE))   # hidden pairs: -1e9
        weights = softmax(logits, axis=-1)                              # A = softmax(L) over the keys
        keep = None
        if training and self.dropout > 0:                               # A_d = A * mask / (1 - rate)
            keep = (self.rng.random(weights.shape, dtype=weights.dtype) >= self.dropout) \
                * weights.dtype.type(1 / (1 - self.dropout))
        dropped = weights if keep is None else weights * keep
        heads = dropped @ v                                             # O = A V   (N, h, T, d_v)
        joined = xp.reshape(xp.transpose(heads, (0, 2, 1, 3)), (*query.shape[:2], -1))   # (N, T, h d_v)
        out_kernel = self.params["output_kernel"]
        y = joined @ xp.reshape(out_kernel, (-1, out_kernel.shape[-1]))   # y = O Wo + bo
        if self.use_bias:
            y = y + self.params["output_bias"]
        self.remember(training, kind, (query, key, value, q, k, v, weights, keep, mask, joined))
        return y, weights

    def backward(self, grad_out, input_grad=True):
        """The gradient of a self-attention call (forward): d query + d key + d value; after a cross-attention
        call, the list of attend_backward's gradients (d query, d value[, d key])."""
        if self.tape and self.tape[-1][0] != "self":
            return list(self.attend_backward(grad_out, input_grad))
        kind, saved = self.recall()
        grads = self._attend_backward(saved, grad_out, input_grad)
        return None if not input_grad else grads[0] + grads[1] + grads[2]

    def attend_backward(self, grad_out, input_grad=True):
        """Undo the last attend(): (d query, d value) or, when a key was given, (d query, d value, d key)
        (None for each when not input_grad); the parameters' gradients are added into grads."""
        kind, saved = self.recall()
        if kind == "self":
            raise RuntimeError(f"{self.describe()}: the last call was forward() (self-attention): undo it with "
                               "backward()")
        d_query, d_key, d_value = self._attend_backward(saved, grad_out, input_grad)
        if kind == "cross":                                             # key was value: one input, two uses
            return d_query, None if d_value is None else d_value + d_key
        return d_query, d_value, d_key

    def _attend_backward(self, saved, grad_out, input_grad):
        query, key, value, q, k, v, weights, keep, mask, joined = saved
        xp = namespace(grad_out)
        out_kernel = self.params["output_kernel"]
        flat_out = xp.reshape(out_kernel, (-1, out_kernel.shape[-1]))
        grad_rows = xp.reshape(grad_out, (-1, flat_out.shape[1]))
        self.accumulate("output_kernel", xp.reshape(xp.reshape(joined, (-1, flat_out.shape[0])).T @ grad_rows,
                                                    out_kernel.shape))  # dWo = O^T dy
        if self.use_bias:
            self.accumulate("output_bias", xp.sum(grad_rows, axis=0))   # dbo = sum dy
        grad_joined = xp.reshape(grad_rows @ flat_out.T, (*grad_out.shape[:2], self.num_heads, -1))
        grad_heads = xp.transpose(grad_joined, (0, 2, 1, 3))            # dO = dy Wo^T   (N, h, T, d_v)
        dropped = weights if keep is None else weights * keep
        grad_v = xp.swapaxes(dropped, -1, -2) @ grad_heads              # dV = A_d^T dO
        grad_weights = grad_heads @ xp.swapaxes(v, -1, -2)              # dA_d = dO V^T
        if keep is not None:
            grad_weights = grad_weights * keep                          # dA = dA_d * mask / (1 - rate)
        grad_logits = weights * (grad_weights - xp.sum(grad_weights * weights, axis=-1, keepdims=True))
        if mask is not None:
            grad_logits = xp.where(mask, grad_logits, grad_logits.dtype.type(0))   # hidden pairs: no gradient
        scale = grad_out.dtype.type(1 / math.sqrt(self.key_dim))
        grad_q = (grad_logits @ k) * scale                              # dQ = dL K / sqrt(d_k)
        grad_k = xp.swapaxes(grad_logits, -1, -2) @ q                   # dK = dL^T Q  (Q already scaled)
        return (self.project_backward("query", query, grad_q, input_grad),
                self.project_backward("key", key, grad_k, input_grad),
                self.project_backward("value", value, grad_v, input_grad))

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_dim, "use_causal_mask": self.use_causal_mask,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("kernel_initializer", "bias_initializer"):
            if key in config:
                config[key] = initializers.deserialize(config[key])
        return cls(**config)


@register
class PositionEmbedding(Layer):
    """y[n, t, :] = x[n, t, :] + embeddings[t, :]: a learned vector for each position, added to the input.

    Attention itself does not see order (permuting the steps permutes its outputs); adding a vector per
    position lets the next layers tell the steps apart. Backward: dx = dy, d embeddings[t] = sum over the
    batch of dy[:, t] (the rows past the input's length get no gradient). keras_hub's PositionEmbedding
    returns the table alone, for the caller to add; this one adds it, so that it fits in a Sequential.

    Args:
        sequence_length: the longest sequence (rows of the table); inputs have at most this many steps.
        initializer: for the table (default ``"glorot_uniform"``, keras_hub's).

    Shapes: input and output (N, steps, features), steps <= sequence_length; embeddings
    (sequence_length, features).
    """

    supports_masking = True        # padding passes through (the padded steps get their vector too)

    def __init__(self, sequence_length, initializer="glorot_uniform", name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.sequence_length = check_positive_int("sequence_length", sequence_length, "PositionEmbedding")
        self.initializer = initializers.get(initializer)

    def compute_output_shape(self, input_shape):
        check_sequence_shape(input_shape, "PositionEmbedding")
        if input_shape[0] > self.sequence_length:
            raise ValueError(f"PositionEmbedding: inputs of {input_shape[0]} steps are longer than "
                             f"sequence_length={self.sequence_length}: raise sequence_length")
        return tuple(input_shape)

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        self.add_param("embeddings", self.initializer((self.sequence_length, input_shape[1]), self.rng))
        return self.output_shape

    def forward(self, x, training=False, mask=None):
        self.check_input(x)
        self.remember(training)
        return x + self.params["embeddings"][:x.shape[1]]               # y = x + E[t]

    def compute_mask(self, x, mask=None):
        return mask

    def backward(self, grad_out, input_grad=True):
        self.recall()
        xp = namespace(grad_out)
        steps = grad_out.shape[1]
        summed = xp.sum(grad_out, axis=0)                               # dE[t] = sum over the batch of dy[:, t]
        if steps < self.sequence_length:
            summed = xp.concatenate([summed, xp.zeros((self.sequence_length - steps, summed.shape[1]),
                                                 dtype=summed.dtype)], axis=0)
        self.accumulate("embeddings", summed)
        return grad_out if input_grad else None                         # dx = dy

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "initializer": initializers.serialize(self.initializer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "initializer" in config:
            config["initializer"] = initializers.deserialize(config["initializer"])
        return cls(**config)
