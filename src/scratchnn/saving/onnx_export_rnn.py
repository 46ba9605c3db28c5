"""ONNX export of the sequence layers: Embedding as Gather (and its import), SimpleRNN / LSTM / GRU as ONNX's
RNN / LSTM / GRU operators, Bidirectional as direction="bidirectional", TimeDistributed as its layer between two
Reshapes.

Layouts. Our sequences are (N, T, features); ONNX's recurrent operators take (T, N, features) (layout 0, the
one every runtime implements) and give Y (T, directions, N, units) and Y_h (directions, N, units), so the
graph transposes around them. Weights: ONNX's W is (directions, gates * units, features), the transpose of
our kernel per direction, with ONNX's gate order: LSTM i, o, f, c (ours, Keras's, i, f, c, o); GRU z, r, h
(the same as ours); B is [input bias, recurrent bias]. GRU's reset_after is linear_before_reset=1.
go_backwards is direction="reverse", whose Y is in time order: ours is in the order read, so it is flipped.
With a padding mask (Embedding(mask_zero=True)) each direction reads only the real steps: see
onnx_export_mask.py.
"""
from __future__ import annotations

import numpy as np

from ..registry import layer_class
from .onnx_export_mask import embedding_mask, int_constant, last_output, real_steps_first, sequence_outputs
from .onnx_registry import exporters, onnx_exporter, onnx_importer

ONNX_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}
LAST = np.iinfo(np.int64).max


def _activation(layer, name):
    if name not in ONNX_ACTIVATIONS:
        raise ValueError(f"export: {layer.describe()} uses activation {name!r}, which ONNX's recurrent operators "
                         f"do not have; supported: {sorted(ONNX_ACTIVATIONS)}")
    return ONNX_ACTIVATIONS[name]


def _gate_order(layer):
    """Our column blocks in ONNX's gate order."""
    u = layer.units
    blocks = {"LSTM": (0, 3, 1, 2), "GRU": (0, 1, 2), "SimpleRNN": (0,)}[type(layer).__name__]
    return np.concatenate([np.arange(b * u, (b + 1) * u) for b in blocks])


def _direction_weights(layer):
    """(W, R, B) of one direction: (gates units, features), (gates units, units), (2 gates units,)."""
    order = _gate_order(layer)
    kernel, recurrent = layer.params["kernel"][:, order].T, layer.params["recurrent_kernel"][:, order].T
    width = order.size
    if not layer.use_bias:
        bias = np.zeros(2 * width)
    elif type(layer).__name__ == "GRU":
        bias = np.concatenate([layer.params["bias"][0][order], layer.params["bias"][1][order]])
    else:
        bias = np.concatenate([layer.params["bias"][order], np.zeros(width)])
    return kernel, recurrent, bias


def _operator(builder, layers, x, hint, direction, lengths=None):
    """The ONNX recurrent node for one or two directions: returns (Y, Y_h); x is (T, N, features), lengths the
    steps each sample has (int32 (N,); None: all T)."""
    first = layers[0]
    kind = type(first).__name__
    if first.return_state:
        raise ValueError(f"export: {first.describe()} returns its states (return_state=True); a Sequential "
                         "passes one output on, export the model without it")
    weights = [_direction_weights(layer) for layer in layers]
    inputs = [x] + [builder.constant(f"{hint}_{name}", np.stack([w[i] for w in weights]))
                    for i, name in enumerate(("W", "R", "B"))] + ([] if lengths is None else [lengths])
    attributes = {"hidden_size": first.units, "direction": direction}
    act = _activation(first, first.activation_name)
    if kind == "SimpleRNN":
        attributes["activations"] = [act] * len(layers)
    else:
        gate = _activation(first, first.recurrent_activation_name)
        attributes["activations"] = ([gate, act, act] if kind == "LSTM" else [gate, act]) * len(layers)
    if kind == "GRU":
        attributes["linear_before_reset"] = 1
    op_type = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}[kind]
    y, y_h = builder.fresh(f"{hint}_Y"), builder.fresh(f"{hint}_Y_h")
    builder.nodes.append(builder.onnx.helper.make_node(op_type, inputs, [y, y_h], name=f"{hint}_{op_type}",
                                                       **attributes))
    return y, y_h


def _direction(builder, hint, tensor, index, axis):
    """One direction's slice of Y or Y_h (Gather with a scalar index drops the axis)."""
    return builder.node("Gather", [tensor, int_constant(builder, f"{hint}_dir{index}", index)], f"{hint}_{index}",
                        axis=axis)


def _flip_time(builder, hint, x):
    """x[:, ::-1]: (N, T, units) read from the last step to the first."""
    return builder.node("Slice", [x, int_constant(builder, f"{hint}_start", [-1]),
                                  int_constant(builder, f"{hint}_end", [-LAST]),
                                  int_constant(builder, f"{hint}_axis", [1]),
                                  int_constant(builder, f"{hint}_step", [-1])], f"{hint}_flipped")


def _time_major(builder, x, hint):
    return builder.node("Transpose", [x], f"{hint}_time_major", perm=[1, 0, 2])      # (N, T, F) -> (T, N, F)


def _outputs(builder, layer, y, y_h, index, hint):
    """Our output of one direction: (N, T, units) from Y (T, dirs, N, units), or (N, units) from Y_h."""
    if layer.return_sequences:
        sequence = builder.node("Transpose", [_direction(builder, f"{hint}_Y", y, index, 1)], f"{hint}_batch_major",
                                perm=[1, 0, 2])
        return _flip_time(builder, hint, sequence) if layer.go_backwards and index == 0 else sequence
    return _direction(builder, f"{hint}_Y_h", y_h, index, 0)


def _masked(builder, layer, x, mask, hint):
    """One direction reading only the real steps of (N, T, features) x: (N, units), or (N, T, units) in the order
    read (see onnx_export_mask.py)."""
    if layer.go_backwards:                                           # read backwards: x and its mask flipped
        x, mask = _flip_time(builder, f"{hint}_x", x), _flip_time(builder, f"{hint}_mask", mask)
    compact, lengths, counts, cumulative = real_steps_first(builder, x, mask, layer.input_shape[0], hint)
    y, y_h = _operator(builder, [layer], _time_major(builder, compact, hint), hint, "forward", lengths)
    if not layer.return_sequences:
        return last_output(builder, _direction(builder, f"{hint}_Y_h", y_h, 0, 0), counts, f"{hint}_last")
    sequence = builder.node("Transpose", [_direction(builder, f"{hint}_Y", y, 0, 1)], f"{hint}_batch_major",
                            perm=[1, 0, 2])
    return sequence_outputs(builder, sequence, cumulative, mask, layer.zero_output_for_mask, f"{hint}_steps")


@onnx_exporter("SimpleRNN", "LSTM", "GRU")
def export_recurrent(builder, layer, x, hint):
    if builder.mask is not None:
        return _masked(builder, layer, x, builder.mask, hint)
    y, y_h = _operator(builder, [layer], _time_major(builder, x, hint), hint,
                       "reverse" if layer.go_backwards else "forward")
    return _outputs(builder, layer, y, y_h, 0, hint)


@onnx_exporter("Bidirectional")
def export_bidirectional(builder, layer, x, hint):
    forward, backward = layer.forward_layer, layer.backward_layer
    if forward.go_backwards or not backward.go_backwards:
        raise ValueError(f"export: {layer.describe()} must read forwards, then backwards (ONNX's bidirectional)")
    if builder.mask is not None:                                     # each direction over the real steps
        y_f, y_b = (_masked(builder, forward, x, builder.mask, f"{hint}_forward"),
                    _masked(builder, backward, x, builder.mask, f"{hint}_backward"))
        if forward.return_sequences:
            y_b = _flip_time(builder, f"{hint}_backward_in_time", y_b)         # back in time order
    else:
        y, y_h = _operator(builder, [forward, backward], _time_major(builder, x, hint), hint, "bidirectional")
        y_f, y_b = (_outputs(builder, forward, y, y_h, 0, f"{hint}_forward"),
                    _outputs(builder, forward, y, y_h, 1, f"{hint}_backward"))  # ONNX's reverse Y: in time order
    if layer.merge_mode == "concat":
        return builder.node("Concat", [y_f, y_b], hint, axis=-1)
    if layer.merge_mode == "sum":
        return builder.node("Add", [y_f, y_b], hint)
    if layer.merge_mode == "mul":
        return builder.node("Mul", [y_f, y_b], hint)
    if layer.merge_mode == "ave":
        total = builder.node("Add", [y_f, y_b], f"{hint}_sum")
        return builder.node("Mul", [total, builder.constant(f"{hint}_half", 0.5)], hint)
    raise ValueError(f"export: {layer.describe()} has merge_mode=None (two outputs); a Sequential passes one on")


@onnx_exporter("Embedding")
def export_embedding(builder, layer, x, hint):
    if layer.mask_zero:                                              # id 0 is padding: the mask ids != 0
        builder.mask = embedding_mask(builder, x, hint)
    return builder.node("Gather", [builder.constant(f"{hint}_embeddings", layer.params["embeddings"]), x], hint,
                        axis=0)                                                       # y = E[ids]


@onnx_importer("Gather")
def import_embedding(importer, node):
    """Gather(table, ids, axis=0) of a constant 2-D table and the integer graph input: an Embedding. (A Gather of
    shapes is part of a shape computation, which the importers evaluate; of a computed tensor, unsupported.)"""
    table = importer.constants.get(node.input[0])
    axis = importer.attributes(node).get("axis", 0)
    if table is None or np.ndim(table) != 2 or axis != 0 or importer.x not in importer.integer_inputs():
        importer.fail(f"Gather node {node.name!r}: only a lookup of integer ids (a graph input) in a constant 2-D "
                      "table along axis 0 (an Embedding) is supported")
    importer.add(layer_class("Embedding")(*table.shape), embeddings=table)


@onnx_exporter("TimeDistributed")
def export_time_distributed(builder, layer, x, hint):
    inner, table = layer.layer, exporters()
    exporter = table.get(type(inner).__name__)
    if exporter is None:
        raise ValueError(f"export: no ONNX form for {inner.describe()} inside {layer.describe()}")
    steps = layer.input_shape[0]
    folded = builder.node("Reshape", [x, int_constant(builder, f"{hint}_fold", [-1, *inner.input_shape])],
                          f"{hint}_folded")                                           # (N T, ...): steps as samples
    y = exporter(builder, inner, folded, f"{hint}_inner")
    activation = getattr(inner, "activation", None)                  # Dense(..., activation=...) keeps its own
    if activation is not None:
        y = table[type(activation).__name__](builder, activation, y, f"{hint}_activation")
    y = builder.channels(y, len(inner.output_shape) + 1, first=False)
    return builder.node("Reshape", [y, int_constant(builder, f"{hint}_unfold", [-1, steps, *inner.output_shape])],
                        hint)

