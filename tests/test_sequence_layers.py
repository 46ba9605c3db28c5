"""Behaviour of Conv1D, LayerNormalization and MultiHeadAttention beyond the layer harness: masks, causality, the
cross-attention interface, a Transformer encoder block written by hand, and ONNX export of the sequence layers."""
import io
import pathlib

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, initializers, layers
from scratchnn.layers.base import recording
from scratchnn.saving import onnx_export

from conftest import require

BIASES = initializers.RandomNormal(stddev=0.5)


def built(layer, input_shape, seed=0, **shapes):
    layer.dtype = np.dtype("float64")
    layer.build(input_shape, np.random.default_rng(seed), **shapes)
    return layer


def cross_attention(query_shape=(3, 4), value_shape=(6, 3), key_shape=(6, 5), **kwargs):
    kwargs = {"num_heads": 2, "key_dim": 3, "value_dim": 2, "output_shape": 4, "bias_initializer": BIASES, **kwargs}
    return built(layers.MultiHeadAttention(**kwargs), query_shape, value_shape=value_shape, key_shape=key_shape)


def random_mask(rng, shape, fully_masked_row=None):
    """Booleans with at least one key allowed in every query row (and one row with none, if asked)."""
    mask = rng.random(shape) < 0.6
    mask[..., 0] |= ~mask.any(axis=-1)
    if fully_masked_row is not None:
        mask[fully_masked_row] = False
    return mask


# ---- masks and causality ----------------------------------------------------------------------------------
def test_masked_pairs_get_zero_weight_and_their_keys_zero_gradient(rng):
    layer = cross_attention(key_shape=None, value_shape=(5, 4))
    query, value = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    mask = random_mask(rng, (2, 3, 5))
    mask[0, :, 4] = False                                               # no query of sample 0 reads step 4
    y, weights = layer.attend(query, value, attention_mask=mask, training=True, return_attention_scores=True)
    assert weights.shape == (2, 2, 3, 5)
    hidden = np.broadcast_to(~mask[:, None], weights.shape)
    assert np.all(weights[hidden] == 0) and np.allclose(weights.sum(axis=-1), 1)
    d_query, d_value = layer.attend_backward(rng.standard_normal(y.shape))
    assert np.all(d_value[0, 4] == 0) and np.any(d_value[1, 4] != 0)
    moved = value.copy()
    moved[0, 4] += 10.0                                                 # a hidden step changes nothing
    np.testing.assert_array_equal(layer.attend(query, moved, attention_mask=mask)[0], y[0])


def test_a_fully_masked_query_row_averages_uniformly_as_keras_does_and_gets_no_gradient(rng):
    layer = cross_attention(key_shape=None, value_shape=(5, 4))
    query, value = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    mask = random_mask(rng, (2, 3, 5), fully_masked_row=(1, 2))
    y, weights = layer.attend(query, value, attention_mask=mask, training=True, return_attention_scores=True)
    np.testing.assert_allclose(weights[1, :, 2], 1 / 5, rtol=1e-15)     # every logit -1e9: uniform
    d_query, _ = layer.attend_backward(rng.standard_normal(y.shape))
    assert np.all(d_query[1, 2] == 0) and np.all(np.isfinite(d_query))


def test_the_causal_mask_hides_the_future_in_attention_and_in_conv1d(rng):
    steps = 6
    attention = built(layers.MultiHeadAttention(2, 2, use_causal_mask=True, bias_initializer=BIASES), (steps, 4))
    conv = built(layers.Conv1D(3, 3, padding="causal", dilation_rate=2), (steps, 4))
    x = rng.standard_normal((2, steps, 4))
    _, weights = attention(x, x, return_attention_scores=True)
    assert np.all(np.triu(np.ones((steps, steps), bool), 1)[None, None] <= (weights == 0))
    for layer in (attention, conv):
        y = layer.forward(x, training=True)
        for t in range(steps):
            later = x.copy()
            later[:, t + 1:] = rng.standard_normal(later[:, t + 1:].shape)
            np.testing.assert_array_equal(layer.forward(later)[:, :t + 1], y[:, :t + 1])
        grad_out = np.zeros_like(y)
        grad_out[:, 2] = 1.0
        dx = layer.backward(grad_out)                                   # output 2 depends on steps 0 ... 2 only
        assert np.all(dx[:, 3:] == 0) and np.any(dx[:, :3] != 0)


def test_causal_conv1d_is_a_valid_convolution_after_left_zeros(rng):
    causal = built(layers.Conv1D(2, 3, padding="causal", dilation_rate=2, strides=2), (9, 3))
    valid = built(layers.Conv1D(2, 3, padding="valid", dilation_rate=2, strides=2), (13, 3))
    valid.set_weights(causal.get_weights())
    x = rng.standard_normal((2, 9, 3))
    padded = np.concatenate([np.zeros((2, 4, 3)), x], axis=1)           # (3 - 1) * 2 zeros on the left
    np.testing.assert_allclose(causal.forward(x), valid.forward(padded), rtol=1e-14)


def test_self_attention_with_an_attention_mask_is_cross_attention_of_x_over_itself(rng):
    layer = built(layers.MultiHeadAttention(2, 3, bias_initializer=BIASES), (4, 5))
    x = rng.standard_normal((2, 4, 5))
    mask = random_mask(rng, (4, 4))
    np.testing.assert_array_equal(layer.forward(x, attention_mask=mask), layer.attend(x, x, attention_mask=mask))
    np.testing.assert_array_equal(layer(x), layer.forward(x))
    padding = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=bool)      # Keras's padding masks: queries x keys
    pairs = padding[:, :, None] & padding[:, None, :]
    np.testing.assert_array_equal(layer.forward(x, mask=padding), layer.attend(x, x, attention_mask=pairs))
    np.testing.assert_array_equal(layer.attend(x, x, value_mask=padding),
                                  layer.attend(x, x, attention_mask=np.broadcast_to(padding[:, None], pairs.shape)))
    with pytest.raises(ValueError, match=r"the query padding mask must have shape \(2, 4\)"):
        layer.attend(x, x, query_mask=padding[:, :3])


def test_a_padding_mask_from_embedding_hides_the_padded_steps_in_attention_and_pooling(rng):
    ids = np.array([[5, 2, 7, 0, 0],                                    # 0 is padding
                    [3, 9, 4, 1, 8]])
    model = snn.Sequential([layers.Embedding(10, 6, mask_zero=True), layers.PositionEmbedding(5),
                            layers.MultiHeadAttention(2, 3, bias_initializer=BIASES), layers.LayerNormalization(),
                            layers.GlobalAveragePooling1D(), layers.Dense(2)], input_shape=(5,), seed=0,
                           dtype="float64")
    y = model.predict(ids)
    table = model.layers[0].params["embeddings"]
    table[0] += 5.0                                                     # what the padded steps read
    np.testing.assert_array_equal(model.predict(ids), y)               # changes nothing
    model.compile(loss="mse", optimizer="sgd")
    _, grads = model.compute_gradients(ids, rng.standard_normal((2, 2)))
    grad_table = next(g for (p, _), g in zip(model.parameters(), grads) if p is table)
    assert np.all(grad_table[0] == 0) and np.all(grad_table[[1, 2, 3, 4, 5, 7, 8, 9]] != 0)


@pytest.mark.parametrize("make", [lambda: layers.MultiHeadAttention(2, 3, bias_initializer=BIASES),
                                  layers.GlobalAveragePooling1D, layers.LayerNormalization,
                                  lambda: layers.PositionEmbedding(6)],
                         ids=["attention", "average_pooling", "layer_norm", "position_embedding"])
def test_the_layers_that_take_a_padding_mask_pass_a_float64_gradient_check_with_it(rng, make):
    layer = built(make(), (5, 6))
    x = rng.standard_normal((3, 5, 6))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
    projection = rng.standard_normal((3, *layer.output_shape))
    if isinstance(layer, layers.MultiHeadAttention):
        projection[~mask] = 0           # a padded query row averages every step (Keras's rule): nothing reads it

    def loss():
        with recording(False):
            return float(np.sum(layer.forward(x, mask=mask) * projection))

    layer.zero_grad()
    with recording(True):
        layer.forward(x, mask=mask)
    grad_x = layer.backward(projection)
    errors = {"input": gradcheck.relative_error(grad_x, gradcheck.numerical_gradient(loss, x))}
    for name, param in layer.params.items():
        if name != "key_bias":
            errors[name] = gradcheck.relative_error(layer.grads[name], gradcheck.numerical_gradient(loss, param))
    gradcheck.assert_gradients_close(errors, 1e-8)
    if not isinstance(layer, (layers.LayerNormalization, layers.PositionEmbedding)):
        assert np.all(grad_x[~mask] == 0), "a padded step gets no gradient"
        assert np.all(grad_x[mask] != 0)
    passed_on = layer.compute_mask(x, mask) if hasattr(layer, "compute_mask") else None
    assert passed_on is (None if isinstance(layer, layers.GlobalAveragePooling1D) else mask)


# ---- the cross-attention interface ------------------------------------------------------------------------
@pytest.mark.parametrize("separate_key", [True, False], ids=["key", "key_is_value"])
def test_cross_attention_gradients_of_each_input_and_parameter_in_float64(rng, separate_key):
    layer = cross_attention(key_shape=(6, 5) if separate_key else None)
    query, value = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 6, 3))
    key = rng.standard_normal((2, 6, 5)) if separate_key else None
    mask = random_mask(rng, (2, 3, 6), fully_masked_row=(0, 1))
    projection = rng.standard_normal((2, 3, 4))

    def loss():
        with recording(False):
            return float(np.sum(layer.attend(query, value, key, attention_mask=mask) * projection))

    layer.zero_grad()
    layer.attend(query, value, key, attention_mask=mask, training=True)
    grads = layer.attend_backward(projection)
    inputs = (query, value, key) if separate_key else (query, value)
    assert len(grads) == len(inputs)
    for name, x, grad in zip(("query", "value", "key"), inputs, grads):
        error = gradcheck.relative_error(grad, gradcheck.numerical_gradient(loss, x))
        assert error < 1e-8, f"d {name}: {error:.2e}"
    analytic = {name: np.array(g) for name, g in layer.grads.items()}
    assert not np.any(analytic.pop("key_bias")), "the key bias gets no gradient (softmax ignores a shift)"
    for name, grad in analytic.items():
        error = gradcheck.relative_error(grad, gradcheck.numerical_gradient(loss, layer.params[name]))
        assert error < 1e-8, f"d {name}: {error:.2e}"


def test_cross_attention_matches_torch_multihead_attention_with_other_key_and_value_sizes(rng):
    """nn.MultiheadAttention(kdim, vdim): its q/k/v_proj_weight are our kernels (features, heads * key_dim)
    transposed; its attn_mask is True where a pair is hidden, one (T, S) table per sample and head."""
    torch = require("torch")
    heads, key_dim, (steps, features), key_steps = 2, 3, (4, 6), 5
    layer = cross_attention(query_shape=(steps, features), value_shape=(key_steps, 3), key_shape=(key_steps, 5),
                            num_heads=heads, key_dim=key_dim, value_dim=key_dim, output_shape=None)
    query, value, key = (rng.standard_normal((2, *shape)) for shape in ((steps, 6), (key_steps, 3), (key_steps, 5)))
    mask = random_mask(rng, (2, steps, key_steps))
    grad_out = rng.standard_normal((2, steps, features))
    theirs = torch.nn.MultiheadAttention(features, heads, kdim=5, vdim=3, batch_first=True, dtype=torch.float64)
    p = layer.params
    with torch.no_grad():
        for part, weight in (("query", theirs.q_proj_weight), ("key", theirs.k_proj_weight),
                             ("value", theirs.v_proj_weight)):
            weight.copy_(torch.tensor(p[f"{part}_kernel"].reshape(len(p[f"{part}_kernel"]), -1).T))
        theirs.in_proj_bias.copy_(torch.tensor(np.concatenate([p[f"{part}_bias"].reshape(-1)
                                                               for part in ("query", "key", "value")])))
        theirs.out_proj.weight.copy_(torch.tensor(p["output_kernel"].reshape(features, -1).T))
        theirs.out_proj.bias.copy_(torch.tensor(p["output_bias"]))
    inputs = [torch.tensor(a, requires_grad=True) for a in (query, key, value)]
    hidden = torch.tensor(~mask).repeat_interleave(heads, dim=0)       # (N * heads, T, S)
    y_t = theirs(*inputs, attn_mask=hidden, need_weights=False)[0]
    y_t.backward(torch.tensor(grad_out))
    layer.zero_grad()
    y = layer.attend(query, value, key, attention_mask=mask, training=True)
    d_query, d_value, d_key = layer.attend_backward(grad_out)
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, tensor in zip((d_query, d_key, d_value), inputs):
        np.testing.assert_allclose(ours, tensor.grad.numpy(), rtol=1e-11, atol=1e-12)
    for part, weight in (("query", theirs.q_proj_weight), ("key", theirs.k_proj_weight),
                         ("value", theirs.v_proj_weight), ("output", theirs.out_proj.weight)):
        kernel = p[f"{part}_kernel"]
        expected = weight.grad.numpy().T.reshape(kernel.shape)
        np.testing.assert_allclose(layer.grads[f"{part}_kernel"], expected, rtol=1e-11, atol=1e-12, err_msg=part)
    query_bias, _, value_bias = theirs.in_proj_bias.grad.numpy().reshape(3, heads, key_dim)
    np.testing.assert_allclose(layer.grads["query_bias"], query_bias, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(layer.grads["value_bias"], value_bias, rtol=1e-11, atol=1e-12)


def test_cross_attention_builds_from_its_first_call_and_backward_matches_the_kind_of_call(rng):
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=2, dtype="float64")
    query, value = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 6))
    y = layer(query, value, training=True)                              # Keras's call: mha(query, value)
    assert y.shape == (2, 3, 4) and layer.params["value_kernel"].shape == (6, 2, 2)
    d_query, d_value = layer.backward(np.ones_like(y))                 # backward undoes the call: a gradient each
    assert d_query.shape == query.shape and d_value.shape == value.shape
    layer.attend(query, value, training=True)
    d_query, d_value = layer.attend_backward(np.ones_like(y))
    assert d_query.shape == query.shape and d_value.shape == value.shape
    with pytest.raises(ValueError, match=r"expected value of shape \(N, 5, 6\), got \(N, 5, 4\)"):
        layer.attend(query, value[..., :4])
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(N, 3, 5\)"):
        layer.attend(query, value, attention_mask=np.ones((3, 4)))
    self_attention = built(layers.MultiHeadAttention(2, 2), (3, 4))
    self_attention.forward(query, training=True)
    with pytest.raises(RuntimeError, match=r"undo it with backward\(\)"):
        self_attention.attend_backward(np.ones_like(y))


def test_sequence_layers_say_what_shape_they_expected():
    with pytest.raises(ValueError, match=r"Conv1D expected input of shape \(N, steps, channels\), got \(N, 20\): "
                                         r"add a channel axis"):
        layers.Conv1D(2, 3).build((20,))
    with pytest.raises(ValueError, match="spans 5 steps, more than the input's 4"):
        layers.Conv1D(2, 3, dilation_rate=2).build((4, 1))
    with pytest.raises(ValueError, match="padding must be one of"):
        layers.MaxPooling1D(2, padding="causal")
    with pytest.raises(ValueError, match="longer than sequence_length=4"):
        layers.PositionEmbedding(4).build((5, 2))
    with pytest.raises(ValueError, match="the batch axis 0 is not one"):
        layers.LayerNormalization(axis=0)
    with pytest.raises(ValueError, match="distinct feature axes"):
        layers.LayerNormalization(axis=[1, 3]).build((3, 4))


def test_layer_normalization_gives_each_sample_zero_mean_and_unit_variance(rng):
    layer = built(layers.LayerNormalization(axis=[1, 2], epsilon=1e-6), (3, 4))
    x = 5 + 3 * rng.standard_normal((4, 3, 4))
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 9 / (9 + 1e-6), rtol=0.05)
    np.testing.assert_array_equal(layer.forward(x, training=True), y)


# ---- a Transformer encoder block, wired by hand -----------------------------------------------------------
class EncoderBlock:
    """positions -> x + MHA(x) -> LayerNorm -> h + Dense(Dense(h, gelu)) -> LayerNorm -> mean over steps -> Dense.

    The two residual sums are written out: forward adds, backward sends the same gradient down both branches."""

    def __init__(self, steps=5, features=4, heads=2, key_dim=2, hidden=8, classes=3, causal=False, seed=0):
        self.position = layers.PositionEmbedding(steps)
        self.attention = layers.MultiHeadAttention(heads, key_dim, use_causal_mask=causal, bias_initializer=BIASES)
        self.norm1, self.norm2 = layers.LayerNormalization(), layers.LayerNormalization()
        self.ff1, self.ff2 = layers.Dense(hidden, activation="gelu"), layers.Dense(features)
        self.pool, self.head = layers.GlobalAveragePooling1D(), layers.Dense(classes)
        shape = (steps, features)
        for layer in self.layers[:-2]:
            built(layer, shape if layer is not self.ff2 else (steps, hidden), seed)
        built(self.pool, shape, seed)
        built(self.head, (features,), seed)

    @property
    def layers(self):
        return [self.position, self.attention, self.norm1, self.ff1, self.ff2, self.norm2, self.pool, self.head]

    def forward(self, x, training=False):
        x = self.position.forward(x, training)
        h = self.norm1.forward(x + self.attention.forward(x, training), training)      # h = LN(x + MHA(x))
        z = self.norm2.forward(h + self.ff2.forward(self.ff1.forward(h, training), training), training)
        return self.head.forward(self.pool.forward(z, training), training)

    def backward(self, grad_out):
        grad_z = self.norm2.backward(self.pool.backward(self.head.backward(grad_out)))
        grad_h = grad_z + self.ff1.backward(self.ff2.backward(grad_z))                 # both branches of h + FF(h)
        grad_sum = self.norm1.backward(grad_h)
        grad_x = grad_sum + self.attention.backward(grad_sum)                          # both branches of x + MHA(x)
        return self.position.backward(grad_x)

    def parameters(self):
        return [(layer, name) for layer in self.layers for name in layer.params]


@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
def test_a_transformer_encoder_block_passes_a_float64_gradient_check(rng, causal):
    block = EncoderBlock(causal=causal)
    x = rng.standard_normal((2, 5, 4))
    projection = rng.standard_normal((2, 3))

    def loss():
        with recording(False):
            return float(np.sum(block.forward(x) * projection))

    for layer in block.layers:
        layer.zero_grad()
    with recording(True):
        block.forward(x)
    grad_x = block.backward(projection)
    assert all(layer.tape == [] for layer in block.layers)
    errors = {"input": gradcheck.relative_error(grad_x, gradcheck.numerical_gradient(loss, x))}
    for layer, name in block.parameters():
        if (layer, name) == (block.attention, "key_bias"):
            assert not np.any(layer.grads[name])
            continue
        numeric = gradcheck.numerical_gradient(loss, layer.params[name])
        errors[f"{layer.name}.{name}"] = gradcheck.relative_error(layer.grads[name], numeric)
    gradcheck.assert_gradients_close(errors, 1e-7)


def test_a_transformer_encoder_block_learns_which_step_holds_the_largest_value():
    """The label is the position (of 3) of the largest first feature: attention has to compare the steps."""
    data = np.random.default_rng(1)
    x = data.standard_normal((64, 5, 4))
    labels = np.argmax(x[:, :3, 0], axis=1)
    block = EncoderBlock(seed=2)
    loss = snn.losses.get("sparse_categorical_crossentropy", from_logits=True)
    optimizer = snn.optim.Adam(0.02)
    losses = []
    for _ in range(100):
        for layer in block.layers:
            layer.zero_grad()
        losses.append(loss.forward(block.forward(x, training=True), labels))
        block.backward(loss.backward())
        for layer in block.layers:
            layer.settle_grads()
        optimizer.step([(layer.params[name], layer.grads[name]) for layer, name in block.parameters()])
    accuracy = np.mean(np.argmax(block.forward(x), axis=1) == labels)
    assert losses[-1] < 0.4 * losses[0], f"the loss went {losses[0]:.3f} -> {losses[-1]:.3f}"   # 1.225 -> 0.280
    assert accuracy > 0.85, f"training accuracy {accuracy:.2f}"                              # 0.92


# ---- ONNX export ------------------------------------------------------------------------------------------
ONNX_MODELS = {
    "conv1d": ((9, 2), lambda: [layers.Conv1D(3, 3, padding="causal", dilation_rate=2),
                                layers.Conv1D(4, 2, strides=2, padding="same", activation="relu"),
                                layers.Conv1D(2, 3, use_bias=False), layers.Flatten()]),
    "pooling": ((9, 3), lambda: [layers.MaxPooling1D(3, 2, padding="same"), layers.AveragePooling1D(3, 1, "same"),
                                 layers.AveragePooling1D(2), layers.GlobalMaxPooling1D(keepdims=True),
                                 layers.Flatten()]),
    "global_average": ((7, 3), lambda: [layers.Conv1D(4, 3), layers.GlobalAveragePooling1D(), layers.Dense(2)]),
    "layer_norm_axes": ((4, 3, 2), lambda: [layers.LayerNormalization(axis=[1, 3]),
                                            layers.LayerNormalization(center=False, epsilon=1e-5), layers.Flatten()]),
    "attention": ((6, 4), lambda: [layers.PositionEmbedding(8), layers.MultiHeadAttention(2, 3, value_dim=2,
                                                                                          output_shape=5),
                                   layers.LayerNormalization(scale=False), layers.Flatten()]),
    "causal_attention": ((6, 4), lambda: [layers.MultiHeadAttention(1, 4, use_causal_mask=True, use_bias=False),
                                          layers.GlobalAveragePooling1D(), layers.Dense(3), layers.Softmax()]),
}

ONNX_COVERED = {"Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
                "LayerNormalization", "MultiHeadAttention", "PositionEmbedding"}      # for tests/test_onnx.py


def test_the_onnx_models_hold_every_sequence_layer():
    assert ONNX_COVERED <= {type(layer).__name__ for _, stack in ONNX_MODELS.values() for layer in stack()}


@pytest.mark.parametrize("opset", [13, 17, 18])
@pytest.mark.parametrize("name", sorted(ONNX_MODELS))
def test_onnx_export_of_the_sequence_layers_runs_in_onnxruntime(name, opset):
    onnx, ort = require("onnx"), require("onnxruntime")
    shape, stack = ONNX_MODELS[name]
    model = snn.Sequential(stack(), input_shape=shape, seed=0)
    values = np.random.default_rng(3)
    for layer in model.layers:                                          # biases, gamma, beta away from 0 and 1
        for key, param in layer.params.items():
            if key.endswith("bias") or key in ("gamma", "beta"):
                param[...] = values.uniform(0.5, 1.5, param.shape)
    stream = io.BytesIO()
    proto = onnx_export.export(model, stream, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    ops = {node.op_type for node in proto.graph.node}
    if "LayerNormalization" in {type(layer).__name__ for layer in model.layers}:
        assert ("LayerNormalization" in ops) == (opset >= 17)
    x = values.standard_normal((3, *shape)).astype(np.float32)
    session = ort.InferenceSession(stream.getvalue(), providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"input": x})[0]
    expected = model.predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


# ---- the sunspot example ----------------------------------------------------------------------------------
@pytest.mark.slow                                           # statsmodels, pandas and matplotlib to import: ~4 s
def test_the_sunspot_example_scores_its_baselines_and_writes_its_plot(tmp_path, monkeypatch, capsys):
    require("statsmodels")
    require("matplotlib")
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
    import timeseries_forecast
    results = timeseries_forecast.main(out=str(tmp_path), seeds=(0,), epochs=2)
    assert (tmp_path / "timeseries_forecast.png").stat().st_size > 10_000
    # the baselines are deterministic: the figures docs/guide/sequences.md gives
    assert results["seasonal naive (period 11)"] == pytest.approx({"MAE": 25.90, "RMSE": 34.26}, abs=0.005)
    assert results["linear AR(9)"] == pytest.approx({"MAE": 14.05, "RMSE": 17.27}, abs=0.005)
    assert results["linear AR(9) on square roots"] == pytest.approx({"MAE": 11.99, "RMSE": 15.02}, abs=0.005)
    assert "Conv1D, mean of 1 seeds" in results and "plot written to" in capsys.readouterr().out
