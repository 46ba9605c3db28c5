"""Sequential: building, training, evaluation, prediction, summary, dtypes, seeds and input validation."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers, optim


def digits_mlp(seed=0, hidden=(500, 500), dtype=None):
    model = snn.Sequential([*(layers.Dense(h, activation="relu") for h in hidden), layers.Dense(10)],
                           input_shape=(784,), seed=seed, dtype=dtype)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.1),
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def digits():
    (x, y), (xt, yt) = snn.datasets.load_digits()
    return (x.reshape(len(x), -1) / np.float32(255), y), (xt.reshape(len(xt), -1) / np.float32(255), yt)


def test_load_digits_layout_and_checksum():
    (x, y), (xt, yt) = snn.datasets.load_digits()
    assert x.shape == (8000, 28, 28) and xt.shape == (2000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (8000,) and yt.shape == (2000,) and set(np.unique(y)) == set(range(10))
    counts = np.bincount(np.concatenate([y, yt]))
    assert counts.tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert x.max() == 255 and x.min() == 0


def test_digits_mlp_reaches_95_percent(digits):
    """The demo's network and settings, shortened: 15 epochs of SGD(0.1), batch 32, seed 0."""
    (x, y), (xt, yt) = digits
    model = digits_mlp(seed=0)
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    result = model.evaluate(xt, yt)
    assert result["accuracy"] >= 0.95, result
    assert history.history["loss"][-1] < history.history["loss"][0] / 5


def test_fit_history_and_evaluate_keys(digits):
    (x, y), (xt, yt) = digits
    model = digits_mlp(hidden=(32,))
    history = model.fit(x[:512], y[:512], epochs=3, batch_size=64, validation_data=(xt[:256], yt[:256]), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    result = model.evaluate(xt[:256], yt[:256])
    assert set(result) == {"loss", "accuracy"}
    assert result["loss"] == pytest.approx(history.history["val_loss"][-1], rel=1e-6)


def test_same_seed_same_run_and_one_hot_equals_integer_labels(digits):
    (x, y), _ = digits
    runs = []
    for labels in (y[:256], np.eye(10)[y[:256]]):
        model = digits_mlp(seed=5, hidden=(16,))
        runs.append(model.fit(x[:256], labels, epochs=2, batch_size=32, verbose=0).history["loss"])
    assert runs[0] == pytest.approx(runs[1], rel=1e-6)
    other = digits_mlp(seed=6, hidden=(16,)).fit(x[:256], y[:256], epochs=2, batch_size=32, verbose=0)
    assert other.history["loss"] != runs[0]


def test_float64_model_keeps_float64_and_float32_stays_float32(digits):
    (x, y), _ = digits
    for dtype in ("float32", "float64"):
        model = digits_mlp(hidden=(8,), dtype=dtype)
        model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0)
        assert all(p.dtype == np.dtype(dtype) for p, _ in model.parameters())
        assert model.predict(x[:5]).dtype == np.dtype(dtype)


def test_predict_batches_match_one_pass_and_keep_no_cache(digits):
    (x, _), _ = digits
    model = digits_mlp(hidden=(16,))
    full = model.predict(x[:300], batch_size=300)
    np.testing.assert_allclose(model.predict(x[:300], batch_size=7), full, rtol=1e-6, atol=1e-6)
    assert all(layer.tape == [] for layer in model.layers)          # inference records nothing


def test_summary_table(capsys):
    snn.clear_session()
    model = snn.Sequential([layers.Dense(500, activation="relu"), layers.Dense(10)], input_shape=(784,))
    model.summary()
    out = capsys.readouterr().out
    assert [layer.name for layer in model.layers] == ["dense", "re_lu", "dense_1"]
    assert "dense (Dense)" in out and "dense_1 (Dense)" in out and "(None, 500)" in out and "392,500" in out
    assert "Total params: 397,510" in out and "Trainable params: 397,510" in out


def test_activation_shorthand_appends_a_layer():
    model = snn.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2, activation="linear")],
                           input_shape=(3,))
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "ReLU", "Dense"]


def test_binary_accuracy_threshold_follows_from_logits():
    """An output of 0.3 is class 1 as a logit (> 0) but class 0 as a probability (< 0.5)."""
    x, y = np.array([[0.3], [0.3]]), np.array([1, 1])
    for loss, from_logits, expected in (("binary_crossentropy", True, 1.0), ("binary_crossentropy", False, 0.0)):
        model = snn.Sequential([layers.Linear()], input_shape=(1,), dtype="float64")
        model.compile(loss, from_logits=from_logits, metrics=["accuracy"])
        assert model.evaluate(x, y)["accuracy"] == expected


def test_config_round_trip_rebuilds_the_same_architecture():
    model = snn.Sequential([layers.Dense(4, activation="tanh"), layers.LeakyReLU(0.1), layers.Dense(2)],
                           input_shape=(3,), seed=0)
    clone = snn.Sequential.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


# ---- errors: what was expected and what was received ------------------------------------------------
def test_dense_on_images_says_add_flatten():
    model = snn.Sequential([layers.Dense(10)], input_shape=(784,))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 784\), got \(N, 28, 28\): add a Flatten"):
        model.predict(np.zeros((2, 28, 28)))
    on_rows = snn.Sequential([layers.Dense(10)], input_shape=(28, 28))      # Dense works on the last axis
    assert on_rows.predict(np.zeros((2, 28, 28))).shape == (2, 28, 10)


def test_labels_out_of_range_or_wrong_shape():
    model = digits_mlp(hidden=(4,))
    x = np.zeros((3, 784), dtype=np.float32)
    with pytest.raises(ValueError, match=r"expected labels in \[0, 10\), got labels in \[0, 12\]"):
        model.fit(x, np.array([0, 3, 12]), verbose=0)
    with pytest.raises(ValueError, match=r"integer labels of shape \(N,\) or one-hot targets of shape \(3, 10\)"):
        model.fit(x, np.zeros((3, 4)), verbose=0)
    with pytest.raises(ValueError, match="same number of samples, got 3 and 2"):
        model.fit(x, np.array([0, 1]), verbose=0)


def test_nan_and_inf_inputs_are_refused():
    model = digits_mlp(hidden=(4,))
    x = np.zeros((3, 784), dtype=np.float32)
    x[1, 5] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        model.fit(x, np.array([0, 1, 2]), verbose=0)
    x[1, 5] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        model.predict(x)


def test_fit_before_compile():
    model = snn.Sequential([layers.Dense(2)], input_shape=(3,))
    with pytest.raises(RuntimeError, match=r"call model.compile\(loss=..., optimizer=...\) first"):
        model.fit(np.zeros((2, 3)), np.array([0, 1]))


@pytest.mark.parametrize("make,match", [
    (lambda: layers.Dense(0), "units must be a positive integer, got 0"),
    (lambda: layers.Dense(-3), "units must be a positive integer, got -3"),
    (lambda: layers.Dense(2.5), "units must be a positive integer, got 2.5"),
    (lambda: snn.Sequential([layers.Dense(2, activation="relux")]),
     r"Unknown activation 'relux'; valid names: \['elu'"),
    (lambda: snn.losses.get("crossentropy"), r"Unknown loss 'crossentropy'; valid names: \["),
    (lambda: snn.optim.get("adamw2"), r"Unknown optimizer 'adamw2'; valid names: \["),
    (lambda: snn.optim.SGD(0), "learning_rate must be a positive number"),
    (lambda: snn.optim.SGD(-0.1), "learning_rate must be a positive number"),
    (lambda: snn.Sequential(dtype="int32"), "dtype must be one of"),
    (lambda: snn.Sequential(seed=-1), "seed must be a non-negative int"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("kwargs,match", [
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"epochs": -1}, "epochs must be a positive integer, got -1"),
    ({"validation_split": 1.0}, r"validation_split must be in \[0, 1\)"),
])
def test_bad_fit_arguments(kwargs, match):
    model = digits_mlp(hidden=(4,))
    with pytest.raises(ValueError, match=match):
        model.fit(np.zeros((4, 784)), np.array([0, 1, 2, 3]), verbose=0, **kwargs)


def test_weighted_evaluate_loss_equals_the_weighted_training_loss():
    """Both divide the weighted sum by N (Keras's sum_over_batch_size), so they agree on the same data."""
    rng = np.random.default_rng(0)
    x, y, w = rng.standard_normal((10, 3)), rng.integers(0, 2, 10), rng.uniform(0.1, 3.0, 10)
    model = snn.Sequential([layers.Dense(2)], input_shape=(3,), seed=0, dtype="float64")
    model.compile("categorical_crossentropy", from_logits=True)
    expected = snn.losses.CategoricalCrossentropy(from_logits=True).forward(model.predict(x), y, w)
    assert model.evaluate(x, y, sample_weight=w, batch_size=3)["loss"] == pytest.approx(expected, rel=1e-12)
