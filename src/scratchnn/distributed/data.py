"""What each worker reads, and which of its rows make its part of every global batch.

Data comes as arrays (the driver puts them in Ray's object store once; workers on the driver's machine read
them from shared memory without a copy) or as ``.npy`` file names (each worker opens the file itself with
``numpy.load(path, mmap_mode="r")`` and touches only the rows it trains on: the files must be readable by
every worker, e.g. on a shared disk).

Two ways of splitting the samples (``RayStrategy(sharding=...)``):

- ``"batch"`` (default): every epoch has one global order (the model's generator, as ``Trainer.fit``
  draws it), the global batch ``order[s*B:(s+1)*B]`` is cut into ``num_workers`` contiguous parts and
  worker ``r`` computes part ``r``. Each worker may read any row, so the run equals one process with batch
  B (the equivalence the tests check).
- ``"block"``: worker ``r`` owns the contiguous rows ``[n*r/W, n*(r+1)/W)`` and never reads another's; it
  shuffles its block each epoch with its own generator (from the seed, the epoch and its rank) and splits it
  into the epoch's ``ceil(n/B)`` steps. Every sample is seen once per epoch, data need not fit on any one
  machine, but batches mix only rows of one block per worker.
"""
from __future__ import annotations

import os

import numpy as np

SHARDINGS = ("batch", "block")


def part(count: int, index: int, parts: int) -> slice:
    """The index-th of ``parts`` contiguous near-equal pieces of range(count) (sizes differ by at most one)."""
    return slice(count * index // parts, count * (index + 1) // parts)


def _is_path(value) -> bool:
    return isinstance(value, (str, os.PathLike))


def file_length(path) -> int:
    """Rows of a .npy file, from its header (the file is memory-mapped, not read)."""
    return len(np.load(path, mmap_mode="r"))


def open_array(spec):
    """The array a worker reads: a memory-mapped .npy file, an object-store reference, or the array itself."""
    if spec is None:
        return None
    if isinstance(spec, list):
        return [open_array(item) for item in spec]
    if _is_path(spec):
        return np.load(spec, mmap_mode="r")
    if type(spec).__name__ == "ObjectRef":
        import ray
        return ray.get(spec)
    return spec


def take(data, index):
    """data[index] for one array or each array of a list (a memory-mapped file gives an in-memory copy)."""
    if data is None:
        return None
    if isinstance(data, list):
        return [take(item, index) for item in data]
    return np.asarray(data[index])


def length(data) -> int:
    if isinstance(data, list):
        return length(data[0])
    return file_length(data) if _is_path(data) else len(data)


class Plan:
    """The rows worker ``rank`` trains on at each step of an epoch (absolute row numbers of its source).

    ``start``/``stop`` bound the rows of the training set in the source (a file with a held-out tail has
    stop < its length); ``steps`` is the same for every worker: ceil(n / batch_size). ``base`` is the row
    of the training set that the worker's source begins with (a worker given only its block holds it from 0).
    """

    def __init__(self, rank, workers, start, stop, batch_size, sharding, base=0):
        self.rank, self.workers, self.batch_size, self.sharding = rank, workers, batch_size, sharding
        self.start, self.stop, self.base = start - base, stop - base, base
        self.count = stop - start
        self.steps = -(-self.count // batch_size)
        self.order = None
        block = part(self.count, rank, workers)
        self.block = slice(self.start + block.start, self.start + block.stop)

    def begin_epoch(self, shuffle, model_rng, block_seed, epoch):
        """Draw the epoch's order: the model's generator for "batch" (the same draw on every worker, as
        Trainer.fit), a generator of (seed, epoch, rank) for "block"."""
        if self.sharding == "batch":
            self.order = model_rng.permutation(self.count) if shuffle else None
        else:
            size = self.block.stop - self.block.start
            rng = np.random.default_rng([block_seed, epoch, self.rank])
            self.order = rng.permutation(size) if shuffle else None

    def rows(self, step):
        """Absolute rows of this worker's part of global batch ``step``: an array (shuffled) or a slice."""
        if self.sharding == "batch":
            batch = slice(step * self.batch_size, min((step + 1) * self.batch_size, self.count))
            mine = part(batch.stop - batch.start, self.rank, self.workers)
            lo, hi = batch.start + mine.start, batch.start + mine.stop
            return slice(self.start + lo, self.start + hi) if self.order is None else self.start + self.order[lo:hi]
        size = self.block.stop - self.block.start
        mine = part(size, step, self.steps)
        if self.order is None:
            return slice(self.block.start + mine.start, self.block.start + mine.stop)
        return self.block.start + self.order[mine]


def count_rows(rows) -> int:
    return rows.stop - rows.start if isinstance(rows, slice) else len(rows)
