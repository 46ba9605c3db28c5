"""fit(): validation split and data, sample and class weights (loss and update by hand), initial_epoch,
progress output, Ctrl-C without loss, and divergence reported where it happened."""
import os
import re
import signal

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import callbacks, layers, optim


def _data(rng, n=30, classes=3):
    x = rng.standard_normal((n, 4))
    return x, rng.integers(0, classes, n)


def _model(lr=0.1, seed=0, classes=3):
    model = snn.Sequential([layers.Dense(classes)], input_shape=(4,), seed=seed, dtype="float64")
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(lr), metrics=["accuracy"])
    return model


def _log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _one_step_by_hand(model, x, y, weights, lr):
    """Loss mean_i(w_i l_i) and the SGD update of a Dense layer, written out (dZ = w (softmax - onehot) / N)."""
    kernel, bias = (p.copy() for p in model.layers[0].params.values())
    z = x @ kernel + bias
    onehot = np.eye(kernel.shape[1])[y]
    per_sample = -(onehot * _log_softmax(z)).sum(axis=1)
    grad_z = weights[:, None] * (np.exp(_log_softmax(z)) - onehot) / len(x)
    return (weights * per_sample).mean(), kernel - lr * x.T @ grad_z, bias - lr * grad_z.sum(axis=0)


@pytest.mark.parametrize("how", ["sample_weight", "class_weight", "both"])
def test_weights_change_loss_and_update_exactly_as_by_hand(rng, how):
    x, y = _data(rng)
    per_sample = rng.uniform(0.1, 3.0, len(x))
    per_class = {0: 0.5, 1: 2.0, 2: 1.25}
    weights = {"sample_weight": per_sample, "class_weight": np.array([per_class[c] for c in y]),
               "both": per_sample * np.array([per_class[c] for c in y])}[how]
    model = _model(lr=0.3)
    loss, kernel, bias = _one_step_by_hand(model, x, y, weights, lr=0.3)
    history = model.fit(x, y, epochs=1, batch_size=len(x), verbose=0,
                        sample_weight=None if how == "class_weight" else per_sample,
                        class_weight=None if how == "sample_weight" else per_class)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(model.layers[0].params["kernel"], kernel, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(model.layers[0].params["bias"], bias, rtol=1e-12, atol=1e-15)


def test_unit_weights_change_nothing(rng):
    x, y = _data(rng)
    plain, weighted = _model(), _model()
    a = plain.fit(x, y, epochs=2, batch_size=7, verbose=0)
    b = weighted.fit(x, y, epochs=2, batch_size=7, verbose=0, sample_weight=np.ones(len(x)), class_weight={0: 1.0})
    assert a.history == b.history


def test_class_weight_with_one_hot_labels(rng):
    x, y = _data(rng)
    onehot = np.eye(3)[y]
    a = _model().fit(x, y, epochs=1, batch_size=10, verbose=0, class_weight={1: 3.0})
    b = _model().fit(x, onehot, epochs=1, batch_size=10, verbose=0, class_weight={1: 3.0})
    assert a.history["loss"] == pytest.approx(b.history["loss"], rel=1e-12)


def test_sample_weight_length_is_checked(rng):
    x, y = _data(rng)
    with pytest.raises(ValueError, match=r"sample_weight must have one value per sample \(30\), got 29"):
        _model().fit(x, y, verbose=0, sample_weight=np.ones(29))


def test_validation_split_holds_out_the_last_fraction(rng):
    x, y = _data(rng, n=40)
    split = _model().fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.25)
    explicit = _model().fit(x[:30], y[:30], epochs=3, batch_size=8, verbose=0, validation_data=(x[30:], y[30:]))
    assert split.history == explicit.history
    assert set(split.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_validation_data_is_evaluated_after_each_epoch(rng):
    x, y = _data(rng)
    xv, yv = _data(rng, n=12)
    model = _model()
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(xv, yv))
    final = model.evaluate(xv, yv, batch_size=256)
    assert history.history["val_loss"][-1] == final["loss"]
    assert history.history["val_accuracy"][-1] == final["accuracy"]


def test_initial_epoch_resumes_the_count(rng, capsys):
    x, y = _data(rng)
    history = _model().fit(x, y, epochs=5, initial_epoch=3, batch_size=8, verbose=2)
    assert history.epoch == [3, 4]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 4/5", "Epoch 5/5"]


def test_verbose_levels(rng, capsys):
    x, y = _data(rng)
    _model().fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    for verbose in (1, 2):
        _model().fit(x, y, epochs=2, verbose=verbose, validation_split=0.2)
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 2 and all(re.fullmatch(
            r"Epoch [12]/2 - \d+\.\ds - [\d,]+ samples/s - loss: \d\.\d{4} - accuracy: \d\.\d{4} - "
            r"val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4}", line) for line in lines)


# ---- interruption --------------------------------------------------------------------------------
def test_interrupt_from_a_callback_keeps_weights_history_and_checkpoint(tmp_path, rng):
    x, y = _data(rng)
    model = _model()
    at_interrupt = []

    def interrupt(batch, logs):
        if len(history_epochs) == 1 and batch == 1:
            at_interrupt.append(model.get_weights())
            raise KeyboardInterrupt
    history_epochs = []
    record = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: history_epochs.append(epoch),
                                      on_batch_end=interrupt)
    checkpoint = callbacks.ModelCheckpoint(tmp_path / "last.snn", save_weights_only=True)
    with pytest.warns(RuntimeWarning, match=r"interrupted by the user after 1 complete epoch\(s\)"):
        history = model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[record, checkpoint])
    assert history.epoch == [0] and len(history.history["loss"]) == 1
    assert history.stopped_reason.startswith("interrupted by the user")
    for now, then in zip(model.get_weights(), at_interrupt[0]):
        np.testing.assert_array_equal(now, then)
    assert os.listdir(tmp_path) == ["last.snn"]
    restored = _model(seed=1)
    restored.load_weights(tmp_path / "last.snn")
    assert np.isfinite(restored.predict(x)).all()
    assert model.fit(x, y, epochs=1, verbose=0).epoch == [0]


def test_sigint_finishes_the_current_batch_then_stops(rng):
    x, y = _data(rng)
    model = _model()
    finished = []

    def ctrl_c(batch, logs):
        if batch == 1:
            os.kill(os.getpid(), signal.SIGINT)
    hooks = callbacks.LambdaCallback(on_batch_begin=ctrl_c, on_batch_end=lambda batch, logs: finished.append(batch))
    with pytest.warns(RuntimeWarning, match=r"interrupted by the user after 0 complete epoch\(s\)"):
        history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[hooks])
    assert finished == [0, 1] and history.epoch == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---- divergence ----------------------------------------------------------------------------------
def test_divergence_is_reported_with_epoch_and_batch(rng):
    x, y = _data(rng)
    model = _model()
    kernel, bias = model.layers[0].params["kernel"], model.layers[0].params["bias"]
    bias_before = []

    def blow_up(batch, logs):
        if len(history_epochs) == 1 and batch == 2:
            kernel[0, 0] = np.inf
            bias_before.append(bias.copy())
    history_epochs = []
    hooks = callbacks.LambdaCallback(on_batch_begin=blow_up,
                                     on_epoch_end=lambda epoch, logs: history_epochs.append(epoch))
    with pytest.warns(RuntimeWarning, match=r"loss became nan at epoch 2, batch 3: training stopped "
                                            r"without that batch's update"), np.errstate(invalid="ignore"):
        history = model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[hooks])
    assert history.epoch == [0] and history.stopped_reason.startswith("loss became nan")
    np.testing.assert_array_equal(bias, bias_before[0])
    assert np.isfinite(kernel).sum() == kernel.size - 1


# ---- the examples, on a small Fashion-MNIST stand-in ------------------------------------------------
@pytest.mark.parametrize("example, sample_shape", [("fashion_mlp", (784,)), ("fashion_cnn", (28, 28, 1))])
def test_fashion_examples_run_on_idx_files(tmp_path, rng, capsys, monkeypatch, example, sample_shape):
    from scratchnn.datasets import mnist, write_idx
    sizes = {"train": 64, "t10k": 20}
    for stem in mnist.FILES:
        n = sizes[stem.split("-")[0]]
        array = rng.integers(0, 256, (n, 28, 28)) if "images" in stem else np.arange(n) % 10
        write_idx(tmp_path / (stem + ".gz"), array.astype(np.uint8))
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "..", "examples"))
    result = __import__(example).main(epochs=1, data=tmp_path, save=tmp_path / "model.snn")
    out = capsys.readouterr().out
    assert 0.0 <= result["accuracy"] <= 1.0 and "Ankle boot" in out and "on 20 images; 1 epochs" in out
    assert snn.load_model(tmp_path / "model.snn").predict(np.zeros((1, *sample_shape))).shape == (1, 10)


# ---- Keras's call forms -------------------------------------------------------------------------------------
def keras_forms_model():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    model = snn.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2)], input_shape=(3,), seed=0)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.1), metrics=["accuracy"])
    return model, x, y


def test_validation_data_takes_keras_three_tuple_with_sample_weights():
    model, x, y = keras_forms_model()
    weights = np.where(np.arange(40) < 20, 1.0, 0.0)
    history = model.fit(x, y, epochs=1, batch_size=8, validation_data=(x, y, weights), verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x, y, sample_weight=weights)["loss"])
    assert history.history["val_loss"][0] != pytest.approx(model.evaluate(x, y)["loss"])


@pytest.mark.parametrize("bad, what", [("array", r"an array of shape \(40, 3\)"), ("one", "a tuple of 1")])
def test_validation_data_of_another_form_is_one_clear_error(bad, what):
    model, x, y = keras_forms_model()
    data = x if bad == "array" else (x,)
    with pytest.raises(ValueError, match=r"fit: validation_data must be \(x_val, y_val\) or \(x_val, y_val, "
                                         rf"sample_weight\), got {what}"):
        model.fit(x, y, validation_data=data, verbose=0)


def test_a_single_callback_is_accepted_and_a_wrong_one_is_named():
    model, x, y = keras_forms_model()
    stop = snn.callbacks.EarlyStopping(monitor="loss", patience=0)
    history = model.fit(x, y, epochs=2, batch_size=8, callbacks=stop, verbose=0)
    assert stop.model is model and len(history.epoch) >= 1
    with pytest.raises(TypeError, match="fit: callbacks must be scratchnn.callbacks.Callback instances, got str"):
        model.fit(x, y, callbacks=["early_stopping"], verbose=0)
    with pytest.raises(TypeError, match="fit: callbacks must be a Callback or a list of them, got int"):
        model.fit(x, y, callbacks=3, verbose=0)


def test_history_params_evaluate_return_dict_and_the_on_batch_methods():
    model, x, y = keras_forms_model()
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert history.params == {"epochs": 2, "steps": 3, "verbose": 0}
    figures = model.evaluate(x, y)
    assert model.evaluate(x, y, return_dict=False) == [figures["loss"], figures["accuracy"]]
    assert model.test_on_batch(x, y) == pytest.approx(figures)
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x, verbose=0))


def test_keras_input_shape_on_a_layer_says_where_it_goes():
    with pytest.raises(TypeError, match=r"Dense: input_shape belongs to the model here, not to a layer: "
                                        r"Sequential\(\[\.\.\.\], input_shape=\(8,\)\), or "
                                        r"scratchnn.Input\(shape=\(8,\)\) for a functional Model"):
        layers.Dense(4, input_shape=(8,))
    with pytest.raises(TypeError, match="Conv2D: input_shape belongs to the model"):
        layers.Conv2D(4, 3, batch_input_shape=(None, 8, 8, 1))
