"""BackupAndRestore (a run killed with SIGKILL resumes bit for bit), ModelCheckpoint(keep_last=N), TensorBoard
event files read back with TensorBoard's own reader, History.params, and to_json / model_from_json."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import callbacks, layers, optim
from scratchnn.saving import ModelFileError

from conftest import require


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)


def _model(seed=0):
    model = snn.Sequential([layers.Dense(8, activation="relu"), layers.Dropout(0.25), layers.Dense(3)],
                           input_shape=(4,), seed=seed, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer=optim.Adam(0.02),
                  metrics=["accuracy"])
    return model


# ---- BackupAndRestore -------------------------------------------------------------------------------------
TRAIN_SCRIPT = """
import os, signal, sys
import numpy as np
import scratchnn as snn
from scratchnn import callbacks, layers, optim

backup, out, kill_epoch = sys.argv[1], sys.argv[2], int(os.environ.get("KILL_IN_EPOCH", "-1"))
rng = np.random.default_rng(0)
x = rng.standard_normal((96, 6))
y = (x[:, 0] - x[:, 3] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
model = snn.Sequential([layers.Dense(12, activation="relu"), layers.Dropout(0.3), layers.Dense(3)],
                       input_shape=(6,), seed=1, dtype="float64")
model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer=optim.Adam(0.05),
              metrics=["accuracy"])

class Kill(callbacks.Callback):          # the machine dies in the middle of an epoch
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_batch_end(self, batch, logs=None):
        if self.epoch == kill_epoch and batch == 2:
            os.kill(os.getpid(), signal.SIGKILL)

decay = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.8)     # the rate lives in the optimizer
history = model.fit(x, y, epochs=5, batch_size=16, validation_split=0.25, verbose=0,
                    callbacks=[callbacks.BackupAndRestore(backup), decay, Kill()])
np.savez(out, *model.get_weights())
with open(out + ".json", "w") as f:
    import json
    json.dump({"epoch": history.epoch, "history": history.history, "lr": model.optimizer.learning_rate}, f)
"""


def _train(tmp_path, name, kill_in_epoch=None):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "SCRATCHNN_NUM_THREADS": "1"}
    if kill_in_epoch is not None:
        env["KILL_IN_EPOCH"] = str(kill_in_epoch)
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    return subprocess.run([sys.executable, str(script), str(tmp_path / name), str(tmp_path / f"{name}.npz")],
                          env=env, capture_output=True, text=True, timeout=120)


def test_a_run_killed_mid_epoch_resumes_bitwise_equal(tmp_path):
    whole = _train(tmp_path, "whole")
    assert whole.returncode == 0, whole.stderr
    killed = _train(tmp_path, "resumed", kill_in_epoch=3)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    backup = tmp_path / "resumed" / "backup.snn"
    assert backup.is_file() and not (tmp_path / "resumed.npz").exists()
    assert snn.load_model(backup).optimizer.iterations == 3 * 5          # epochs 0-2 complete, 5 batches each
    resumed = _train(tmp_path, "resumed")                                 # the same command, run again
    assert resumed.returncode == 0, resumed.stderr
    assert not (tmp_path / "resumed").exists()                           # deleted on a successful end
    expected, got = np.load(tmp_path / "whole.npz"), np.load(tmp_path / "resumed.npz")
    assert len(expected.files) == len(got.files) == 4
    for key in expected.files:
        assert expected[key].dtype == np.float64
        assert expected[key].tobytes() == got[key].tobytes()
    whole_log = json.loads((tmp_path / "whole.npz.json").read_text())
    resumed_log = json.loads((tmp_path / "resumed.npz.json").read_text())
    assert resumed_log["epoch"] == [0, 1, 2, 3, 4]
    assert resumed_log == whole_log                          # every epoch once, same values, same learning rate
    assert whole_log["lr"] == pytest.approx(0.05 * 0.8 ** 5)     # the decayed rate was restored, not restarted


class _Crash(callbacks.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("crash")


def test_resume_in_process_restores_weights_optimizer_generator_and_history(tmp_path):
    x, y = _data()
    reference = _model()
    expected = reference.fit(x, y, epochs=4, batch_size=16, validation_split=0.2, verbose=0)
    model = _model()
    backup = callbacks.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="crash"):          # the crash comes before epoch 2's backup
        model.fit(x, y, epochs=4, batch_size=16, validation_split=0.2, verbose=0, callbacks=[_Crash(2), backup])
    assert snn.load_model(tmp_path / "backup" / "backup.snn").optimizer.iterations == 2 * 3
    fresh = _model(seed=5)                                    # another process would start from other weights
    history = fresh.fit(x, y, epochs=4, batch_size=16, validation_split=0.2, verbose=0, callbacks=[backup])
    assert backup.restored_epoch == 1
    assert history.epoch == [0, 1, 2, 3] and history.history == expected.history
    for a, b in zip(reference.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "backup").exists()


def test_backup_kept_when_asked_or_interrupted_and_deleted_after_early_stopping(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / "b",
                                                                                 delete_checkpoint=False)])
    assert (tmp_path / "b" / "backup.snn").is_file()
    stopper = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=100.0)
    history = _model().fit(x, y, epochs=5, verbose=0, callbacks=[stopper, callbacks.BackupAndRestore(tmp_path / "c")])
    assert len(history.epoch) == 2 and not (tmp_path / "c").exists()
    model = _model()

    class Interrupt(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            raise KeyboardInterrupt
    with pytest.warns(RuntimeWarning, match="interrupted"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / "d"), Interrupt()])
    assert model.history.stopped_reason is not None


def test_backup_runs_after_every_other_callback_and_checks_what_it_restores(tmp_path):
    backup = callbacks.BackupAndRestore(tmp_path)
    other = callbacks.TerminateOnNaN()
    history = callbacks.History()
    assert callbacks.CallbackList([backup, other, history], None).callbacks == [other, history, backup]
    with pytest.raises(ValueError, match="save_freq must be 'epoch'"):
        callbacks.BackupAndRestore(tmp_path, save_freq=10)
    x, y = _data()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / "k",
                                                                                   delete_checkpoint=False)])
    other_model = snn.Sequential([layers.Dense(5), layers.Dense(3)], input_shape=(4,), dtype="float64")
    other_model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer="adam")
    with pytest.raises(ValueError, match="written by another model"):
        other_model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / "k")])
    model = _model()
    model.save(tmp_path / "plain.snn")                  # a model file, not a backup
    os.makedirs(tmp_path / "p")
    os.replace(tmp_path / "plain.snn", tmp_path / "p" / "backup.snn")
    with pytest.raises(ModelFileError, match="not a BackupAndRestore backup"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / "p")])


# ---- ModelCheckpoint(keep_last=N) -------------------------------------------------------------------------
def test_keep_last_keeps_the_newest_files_of_the_series(tmp_path):
    x, y = _data()
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "ckpt-099.snn.bak").write_text("not of the series")
    checkpoint = callbacks.ModelCheckpoint(tmp_path / "ckpt-{epoch:03d}-{loss:.2f}.snn", keep_last=2)
    _model().fit(x, y, epochs=5, verbose=0, callbacks=[checkpoint])
    names = sorted(p.name for p in tmp_path.iterdir())
    series = [n for n in names if n.startswith("ckpt-") and n.endswith(".snn")]
    assert [n[:8] for n in series] == ["ckpt-004", "ckpt-005"]
    assert "notes.txt" in names and "ckpt-099.snn.bak" in names
    assert checkpoint.last_path.endswith(series[-1])
    time.sleep(0.01)                                      # a later run: its files are the newest
    again = callbacks.ModelCheckpoint(tmp_path / "ckpt-{epoch:03d}-{loss:.2f}.snn", keep_last=1)
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[again])
    assert [n[:8] for n in sorted(p.name for p in tmp_path.glob("ckpt-*.snn"))] == ["ckpt-001"]


@pytest.mark.parametrize("keep_last, path, message", [
    (0, "ckpt-{epoch}.snn", "keep_last must be a positive int"),
    (1.5, "ckpt-{epoch}.snn", "keep_last must be a positive int"),
    (2, "best.snn", "holds {epoch}"),
    (2, "run-{epoch}/model.snn", "must not hold format fields")])
def test_keep_last_is_validated(tmp_path, keep_last, path, message):
    with pytest.raises((ValueError, TypeError), match=message):
        callbacks.ModelCheckpoint(tmp_path / path, keep_last=keep_last)


# ---- TensorBoard -------------------------------------------------------------------------------------------
def _events(folder):
    event_accumulator = require("tensorboard.backend.event_processing.event_accumulator")
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    accumulator.Reload()
    return accumulator


def _scalars(accumulator, tag):
    events = accumulator.Scalars(tag)
    return [event.step for event in events], [event.value for event in events]


def test_tensorboard_event_files_hold_the_history(tmp_path):
    require("tensorboardX")
    x, y = _data()
    board = callbacks.TensorBoard(tmp_path / "logs", update_freq="batch", histogram_freq=2)
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)
    model = _model()
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0, callbacks=[board, plateau])
    assert history.params == {"epochs": 3, "steps": 3, "verbose": 0}
    train, validation = _events(tmp_path / "logs" / "train"), _events(tmp_path / "logs" / "validation")
    for name in ("loss", "accuracy"):
        steps, values = _scalars(train, f"epoch_{name}")
        assert steps == [0, 1, 2] and values == [float(np.float32(v)) for v in history.history[name]]
        steps, values = _scalars(validation, f"epoch_{name}")
        assert steps == [0, 1, 2] and values == [float(np.float32(v)) for v in history.history[f"val_{name}"]]
    rates = [float(np.float32(rate)) for rate in (0.02, 0.02, 0.01)]           # the rate each epoch ran with
    assert _scalars(train, "epoch_learning_rate")[1] == rates
    assert [float(np.float32(rate)) for rate in history.history["learning_rate"]] == rates
    steps, values = _scalars(train, "batch_loss")
    assert steps == list(range(9)) and values[2::3] == [float(np.float32(v)) for v in history.history["loss"]]
    sizes = {f"{layer.name}/{name}": array.size for layer in model.unique_layers()
             for name, array in layer.params.items()}
    assert sorted(train.Tags()["histograms"]) == sorted(sizes) and len(sizes) == 4
    for tag, size in sizes.items():
        events = train.Histograms(tag)
        assert [event.step for event in events] == [0, 2] and all(e.histogram_value.num == size for e in events)
    assert validation.Tags()["histograms"] == [] and "batch_loss" not in validation.Tags()["scalars"]


def test_tensorboard_batch_frequency_and_arguments(tmp_path):
    require("tensorboardX")
    x, y = _data()
    _model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callbacks.TensorBoard(tmp_path, update_freq=3)])
    steps, _ = _scalars(_events(tmp_path / "train"), "batch_loss")
    assert steps == [2, 5, 8, 11, 14]                        # every 3rd batch of 2 epochs of 8 (step: from 0)
    assert not (tmp_path / "validation").exists()
    for bad in ("often", 0, -2, 1.5):
        with pytest.raises((ValueError, TypeError), match="update_freq"):
            callbacks.TensorBoard(tmp_path, update_freq=bad)
    with pytest.raises((ValueError, TypeError), match="histogram_freq"):
        callbacks.TensorBoard(tmp_path, histogram_freq=-1)


def test_tensorboard_without_tensorboardx_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"^the TensorBoard callback needs the tensorboardX package: "
                                          r"pip install 'scratchnn\[tensorboard\]'$"):
        callbacks.TensorBoard(tmp_path)


# ---- to_json / model_from_json -------------------------------------------------------------------------------
def test_sequential_to_json_round_trip():
    model = _model()
    text = model.to_json()
    spec = json.loads(text)
    assert spec["class_name"] == "Sequential" and spec["config"] == model.get_config()
    assert len(text) < 2000 and "weights" not in spec                  # the architecture, no arrays
    rebuilt = snn.model_from_json(text)
    assert type(rebuilt) is snn.Sequential and rebuilt.get_config() == model.get_config()
    assert snn.models.model_from_json is snn.model_from_json
    rebuilt.set_weights(model.get_weights())
    x, _ = _data()
    np.testing.assert_array_equal(rebuilt.predict(x), model.predict(x))
    assert json.loads(model.to_json(indent=2)) == spec


def test_functional_to_json_round_trip():
    a, b = snn.Input(shape=(4,), name="a"), snn.Input(shape=(2,), name="b")
    hidden = layers.Dense(6, activation="tanh")(a)
    merged = layers.Concatenate()([hidden, b])
    model = snn.Model([a, b], [layers.Dense(3)(merged), layers.Dense(1)(hidden)], seed=4)
    spec = json.loads(model.to_json())
    assert spec["class_name"] == "Model" and spec["config"] == model.get_config()
    rebuilt = snn.model_from_json(model.to_json(), seed=9)
    assert rebuilt.get_config()["nodes"] == model.get_config()["nodes"]
    assert any(not np.array_equal(p, q) for p, q in zip(rebuilt.get_weights(), model.get_weights()))
    rebuilt.set_weights(model.get_weights())
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)]
    for got, expected in zip(rebuilt.predict(inputs), model.predict(inputs)):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("text, message", [("not json", "expected the JSON text"), ("[1, 2]", "class_name"),
                                           ('{"class_name": "Tree", "config": {}}', "Unknown model type")])
def test_model_from_json_errors(text, message):
    with pytest.raises(ValueError, match=message):
        snn.model_from_json(text)
