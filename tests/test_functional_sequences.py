"""Sequence layers in functional models: SimpleRNN / LSTM / GRU, Bidirectional and self-attention called on
symbolic tensors, and padding masks (Embedding(mask_zero=True)) carried along the graph as a Sequential carries
them; gradients checked in float64 with a mask in force."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers
from scratchnn.layers.base import recording

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
