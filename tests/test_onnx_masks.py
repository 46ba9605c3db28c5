"""Padding masks (Embedding(mask_zero=True)) in ONNX export: the exported graph gives what predict gives, to 1e-5
in onnxruntime, for padding at the end, at the start, in the middle, and for a sample of padding only; in
Sequential and functional models; and a layer whose mask has no ONNX form is refused by name."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers, saving

from conftest import require

onnx = require("onnx")
ort = require("onnxruntime")

TOL = 1e-5
STEPS, VOCABULARY = 7, 9


def padded_ids(seed=0, n=6):
    """Ids with padding (0) at the end, at the start, in the middle, everywhere, at the last step, and nowhere."""
    ids = np.random.default_rng(seed).integers(1, VOCABULARY, (n, STEPS))
    ids[0, 3:] = 0
    ids[1, :2] = 0
    ids[2, [1, 4]] = 0
    ids[3] = 0
    ids[4, -1] = 0
    return ids.astype(np.int64)


def assert_exports_as_predicted(model, tmp_path, ids=None):
    ids = padded_ids() if ids is None else ids
    path = tmp_path / "masked.onnx"
    proto = saving.export_onnx(model, path)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ours = model.predict(ids)
    theirs = session.run(None, {session.get_inputs()[0].name: ids})[0]
    assert theirs.shape == ours.shape
    np.testing.assert_allclose(theirs, ours, rtol=TOL, atol=TOL)


RECURRENT = [(kind, backwards, sequences) for kind in ("SimpleRNN", "LSTM", "GRU")
             for backwards in (False, True) for sequences in (False, True)]


@pytest.mark.parametrize("kind, backwards, sequences", RECURRENT)
def test_a_masked_recurrent_layer_exports(kind, backwards, sequences, tmp_path):
    recurrent = getattr(layers, kind)(3, go_backwards=backwards, return_sequences=sequences)
    model = snn.Sequential([layers.Embedding(VOCABULARY, 4, mask_zero=True), recurrent], input_shape=(STEPS,),
                           seed=1)
    assert_exports_as_predicted(model, tmp_path)


def test_the_mask_changes_the_outputs_it_is_exported_for(tmp_path):
    """The export is not the unmasked graph: the same weights without the mask give other outputs."""
    masked = snn.Sequential([layers.Embedding(VOCABULARY, 4, mask_zero=True), layers.LSTM(3)], input_shape=(STEPS,),
                            seed=1)
    plain = snn.Sequential([layers.Embedding(VOCABULARY, 4), layers.LSTM(3)], input_shape=(STEPS,), seed=1)
    plain.set_weights(masked.get_weights())
    ids = padded_ids()
    assert np.abs(masked.predict(ids) - plain.predict(ids))[:4].min() > 1e-4
    np.testing.assert_allclose(masked.predict(ids)[5], plain.predict(ids)[5], rtol=1e-6)   # no padding: the same
    assert_exports_as_predicted(masked, tmp_path)


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
@pytest.mark.parametrize("sequences", [False, True])
def test_a_masked_bidirectional_stack_exports(merge_mode, sequences, tmp_path):
    model = snn.Sequential([layers.Embedding(VOCABULARY, 4, mask_zero=True),
                            layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode=merge_mode),
                            layers.Bidirectional(layers.LSTM(2, return_sequences=sequences)), layers.Dense(2)],
                           input_shape=(STEPS,), seed=2)
    assert_exports_as_predicted(model, tmp_path)


def test_masked_pooling_and_attention_export(tmp_path):
    model = snn.Sequential([layers.Embedding(VOCABULARY, 8, mask_zero=True), layers.PositionEmbedding(STEPS),
                            layers.MultiHeadAttention(2, 4), layers.LayerNormalization(),
                            layers.GlobalAveragePooling1D(), layers.Dense(3)], input_shape=(STEPS,), seed=3)
    assert_exports_as_predicted(model, tmp_path)


def test_a_masked_functional_model_exports_as_its_sequential_twin(tmp_path):
    ids = snn.Input(shape=(STEPS,), name="ids")
    x = layers.Embedding(VOCABULARY, 4, mask_zero=True)(ids)
    sequence = layers.LSTM(3, return_sequences=True)(x)
    last = layers.GRU(3)(sequence)
    average = layers.GlobalAveragePooling1D()(sequence)
    model = snn.Model(ids, layers.Dense(2)(layers.Concatenate()([last, average])), seed=4)
    assert_exports_as_predicted(model, tmp_path)
    twin = snn.Sequential([layers.Embedding(VOCABULARY, 4, mask_zero=True), layers.LSTM(3)], input_shape=(STEPS,),
                          seed=5)
    functional_twin = snn.Model(ids, layers.LSTM(3)(layers.Embedding(VOCABULARY, 4, mask_zero=True)(ids)), seed=5)
    functional_twin.set_weights(twin.get_weights())
    np.testing.assert_allclose(functional_twin.predict(padded_ids()), twin.predict(padded_ids()), rtol=1e-6)


def test_time_distributed_passes_the_mask_on(tmp_path):
    model = snn.Sequential([layers.Embedding(VOCABULARY, 4, mask_zero=True),
                            layers.TimeDistributed(layers.Dense(3)), layers.LSTM(2)], input_shape=(STEPS,), seed=6)
    assert_exports_as_predicted(model, tmp_path)


def test_a_layer_whose_mask_has_no_onnx_form_is_refused(tmp_path, monkeypatch):
    """Every built-in layer that reads masks exports them; one that did not would be refused, not exported as if
    every step were real."""
    from scratchnn.saving import onnx_export_mask
    monkeypatch.setattr(onnx_export_mask, "MASK_READERS", ("SimpleRNN",))
    model = snn.Sequential([layers.Embedding(VOCABULARY, 4, mask_zero=True), layers.LSTM(2)], input_shape=(STEPS,))
    with pytest.raises(ValueError, match=r"export: .*LSTM.* reads a padding mask .*\['SimpleRNN'\]"):
        saving.export_onnx(model, tmp_path / "refused.onnx")
