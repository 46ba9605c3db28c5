"""The layer contract and Keras's layer semantics: the tape, summed gradients of shared layers, Dense on the
last axis, activations inside a layer, frozen layers, names, weights, the training seam."""
import json

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers
from scratchnn.layers.base import Layer, recording


def compiled(model, loss="mse"):
    model.compile(loss=loss, optimizer=snn.optim.SGD(0.1))
    return model


def test_a_layer_listed_twice_gets_the_sum_of_both_gradients(rng):
    """Sequential([shared, shared, Dense(2)]) once gave a relative error of 0.53 (one gradient overwrote
    the other); with the tape and accumulating gradients it checks."""
    shared = layers.Dense(3, activation="tanh")
    model = compiled(snn.Sequential([shared, shared, layers.Dense(2)], input_shape=(3,), seed=0, dtype="float64"))
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Tanh", "Dense", "Tanh", "Dense"]
    assert model.count_params() == 3 * 3 + 3 + 3 * 2 + 2                # the shared weights counted once
    assert len(model.parameters()) == 4
    errors = gradcheck.check_model(model, rng.standard_normal((4, 3)), rng.standard_normal((4, 2)))
    gradcheck.assert_gradients_close(errors, 1e-7)


def test_the_tape_is_last_in_first_out_and_predict_records_nothing(rng):
    layer = layers.Dense(2, dtype="float64")
    layer.build((3,), rng=0)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    layer.forward(a)                                                    # inference: nothing recorded
    assert layer.tape == []
    layer.forward(a, training=True)
    layer.forward(b, training=True)
    layer.zero_grad()
    grad = rng.standard_normal((4, 2))
    layer.backward(grad)                                                # pops b's call first
    np.testing.assert_allclose(layer.grads["kernel"], b.T @ grad, rtol=1e-12)
    layer.backward(grad)
    np.testing.assert_allclose(layer.grads["kernel"], (a + b).T @ grad, rtol=1e-12)
    with pytest.raises(RuntimeError, match=r"backward\(\) without a recorded forward"):
        layer.backward(grad)
    with recording(True):
        layer.forward(a)                                                # recorded in inference mode
    assert len(layer.tape) == 1
    layer.clear_cache()
    assert layer.tape == []


def test_dense_works_on_the_last_axis(rng):
    layer = layers.Dense(5, dtype="float64")
    x = rng.standard_normal((2, 3, 4))
    y = layer(x)
    assert y.shape == (2, 3, 5) and layer.compute_output_shape((3, 4)) == (3, 5)
    np.testing.assert_allclose(y, x @ layer.params["kernel"] + layer.params["bias"], rtol=1e-12)
    gradcheck.assert_gradients_close(gradcheck.check_layer(layers.Dense(5), x), 1e-7)


def test_dense_with_an_activation_applies_it_on_its_own_and_records_it(rng):
    layer = layers.Dense(3, activation="relu", dtype="float64")
    x = rng.standard_normal((6, 4))
    y = layer(x)
    np.testing.assert_allclose(y, np.maximum(x @ layer.params["kernel"] + layer.params["bias"], 0))
    config = json.loads(json.dumps(layer.get_config()))
    assert config["activation"] == "relu"
    again = layers.Dense.from_config(config)
    again.build((4,), rng=0)
    again.set_weights(layer.get_weights())
    np.testing.assert_array_equal(again(x), y)
    gradcheck.assert_gradients_close(gradcheck.check_layer(layers.Dense(3, activation="tanh"), x), 1e-7)
    leaky = layers.Dense(2, activation=layers.LeakyReLU(0.2)).get_config()["activation"]
    assert leaky == {"class_name": "LeakyReLU", "config": {"alpha": 0.2}}


def test_names_are_unique_per_type_as_in_keras():
    snn.clear_session()
    model = snn.Sequential([layers.Dense(4, activation="relu"), layers.Dense(4), layers.Conv2D(2, 1),
                            layers.MaxPooling2D(1)])
    assert [layer.name for layer in model.layers] == ["dense", "re_lu", "dense_1", "conv2d", "max_pooling2d"]
    assert model.get_layer("dense_1") is model.layers[2]
    with pytest.raises(ValueError, match="no layer named 'dense_9'"):
        model.get_layer("dense_9")
    with pytest.raises(ValueError, match="called 'same'"):
        snn.Sequential([layers.Dense(2, name="same"), layers.Dense(2, name="same")], input_shape=(2,))


def test_pop_get_weights_set_weights_and_call(rng):
    model = snn.Sequential([layers.Dense(4), layers.Dense(3), layers.Dense(2)], input_shape=(5,), seed=0)
    last = model.pop()
    assert isinstance(last, layers.Dense) and model.output_shape == (3,)
    x = rng.standard_normal((2, 5)).astype("float32")
    np.testing.assert_array_equal(model(x), model.predict(x))
    first = model.layers[0]
    weights = first.get_weights()
    assert [w.shape for w in weights] == [(5, 4), (4,)]
    first.set_weights([np.ones((5, 4)), np.zeros(4)])
    np.testing.assert_array_equal(first.params["kernel"], 1)
    with pytest.raises(ValueError, match=r"should have shape \(5, 4\)"):
        first.set_weights([np.ones((4, 4)), np.zeros(4)])


def test_a_frozen_layer_is_not_updated_and_counts_as_non_trainable(rng, capsys):
    base = layers.Dense(8, activation="relu", name="base")
    model = compiled(snn.Sequential([base, layers.Dense(1, name="head")], input_shape=(4,), seed=0))
    base.trainable = False
    before = base.get_weights()
    head_before = model.get_layer("head").get_weights()
    x, y = rng.standard_normal((64, 4)), rng.standard_normal((64, 1))
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    for old, new in zip(before, base.get_weights()):
        np.testing.assert_array_equal(old, new)                        # the frozen base stayed as it was
    assert not np.array_equal(head_before[0], model.get_layer("head").params["kernel"])
    assert history.history["loss"][-1] < history.history["loss"][0]  # the head learned
    model.summary()
    out = capsys.readouterr().out
    assert "Trainable params: 9" in out and "Non-trainable params: 40" in out
    assert base.get_config()["trainable"] is False
    assert layers.Dense.from_config(base.get_config()).trainable is False


def test_frozen_batch_normalization_runs_in_inference_mode(rng):
    layer = layers.BatchNormalization(trainable=False, dtype="float64")
    x = rng.standard_normal((8, 3)) * 4 + 2
    layer.build((3,))
    np.testing.assert_allclose(layer.forward(x, training=True), layer.forward(x, training=False))
    np.testing.assert_array_equal(layer.buffers["moving_mean"], 0)


def test_compute_and_apply_gradients_are_the_training_step(rng):
    """The seam a data-parallel worker overrides: compute_gradients then apply_gradients is train_on_batch."""
    x, y = rng.standard_normal((10, 3)), rng.standard_normal((10, 2))

    def fresh():
        return compiled(snn.Sequential([layers.Dense(4, activation="tanh"), layers.Dense(2)], input_shape=(3,),
                                       seed=1, dtype="float64"))

    stepped, seam = fresh(), fresh()
    loss = stepped.train_on_batch(x, y)
    seam_loss, grads = seam.compute_gradients(x, y)
    assert seam_loss == loss and len(grads) == len(seam.parameters())
    seam.apply_gradients([g.copy() for g in grads])
    for a, b in zip(stepped.get_weights(), seam.get_weights()):
        np.testing.assert_array_equal(a, b)

    class Averaging(snn.Sequential):                                    # as a worker would: halve, then apply
        def apply_gradients(self, grads):
            super().apply_gradients([g / 2 for g in grads])

    halved = compiled(Averaging([layers.Dense(4, activation="tanh"), layers.Dense(2)], input_shape=(3,), seed=1,
                                dtype="float64"))
    halved.train_on_batch(x, y)
    moved = [a - b for a, b in zip(halved.get_weights(), fresh().get_weights())]
    full = [a - b for a, b in zip(stepped.get_weights(), fresh().get_weights())]
    for m, f in zip(moved, full):
        np.testing.assert_allclose(m, f / 2, rtol=1e-12, atol=1e-15)


class TakesIds(Layer):
    """A first layer that asks for integer inputs (as an Embedding does): a row of a table per id."""
    input_kind = "int"

    def compute_output_shape(self, input_shape):
        return (*input_shape, 2)

    def forward(self, x, training=False):
        self.remember(training, x)
        return np.stack([x * 1.0, x * 2.0], axis=-1).astype(self.dtype)

    def backward(self, grad_out, input_grad=True):
        self.recall()
        return None


def test_inputs_keep_their_dtype_where_the_first_layer_asks_for_it():
    ids = np.array([[2 ** 40 + 1, 3]], dtype=np.int64)                 # not exact in float32
    model = snn.Sequential([TakesIds(), layers.Flatten()], input_shape=(2,), dtype="float64")
    assert model.predict(ids)[0, 0] == float(2 ** 40 + 1)
    with pytest.raises(ValueError, match="takes integer ids, got float64"):
        model.predict(ids.astype(np.float64))
    floats = snn.Sequential([layers.Flatten()], input_shape=(2,))
    assert floats.predict(ids).dtype == np.float32                     # float layers cast, once


def test_a_single_sample_gets_a_hint():
    model = snn.Sequential([layers.Dense(2)], input_shape=(8,))
    with pytest.raises(ValueError, match=r"pass a batch of one, x\[None\]"):
        model.predict(np.zeros(8))


def test_a_frozen_layer_stays_frozen_through_a_model_file(tmp_path, rng):
    model = compiled(snn.Sequential([layers.Dense(4, name="frozen_base", trainable=False), layers.Dense(1)],
                                    input_shape=(3,), seed=0))
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    assert loaded.get_layer("frozen_base").trainable is False
    assert loaded.count_params() == 5
    before = loaded.get_layer("frozen_base").get_weights()
    loaded.fit(rng.standard_normal((16, 3)), rng.standard_normal((16, 1)), epochs=1, verbose=0)
    np.testing.assert_array_equal(before[0], loaded.get_layer("frozen_base").params["kernel"])
