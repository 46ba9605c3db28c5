"""The harness cases of Embedding, SimpleRNN, LSTM, GRU, Bidirectional and TimeDistributed (issue 18).

PyTorch builders map our weights onto nn.RNN / nn.LSTM / nn.GRU (run through torch.func.functional_call, so
our arrays are the leaves and their gradients come back in our layout):
- LSTM: Keras's gate order i, f, c, o is PyTorch's i, f, g, o; weight_ih = kernel^T, weight_hh =
  recurrent_kernel^T, bias_ih = bias, bias_hh = 0 (Keras has one bias).
- GRU (reset_after=True): Keras's z, r, h blocks become PyTorch's r, z, n; bias[0] is bias_ih, bias[1]
  bias_hh (both reordered).
- SimpleRNN: nn.RNN with the same nonlinearity, bias_hh = 0.
- go_backwards: PyTorch reads the flipped sequence (our sequence output is in the order we read it, as
  Keras's); Bidirectional is bidirectional=True (PyTorch's reverse outputs are in time order, as ours).
The T=50 cases keep units and batch small (central differences cost two forwards per number).
"""
from __future__ import annotations

import numpy as np

from scratchnn import initializers, layers

from harness import Case

CASES: list[Case] = []


def add(id, make, shape, **options):
    CASES.append(Case(id, make, tuple(shape), **options))


def ids(low=0, high=10):
    def inputs(rng, shape):
        x = rng.integers(low, high, shape)
        x.flat[:2] = x.flat[2]                                       # a repeated id, always
        return x
    return inputs


def leaf(torch, array):
    return torch.tensor(np.array(array, copy=True), requires_grad=True)


def as_numpy(grad):
    return grad.numpy()


def torch_weights(torch, layer, suffix=""):
    """{PyTorch parameter name: tensor} for one direction, and {our name: (leaf, grad -> ours)}."""
    kind, u = type(layer).__name__, layer.units
    leaves = {name: leaf(torch, value) for name, value in layer.params.items()}
    order = torch.arange(layer.gates * u)
    if kind == "GRU":                                               # ours z, r, h -> PyTorch's r, z, n
        order = torch.cat([torch.arange(u, 2 * u), torch.arange(u), torch.arange(2 * u, 3 * u)])
    weights = {f"weight_ih_l0{suffix}": leaves["kernel"][:, order].T,
               f"weight_hh_l0{suffix}": leaves["recurrent_kernel"][:, order].T}
    if layer.use_bias:
        bias = leaves["bias"]
        if kind == "GRU":
            weights[f"bias_ih_l0{suffix}"], weights[f"bias_hh_l0{suffix}"] = bias[0][order], bias[1][order]
        else:
            weights[f"bias_ih_l0{suffix}"] = bias
            weights[f"bias_hh_l0{suffix}"] = torch.zeros(layer.gates * u, dtype=torch.float64)
    return weights, {name: (t, as_numpy) for name, t in leaves.items()}


def torch_module(torch, layer, features, bidirectional=False):
    kind = type(layer).__name__
    options = dict(batch_first=True, bias=layer.use_bias, dtype=torch.float64, bidirectional=bidirectional)
    if kind == "SimpleRNN":
        return torch.nn.RNN(features, layer.units, nonlinearity=layer.activation_name, **options)
    return {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind](features, layer.units, **options)


def torch_recurrent(layer, torch, training):
    module = torch_module(torch, layer, layer.input_shape[-1])
    weights, params = torch_weights(torch, layer)

    def fn(t):
        out, _ = torch.func.functional_call(module, weights, (t.flip(1) if layer.go_backwards else t,))
        return out if layer.return_sequences else out[:, -1]
    return fn, params


def torch_bidirectional(layer, torch, training):
    forward, backward = layer.forward_layer, layer.backward_layer
    module = torch_module(torch, forward, layer.input_shape[-1], bidirectional=True)
    weights_f, params_f = torch_weights(torch, forward)
    weights_b, params_b = torch_weights(torch, backward, "_reverse")
    params = {**{"forward_" + k: v for k, v in params_f.items()}, **{"backward_" + k: v for k, v in params_b.items()}}
    u = forward.units

    def fn(t):
        out, _ = torch.func.functional_call(module, {**weights_f, **weights_b}, (t,))
        y_f, y_b = out[..., :u], out[..., u:]
        if not layer.return_sequences:
            y_f, y_b = y_f[:, -1], y_b[:, 0]                         # the reverse direction ends at step 0
        merge = {"concat": lambda: torch.cat([y_f, y_b], -1), "sum": lambda: y_f + y_b, "mul": lambda: y_f * y_b,
                 "ave": lambda: (y_f + y_b) / 2}
        return merge[layer.merge_mode]()
    return fn, params


def torch_embedding(layer, torch, training):
    table = leaf(torch, layer.params["embeddings"])
    return (lambda t: torch.nn.functional.embedding(t, table)), {"embeddings": (table, as_numpy)}


def torch_time_distributed(layer, torch, training):
    import layer_cases
    inner = {"Dense": layer_cases.torch_dense, "Conv2D": layer_cases.torch_conv2d}[type(layer.layer).__name__]
    fn, params = inner(layer.layer, torch, training)

    def distributed(t):
        y = fn(t.reshape(t.shape[0] * t.shape[1], *t.shape[2:]))
        return y.reshape(t.shape[0], t.shape[1], *y.shape[1:])
    return distributed, params


BIAS = initializers.RandomNormal(stddev=0.5)          # a zero bias hides mistakes (the harness perturbs "bias")
ONE_STEP = {"step": "one step from the zero state: h_0 U = 0, so the recurrent kernel's gradient is exactly 0 "
                    "(the gradients check confirms it)"}
DRAWS = dict(modes=("train", "infer"), draws=True)

# Embedding: repeated ids, a 3-D batch of ids, mask_zero (the mask itself: tests/test_recurrent.py)
add("embedding", lambda: layers.Embedding(10, 3), (4, 6), inputs=ids(), torch=torch_embedding)
add("embedding_ids_3d", lambda: layers.Embedding(7, 2), (2, 3, 4), inputs=ids(0, 7), torch=torch_embedding)
add("embedding_mask_zero", lambda: layers.Embedding(5, 4, mask_zero=True), (3, 5), inputs=ids(0, 5),
    torch=torch_embedding)
add("embedding_frozen", lambda: layers.Embedding(6, 2, trainable=False), (2, 4), inputs=ids(0, 6),
    torch=torch_embedding)

# SimpleRNN, LSTM, GRU: last output / sequences, go_backwards, no bias, dropout, T = 50, frozen
RECURRENT = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
for name, cls in RECURRENT.items():
    add(name, lambda cls=cls: cls(3), (2, 5, 4), torch=torch_recurrent)
    add(f"{name}_sequences", lambda cls=cls: cls(4, return_sequences=True), (3, 4, 2), torch=torch_recurrent)
    add(f"{name}_backwards_sequences", lambda cls=cls: cls(2, go_backwards=True, return_sequences=True),
        (2, 4, 3), torch=torch_recurrent)
    add(f"{name}_no_bias", lambda cls=cls: cls(3, use_bias=False), (2, 4, 3), torch=torch_recurrent)
    add(f"{name}_one_step", lambda cls=cls: cls(2), (3, 1, 2), torch=torch_recurrent, skip=ONE_STEP)
    add(f"{name}_dropout", lambda cls=cls: cls(3, dropout=0.3, recurrent_dropout=0.4, return_sequences=True),
        (3, 4, 3), **DRAWS)
    add(f"{name}_T50", lambda cls=cls: cls(2, return_sequences=True), (1, 50, 1), torch=torch_recurrent)
add("gru_backwards", lambda: layers.GRU(3, go_backwards=True), (2, 5, 3), torch=torch_recurrent)
add("lstm_frozen", lambda: layers.LSTM(2, trainable=False), (2, 3, 2), torch=torch_recurrent)
add("simple_rnn_relu", lambda: layers.SimpleRNN(3, activation="relu", recurrent_initializer="glorot_uniform"),
    (2, 4, 3), torch=torch_recurrent)
add("lstm_no_forget_bias", lambda: layers.LSTM(3, unit_forget_bias=False, bias_initializer=BIAS), (2, 4, 3),
    torch=torch_recurrent)

# Bidirectional: every merge mode, sequences and last outputs, each cell
BIDIRECTIONAL = {
    "lstm_concat_sequences": (lambda: layers.LSTM(3, return_sequences=True, bias_initializer=BIAS), "concat",
                              (2, 4, 3)),
    "lstm_concat": (lambda: layers.LSTM(2, bias_initializer=BIAS), "concat", (2, 5, 3)),
    "gru_sum": (lambda: layers.GRU(3, bias_initializer=BIAS), "sum", (2, 4, 2)),
    "gru_ave_sequences": (lambda: layers.GRU(2, return_sequences=True, bias_initializer=BIAS), "ave", (2, 3, 3)),
    "simple_rnn_mul_sequences": (lambda: layers.SimpleRNN(3, return_sequences=True, bias_initializer=BIAS), "mul",
                                 (2, 4, 2)),
    "lstm_T50": (lambda: layers.LSTM(1, return_sequences=True, bias_initializer=BIAS), "concat", (1, 50, 1)),
}
for name, (inner, mode, shape) in BIDIRECTIONAL.items():
    add(f"bidirectional_{name}", lambda inner=inner, mode=mode: layers.Bidirectional(inner(), merge_mode=mode),
        shape, torch=torch_bidirectional)
add("bidirectional_gru_dropout", lambda: layers.Bidirectional(layers.GRU(2, dropout=0.3, recurrent_dropout=0.3)),
    (3, 4, 2), **DRAWS)

# TimeDistributed: a Dense and a Conv2D at every step
add("time_distributed_dense", lambda: layers.TimeDistributed(layers.Dense(3, bias_initializer=BIAS)), (2, 4, 5),
    torch=torch_time_distributed)
add("time_distributed_dense_tanh", lambda: layers.TimeDistributed(layers.Dense(2, activation="tanh")), (3, 2, 4),
    torch=torch_time_distributed)
add("time_distributed_conv2d", lambda: layers.TimeDistributed(layers.Conv2D(2, 3, bias_initializer=BIAS)),
    (2, 3, 5, 4, 2), torch=torch_time_distributed, fast=True)
