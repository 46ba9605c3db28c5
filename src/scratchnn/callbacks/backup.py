"""BackupAndRestore: a fit killed part-way resumes from its last complete epoch, exactly (Keras's callback)."""
import contextlib
import os
import warnings

from ..saving.archive import ModelFileError, open_archive, read_config_json, reading
from ..saving.files import atomic_file
from ..saving.model_file import load_model, save_model
from .base import Callback

BACKUP_FILE = "backup.snn"


class BackupAndRestore(Callback):
    """Back the training state up at the end of every epoch; at the start of fit, restore it if there is one.

    The backup is one model file, ``<backup_dir>/backup.snn``, written with the atomic writer (a kill during
    the write leaves the previous backup whole). It holds the weights, the optimizer with its state and
    learning rate, the random generators the model and its layers draw from (shuffling, dropout), the
    epoch and the History so far. When fit starts and a backup exists, all of that is put back into the
    model and fit continues with the next epoch: a run killed after epoch k and started again with the same
    command ends with the same weights, bit for bit, as a run never interrupted (for a given number of
    threads), and its History holds every epoch once.

    Args:
        backup_dir: the folder of the backup (created when needed).
        save_freq: "epoch" (the only choice: a backup is taken between epochs, where fit can resume).
        delete_checkpoint: delete the backup when fit ends normally (completed, or stopped by a callback
            such as EarlyStopping); it is kept when fit was interrupted (Ctrl-C) or diverged.

    It runs after every other callback (``runs_last``), so the state it saves is the one each epoch ends in
    (a learning rate that ReduceLROnPlateau lowered included). The other callbacks' own counters (say,
    EarlyStopping's patience) start afresh on resuming, as in Keras.
    """

    runs_last = True

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        if save_freq != "epoch":
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch', got {save_freq!r}: fit resumes at the "
                             "start of an epoch, so a backup is taken at the end of each one")
        self.backup_dir, self.save_freq = os.fspath(backup_dir), save_freq
        self.delete_checkpoint = bool(delete_checkpoint)
        self.path = os.path.join(self.backup_dir, BACKUP_FILE)
        self.restored_epoch = None

    def on_train_begin(self, logs=None):
        self.restored_epoch = None
        if os.path.exists(self.path):
            self._restore()

    def on_epoch_end(self, epoch, logs=None):
        history = self.model.history
        state = {"epoch": int(epoch), "epochs": [int(e) for e in history.epoch],
                 "history": {key: [_plain(value) for value in values] for key, values in history.history.items()}}
        os.makedirs(self.backup_dir, exist_ok=True)
        with warnings.catch_warnings():      # metrics given as objects: the live model keeps them, not the file
            warnings.filterwarnings("ignore", message="the metrics .* are not saved", category=UserWarning)
            with atomic_file(self.path) as stream:
                save_model(self.model, stream, training_state=state)

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint or self.model.history.stopped_reason is not None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
        with contextlib.suppress(OSError):      # the folder goes too when nothing else is in it
            os.rmdir(self.backup_dir)

    def _restore(self):
        model, path = self.model, self.path
        backup = load_model(path)
        with reading(path), open_archive(path) as archive:
            state = read_config_json(archive, path).get("training_state")
        _check_state(state, path)
        _check_same_model(model, backup, path)
        model.set_weights(backup.get_weights())
        model.optimizer.load_state_dict(backup.optimizer.state_dict())
        if not callable(model.optimizer.learning_rate):
            model.optimizer.learning_rate = backup.optimizer.learning_rate
        _copy_generator(model.rng, backup.rng, path)
        for layer, saved in zip(model.layers, backup.layers):
            own = getattr(layer, "rng", None)
            if own is not None and own is not model.rng:
                _copy_generator(own, saved.rng, path)
        model.history.history = {key: list(values) for key, values in state["history"].items()}
        model.history.epoch = list(state["epochs"])
        self.restored_epoch = state["epoch"]
        model._initial_epoch = state["epoch"] + 1


def _plain(value):
    """A logged number as a Python number (a NumPy scalar's exact value), for JSON."""
    return value.item() if hasattr(value, "item") else value


def _check_state(state, path):
    ok = (isinstance(state, dict) and isinstance(state.get("epoch"), int) and state["epoch"] >= 0
          and isinstance(state.get("epochs"), list) and isinstance(state.get("history"), dict)
          and all(isinstance(values, list) for values in state["history"].values()))
    if not ok:
        raise ModelFileError(f"{path}: not a BackupAndRestore backup (its config.json has no valid "
                             "'training_state'); delete it to start training afresh")


def _check_same_model(model, backup, path):
    mine = [(type(layer).__name__, [w.shape for w in layer.get_weights()]) for layer in model.layers]
    saved = [(type(layer).__name__, [w.shape for w in layer.get_weights()]) for layer in backup.layers]
    if mine != saved or type(model.optimizer) is not type(backup.optimizer):
        raise ValueError(f"BackupAndRestore: the backup {path} was written by another model or optimizer "
                         f"({type(backup).__name__} of {len(saved)} layers with {type(backup.optimizer).__name__}; "
                         f"this one: {type(model).__name__} of {len(mine)} layers with "
                         f"{type(model.optimizer).__name__}); delete it to start training afresh")


def _copy_generator(target, source, path):
    """Put ``source``'s state into ``target`` in place (layers that share ``target`` see the restored one)."""
    if type(target.bit_generator) is not type(source.bit_generator):
        raise ValueError(f"BackupAndRestore: the backup {path} holds a {type(source.bit_generator).__name__} "
                         f"generator, the model draws from a {type(target.bit_generator).__name__}")
    target.bit_generator.state = source.bit_generator.state
