"""Callbacks: hooks that fit() calls around epochs and batches (Keras's names, order and semantics).

on_train_begin, (on_epoch_begin, (on_batch_begin, on_batch_end)*, on_epoch_end)*, on_train_end.
A callback may set ``model.stop_training = True`` to end training after the current batch or epoch.
Epochs are counted from 0 in the hooks and from 1 in everything printed or written to a file name.

The package: base.py (the Callback contract, the list fit calls, History, the progress line,
LambdaCallback), monitoring.py (callbacks that watch a logged quantity or the learning rate), files.py
(ModelCheckpoint, CSVLogger), backup.py (BackupAndRestore), tensorboard.py (TensorBoard event files).
"""
from .backup import BackupAndRestore
from .base import Callback, CallbackList, History, LambdaCallback, ProgressLogger, format_logs
from .files import CSVLogger, ModelCheckpoint
from .monitoring import (EarlyStopping, LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN, monitored_value,
                         resolve_mode)
from .tensorboard import TensorBoard

__all__ = ["Callback", "CallbackList", "History", "ProgressLogger", "LambdaCallback", "EarlyStopping",
           "ReduceLROnPlateau", "LearningRateScheduler", "TerminateOnNaN", "ModelCheckpoint", "CSVLogger",
           "BackupAndRestore", "TensorBoard", "format_logs", "resolve_mode", "monitored_value"]
