"""Preprocessing saved with the model (Rescaling, Normalization.adapt) and image augmentation (RandomFlip,
RandomTranslation, RandomRotation, RandomZoom): what they compute, that the model file carries them, that
augmentation draws from the model's seed in training only, and their errors. The layer harness
(tests/layer_cases_keras.py) checks their gradients, PyTorch parity, float32 and configs."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers


# ---- Rescaling and Normalization ------------------------------------------------------------------------
def test_a_model_that_starts_with_rescaling_takes_raw_pixels_and_keeps_them_after_loading(tmp_path):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (5, 4, 4, 1)).astype("float32")
    model = snn.Sequential([layers.Rescaling(1 / 255), layers.Flatten(), layers.Dense(3)], input_shape=(4, 4, 1),
                           seed=0)
    plain = snn.Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(4, 4, 1), seed=0)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(raw), plain.predict(raw / 255), rtol=1e-5, atol=1e-6)   # float32
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    np.testing.assert_array_equal(loaded.predict(raw), model.predict(raw))
    assert loaded.layers[0].get_config()["scale"] == pytest.approx(1 / 255)


def test_rescaling_to_minus_one_one_and_per_channel():
    x = np.array([[0.0, 127.5, 255.0]])
    np.testing.assert_allclose(layers.Rescaling(1 / 127.5, offset=-1)(x), [[-1, 0, 1]], atol=2e-7)   # float32
    np.testing.assert_allclose(layers.Rescaling([1, 2, 3], offset=[0, 0, 1])(np.ones((2, 3))), [[1, 2, 4]] * 2)
    with pytest.raises(ValueError, match=r"scale has 2 values, the inputs \(N, 3\) have 3 channels"):
        layers.Rescaling([1, 2])(np.ones((2, 3)))
    with pytest.raises(ValueError, match="scale must be a finite number or a list"):
        layers.Rescaling("1/255")


@pytest.mark.parametrize("axis, shape, averaged", [
    (-1, (40, 3), (0,)), (-1, (30, 4, 5, 2), (0, 1, 2)), (None, (20, 3, 2), (0, 1, 2)), ((1, 2), (25, 3, 2, 4), (0, 3)),
    (1, (30, 3, 2), (0, 2))])
def test_adapt_gives_the_mean_and_variance_over_the_other_axes(axis, shape, averaged):
    data = np.random.default_rng(1).normal(2.0, 3.0, shape)
    norm = layers.Normalization(axis=axis, dtype="float64")
    norm.adapt(data, batch_size=7)                                  # several batches merged (Chan et al.)
    np.testing.assert_allclose(norm.buffers["mean"], data.mean(axis=averaged, keepdims=True)[0], rtol=1e-12)
    np.testing.assert_allclose(norm.buffers["variance"], data.var(axis=averaged, keepdims=True)[0], rtol=1e-12)
    out = norm(data)
    np.testing.assert_allclose(out.mean(axis=averaged), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=averaged), 1, rtol=1e-12)


def test_adapt_reads_an_iterable_of_batches_and_of_pairs():
    data = np.random.default_rng(2).normal(size=(50, 3))
    whole = layers.Normalization(dtype="float64").adapt(data)
    batches = layers.Normalization(dtype="float64").adapt(iter([data[:20], data[20:21], data[21:]]))
    pairs = layers.Normalization(dtype="float64").adapt([(data[:25], None), (data[25:], None)])
    for other in (batches, pairs):
        for name in ("mean", "variance"):
            np.testing.assert_allclose(other.buffers[name], whole.buffers[name], rtol=1e-12)


def test_the_adapted_statistics_are_saved_with_the_model_and_training_leaves_them(tmp_path):
    rng = np.random.default_rng(3)
    x, y = rng.normal(100.0, 20.0, (64, 4)), rng.integers(0, 2, 64)
    norm = layers.Normalization()
    norm.adapt(x)
    model = snn.Sequential([norm, layers.Dense(2)], input_shape=(4,), seed=0)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer="adam")
    mean = norm.buffers["mean"].copy()
    model.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_array_equal(norm.buffers["mean"], mean)     # buffers, not trained
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    np.testing.assert_array_equal(loaded.layers[0].buffers["variance"], norm.buffers["variance"])
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert model.summary is not None and norm.count_params() == 0


def test_given_statistics_and_errors():
    norm = layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0])
    out = norm(np.array([[3.0, 2.5]]))
    np.testing.assert_allclose(out, [[1.0, 0.5 / 1e-7]], rtol=1e-6)  # a zero variance divides by 1e-7 (Keras)
    image = layers.Normalization(mean=[0.5, 1.0], variance=[1.0, 4.0])
    image.build((2, 3, 2))
    assert image.buffers["mean"].shape == (1, 1, 2)
    with pytest.raises(ValueError, match="pass both mean and variance, or neither"):
        layers.Normalization(mean=[1.0])
    with pytest.raises(ValueError, match="variance must be >= 0"):
        layers.Normalization(mean=[1.0], variance=[-1.0])
    with pytest.raises(ValueError, match=r"axis 0 does not fit inputs \(N, 3\) \(the batch axis 0"):
        layers.Normalization(axis=0).build((3,))
    with pytest.raises(ValueError, match=r"mean \(3,\) and variance \(3,\) do not fit"):
        layers.Normalization(mean=[1, 2, 3], variance=[1, 1, 1]).build((4,))
    with pytest.raises(ValueError, match=r"expected batches of shape \(N, 3\), got \(N, 4\)"):
        layers.Normalization().adapt(iter([np.ones((2, 3)), np.ones((2, 4))]))
    with pytest.raises(ValueError, match="adapt: got no data"):
        layers.Normalization().adapt([])


# ---- augmentation -----------------------------------------------------------------------------------------
def dot_image(row, col, size=5):
    x = np.zeros((1, size, size, 1))
    x[0, row, col, 0] = 1.0
    return x


def train(layer, x):
    if not layer.built:
        layer.build(x.shape[1:], np.random.default_rng(0))
    return layer.forward(x, training=True)


@pytest.mark.parametrize("layer, where", [
    (layers.RandomRotation((0.25, 0.25)), (0, 0)),               # a quarter turn counter-clockwise: top right ->
    (layers.RandomRotation((-0.25, -0.25)), (4, 4)),             # top left; clockwise: -> bottom right
    (layers.RandomTranslation((0.2, 0.2), (0.0, 0.0)), (1, 4)),  # positive height: down by 0.2 * 5 = 1 pixel
    (layers.RandomTranslation((0.0, 0.0), (-0.4, -0.4)), (0, 2)),  # negative width: left by 2
    (layers.RandomZoom((1.0, 1.0)), (1, 3)),                     # positive: zoom out (the corner moves in)
    (layers.RandomFlip("horizontal"), None), (layers.RandomFlip("vertical"), None)])
def test_the_directions_are_keras(layer, where):
    x = dot_image(0, 4)
    if isinstance(layer, layers.RandomFlip):
        x = np.repeat(x, 16, axis=0)                              # some flipped, some not
        y = train(layer, x)
        flipped = np.flip(x, axis=2 if layer.mode == "horizontal" else 1)
        same = [np.array_equal(a, b) for a, b in zip(y, x)]
        assert all(s or np.array_equal(a, b) for s, a, b in zip(same, y, flipped)) and 0 < sum(same) < 16
        return
    y = train(layer, x)
    assert np.unravel_index(np.argmax(y[0, ..., 0]), (5, 5)) == where
    assert y.max() == pytest.approx(1.0)


def test_zoom_in_and_the_fill_modes():
    row = np.arange(1.0, 6.0)
    x = np.tile(row, (5, 1))[None, ..., None]                       # every row is 1 2 3 4 5
    shift = dict(height_factor=(0.0, 0.0), width_factor=(0.4, 0.4))  # 2 pixels right
    expected = {"constant": [0, 0, 1, 2, 3], "nearest": [1, 1, 1, 2, 3], "reflect": [2, 1, 1, 2, 3],
                "wrap": [4, 5, 1, 2, 3]}
    for mode, values in expected.items():
        y = train(layers.RandomTranslation(**shift, fill_mode=mode), x)
        np.testing.assert_allclose(y[0, 2, :, 0], values, err_msg=mode)
    y = train(layers.RandomTranslation(**shift, fill_value=-1.0), x)
    np.testing.assert_allclose(y[0, 2, :, 0], [-1, -1, 1, 2, 3])
    zoomed_in = train(layers.RandomZoom((-0.5, -0.5)), x)           # half the width seen, twice as large
    np.testing.assert_allclose(zoomed_in[0, 2, :, 0], [2.0, 2.5, 3.0, 3.5, 4.0])
    half = train(layers.RandomTranslation((0.0, 0.0), (0.1, 0.1)), x)   # half a pixel: bilinear averages
    np.testing.assert_allclose(half[0, 2, :, 0], [0.5, 1.5, 2.5, 3.5, 4.5])
    nearest = train(layers.RandomTranslation((0.0, 0.0), (0.12, 0.12), interpolation="nearest"), x)
    np.testing.assert_allclose(nearest[0, 2, :, 0], [0, 1, 2, 3, 4])


def cnn(seed, *augment):
    return snn.Sequential([*augment, layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3)], input_shape=(8, 8, 1),
                          seed=seed)


AUGMENT = (lambda: layers.RandomFlip("horizontal"), lambda: layers.RandomTranslation(0.1, 0.2),
           lambda: layers.RandomRotation(0.05), lambda: layers.RandomZoom(0.1))


def test_training_draws_from_the_model_seed_and_inference_is_the_identity(tmp_path):
    x = np.random.default_rng(4).uniform(size=(6, 8, 8, 1)).astype("float32")
    for make in AUGMENT:
        a, b, c = (snn.Sequential([make()], input_shape=(8, 8, 1), seed=seed) for seed in (1, 1, 2))
        np.testing.assert_array_equal(a.predict(x), x)              # predict: the identity
        first = a.forward(x, training=True)
        np.testing.assert_array_equal(first, b.forward(x, training=True))  # the same seed, the same draws
        assert not np.allclose(first, c.forward(x, training=True))  # another seed, other draws
        assert not np.allclose(first, a.forward(x, training=True))  # and new draws at every batch
    model = cnn(0, *(make() for make in AUGMENT))
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer="adam", metrics=["accuracy"])
    model.fit(x, np.arange(6) % 3, epochs=1, verbose=0)
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.evaluate(x, np.arange(6) % 3) == model.evaluate(x, np.arange(6) % 3)


def test_augmentation_can_sit_inside_a_network_the_gradient_goes_through_it():
    rng = np.random.default_rng(5)
    model = snn.Sequential([layers.Conv2D(2, 3, padding="same"), layers.RandomRotation(0.1),
                            layers.RandomZoom(0.2, fill_mode="reflect"), layers.RandomFlip(), layers.Flatten(),
                            layers.Dense(2)], input_shape=(5, 5, 1), seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    errors = gradcheck.check_model(model, rng.standard_normal((2, 5, 5, 1)), rng.standard_normal((2, 2)))
    gradcheck.assert_gradients_close(errors, 1e-8)


def test_augmentation_errors():
    with pytest.raises(ValueError, match=r"expected images of shape \(N, height, width, channels\), got \(N, 784\): "
                                         r"add a Reshape"):
        snn.Sequential([layers.RandomFlip()], input_shape=(784,))
    with pytest.raises(ValueError, match="mode must be one of"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        layers.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        layers.RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"height_factor must be in \[0, 1\], got -0.2"):
        layers.RandomTranslation(-0.2, 0.1)
    with pytest.raises(ValueError, match="lower <= upper"):
        layers.RandomRotation((0.3, 0.1))
    with pytest.raises(ValueError, match="a zoom factor must be > -1"):
        layers.RandomZoom((-1.0, 0.0))


def test_the_augmentation_example_runs_on_idx_files(tmp_path, capsys, monkeypatch):
    import os

    from scratchnn.datasets import mnist, write_idx
    rng = np.random.default_rng(0)
    for stem in mnist.FILES:
        n = 40 if stem.startswith("train") else 20
        array = rng.integers(0, 256, (n, 28, 28)) if "images" in stem else np.arange(n) % 10
        write_idx(tmp_path / (stem + ".gz"), array.astype(np.uint8))
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "..", "examples"))
    plain, augmented = __import__("fashion_augment").main(train_size=30, epochs=1, data=tmp_path)
    out = capsys.readouterr().out
    assert 0 <= plain <= 1 and 0 <= augmented <= 1
    assert "30 training images, 20 test images, 1 epochs of batches of 32, seed 0" in out
    assert "augmentation changes" in out


def keras_layer_models():
    """A model holding one of each of issue 16's layers, for tests/test_io.py's every-layer round trip
    (inputs (N, 4, 4, 2), 3 classes, probabilities out)."""
    return [snn.Sequential([
        layers.Rescaling(0.5, offset=0.1), layers.Normalization(mean=[0.1, -0.2], variance=[1.5, 0.5]),
        layers.RandomFlip(), layers.RandomTranslation(0.2, 0.2), layers.RandomRotation(0.1), layers.RandomZoom(0.2),
        layers.Conv2D(3, 3, activation="selu"), layers.PReLU(shared_axes=[1, 2]), layers.Flatten(),
        layers.Dense(6, activation="mish"), layers.ReLU6(), layers.HardSigmoid(), layers.SiLU(),
        layers.Dense(3), layers.Activation("softmax")], input_shape=(4, 4, 2), seed=2)]


def test_resumed_training_draws_the_same_augmentation_as_continued_training(tmp_path):
    x = np.random.default_rng(6).standard_normal((12, 4, 4, 2))
    y = np.arange(12) % 3
    (model,) = keras_layer_models()
    model.compile(loss="categorical_crossentropy", optimizer=snn.optim.Adam(0.01), metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    resumed, continued = (m.fit(x, y, epochs=2, batch_size=4, verbose=0) for m in (loaded, model))
    assert resumed.history == continued.history
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
