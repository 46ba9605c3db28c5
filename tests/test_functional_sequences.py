"""Sequence layers in functional models: SimpleRNN / LSTM / GRU, Bidirectional and attention called on symbolic
tensors (cross-attention as a layer of two or three inputs), and padding masks (Embedding(mask_zero=True))
carried along the graph as a Sequential carries them; gradients checked in float64."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, initializers, layers
from scratchnn.layers.base import recording

from test_functional import multi_input_errors

TOL = 1e-6          # float64 central differences through two recurrent layers (measured: at most 1.4e-7)
STEPS, VOCABULARY = 6, 8


@pytest.fixture(autouse=True)
def fresh_names():
    snn.clear_session()


def padded_ids(n=5, seed=0):
    ids = np.random.default_rng(seed).integers(1, VOCABULARY, (n, STEPS))
    ids[0, 3:] = 0                  # padding at the end
    ids[1, :2] = 0                  # at the start
    ids[2, [1, 4]] = 0              # in the middle
    return ids


SEQUENCE_LAYERS = {
    "simple_rnn": lambda: [layers.SimpleRNN(3)],
    "lstm_stack": lambda: [layers.LSTM(3, return_sequences=True), layers.GRU(2, go_backwards=True)],
    "bidirectional": lambda: [layers.Bidirectional(layers.LSTM(3, return_sequences=True)),
                              layers.GlobalAveragePooling1D()],
    "attention": lambda: [layers.MultiHeadAttention(2, 3), layers.GlobalAveragePooling1D()],
}


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize("case", sorted(SEQUENCE_LAYERS))
def test_a_chain_of_sequence_layers_gives_the_sequential_numbers(case, mask_zero):
    ids = padded_ids()
    sequential = snn.Sequential([layers.Embedding(VOCABULARY, 4, mask_zero=mask_zero), *SEQUENCE_LAYERS[case](),
                                 layers.Dense(2)], input_shape=(STEPS,), seed=1)
    x = inputs = snn.Input(shape=(STEPS,), name="ids")
    for layer in [layers.Embedding(VOCABULARY, 4, mask_zero=mask_zero), *SEQUENCE_LAYERS[case](), layers.Dense(2)]:
        x = layer(x)
    model = snn.Model(inputs, x, seed=2)
    model.set_weights(sequential.get_weights())
    np.testing.assert_allclose(model.predict(ids), sequential.predict(ids), rtol=1e-6, atol=1e-7)


def test_the_mask_reaches_layers_after_a_branch():
    """One Embedding's mask feeds two recurrent branches: padding read nowhere, so a sample padded in the middle
    gives what the same sample padded at the end gives; without the mask it does not."""
    ids = snn.Input(shape=(STEPS,))
    embedding = layers.Embedding(VOCABULARY, 4, mask_zero=True)
    embedded = embedding(ids)
    joined = layers.Concatenate()([layers.LSTM(3)(embedded), layers.GRU(3, go_backwards=True)(embedded)])
    model = snn.Model(ids, layers.Dense(2)(joined), seed=3)
    middle = np.array([[3, 0, 5, 0, 7, 2], [0, 0, 4, 4, 0, 1]])
    end = np.array([[3, 5, 7, 2, 0, 0], [4, 4, 1, 0, 0, 0]])
    np.testing.assert_allclose(model.predict(middle), model.predict(end), rtol=1e-6, atol=1e-7)
    embedding.mask_zero = False                              # the same weights, every step read
    assert np.abs(model.predict(middle) - model.predict(end)).max() > 1e-4


def test_masked_functional_model_gradients():
    ids = padded_ids(n=4)
    inputs = snn.Input(shape=(STEPS,))
    sequence = layers.GRU(3, return_sequences=True)(layers.Embedding(VOCABULARY, 3, mask_zero=True)(inputs))
    pooled = layers.GlobalAveragePooling1D()(sequence)
    last = layers.LSTM(2)(sequence)
    model = snn.Model(inputs, layers.Dense(2)(layers.Concatenate()([pooled, last])), dtype="float64", seed=4)
    model.compile(loss="mse")
    target = np.random.default_rng(5).standard_normal((4, 2))
    model.zero_grad()
    with recording(True):
        model.loss.forward(model.forward(ids, training=True), target)
    model.backward(model.loss.backward(), input_grad=False)
    analytic = {name: grad.copy() for (name, _), (_, grad) in zip(model.named_parameters(), model.parameters())}

    def loss():
        with recording(False):
            return model.loss.forward(model.forward(ids, training=True), target)
    errors = {name: gradcheck.relative_error(analytic[name], gradcheck.numerical_gradient(loss, param))
              for name, param in model.named_parameters()}
    assert len(errors) == 9                   # Embedding 1, GRU 3, LSTM 3, Dense 2
    gradcheck.assert_gradients_close(errors, TOL)
    embeddings = dict(model.named_parameters())[next(n for n in errors if "Embedding" in n or "embedding" in n)]
    grad = analytic[next(n for n in errors if "Embedding" in n or "embedding" in n)]
    assert np.all(grad[0] == 0) and embeddings.shape == (VOCABULARY, 3)    # the padding id gets no gradient


# ---- cross-attention: a layer of two or three inputs in a graph ---------------------------------------------
def cross_attention_model(with_key=False, dtype=None, causal=False):
    query, value = snn.Input(shape=(3, 4), name="query"), snn.Input(shape=(5, 6), name="value")
    inputs = [query, value] + ([snn.Input(shape=(5, 2), name="key")] if with_key else [])
    attention = layers.MultiHeadAttention(2, 3, use_causal_mask=causal, name="attention",
                                          bias_initializer=initializers.RandomNormal(stddev=0.5))   # not 0
    attended = attention(query, value, inputs[2]) if with_key else attention(query, value)   # Keras's call
    pooled = layers.GlobalAveragePooling1D()(layers.Add()([attended, query]))
    return snn.Model(inputs, layers.Dense(2, name="head")(pooled), dtype=dtype, seed=7), attention


def cross_inputs(with_key=False, dtype=np.float64, seed=8):
    rng = np.random.default_rng(seed)
    shapes = [(4, 3, 4), (4, 5, 6)] + ([(4, 5, 2)] if with_key else [])
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


@pytest.mark.parametrize("with_key", [False, True])
def test_cross_attention_in_a_graph_is_the_layers_attend(with_key):
    model, attention = cross_attention_model(with_key, causal=True)
    x = cross_inputs(with_key, np.float32)
    attended = attention.attend(x[0], x[1], x[2] if with_key else None)
    head = model.get_layer("head")
    expected = (attended + x[0]).mean(axis=1) @ head.params["kernel"] + head.params["bias"]
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)
    assert attention.input_shape == [(3, 4), (5, 6)] + ([(5, 2)] if with_key else [])


@pytest.mark.parametrize("with_key", [False, True])
def test_cross_attention_model_gradients(with_key):
    model, attention = cross_attention_model(with_key, dtype="float64")
    model.compile(loss="mse")
    x = cross_inputs(with_key)
    errors = multi_input_errors(model, x, np.random.default_rng(9).standard_normal((4, 2)))
    errors.pop("attention.key_bias")      # q_t . b_k shifts row t's logits, which the softmax ignores:
    assert not np.any(attention.grads["key_bias"])                   # its gradient is exactly 0
    assert len(errors) == len(x) + 7 + 2          # the inputs, attention's 4 kernels and 3 biases, the head's 2
    gradcheck.assert_gradients_close(errors, TOL)


@pytest.mark.parametrize("with_key", [False, True])
def test_cross_attention_exports_to_onnx_and_round_trips_a_model_file(with_key, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, _ = cross_attention_model(with_key, causal=True)
    x = cross_inputs(with_key, np.float32)
    proto = snn.saving.export_onnx(model, tmp_path / "cross.onnx")
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(str(tmp_path / "cross.onnx"), providers=["CPUExecutionProvider"])
    feeds = dict(zip(["query", "value", "key"], x))
    np.testing.assert_allclose(session.run(None, feeds)[0], model.predict(x), rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "cross.snn")
    np.testing.assert_array_equal(snn.load_model(tmp_path / "cross.snn").predict(x), model.predict(x))


def test_a_shared_cross_attention_layer_keeps_its_shapes():
    query, value, other = snn.Input(shape=(3, 4)), snn.Input(shape=(5, 6)), snn.Input(shape=(5, 2))
    attention = layers.MultiHeadAttention(2, 3, name="shared_attention")
    with pytest.raises(ValueError, match=r"shared_attention.* \[\(None, 3, 4\), \(None, 5, 6\)\] .* "
                                         r"\[\(None, 3, 4\), \(None, 5, 2\)\]"):
        snn.Model([query, value, other], layers.Add()([attention(query, value), attention(query, other)]))
