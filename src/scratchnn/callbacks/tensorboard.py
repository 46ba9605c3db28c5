"""TensorBoard: the logs of fit as TensorBoard event files, in Keras's layout (written with tensorboardX)."""
import os

from .._optional import require
from ..validation import check_positive_int
from .base import Callback


class TensorBoard(Callback):
    """Write the epoch logs (and, if asked, batch logs and weight histograms) as TensorBoard event files.

    The layout is Keras's: ``<log_dir>/train`` holds ``epoch_loss``, ``epoch_<metric>`` and
    ``epoch_learning_rate`` (the optimizer's rate during the epoch), ``<log_dir>/validation`` holds the
    ``val_`` values under the same tags (``epoch_loss``, ...), so TensorBoard draws the two runs on one
    chart. The step of an epoch value is the epoch, from 0.

    Args:
        log_dir: the folder of the runs (``tensorboard --logdir <log_dir>`` shows them).
        update_freq: "epoch" (default); "batch": also ``batch_loss`` and ``batch_<metric>`` (the running
            values of the epoch, as the progress bar shows them) after every batch, under ``train``, at the
            step ``epoch * steps + batch``; an int N: the same every N batches (counted over the whole fit).
        histogram_freq: every that many epochs (0: never), a histogram of each parameter under ``train``,
            tagged ``<layer name>/<parameter>`` (e.g. ``dense_1/kernel``).

    Needs the tensorboardX package (``pip install 'scratchnn[tensorboard]'``).
    """

    def __init__(self, log_dir="logs", update_freq="epoch", histogram_freq=0):
        self.writer_module = require("tensorboardX", "the TensorBoard callback")
        if update_freq not in ("epoch", "batch"):
            if isinstance(update_freq, str):
                raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive int, "
                                 f"got {update_freq!r}")
            update_freq = check_positive_int("update_freq", update_freq, "TensorBoard")
        self.log_dir, self.update_freq = os.fspath(log_dir), update_freq
        self.histogram_freq = (0 if histogram_freq == 0 else
                               check_positive_int("histogram_freq", histogram_freq, "TensorBoard"))
        self.writers = {}

    def _writer(self, run):
        if run not in self.writers:
            self.writers[run] = self.writer_module.SummaryWriter(os.path.join(self.log_dir, run))
        return self.writers[run]

    def on_train_begin(self, logs=None):
        self.epoch = 0
        self.batch_every = {"epoch": 0, "batch": 1}.get(self.update_freq, self.update_freq)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        step = self.epoch * self.model.history.params.get("steps", 0) + batch       # the batch's number in fit
        if not self.batch_every or (step + 1) % self.batch_every:
            return
        writer = self._writer("train")
        for key, value in (logs or {}).items():
            if key != "size":
                writer.add_scalar(f"batch_{key}", float(value), step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs.setdefault("learning_rate", float(self.model.optimizer.current_learning_rate()))
        for key, value in logs.items():
            run, name = ("validation", key[len("val_"):]) if key.startswith("val_") else ("train", key)
            self._writer(run).add_scalar(f"epoch_{name}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            writer = self._writer("train")
            for layer in self.model.unique_layers():
                for name, array in layer.params.items():
                    writer.add_histogram(f"{layer.name}/{name}", array, epoch)
        for writer in self.writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
