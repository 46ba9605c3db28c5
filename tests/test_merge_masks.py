"""Padding masks through the layers of several inputs in a functional model: a merge combines its inputs' masks
(a step is real where every masked input says so; Concatenate along time joins them, an input without a mask
counting as all real), cross-attention reads the query's and the value's (or key's) masks and passes the query's
on. Checked against the layers run by hand with those masks, by float64 gradients, and in ONNX (onnxruntime)."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, initializers, layers, saving

from conftest import require
from test_functional import multi_input_errors

STEPS, VOCABULARY, TOL = 6, 8, 1e-5


@pytest.fixture(autouse=True)
def fresh_names():
    snn.clear_session()


def two_id_batches(seed=0):
    """Two (5, STEPS) id arrays padded in different places (a step padded in one and not in the other)."""
    rng = np.random.default_rng(seed)
    first, second = rng.integers(1, VOCABULARY, (2, 5, STEPS))
    first[0, 4:], second[0, 3:] = 0, 0           # both at the end, by different amounts
    first[1, :2] = 0                             # the first only, at the start
    second[2, [1, 3]] = 0                        # the second only, in the middle
    first[3], second[3, -1] = 0, 0               # the first padding only
    return first.astype(np.int64), second.astype(np.int64)


def masked_pair(dim=4):
    """Two id inputs, each through an Embedding(mask_zero=True) of unit-variance vectors (attention logits of
    order 1, so that the gradient check's differences are well above float64's rounding)."""
    a, b = snn.Input(shape=(STEPS,), name="a"), snn.Input(shape=(STEPS,), name="b")
    spread = initializers.RandomNormal(stddev=1.0)
    embed_a = layers.Embedding(VOCABULARY, dim, spread, mask_zero=True, name="embed_a")
    embed_b = layers.Embedding(VOCABULARY, dim, spread, mask_zero=True, name="embed_b")
    return (a, b), (embed_a, embed_b), (embed_a(a), embed_b(b))


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Concatenate"])
def test_an_elementwise_merge_ands_the_masks(merge):
    (a, b), (embed_a, embed_b), (x, y) = masked_pair()
    merged = getattr(layers, merge)(name="merge")([x, y])
    lstm = layers.LSTM(3, name="lstm")
    model = snn.Model([a, b], lstm(merged), seed=1)
    ids = two_id_batches()
    by_hand = model.get_layer("merge").forward([embed_a.forward(ids[0]), embed_b.forward(ids[1])])
    expected = lstm.forward(by_hand, mask=(ids[0] != 0) & (ids[1] != 0))
    np.testing.assert_allclose(model.predict(list(ids)), expected, rtol=1e-6, atol=1e-7)
    unmasked = lstm.forward(by_hand)
    assert np.all(np.abs(expected - unmasked).max(axis=1)[:4] > 1e-6)    # each padded sample changes: beyond
                                                                          # the tolerance of the comparison


def test_a_merge_of_a_masked_and_an_unmasked_input_keeps_the_one_mask():
    ids, dense = snn.Input(shape=(STEPS,), name="ids"), snn.Input(shape=(STEPS, 4), name="features")
    embedding = layers.Embedding(VOCABULARY, 4, mask_zero=True)
    pool = layers.GlobalAveragePooling1D(name="pool")
    model = snn.Model([ids, dense], pool(layers.Add()([embedding(ids), dense])), seed=2)
    tokens, features = two_id_batches()[0], np.random.default_rng(3).standard_normal((5, STEPS, 4)).astype("f4")
    expected = pool.forward(embedding.forward(tokens) + features, mask=tokens != 0)
    np.testing.assert_allclose(model.predict([tokens, features]), expected, rtol=1e-6, atol=1e-7)


def test_concatenate_along_time_joins_the_masks():
    (a, b), (embed_a, embed_b), (x, y) = masked_pair()
    plain = snn.Input(shape=(2, 4), name="plain")                     # no mask: all real
    pool = layers.GlobalAveragePooling1D(name="pool")
    joined = layers.Concatenate(axis=1, name="join")([x, plain, y])
    model = snn.Model([a, plain, b], pool(joined), seed=4)
    ids = two_id_batches()
    extra = np.random.default_rng(5).standard_normal((5, 2, 4)).astype(np.float32)
    values = np.concatenate([embed_a.forward(ids[0]), extra, embed_b.forward(ids[1])], axis=1)
    mask = np.concatenate([ids[0] != 0, np.ones((5, 2), bool), ids[1] != 0], axis=1)
    assert model.get_layer("join").compute_mask([values[:, :6], extra, values[:, 8:]],
                                                [ids[0] != 0, None, ids[1] != 0]).tolist() == mask.tolist()
    np.testing.assert_allclose(model.predict([ids[0], extra, ids[1]]), pool.forward(values, mask=mask),
                               rtol=1e-6, atol=1e-7)


def test_cross_attention_reads_the_query_and_value_masks_and_passes_the_querys_on():
    (a, b), (embed_a, embed_b), (x, y) = masked_pair()
    attention = layers.MultiHeadAttention(2, 3, name="attention")
    pool = layers.GlobalAveragePooling1D(name="pool")
    model = snn.Model([a, b], pool(attention(x, y)), seed=6)
    ids = two_id_batches()
    query_mask, value_mask = ids[0] != 0, ids[1] != 0
    attended = attention.attend(embed_a.forward(ids[0]), embed_b.forward(ids[1]), query_mask=query_mask,
                                value_mask=value_mask)
    np.testing.assert_allclose(model.predict(list(ids)), pool.forward(attended, mask=query_mask), rtol=1e-6,
                               atol=1e-7)
    unmasked = attention.attend(embed_a.forward(ids[0]), embed_b.forward(ids[1]))
    assert np.abs(attended - unmasked).max() > 1e-4


def masked_graph(dtype=None):
    """Two masked sequences: cross-attention of one over the other, added to it, joined in time with the other,
    then a GRU; every multi-input rule in one model."""
    (a, b), _, (x, y) = masked_pair()
    attended = layers.MultiHeadAttention(2, 3, name="attention")(x, y)
    summed = layers.Add(name="add")([attended, x])
    joined = layers.Concatenate(axis=1, name="join")([summed, y])
    return snn.Model([a, b], layers.Dense(2, name="head")(layers.GRU(3, name="gru")(joined)), dtype=dtype, seed=7)


def test_masked_merges_export_to_onnx(tmp_path):
    onnx, ort = require("onnx"), require("onnxruntime")
    model = masked_graph()
    path = tmp_path / "merged.onnx"
    onnx.checker.check_model(saving.export_onnx(model, path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids = two_id_batches()
    theirs = session.run(None, {"a": ids[0], "b": ids[1]})[0]
    np.testing.assert_allclose(theirs, model.predict(list(ids)), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("merge", ["Add", "Concatenate"])
def test_masked_elementwise_merges_export_to_onnx(merge, tmp_path):
    onnx, ort = require("onnx"), require("onnxruntime")
    (a, b), _, (x, y) = masked_pair()
    model = snn.Model([a, b], layers.LSTM(3)(getattr(layers, merge)()([x, y])), seed=8)
    path = tmp_path / "merge.onnx"
    onnx.checker.check_model(saving.export_onnx(model, path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids = two_id_batches()
    np.testing.assert_allclose(session.run(None, {"a": ids[0], "b": ids[1]})[0], model.predict(list(ids)),
                               rtol=TOL, atol=TOL)


def test_masked_merge_model_gradients():
    model = masked_graph(dtype="float64")
    model.compile(loss="mse")
    ids = two_id_batches()
    errors = multi_input_errors(model, list(ids), np.random.default_rng(9).standard_normal((5, 2)))
    errors.pop("attention.key_bias")                 # a per-row shift of the logits: exactly 0, see test_attention
    errors = {name: error for name, error in errors.items() if not name.startswith("input")}     # integer ids
    assert len(errors) == 2 + 7 + 3 + 2              # the embeddings, attention, the GRU, the head
    gradcheck.assert_gradients_close(errors, 1e-6)
