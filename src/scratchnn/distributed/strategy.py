"""RayStrategy: ``model.fit(x, y, strategy=RayStrategy(num_workers=2))`` trains on W Ray actors, data-parallel.

The driver (the process that called fit) keeps the callbacks, the history and the progress bar; the workers
(worker.py) hold copies of the model and compute, reduce and apply every step. After each epoch:

- the training metrics of the workers are merged (their sums and counts added);
- float buffers (BatchNormalization's moving statistics) are averaged over the workers, so every worker and
  every checkpoint holds one set (each worker normalises a batch with its own part's statistics: see
  docs/guide/distributed.md for what that changes);
- worker 0 evaluates the validation data and writes a checkpoint: a model file (scratchnn.saving), sent to
  the driver as bytes and written to ``checkpoint_dir/checkpoint.snn`` beside ``progress.json``; the
  driver's model takes its weights, so callbacks see the weights of the epoch that just ended.

A worker that dies (its process killed, its machine lost) ends the attempt: the other workers are
stopped, W new ones start from the last checkpoint and the interrupted epoch is run again, at most
``max_failures`` times. A worker that raises is not retried: its error, with the remote traceback, is
raised in the driver after every worker has been stopped.
"""
from __future__ import annotations

import json
import os
import tempfile
import uuid
import warnings
from collections import deque

import numpy as np

from .._optional import require
from ..callbacks import CallbackList, History, ProgressLogger
from ..saving.files import atomic_file
from ..validation import check_non_negative_int, check_number, check_positive_int
from .cluster import check_resources, connect
from .data import SHARDINGS, length, open_array, part, take
from .worker import ADDITIVE_METRIC_STATE, Worker, load_model_bytes

REDUCES = ("object_store", "collective")


class RayStrategy:
    """Data-parallel training on Ray actors.

    Args:
        num_workers: W actors; each computes 1/W of every global batch (``batch_size`` in fit is global).
        cpus_per_worker: CPUs Ray reserves for each actor; its scratchnn and BLAS threads are that many.
        address: None (this process's Ray, else a new local one), "auto" (the cluster of ``ray start
            --head`` on this machine), "HOST:PORT" or "ray://HOST:PORT".
        sharding: "batch" (every global batch split among the workers: equals one process) or "block"
            (each worker its own contiguous rows); see scratchnn.distributed.data.
        reduce: "object_store" (reduce.py: a reduce-scatter and an all-gather of chunks through Ray's object
            store; needs only Ray) or "collective" (ray.util.collective's gloo all-reduce, which needs torch).
        seed: the seed of dropout draws (with the rank, epoch and step) and of "block" shuffles; default the
            model's seed, else a random one (``self.seed`` after fit).
        checkpoint_dir: where checkpoint.snn and progress.json go (default: a new temporary folder).
        max_failures: how many times dead workers are replaced before fit gives up.
        connect_timeout: seconds to wait for a remote cluster's port before an error naming it.
        pipeline: steps the driver submits ahead of the last one it has the loss of.
    """

    def __init__(self, num_workers=2, cpus_per_worker=1, address=None, sharding="batch", reduce="object_store",
                 seed=None, checkpoint_dir=None, max_failures=3, connect_timeout=10.0, pipeline=2):
        self.num_workers = check_positive_int("num_workers", num_workers, "RayStrategy")
        self.cpus_per_worker = check_number("cpus_per_worker", cpus_per_worker, "RayStrategy", low=0, low_open=True)
        if sharding not in SHARDINGS:
            raise ValueError(f"RayStrategy: sharding must be one of {SHARDINGS}, got {sharding!r}")
        if reduce not in REDUCES:
            raise ValueError(f"RayStrategy: reduce must be one of {REDUCES}, got {reduce!r}")
        self.address, self.sharding, self.reduce, self.seed = address, sharding, reduce, seed
        self.checkpoint_dir = checkpoint_dir
        self.max_failures = check_non_negative_int("max_failures", max_failures, "RayStrategy")
        self.connect_timeout = check_number("connect_timeout", connect_timeout, "RayStrategy", low=0, low_open=True)
        self.pipeline = check_positive_int("pipeline", pipeline, "RayStrategy")
        self.workers: list = []
        self.failures = 0
        self._fail_at = None                      # (rank, epoch, step) where a worker raises: for the tests

    # ---- the workers ------------------------------------------------------------------------------------
    def worker_info(self) -> list[dict]:
        """pid, rank, scratchnn threads and BLAS threads of each running worker."""
        import ray
        return ray.get([worker.info.remote() for worker in self.workers])

    def _start(self, ray, model_ref, sources, options):
        actor = ray.remote(num_cpus=self.cpus_per_worker, max_restarts=0)(Worker)
        self.workers = [actor.remote(rank, self.num_workers, model_ref, sources[rank], options)
                        for rank in range(self.num_workers)]
        if self.reduce == "collective":
            name = f"scratchnn-{uuid.uuid4().hex[:12]}"
            ray.get([worker.join_group.remote(name) for worker in self.workers])

    def _stop(self, ray):
        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        self.workers = []

    # ---- fit --------------------------------------------------------------------------------------------
    def fit(self, model, x, y, epochs=1, batch_size=32, shuffle=True, validation_data=None, validation_split=0.0,
            verbose=1, callbacks=None, initial_epoch=0, sample_weight=None, class_weight=None) -> History:
        """``Trainer.fit``'s arguments and History; x, y (and sample_weight) may be .npy file names."""
        model._require_compiled("fit")
        epochs = check_positive_int("epochs", epochs, "fit")
        batch_size = check_positive_int("batch_size", batch_size, "fit")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
        train, validation = _training_data(model, x, y, sample_weight, class_weight, validation_split,
                                           validation_data)
        ray = connect(self.address, timeout=self.connect_timeout)
        if self.reduce == "collective":
            require("torch", "RayStrategy(reduce='collective') (gloo comes with torch)")
        check_resources(ray, self.num_workers * self.cpus_per_worker, f"RayStrategy({self.num_workers} workers)")
        if self.seed is None:
            seed = getattr(model, "seed", None)
            self.seed = seed if seed is not None else int(np.random.SeedSequence().entropy % 2 ** 32)
        stored = {}                               # id(array) -> its object-store reference, each array put once
        sources = _sources(ray, train, self.num_workers, self.sharding, stored)
        validation = None if validation is None else {k: _put(ray, v, stored) for k, v in validation.items()}
        options = {"cpus": self.cpus_per_worker, "batch_size": batch_size, "shuffle": bool(shuffle),
                   "sharding": self.sharding, "seed": int(self.seed), "fail_at": self._fail_at}
        folder = self.checkpoint_dir or tempfile.mkdtemp(prefix="scratchnn-ray-")
        os.makedirs(folder, exist_ok=True)
        history = History()
        steps = -(-(train["stop"] - train["start"]) // batch_size)
        cbs = CallbackList([*(callbacks or []), history, ProgressLogger(epochs, steps, train["stop"], verbose)],
                           model)
        model.stop_training, model.history, self.failures = False, history, 0
        run = _Run(self, ray, model, cbs, history, validation, folder, batch_size)
        model_ref, next_epoch, lost = ray.put(model), initial_epoch, _worker_lost_errors()
        cbs.on_train_begin()
        try:
            while next_epoch < epochs and not model.stop_training:
                self._start(ray, model_ref, sources, options)
                try:
                    next_epoch = run.epochs(next_epoch, epochs)
                except lost as error:
                    next_epoch = run.next_epoch
                    model_ref = self._recover(ray, run, error, next_epoch)
                finally:
                    self._stop(ray)
        except KeyboardInterrupt:
            history.stopped_reason = (f"interrupted by the user after {len(history.epoch)} complete epoch(s); "
                                      "weights are those of the last completed epoch")
            warnings.warn(history.stopped_reason, RuntimeWarning, stacklevel=2)
        cbs.on_train_end()
        return history

    def _recover(self, ray, run, error, next_epoch):
        self.failures += 1
        if self.failures > self.max_failures:
            raise RuntimeError(f"RayStrategy: a worker was lost {self.failures} times (max_failures="
                               f"{self.max_failures}); the last checkpoint is in {run.folder}") from error
        where = "its start" if run.blob is None else f"the checkpoint of epoch {next_epoch}"
        warnings.warn(f"a worker was lost during epoch {next_epoch + 1} ({type(error).__name__}); "
                      f"restarting {self.num_workers} workers from {where}", RuntimeWarning, stacklevel=3)
        return ray.put(run.blob) if run.blob is not None else ray.put(run.model)


def _worker_lost_errors():
    """A worker's process or machine gone (killed, out of memory, its node lost): what a restart answers."""
    from ray import exceptions
    names = ("RayActorError", "ObjectLostError", "OutOfMemoryError", "WorkerCrashedError", "NodeDiedError")
    return tuple(getattr(exceptions, name) for name in names if hasattr(exceptions, name))


class _Run:
    """One fit's driver loop over the current workers (the state a restart keeps: history, checkpoint)."""

    def __init__(self, strategy, ray, model, cbs, history, validation, folder, batch_size):
        self.strategy, self.ray, self.model, self.cbs, self.history = strategy, ray, model, cbs, history
        self.validation, self.folder, self.batch_size = validation, folder, batch_size
        self.blob, self.next_epoch = None, 0
        self.metrics = model._make_metrics()
        self.has_buffers = any(layer.buffers for layer in model.unique_layers())

    def epochs(self, first, last) -> int:
        """Run epochs first..last-1; returns the next epoch to run (last, or earlier when stopped)."""
        self.next_epoch = first
        for epoch in range(first, last):
            self.cbs.on_epoch_begin(epoch)
            logs = self.epoch(epoch)
            if logs is None:
                self._take_weights(self.ray.get(self.strategy.workers[0].snapshot.remote()))
                return last
            self._end_epoch(epoch, logs)
            self.next_epoch = epoch + 1
            if self.model.stop_training:
                return epoch + 1
        return last

    def epoch(self, epoch):
        ray, workers = self.ray, self.strategy.workers
        steps = ray.get([worker.begin_epoch.remote(epoch) for worker in workers])[0]
        pending, loss_sum, seen = deque(), 0.0, 0
        for step in range(steps):
            self.cbs.on_batch_begin(step)
            pending.append((step, _submit_step(workers, step, self.strategy.reduce)))
            while len(pending) > self.strategy.pipeline or (pending and step == steps - 1):
                done, (stats, applied) = pending.popleft()
                stats = ray.get(stats)
                ray.get(applied)
                total, count = sum(s for s, _ in stats), sum(n for _, n in stats)
                loss = total / count
                if not np.isfinite(loss):
                    self.history.stopped_reason = (f"loss became {loss} at epoch {epoch + 1}, batch {done + 1}: "
                                                   "training stopped without that batch's update "
                                                   "(lower the learning rate?)")
                    warnings.warn(self.history.stopped_reason, RuntimeWarning, stacklevel=5)
                    self.model.stop_training = True
                    return None
                loss_sum, seen = loss_sum + total, seen + count
                self.cbs.on_batch_end(done, {"loss": loss_sum / seen, "size": count})
        logs = {"loss": loss_sum / seen}
        logs.update(_merge_metrics(self.metrics, ray.get([w.metric_states.remote() for w in workers])))
        return logs

    def _end_epoch(self, epoch, logs):
        ray, workers = self.ray, self.strategy.workers
        if self.has_buffers:
            per_worker = ray.get([worker.buffers.remote() for worker in workers])
            mean = [np.mean(np.stack(values), axis=0).astype(values[0].dtype) for values in zip(*per_worker)]
            ray.get([worker.set_buffers.remote(mean) for worker in workers])
        if self.validation is not None:
            val = ray.get(workers[0].evaluate.remote(self.validation, max(self.batch_size, 256)))
            logs.update({f"val_{k}": v for k, v in val.items()})
        blob = ray.get(workers[0].snapshot.remote())
        self._write_checkpoint(blob, epoch)
        self._take_weights(blob)
        rate = self.model.optimizer.learning_rate
        self.cbs.on_epoch_end(epoch, logs)
        if self.model.optimizer.learning_rate is not rate:           # a callback changed it: tell the workers
            ray.get([worker.set_learning_rate.remote(self.model.optimizer.learning_rate) for worker in workers])

    def _write_checkpoint(self, blob, epoch):
        self.blob = blob
        with atomic_file(os.path.join(self.folder, "checkpoint.snn")) as stream:
            stream.write(blob)
        progress = {"completed_epochs": epoch + 1, "history": self.history.history, "failures":
                    self.strategy.failures, "workers": self.strategy.num_workers}
        with atomic_file(os.path.join(self.folder, "progress.json"), "w") as stream:
            json.dump(progress, stream, default=float)

    def _take_weights(self, blob):
        """The driver's model takes the workers' weights, buffers, optimizer state and generator state."""
        loaded = load_model_bytes(blob)
        self.model.set_weights(loaded.get_weights())
        self.model.optimizer.load_state_dict(loaded.optimizer.state_dict())
        self.model.rng.bit_generator.state = loaded.rng.bit_generator.state


def _submit_step(workers, step, reduce):
    """compute on every worker, reduce of chunk j on worker j, apply on every worker: nothing waits here."""
    if reduce == "collective":
        return [worker.step.remote(step) for worker in workers], []
    count = len(workers)
    outputs = [worker.compute.options(num_returns=count + 1).remote(step) for worker in workers]
    stats = [out[0] for out in outputs]
    reduced = [workers[j].reduce.remote(*stats, *[outputs[i][j + 1] for i in range(count)]) for j in range(count)]
    applied = [worker.apply.remote(*stats, *reduced) for worker in workers]
    return stats, applied


def _merge_metrics(metrics, states) -> dict:
    """Each metric's result from the summed states of the workers (results weighted by count otherwise)."""
    logs = {}
    for index, metric in enumerate(metrics):
        parts = [worker_states[index] for worker_states in states]
        if "result" in parts[0]:
            logs[metric.name] = float(np.mean([p["result"] for p in parts]))
            continue
        metric.reset()
        for key in ADDITIVE_METRIC_STATE:
            values = [p[key] for p in parts if key in p and p[key] is not None]
            if values:
                setattr(metric, key, sum(values[1:], values[0]))
        logs[metric.name] = metric.result()
    return logs


def _training_data(model, x, y, sample_weight, class_weight, validation_split, validation_data):
    """{"x", "y", "w", "start", "stop"} of the training rows, and the same of the validation rows (or None)."""
    from ..models.trainer import _sample_weights
    files = isinstance(x, (str, os.PathLike))
    if not files:
        x, y = model._check_data(x, y, "fit") if hasattr(model, "_check_data") else (np.asarray(x), np.asarray(y))
    elif length(y) != length(x):
        raise ValueError(f"fit: {x} and {y} must hold the same number of samples, got {length(x)} and {length(y)}")
    total = length(x)
    split = int(total * (1 - validation_split)) if validation_split and validation_data is None else total
    if class_weight and files:
        raise ValueError("fit: class_weight needs the labels in memory; with .npy files pass sample_weight")
    if not files:
        weights = _sample_weights(take(y, slice(0, split)), None if sample_weight is None else
                                  np.asarray(sample_weight)[:split], class_weight)
        if weights is not None and split < total:
            weights = np.concatenate([weights, np.ones(total - split)])
    else:
        weights = sample_weight
    model._as_input(take(open_array(x), slice(0, 1)))
    train = {"x": x, "y": y, "w": weights, "start": 0, "stop": split}
    if validation_data is not None:
        xv, yv = validation_data[:2]
        validation = {"x": np.asarray(xv), "y": np.asarray(yv), "w": None, "start": 0, "stop": len(xv)}
    elif split < total:
        validation = {"x": x, "y": y, "w": None, "start": split, "stop": total}
    else:
        validation = None
    return train, validation


def _put(ray, value, stored):
    """Arrays go to the object store once (workers on one machine share them); file names travel as text."""
    if value is None or isinstance(value, (str, os.PathLike, int, float)):
        return value
    if isinstance(value, list):
        return [_put(ray, item, stored) for item in value]
    if id(value) not in stored:
        stored[id(value)] = (value, ray.put(value))        # the array is kept so that its id stays its own
    return stored[id(value)][1]


def _sources(ray, train, workers, sharding, stored):
    """What each worker reads: everything ("batch"), or only its block when the data are arrays ("block")."""
    if sharding == "batch" or isinstance(train["x"], (str, os.PathLike)):
        shared = {k: _put(ray, v, stored) for k, v in train.items()}
        return [shared] * workers
    sources = []
    for rank in range(workers):
        block = part(train["stop"] - train["start"], rank, workers)
        rows = slice(train["start"] + block.start, train["start"] + block.stop)
        sources.append({**{k: _put(ray, take(train[k], rows), stored) for k in ("x", "y", "w")},
                        "start": train["start"], "stop": train["stop"], "base": rows.start})
    return sources
