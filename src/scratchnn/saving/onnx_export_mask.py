"""ONNX export of padding masks (Embedding(mask_zero=True)) for the layers that read them.

A mask (N, T) of booleans is True at a real step and False at padding. The exporter keeps it beside the
tensor it belongs to (``builder.mask``) while the layers that pass it on run (see ``passes_mask``), and these
layers read it:

- SimpleRNN / LSTM / GRU (and Bidirectional's two): a padded step keeps the carry, so the layer reads only
  the real steps. ONNX's recurrent operators take sequence lengths, not masks: the graph moves the real
  steps of each sample to the front, in order (TopK of ``t + T * padded``, smallest first, then
  GatherElements), and gives their count as ``sequence_lens``. The last state is then the carry after the
  last real step. With return_sequences, step t outputs the output of the latest real step up to t (the
  carried h; 0 before the first real step, and 0 at every padded step when ``zero_output_for_mask``, as in
  Bidirectional): output[t] = Y[c_t - 1] with c_t = the number of real steps up to t (CumSum).
  go_backwards reads x and the mask flipped in time, forwards: its outputs are in the order read, as ours.
- GlobalAveragePooling1D: sum_t m_t x_t / max(sum_t m_t, 1).
- MultiHeadAttention: query t may attend to key s when both are real steps, m_t and m_s (a padded query's
  row is then all masked, and its softmax averages every step, as ours); in cross-attention m_t is the
  query's mask and m_s the key's (else the value's).

The layers of several inputs combine their inputs' masks as their compute_mask does (``merged_mask``).

Any other layer that reads a mask is refused by name.
"""
from __future__ import annotations

import numpy as np

MASK_READERS = ("SimpleRNN", "LSTM", "GRU", "Bidirectional", "GlobalAveragePooling1D", "MultiHeadAttention",
                "LayerNormalization", "PositionEmbedding", "TimeDistributed")     # these three pass it on, unread
_SENTINEL = object()


def export_layer(builder, exporter, layer, x, hint):
    """exporter(builder, layer, x, hint) with ``builder.mask`` the mask of x (None: no padding) during the call,
    and the mask of the output after it (the one an Embedding(mask_zero=True) makes, or the input's passed on)."""
    mask = builder.mask
    if mask is not None:
        check_reader(layer)
    y = exporter(builder, layer, x, hint)
    if builder.mask is mask:                                        # the exporter made no mask of its own
        builder.mask = mask if mask is not None and passes_mask(layer) else None
    return y


def passes_mask(layer):
    """Whether the layer's output carries its input's mask (compute_mask gives the mask back unchanged)."""
    compute = getattr(layer, "compute_mask", None)
    return compute is not None and compute(_SENTINEL, _SENTINEL) is _SENTINEL


def check_reader(layer):
    if getattr(layer, "supports_masking", False) and type(layer).__name__ not in MASK_READERS:
        raise ValueError(f"export: {layer.describe()} reads a padding mask (Embedding(mask_zero=True)); the layers "
                         f"whose masks export to ONNX are {list(MASK_READERS)}")


def int_constant(builder, hint, values):
    """An int64 constant (indices, axes, shapes)."""
    return builder.constant(hint, np.array(values, dtype=np.int64), dtype=np.int64)


def embedding_mask(builder, ids, hint):
    """ids != 0, (N, T) booleans."""
    zero = int_constant(builder, f"{hint}_padding_id", 0)
    return builder.node("Not", [builder.node("Equal", [ids, zero], f"{hint}_is_padding")], f"{hint}_mask")


def _along_time(builder, index, like, hint):
    """An (N, T) int64 index expanded to the shape of ``like`` (N, T, features), for GatherElements on axis 1."""
    column = builder.node("Unsqueeze", [index, int_constant(builder, f"{hint}_axis2", [2])], f"{hint}_column")
    return builder.node("Expand", [column, builder.node("Shape", [like], f"{hint}_shape")], f"{hint}_expanded")


def real_steps_first(builder, x, mask, steps, hint):
    """(x with each sample's real steps moved to the front, in order; the sequence lengths for ONNX, int32 (N,),
    at least 1; the real steps' counts, int64 (N,); their running counts c_t, int64 (N, T))."""
    padded = builder.node("Cast", [builder.node("Not", [mask], f"{hint}_padded")], f"{hint}_padded_int",
                          to=builder.onnx.TensorProto.INT64)
    late = builder.node("Mul", [padded, int_constant(builder, f"{hint}_steps", steps)], f"{hint}_late")
    key = builder.node("Add", [late, int_constant(builder, f"{hint}_times", np.arange(steps))], f"{hint}_key")
    values, order = builder.fresh(f"{hint}_sorted"), builder.fresh(f"{hint}_order")
    builder.nodes.append(builder.onnx.helper.make_node(
        "TopK", [key, int_constant(builder, f"{hint}_k", [steps])], [values, order], name=order, axis=1, largest=0,
        sorted=1))
    compact = builder.node("GatherElements", [x, _along_time(builder, order, x, f"{hint}_order")], f"{hint}_compact",
                           axis=1)
    real = builder.node("Cast", [mask], f"{hint}_real", to=builder.onnx.TensorProto.INT64)
    counts = builder.node("ReduceSum", [real, int_constant(builder, f"{hint}_time_axis", [1])], f"{hint}_counts",
                          keepdims=0)
    lengths = builder.node("Cast", [builder.node("Max", [counts, int_constant(builder, f"{hint}_one", 1)],
                                                 f"{hint}_at_least_one")], f"{hint}_lengths",
                           to=builder.onnx.TensorProto.INT32)          # a sample of padding only: read 1 step, zeroed
    cumulative = builder.node("CumSum", [real, int_constant(builder, f"{hint}_cum_axis", 1)], f"{hint}_cumulative")
    return compact, lengths, counts, cumulative


def _as_float(builder, tensor, hint):
    return builder.node("Cast", [tensor], hint, to=builder.onnx.helper.np_dtype_to_tensor_dtype(builder.dtype))


def last_output(builder, y_h, counts, hint):
    """The last state, 0 for a sample with no real step: y_h (N, units) * (count > 0)."""
    some = builder.node("Greater", [counts, int_constant(builder, f"{hint}_zero", 0)], f"{hint}_some")
    column = builder.node("Unsqueeze", [some, int_constant(builder, f"{hint}_axis1", [1])], f"{hint}_some_column")
    return builder.node("Mul", [y_h, _as_float(builder, column, f"{hint}_some_float")], hint)


def sequence_outputs(builder, sequence, cumulative, mask, zero_at_padding, hint):
    """Per step t of (N, T, units): the compact output of the latest real step up to t, Y[c_t - 1]; 0 where
    c_t = 0, and at padded steps when ``zero_at_padding``."""
    one = int_constant(builder, f"{hint}_one", 1)
    latest = builder.node("Max", [builder.node("Sub", [cumulative, one], f"{hint}_latest_or_minus"),
                                  int_constant(builder, f"{hint}_zero", 0)], f"{hint}_latest")
    spread = builder.node("GatherElements", [sequence, _along_time(builder, latest, sequence, f"{hint}_latest")],
                          f"{hint}_spread", axis=1)
    keep = mask if zero_at_padding else builder.node("Greater", [cumulative, int_constant(builder, f"{hint}_none", 0)],
                                                     f"{hint}_started")
    keep = builder.node("Unsqueeze", [keep, int_constant(builder, f"{hint}_axis2", [2])], f"{hint}_keep_column")
    return builder.node("Mul", [spread, _as_float(builder, keep, f"{hint}_keep_float")], hint)


def masked_average(builder, x, mask, keepdims, hint):
    """GlobalAveragePooling1D over the real steps: sum_t m_t x_t / max(sum_t m_t, 1), (N, [1,] features)."""
    real = _as_float(builder, builder.node("Unsqueeze", [mask, int_constant(builder, f"{hint}_axis2", [2])],
                                           f"{hint}_mask_column"), f"{hint}_real")
    axis = int_constant(builder, f"{hint}_time_axis", [1])
    total = builder.node("ReduceSum", [builder.node("Mul", [x, real], f"{hint}_masked"), axis], f"{hint}_total",
                         keepdims=int(keepdims))
    count = builder.node("ReduceSum", [real, axis], f"{hint}_count", keepdims=int(keepdims))
    count = builder.node("Max", [count, builder.constant(f"{hint}_one", 1.0)], f"{hint}_count_at_least_one")
    return builder.node("Div", [total, count], hint)


def attention_padding(builder, query_mask, key_mask, hint):
    """The pairs (t, s) of real steps: m_t and m_s, (N, 1, T, S) booleans (broadcast on the side of a None
    mask; None when both are None). Self-attention gives its one mask twice."""
    rows = None if query_mask is None else builder.node(
        "Unsqueeze", [query_mask, int_constant(builder, f"{hint}_row_axes", [1, 3])], f"{hint}_query_real")
    columns = None if key_mask is None else builder.node(
        "Unsqueeze", [key_mask, int_constant(builder, f"{hint}_column_axes", [1, 2])], f"{hint}_key_real")
    if rows is None or columns is None:
        return rows if columns is None else columns
    return builder.node("And", [rows, columns], f"{hint}_real_pairs")


def _all_real(builder, x, hint):
    """True at every step of x (N, T, features): the mask of an input that has none, (N, T) booleans."""
    shape = builder.node("Shape", [x], f"{hint}_shape")
    steps = builder.node("Slice", [shape, int_constant(builder, f"{hint}_from", [0]),
                                   int_constant(builder, f"{hint}_to", [-1])], f"{hint}_mask_shape")
    true = builder.onnx.helper.make_tensor(f"{hint}_true", builder.onnx.TensorProto.BOOL, [1], [True])
    return builder.node("ConstantOfShape", [steps], f"{hint}_all_real", value=true)


def merged_mask(builder, layer, xs, masks, hint):
    """The mask of the output of a layer of several inputs, as its compute_mask makes it: the query's for
    attention; masks joined along the axis for Concatenate off the feature axis (an input without one: all real);
    else m_1 and m_2 and ... over the inputs that have one. None when no input has a mask."""
    if all(m is None for m in masks):
        return None
    if type(layer).__name__ == "MultiHeadAttention":
        return masks[0]
    rank = len(layer.input_shape[0])
    if type(layer).__name__ == "Concatenate" and layer._axis(rank) != rank - 1:
        full = [_all_real(builder, x, f"{hint}_input{i}") if m is None else m
                for i, (x, m) in enumerate(zip(xs, masks))]
        return builder.node("Concat", full, f"{hint}_mask", axis=layer._axis(rank) + 1)
    given = [m for m in masks if m is not None]
    combined = given[0]
    for k, mask in enumerate(given[1:], start=1):
        combined = builder.node("And", [combined, mask], f"{hint}_mask" if k == len(given) - 1 else f"{hint}_mask{k}")
    return combined
