"""One data-parallel worker: a Ray actor that holds a copy of the model and its share of the data.

A step is three actor calls that the driver chains without waiting (Ray runs an actor's calls in order and
starts one when the objects it takes exist):

1. ``compute(step)``: the worker's part of the global batch through the Trainer's seam
   (``compute_gradients``), the flat gradient times its sample count, cut into W chunks. Returns W + 1
   objects: (loss sum, count) and the chunks.
2. ``reduce(counts..., chunk j of every worker)`` on worker j: the reduced chunk (reduce.py).
3. ``apply(counts..., every reduced chunk)``: the same gradient on every worker, so the same
   ``apply_gradients`` update; a global loss that is not finite changes no weight and stops the worker, as
   ``Trainer.fit`` stops.

Dropout: during ``compute`` every layer draws from a generator made from (seed, rank, epoch, step), so
workers drop different units, a rerun drops the same ones, and a run restarted from a checkpoint drops
the same ones as an uninterrupted run. The model's own generator draws only the epoch's order, the same on
every worker.
"""
from __future__ import annotations

import copy
import io
import os
import tempfile
import time

import numpy as np

from .cluster import blas_threads, limit_threads
from .data import Plan, count_rows, open_array, take
from .reduce import chunks, flatten, reduce_chunk, unflatten

ADDITIVE_METRIC_STATE = ("total", "count", "matrix")     # what MeanMetric and ConfusionMetric accumulate


def load_model_bytes(blob: bytes):
    """A model from a model file's bytes (written to a temporary file: the loader reads regular files only)."""
    from ..saving import load_model
    handle, path = tempfile.mkstemp(suffix=".snn", prefix="scratchnn-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(blob)
        return load_model(path)
    finally:
        os.unlink(path)


def model_bytes(model) -> bytes:
    from ..saving import save_model
    stream = io.BytesIO()
    save_model(model, stream)
    return stream.getvalue()


class Worker:
    """Rank ``rank`` of ``workers``; ``model`` is the driver's model (pickled by Ray) or a model file's bytes."""

    def __init__(self, rank, workers, model, train, options):
        self.threads = limit_threads(options["cpus"])
        self.rank, self.workers, self.options = rank, workers, options
        # a model from the object store has read-only arrays: a deep copy makes them the worker's own
        self.model = load_model_bytes(model) if isinstance(model, bytes) else copy.deepcopy(model)
        self.x, self.y, self.w = (open_array(train[key]) for key in ("x", "y", "w"))
        self.plan = Plan(rank, workers, train["start"], train["stop"], options["batch_size"],
                         options["sharding"], train.get("base", 0))
        self.shapes = [p.shape for p, _ in self.model.parameters()]
        self.dtype = self.model.dtype
        self.metrics = self.model._make_metrics()
        self.epoch, self.stopped = 0, False
        self.fail_at = options.get("fail_at")             # (rank, epoch, step): raise there (tests only)

    # ---- facts the driver and the tests ask for ---------------------------------------------------------
    def info(self) -> dict:
        return {"pid": os.getpid(), "rank": self.rank, "threads": self.threads, "blas_threads": blas_threads(),
                "cpu_seconds": time.process_time(),
                "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}

    # ---- one epoch ---------------------------------------------------------------------------------------
    def begin_epoch(self, epoch: int) -> int:
        self.epoch = epoch
        self.plan.begin_epoch(self.options["shuffle"], self.model.rng, self.options["seed"], epoch)
        for metric in self.metrics:
            metric.reset()
        return self.plan.steps

    def _local(self, step: int):
        """(loss * n, n, n * flat gradient) for this worker's part of global batch ``step``."""
        rows = self.plan.rows(step)
        count = 0 if self.stopped else count_rows(rows)
        if self.fail_at == (self.rank, self.epoch, step):
            raise RuntimeError(f"worker {self.rank} failed on purpose at epoch {self.epoch + 1}, step {step + 1}")
        if count == 0:
            return 0.0, 0, np.zeros(sum(int(np.prod(s, dtype=np.int64)) for s in self.shapes), self.dtype)
        xb, yb, wb = take(self.x, rows), take(self.y, rows), take(self.w, rows)
        model = self.model
        draws = np.random.default_rng([self.options["seed"], self.rank, self.epoch, step])
        shared = [layer for layer in model.layers if getattr(layer, "rng", None) is model.rng]
        for layer in shared:
            layer.rng = draws
        try:
            loss, grads, y_pred = self._gradients(xb, yb, wb)
        finally:
            for layer in shared:
                layer.rng = model.rng
        for metric in self.metrics:
            metric.update(yb, y_pred, wb)
        return float(loss) * count, count, flatten(grads, count, self.dtype)

    def compute(self, step: int):
        """(loss * n, n) and the W chunks of n * gradient (object-store reduce: the driver chains the rest)."""
        loss_sum, count, flat = self._local(step)
        return ((loss_sum, count), *chunks(flat, self.workers))

    # ---- the collective reduce: one call per step -----------------------------------------------------------
    def join_group(self, name: str) -> None:
        """Join the gloo group ``name`` of ray.util.collective (needs torch: the gloo library comes with it)."""
        import ray.util.collective as collective
        collective.init_collective_group(self.workers, self.rank, backend="gloo", group_name=name)
        self.group = name

    def step(self, step: int):
        """compute, all-reduce (gloo's ring, in place) and apply in one call -> (loss * n, n) of the batch."""
        import ray.util.collective as collective
        loss_sum, count, flat = self._local(step)
        stats = np.array([loss_sum, count], dtype=np.float64)
        collective.allreduce(stats, group_name=self.group)
        collective.allreduce(flat, group_name=self.group)
        total_loss, total = float(stats[0]), int(round(stats[1]))
        if not self.stopped and total > 0:
            if np.isfinite(total_loss / total):
                flat /= flat.dtype.type(total)
                self.model.apply_gradients(unflatten(flat, self.shapes))
            else:
                self.stopped = True
        return loss_sum, count

    def _gradients(self, xb, yb, wb):
        """compute_gradients, and the outputs for the training metrics when there are any."""
        if self.metrics:
            return self.model._forward_backward(xb, yb, wb)
        loss, grads = self.model.compute_gradients(xb, yb, wb)
        return loss, grads, None

    def reduce(self, *args):
        """args: the W (loss sum, count) pairs, then chunk ``rank`` of every worker -> the reduced chunk."""
        stats, pieces = args[:self.workers], args[self.workers:]
        return reduce_chunk([count for _, count in stats], pieces)

    def apply(self, *args) -> bool:
        """args: the W (loss sum, count) pairs, then the W reduced chunks. Returns whether it stepped."""
        stats, pieces = args[:self.workers], args[self.workers:]
        count = sum(n for _, n in stats)
        if self.stopped or count == 0:
            return False
        loss = sum(total for total, _ in stats) / count
        if not np.isfinite(loss):
            self.stopped = True
            return False
        self.model.apply_gradients(unflatten(np.concatenate(pieces), self.shapes))
        return True

    # ---- the end of an epoch -----------------------------------------------------------------------------
    def metric_states(self) -> list:
        """Each training metric's additive state (sums, counts, confusion matrix), or its result and count."""
        states = []
        for metric in self.metrics:
            state = {k: v for k, v in vars(metric).items() if k in ADDITIVE_METRIC_STATE}
            states.append(state or {"result": metric.result()})
        return states

    def buffers(self) -> list:
        """Every float buffer (BatchNormalization's moving statistics), in layer order."""
        return [b for layer in self.model.unique_layers() for b in layer.buffers.values()]

    def set_buffers(self, values) -> None:
        for target, value in zip(self.buffers(), values):
            target[...] = value

    def set_learning_rate(self, rate) -> None:
        self.model.optimizer.learning_rate = rate

    def evaluate(self, validation, batch_size) -> dict:
        x, y, w = (open_array(validation[key]) for key in ("x", "y", "w"))
        rows = slice(validation["start"], validation["stop"])
        return self.model.evaluate(take(x, rows), take(y, rows), batch_size=batch_size,
                                   sample_weight=take(w, rows))

    def snapshot(self) -> bytes:
        """The model file (weights, buffers, optimizer state, generator) as bytes."""
        return model_bytes(self.model)
