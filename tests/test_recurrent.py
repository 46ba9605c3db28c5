"""What the layer harness cannot express for the sequence layers (issue 18): several outputs (return_state),
masks, initial states, Bidirectional's merge modes, weights loaded from PyTorch's nn.LSTM / nn.GRU / nn.RNN,
Embedding's errors and scatter-add, ONNX export checked in onnxruntime."""
from __future__ import annotations

import io

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers
from scratchnn.layers.base import recording

CELLS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}


def built(layer, shape, seed=0):
    layer.dtype = np.dtype("float64")
    layer.build(shape, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for name, param in layer.params.items():
        if "bias" in name:
            param[...] = 0.5 * rng.standard_normal(param.shape)
    return layer


def projected_loss(outputs, projections):
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return sum(float(np.sum(o * p)) for o, p in zip(outputs, projections))


def check_gradients(layer, x, tol=1e-7, **call):
    """Central differences for x, every parameter and every initial state, with L = sum(outputs * R)."""
    rng = np.random.default_rng(5)
    with recording(True):
        outputs = layer.forward(x, training=True, **call)
    projections = [rng.standard_normal(o.shape) for o in (outputs if isinstance(outputs, list) else [outputs])]
    layer.zero_grad()
    grads = layer.backward(projections if isinstance(outputs, list) else projections[0])
    grads = grads if isinstance(grads, list) else [grads]

    def loss():
        with recording(False):
            return projected_loss(layer.forward(x, **call), projections)

    arrays = [x, *call.get("initial_state", [])]
    for array, grad in zip(arrays, grads):
        numeric = gradcheck.numerical_gradient(loss, array)
        assert gradcheck.relative_error(grad, numeric) < tol
    for name, param in layer.params.items():
        numeric = gradcheck.numerical_gradient(loss, param)
        assert gradcheck.relative_error(layer.grads[name], numeric) < tol, name
    return grads


# ---- return_state and initial_state ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", CELLS)
def test_return_state_gives_the_final_states_and_their_gradients(kind, rng):
    layer = built(CELLS[kind](3, return_state=True, return_sequences=True), (4, 2))
    x = rng.standard_normal((2, 4, 2))
    y, *states = layer.forward(x)
    assert len(states) == (2 if kind == "lstm" else 1)
    np.testing.assert_array_equal(states[0], y[:, -1])                 # h_T is the last output
    check_gradients(layer, x)


@pytest.mark.parametrize("kind", CELLS)
def test_initial_state_starts_the_carry_and_gets_its_gradient(kind, rng):
    layer = built(CELLS[kind](3, go_backwards=True), (4, 2))
    x = rng.standard_normal((2, 4, 2))
    states = [rng.standard_normal((2, 3)) for _ in layer.state_names]
    assert not np.allclose(layer.forward(x, initial_state=states), layer.forward(x))
    grad_x, *grad_states = check_gradients(layer, x, initial_state=states)
    assert len(grad_states) == len(states) and grad_x.shape == x.shape
    with pytest.raises(ValueError, match=r"initial_state should be .* of shape \(2, 3\)"):
        layer.forward(x, initial_state=[np.zeros((2, 4))] * len(states))


# ---- masks ------------------------------------------------------------------------------------------------
MASK = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1]], dtype=bool)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("options", [{}, {"return_sequences": True}, {"go_backwards": True, "return_sequences": True}])
def test_padded_steps_carry_the_state_and_get_zero_gradient(kind, options, rng):
    layer = built(CELLS[kind](3, **options), (6, 2))
    x = rng.standard_normal((3, 6, 2))
    y = layer.forward(x, mask=MASK)
    short = layer.forward(x[:1, :3])                                    # the first row's unpadded steps
    np.testing.assert_allclose(y[:1, -1] if options else y[:1], short[:1, -1] if options else short, rtol=1e-13)
    if options.get("return_sequences") and not options.get("go_backwards"):
        np.testing.assert_array_equal(y[0, 3:], np.repeat(y[0, 2:3], 3, axis=0))   # the carried h, unchanged
    x_changed = x.copy()
    x_changed[~MASK] = 100.0
    np.testing.assert_array_equal(layer.forward(x_changed, mask=MASK), y)         # padded inputs change nothing
    grad_x = check_gradients(layer, x, mask=MASK)[0]
    assert np.all(grad_x[~MASK] == 0), "padded steps get exactly zero gradient"


def test_a_mask_over_fifty_steps_passes_the_gradient_check(rng):
    mask = np.ones((1, 50), dtype=bool)
    mask[0, :12] = False                                                # padding at both ends
    mask[0, 37:] = False
    layer = built(layers.LSTM(2, return_sequences=True), (50, 1))
    grad_x = check_gradients(layer, rng.standard_normal((1, 50, 1)), mask=mask)[0]
    assert np.all(grad_x[~mask] == 0) and np.all(grad_x[mask] != 0)


def test_embedding_mask_zero_feeds_the_recurrent_layer_inside_a_sequential(rng):
    model = snn.Sequential([layers.Embedding(8, 3, mask_zero=True), layers.GRU(4)], input_shape=(5,), seed=0,
                           dtype="float64")
    ids = np.array([[3, 1, 4, 0, 0], [5, 2, 0, 0, 0]])
    gru_alone = model.layers[1]
    table = model.layers[0].params["embeddings"]
    np.testing.assert_allclose(model.predict(ids)[0], gru_alone.forward(table[ids[:1, :3]])[0], rtol=1e-13)
    np.testing.assert_allclose(model.predict(ids), gru_alone.forward(table[ids], mask=ids != 0), rtol=1e-15)
    assert not np.allclose(model.predict(ids), gru_alone.forward(table[ids]))     # the mask is used
    model.compile(loss="mse", optimizer=snn.optim.SGD(0.1))
    model.zero_grad()
    with recording(True):
        model.forward(ids, training=True)
    model.backward(rng.standard_normal((2, 4)), input_grad=False)
    grad_table = model.layers[0].grads["embeddings"]
    assert np.all(grad_table[0] == 0), "id 0 appears only at padded steps: its row gets no gradient"
    assert np.all(grad_table[[1, 2, 3, 4, 5]] != 0)


def test_bidirectional_with_a_mask_outputs_zeros_at_padded_steps(rng):
    layer = built(layers.Bidirectional(layers.LSTM(2, return_sequences=True)), (6, 2))
    x = rng.standard_normal((3, 6, 2))
    y = layer.forward(x, mask=MASK)
    assert np.all(y[~MASK] == 0) and np.all(y[MASK] != 0)
    grad_x = check_gradients(layer, x, mask=MASK)[0]
    assert np.all(grad_x[~MASK] == 0)


# ---- Bidirectional ----------------------------------------------------------------------------------------
def test_bidirectional_merge_modes_combine_the_same_two_directions(rng):
    x = rng.standard_normal((2, 4, 3))
    both = built(layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode=None), (4, 3))
    y_f, y_b = both.forward(x)
    merged = {"concat": np.concatenate([y_f, y_b], -1), "sum": y_f + y_b, "mul": y_f * y_b, "ave": (y_f + y_b) / 2}
    for mode, expected in merged.items():
        layer = layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode=mode)
        layer.dtype = np.dtype("float64")
        layer.build((4, 3), np.random.default_rng(9))
        layer.set_weights(both.get_weights())
        np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-15)
    reversed_alone = built(layers.GRU(2, return_sequences=True, go_backwards=True), (4, 3))
    reversed_alone.set_weights(both.get_weights()[3:])
    np.testing.assert_allclose(y_b, reversed_alone.forward(x)[:, ::-1], rtol=1e-15)   # put back in time order
    check_gradients(both, x)
    with pytest.raises(ValueError, match="merge_mode must be one of"):
        layers.Bidirectional(layers.GRU(2), merge_mode="max")
    with pytest.raises(ValueError, match="wraps a recurrent layer"):
        layers.Bidirectional(layers.Dense(2))


def test_bidirectional_return_state_and_initial_state(rng):
    layer = built(layers.Bidirectional(layers.LSTM(2, return_state=True)), (3, 2))
    x = rng.standard_normal((2, 3, 2))
    y, h_f, c_f, h_b, c_b = layer.forward(x)
    np.testing.assert_array_equal(y, np.concatenate([h_f, h_b], -1))
    states = [rng.standard_normal((2, 2)) for _ in range(4)]
    grads = check_gradients(layer, x, initial_state=states)
    assert len(grads) == 5


# ---- weights from PyTorch ---------------------------------------------------------------------------------
def torch_to_ours(kind, module):
    """Our weights from a PyTorch nn.RNN / nn.LSTM / nn.GRU (one layer): kernel = weight_ih^T, recurrent_kernel =
    weight_hh^T; one bias b_ih + b_hh (SimpleRNN, LSTM) or GRU's two rows; GRU's r, z, n become z, r, h."""
    w_ih, w_hh = module.weight_ih_l0.detach().numpy(), module.weight_hh_l0.detach().numpy()
    b_ih, b_hh = module.bias_ih_l0.detach().numpy(), module.bias_hh_l0.detach().numpy()
    if kind == "gru":
        u = module.hidden_size
        order = np.r_[u:2 * u, 0:u, 2 * u:3 * u]                      # PyTorch r, z, n -> Keras z, r, h
        return [w_ih[order].T, w_hh[order].T, np.stack([b_ih[order], b_hh[order]])]
    return [w_ih.T, w_hh.T, b_ih + b_hh]                                 # LSTM: i, f, g, o is Keras's i, f, c, o


@pytest.mark.parametrize("kind", CELLS)
def test_weights_loaded_from_torch_give_torch_outputs(kind, rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        3, 5, batch_first=True, dtype=torch.float64)
    layer = built(CELLS[kind](5, return_sequences=True, return_state=True), (7, 3))
    layer.set_weights(torch_to_ours(kind, module))
    x = rng.standard_normal((2, 7, 3))
    states = [rng.standard_normal((2, 5)) for _ in layer.state_names]
    expected, final = module(torch.tensor(x), tuple(torch.tensor(s[None]) for s in states) if kind == "lstm"
                             else torch.tensor(states[0][None]))
    y, *ours = layer.forward(x, initial_state=states)
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=1e-12, atol=1e-13)
    for state, theirs in zip(ours, final if kind == "lstm" else (final,)):
        np.testing.assert_allclose(state, theirs[0].detach().numpy(), rtol=1e-12, atol=1e-13)


# ---- Embedding --------------------------------------------------------------------------------------------
def test_embedding_scatter_adds_repeated_ids(rng):
    layer = built(layers.Embedding(6, 3), (5,))
    ids = np.array([[1, 1, 1, 4, 5], [4, 1, 0, 0, 5]])
    grad_out = rng.standard_normal((2, 5, 3))
    layer.zero_grad()
    with recording(True):
        np.testing.assert_array_equal(layer.forward(ids), layer.params["embeddings"][ids])
    assert layer.backward(grad_out) is None
    expected = np.zeros((6, 3))
    np.add.at(expected, ids, grad_out)
    np.testing.assert_allclose(layer.grads["embeddings"], expected, rtol=1e-15)
    assert np.all(layer.grads["embeddings"][[2, 3]] == 0)


def test_an_out_of_range_id_is_a_clear_error():
    layer = built(layers.Embedding(10, 2), (3,))
    with pytest.raises(ValueError, match=r"id 12 is outside \[0, 10\) .*input_dim is 10"):
        layer.forward(np.array([[1, 12, 3]]))
    with pytest.raises(ValueError, match=r"id -1 is outside \[0, 10\)"):
        layer.forward(np.array([[1, -1, 3]]))
    with pytest.raises(ValueError, match="takes integer ids"):
        layer.forward(np.array([[1.0, 2.0, 3.0]]))


# ---- errors and dropout -----------------------------------------------------------------------------------
def test_shapes_and_arguments_are_checked():
    with pytest.raises(ValueError, match=r"expected input of shape \(N, timesteps, features\).*x\[\.\.\., None\]"):
        layers.LSTM(2).build((5,))
    with pytest.raises(ValueError, match="only reset_after=True"):
        layers.GRU(2, reset_after=False)
    with pytest.raises(ValueError, match="activation must be one of"):
        layers.SimpleRNN(2, activation="softmax")
    with pytest.raises(ValueError, match="dropout"):
        layers.LSTM(2, dropout=1.0)


def test_dropout_drops_the_same_input_features_at_every_step(rng):
    layer = built(layers.LSTM(3, dropout=0.5, return_sequences=True), (6, 4))
    x = rng.standard_normal((5, 6, 4))
    inference = built(layers.LSTM(3, return_sequences=True), (6, 4))
    np.testing.assert_array_equal(layer.forward(x), inference.forward(x))     # inference: no dropout
    layer.forward(x, training=True)
    grad_x = layer.backward(np.ones((5, 6, 3)))
    dropped = np.all(grad_x == 0, axis=1)                                       # (N, features)
    assert dropped.any() and not dropped.all()
    assert np.array_equal(np.any(grad_x == 0, axis=1), dropped), "a feature is dropped at all steps or none"


# ---- ONNX export ------------------------------------------------------------------------------------------
ONNX_MODELS = {
    "lstm_sequences": ([layers.LSTM(4, return_sequences=True), layers.TimeDistributed(layers.Dense(2))], (5, 3)),
    "lstm_backwards_sequences": ([layers.LSTM(3, go_backwards=True, return_sequences=True)], (4, 3)),
    "gru": ([layers.GRU(4), layers.Dense(2)], (5, 3)),
    "gru_backwards": ([layers.GRU(3, go_backwards=True)], (5, 2)),
    "simple_rnn_relu": ([layers.SimpleRNN(4, activation="relu")], (5, 3)),
    "bidirectional_concat_sequences": ([layers.Bidirectional(layers.LSTM(3, return_sequences=True))], (5, 3)),
    "bidirectional_sum": ([layers.Bidirectional(layers.GRU(3), merge_mode="sum")], (4, 3)),
    "bidirectional_mul": ([layers.Bidirectional(layers.SimpleRNN(3), merge_mode="mul")], (4, 3)),
    "bidirectional_ave_sequences": ([layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode="ave")],
                                    (4, 3)),
    "embedding_lstm": ([layers.Embedding(12, 4), layers.LSTM(3), layers.Dense(2, activation="softmax")], (6,)),
    "time_distributed_dense_tanh": ([layers.TimeDistributed(layers.Dense(3, activation="tanh"))], (4, 5)),
}


ONNX_COVERED = {"Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed"}   # for tests/test_onnx.py


def test_every_sequence_layer_has_an_onnx_case():
    exported = {type(layer).__name__ for stack, _ in ONNX_MODELS.values() for layer in stack}
    assert ONNX_COVERED <= exported


@pytest.mark.parametrize("name", ONNX_MODELS)
def test_onnx_export_matches_onnxruntime(name, rng):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from scratchnn.saving.onnx_export import export
    stack, shape = ONNX_MODELS[name]
    model = snn.Sequential(stack, input_shape=shape, seed=0)
    for layer in model.layers:
        for key, param in layer.params.items():
            if "bias" in key:
                param[...] = rng.standard_normal(param.shape)
    x = rng.integers(0, 12, (3, *shape)) if name.startswith("embedding") else \
        rng.standard_normal((3, *shape)).astype(np.float32)
    stream = io.BytesIO()
    proto = export(model, stream)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(stream.getvalue(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-5)


def test_onnx_export_refuses_what_it_cannot_express():
    pytest.importorskip("onnx")
    from scratchnn.saving.onnx_export import export
    linear = snn.Sequential([layers.SimpleRNN(2, activation="linear")], input_shape=(3, 2))
    with pytest.raises(ValueError, match="activation 'linear'"):
        export(linear, io.BytesIO())


# ---- a whole model: fit, save, load, resume ----------------------------------------------------------------
def test_a_sequence_model_trains_saves_and_resumes(tmp_path, rng):
    model = snn.Sequential([layers.Embedding(9, 4, mask_zero=True),
                            layers.Bidirectional(layers.LSTM(3, return_sequences=True, dropout=0.2)),
                            layers.TimeDistributed(layers.Dense(2)), layers.Flatten(),
                            layers.Dense(3)], input_shape=(6,), seed=0)
    ids = rng.integers(1, 9, (16, 6))
    ids[::2, 4:] = 0                                                    # padded rows
    labels = ids.sum(axis=1) % 3
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=snn.optim.Adam(0.01),
                  metrics=["accuracy"])
    history = model.fit(ids, labels, epochs=3, batch_size=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    model.save(tmp_path / "sequence.snn")
    loaded = snn.load_model(tmp_path / "sequence.snn")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict(ids), model.predict(ids))
    resumed, continued = (m.fit(ids, labels, epochs=2, batch_size=4, verbose=0) for m in (loaded, model))
    assert resumed.history == continued.history
