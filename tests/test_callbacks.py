"""Callbacks: hook order, and the Keras semantics of EarlyStopping, ModelCheckpoint, the learning-rate
callbacks, CSVLogger and the progress display."""
import csv
import io
import math
import os
import re

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import callbacks, layers, optim


def _data(rng, n=24):
    x = rng.standard_normal((n, 4))
    return x, (x[:, 0] > x[:, 1]).astype(np.int64)


def _model(lr=0.1, seed=0):
    model = snn.Sequential([layers.Dense(3, activation="relu"), layers.Dense(2)], input_shape=(4,), seed=seed,
                           dtype="float64")
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(lr), metrics=["accuracy"])
    return model


def _scripted(key, values):
    """A callback that writes values[epoch] into the epoch logs under key (placed before the one tested)."""
    def write(epoch, logs):
        logs[key] = values[epoch]
    return callbacks.LambdaCallback(on_epoch_end=write)


class Recorder(callbacks.Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None): self.calls.append("train_begin")
    def on_train_end(self, logs=None): self.calls.append("train_end")
    def on_epoch_begin(self, epoch, logs=None): self.calls.append(f"epoch_begin {epoch}")
    def on_epoch_end(self, epoch, logs=None): self.calls.append(f"epoch_end {epoch} {sorted(logs)}")
    def on_batch_begin(self, batch, logs=None): self.calls.append(f"batch_begin {batch}")
    def on_batch_end(self, batch, logs=None): self.calls.append(f"batch_end {batch}")


def test_hooks_are_called_in_keras_order(rng):
    x, y = _data(rng, n=5)
    recorder = Recorder()
    _model().fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[recorder], validation_data=(x, y))
    epoch = ["batch_begin 0", "batch_end 0", "batch_begin 1", "batch_end 1", "batch_begin 2", "batch_end 2"]
    keys = "['accuracy', 'loss', 'val_accuracy', 'val_loss']"
    assert recorder.calls == ["train_begin", "epoch_begin 0", *epoch, f"epoch_end 0 {keys}",
                              "epoch_begin 1", *epoch, f"epoch_end 1 {keys}", "train_end"]


# ---- EarlyStopping --------------------------------------------------------------------------------
def _stopped_after(values, **kwargs):
    """Run EarlyStopping over scripted values on a stand-in model; the number of epochs it lets run."""
    class Stub:
        stop_training = False
    stopper = callbacks.EarlyStopping(monitor="m", **kwargs)
    stopper.set_model(Stub())
    stopper.on_train_begin()
    for epoch, value in enumerate(values):
        stopper.on_epoch_end(epoch, {"m": value})
        if stopper.model.stop_training:
            return epoch + 1
    return len(values)


@pytest.mark.parametrize("values, kwargs, epochs_run", [
    ([1.0, 0.8, 0.9, 0.85, 0.95, 0.7], {"patience": 2}, 4),
    ([1.0, 0.8, 0.9, 0.85, 0.95, 0.7], {"patience": 0}, 3),
    ([1.0, 0.8, 0.9, 0.85, 0.95, 0.7], {"patience": 3}, 5),
    ([1.0, 0.95, 0.92, 0.5], {"patience": 1, "min_delta": 0.1}, 2),
    ([1.0, 0.95, 0.92, 0.5], {"patience": 1, "min_delta": -0.1}, 2),
    ([1.0, 0.95, 0.92, 0.5], {"patience": 1, "min_delta": 0.01}, 4),
    ([0.9, 0.8, 0.85, 0.84], {"patience": 3}, 4),
    ([0.9, 0.8, 0.85, 0.84], {"patience": 3, "baseline": 0.5}, 3),
    ([0.5, 0.6, 0.7, 0.6, 0.65], {"patience": 1, "mode": "max"}, 4),
    ([0.5, 0.6, 0.7, 0.6, 0.65], {"patience": 1}, 2),
    ([0.5, 0.6, 0.7, 0.8], {"patience": 0, "start_from_epoch": 2}, 4),
    ([0.5, 0.6, 0.7, 0.6], {"patience": 0, "start_from_epoch": 2}, 4),
])
def test_early_stopping_stops_at_the_right_epoch(values, kwargs, epochs_run):
    assert _stopped_after(values, **kwargs) == epochs_run


def test_early_stopping_auto_mode_maximises_accuracy():
    stopper = callbacks.EarlyStopping(monitor="val_accuracy", patience=0)
    assert callbacks.resolve_mode(stopper.monitor, stopper.mode) == "max"
    assert callbacks.resolve_mode("val_loss", "auto") == "min"


def test_early_stopping_constant_loss_runs_patience_plus_one_epochs(rng):
    x, y = _data(rng)
    history = _model().fit(x, y, epochs=10, batch_size=8, verbose=0,
                           callbacks=[_scripted("flat", [1.0] * 10), callbacks.EarlyStopping("flat", patience=3)])
    assert len(history.history["loss"]) == 4


def test_early_stopping_restores_the_best_weights(rng):
    x, y = _data(rng)
    model = _model()
    snapshots = []
    keep = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    stopper = callbacks.EarlyStopping("score", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, batch_size=8, verbose=0,
                        callbacks=[_scripted("score", [3.0, 1.0, 2.0, 2.5, 0.5]), keep, stopper])
    assert history.epoch == [0, 1, 2, 3] and stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    for restored, best in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(snapshots[1][0], snapshots[3][0])


def test_early_stopping_without_the_monitored_value(rng):
    x, y = _data(rng)
    with pytest.raises(ValueError, match=r"EarlyStopping monitors 'val_loss', which this fit does not log "
                                         r"\(pass validation_data or validation_split to fit\); "
                                         r"logged: \['accuracy', 'loss'\]"):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.EarlyStopping()])
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max', got 'up'"):
        callbacks.EarlyStopping(mode="up")


# ---- ModelCheckpoint --------------------------------------------------------------------------------
def test_checkpoint_best_only_writes_exactly_when_the_value_improves(tmp_path, rng):
    x, y = _data(rng)
    model = _model()
    written = []
    checkpoint = callbacks.ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}-{score:.1f}.snn", monitor="score",
                                           save_best_only=True, save_weights_only=True)
    note = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: written.append(model.get_weights()))
    model.fit(x, y, epochs=6, batch_size=8, verbose=0,
              callbacks=[_scripted("score", [5.0, 3.0, 4.0, 2.0, 2.0, 2.5]), checkpoint, note])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01-5.0.snn", "ckpt-02-3.0.snn", "ckpt-04-2.0.snn"]
    other = _model(seed=1)
    other.load_weights(tmp_path / "ckpt-04-2.0.snn")
    for loaded, saved in zip(other.get_weights(), written[3]):
        np.testing.assert_array_equal(loaded, saved)


def test_checkpoint_every_epoch_and_max_mode(tmp_path, rng):
    x, y = _data(rng)
    every = callbacks.ModelCheckpoint(tmp_path / "all-{epoch}.snn", save_weights_only=True)
    best = callbacks.ModelCheckpoint(tmp_path / "best-{epoch}.snn", monitor="val_accuracy", save_best_only=True,
                                     save_weights_only=True)
    history = _model().fit(x, y, epochs=3, batch_size=8, verbose=0, validation_data=(x, y), callbacks=[every, best])
    accuracy = history.history["val_accuracy"]
    improved = [e + 1 for e in range(3) if accuracy[e] > max(accuracy[:e], default=-math.inf)]
    assert sorted(os.listdir(tmp_path)) == sorted([f"all-{e}.snn" for e in (1, 2, 3)] +
                                                  [f"best-{e}.snn" for e in improved])


def test_checkpoint_saves_whole_model_through_a_temporary_file(tmp_path, rng, monkeypatch):
    x, y = _data(rng)
    model = _model()
    targets = []
    real_save = model.save

    def recording_save(stream):
        targets.append((stream, os.listdir(tmp_path)))
        real_save(stream)
    monkeypatch.setattr(model, "save", recording_save)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[callbacks.ModelCheckpoint(tmp_path / "m.snn")])
    assert len(targets) == 1 and hasattr(targets[0][0], "write")
    [temporary] = targets[0][1]                 # while saving: only the temporary file of the atomic writer
    assert temporary.startswith(".m.snn.") and temporary.endswith(".tmp")
    assert os.listdir(tmp_path) == ["m.snn"]
    restored = snn.load_model(tmp_path / "m.snn")
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))


def test_crash_mid_write_leaves_previous_checkpoint_loadable(tmp_path, rng, monkeypatch):
    x, y = _data(rng)
    model = _model()
    path = tmp_path / "best.snn"
    real_save = type(model).save

    def crash_on_second_save(self, target):
        if os.path.exists(path):
            target.write(b"PK\x03\x04 half a zip")
            raise OSError("No space left on device")
        real_save(self, target)
    monkeypatch.setattr(type(model), "save", crash_on_second_save)
    first = []
    note = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: first.append(model.predict(x)) if epoch == 0 else None)
    with pytest.raises(OSError, match="No space left on device"):
        model.fit(x, y, epochs=3, batch_size=8, verbose=0,
                  callbacks=[_scripted("score", [2.0, 1.0, 0.5]), note,
                             callbacks.ModelCheckpoint(path, monitor="score", save_best_only=True)])
    assert os.listdir(tmp_path) == ["best.snn"]
    np.testing.assert_array_equal(snn.load_model(path).predict(x), first[0])


def test_checkpoint_filepath_field_not_logged(tmp_path, rng):
    x, y = _data(rng)
    with pytest.raises(ValueError, match=r"names 'val_loss', which this fit does not log; available: \['epoch', "):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(tmp_path / "{val_loss}.snn")])


# ---- learning rate -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cooldown, logged", [
    (0, [0.1, 0.1, 0.05, 0.025, 0.02, 0.02]),
    (1, [0.1, 0.1, 0.05, 0.025, 0.02, 0.02]),
    (2, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]),
])
def test_reduce_lr_on_plateau(rng, cooldown, logged):
    x, y = _data(rng)
    model = _model(lr=0.1)
    reduce = callbacks.ReduceLROnPlateau("flat", factor=0.5, patience=1, min_delta=0.0, cooldown=cooldown, min_lr=0.02)
    history = model.fit(x, y, epochs=6, batch_size=8, verbose=0, callbacks=[_scripted("flat", [1.0] * 6), reduce])
    assert history.history["learning_rate"] == pytest.approx(logged, rel=1e-15)
    assert model.optimizer.learning_rate == pytest.approx(0.02, rel=1e-15)


def test_reduce_lr_waits_for_patience_and_honours_min_delta(rng):
    x, y = _data(rng)
    model = _model(lr=1.0)
    reduce = callbacks.ReduceLROnPlateau("v", factor=0.1, patience=2, min_delta=0.05)
    history = model.fit(x, y, epochs=6, batch_size=8, verbose=0,
                        callbacks=[_scripted("v", [1.0, 0.97, 0.96, 0.9, 0.89, 0.88]), reduce])
    assert history.history["learning_rate"] == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.1], rel=1e-15)
    assert model.optimizer.learning_rate == pytest.approx(0.01, rel=1e-15)
    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\), got 1.5"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_sets_the_rate_each_epoch(rng):
    x, y = _data(rng)
    halve = callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr / 2)
    history = _model(lr=0.1).fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[halve])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025], rel=1e-15)
    by_epoch = callbacks.LearningRateScheduler(lambda epoch: 0.3 / (epoch + 1))
    history = _model().fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[by_epoch])
    assert history.history["learning_rate"] == pytest.approx([0.3, 0.15, 0.1], rel=1e-15)
    with pytest.raises(ValueError, match="the schedule must return a positive float, got -1 at epoch 0"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e: -1)])


def test_learning_rate_scheduler_takes_effect_on_the_update(rng):
    x, y = _data(rng)
    plain, scheduled = _model(lr=0.05), _model(lr=1.0)
    plain.fit(x, y, epochs=1, batch_size=24, shuffle=False, verbose=0)
    scheduled.fit(x, y, epochs=1, batch_size=24, shuffle=False, verbose=0,
                  callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.05)])
    for a, b in zip(plain.get_weights(), scheduled.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_callbacks_refuse_a_schedule(rng):
    x, y = _data(rng)
    model = _model()
    model.optimizer.learning_rate = lambda step: 0.1
    with pytest.raises(ValueError, match="learning rate, which is a schedule"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e: 0.1)])


# ---- the rest -------------------------------------------------------------------------------------
def test_terminate_on_nan(capsys):
    class Stub:
        stop_training = False
    terminate = callbacks.TerminateOnNaN()
    terminate.set_model(Stub())
    terminate.on_batch_end(4, {"loss": 0.3})
    assert not terminate.model.stop_training
    terminate.on_batch_end(5, {"loss": math.nan})
    assert terminate.model.stop_training
    assert capsys.readouterr().out == "Batch 6: invalid loss nan, terminating training\n"


def test_csv_logger_writes_one_row_per_epoch(tmp_path, rng):
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    model = _model()
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_data=(x, y),
                        callbacks=[callbacks.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    assert [float(r[2]) for r in rows[1:]] == history.history["loss"]
    assert [float(r[4]) for r in rows[1:]] == history.history["val_loss"]
    model.fit(x, y, epochs=5, initial_epoch=3, batch_size=8, verbose=0, validation_data=(x, y),
              callbacks=[callbacks.CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert [r[0] for r in rows] == ["epoch", "0", "1", "2", "3", "4"]


def test_lambda_callback(rng):
    x, y = _data(rng)
    seen = []
    hooks = callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                                     on_batch_end=lambda batch, logs: seen.append(batch),
                                     on_train_end=lambda logs: seen.append("end"))
    _model().fit(x, y, epochs=1, batch_size=10, verbose=0, callbacks=[hooks])
    assert seen == ["begin", 0, 1, 2, "end"]
    with pytest.raises(TypeError, match=r"unknown hooks \['on_epoch_ends'\]"):
        callbacks.LambdaCallback(on_epoch_ends=print)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def _progress_run(verbose, stream, rng, epochs=2):
    x, y = _data(rng)
    model = _model()
    progress = callbacks.ProgressLogger(epochs, 3, len(x), verbose, stream=stream)
    cbs = callbacks.CallbackList([progress], model)
    cbs.on_train_begin()
    for epoch in range(epochs):
        cbs.on_epoch_begin(epoch)
        for batch in range(3):
            cbs.on_batch_end(batch, {"loss": 0.5, "accuracy": 0.75, "size": 8})
        cbs.on_epoch_end(epoch, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.625})
    cbs.on_train_end()
    return stream.getvalue()


def test_progress_one_line_per_epoch(rng):
    for verbose in (1, 2):
        lines = _progress_run(verbose, io.StringIO(), rng).splitlines()
        assert len(lines) == 2
        assert re.fullmatch(r"Epoch 2/2 - \d+\.\ds - [\d,]+ samples/s - loss: 0\.5000 - accuracy: 0\.7500 - "
                            r"val_loss: 0\.6250", lines[1])
    assert _progress_run(0, io.StringIO(), rng) == ""


def test_progress_live_bar_on_a_terminal():
    stream = FakeTerminal()
    progress = callbacks.ProgressLogger(2, 3, 24, verbose=1, stream=stream)
    progress.on_epoch_begin(0)
    for batch in range(3):
        progress.on_batch_end(batch, {"loss": 0.5, "accuracy": 0.75, "size": 8})
    assert re.fullmatch(r"Epoch 1/2 \S+ 3/3 \[\d\d:\d\d<\d\d:\d\d, [\d,]+ samples/s, loss: 0\.5000 - "
                        r"accuracy: 0\.7500\]", str(progress.bar))
    progress.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.625})
    assert progress.bar is None
    final = stream.getvalue().split("\n")[-2].rsplit("\r", 1)[-1]
    assert re.fullmatch(r"Epoch 1/2 - \d+\.\ds - [\d,]+ samples/s - loss: 0\.5000 - accuracy: 0\.7500 - "
                        r"val_loss: 0\.6250", final)
