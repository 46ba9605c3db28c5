"""Dataset: arrays, memory-mapped .npy files or generators as a stream of samples or batches (tf.data's names).

An element is what one step of iteration gives: a tuple ``(x, y)`` or ``(x, y, sample_weight)``, or ``x``
alone. ``x`` and ``y`` may each be one array or, for a model of several inputs or outputs, a list (or dict)
of arrays. A tuple always means (x, y[, w]); a list is always one x (or y) of several arrays.

Arrays and .npy files are indexed, never copied whole: ``shuffle`` draws an order of row indices and
``batch`` gathers each batch's rows at once (plain slices when not shuffled), which gives the same elements
as shuffling and stacking the rows one by one, at the cost of one gather per batch.
"""
from __future__ import annotations

import itertools
import os

import numpy as np

from ..validation import check_positive_int
from .prefetch import prefetched

__all__ = ["Dataset"]


class Dataset:
    """A re-iterable stream of samples or batches. Build one with ``from_arrays``, ``from_npy`` or
    ``from_generator``; each transformation returns a new Dataset and leaves this one as it is.

    ``len(dataset)`` is the number of elements of one pass (batches, once batched) where it is known; a
    TypeError otherwise (``cardinality()`` returns None instead). ``batched`` says whether the elements
    are batches, which ``fit``, ``evaluate`` and ``predict`` need.
    """

    def __init__(self, make_iterator, length=None, batched=False, one_shot=False, _rows=None):
        self._make_iterator = make_iterator    # () -> a fresh iterator over one pass
        self._length = length
        self.batched = batched
        self.one_shot = one_shot              # a generator object: each pass continues the same iterator
        self._rows = _rows                    # (element_at(index), number of rows, order) for indexed sources

    # ---- sources -----------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, x, y=None, sample_weight=None) -> Dataset:
        """The rows of arrays, one sample per element: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``.

        x and y may be lists (or dicts) of arrays of the same length, as ``fit`` takes for a model of several
        inputs or outputs. Arrays are used as they are (a ``np.memmap`` stays on disk)."""
        if sample_weight is not None and y is None:
            raise ValueError("Dataset.from_arrays: sample_weight needs y: pass from_arrays(x, y, sample_weight)")
        parts = tuple(p for p in (x, y, sample_weight) if p is not None)
        parts = tuple(_as_arrays(p) for p in parts)
        lengths = {len(a) for part in parts for a in _leaves(part)}
        if len(lengths) != 1:
            raise ValueError(f"Dataset.from_arrays: every array needs the same number of rows, got "
                             f"{' and '.join(str(len(a)) for part in parts for a in _leaves(part))}")
        structure = parts if len(parts) > 1 else parts[0]
        return cls._indexed(lambda index: _map_leaves(lambda a: a[index], structure), lengths.pop())

    @classmethod
    def from_npy(cls, x, y=None, sample_weight=None) -> Dataset:
        """The rows of .npy files, memory-mapped (``np.load(mmap_mode="r")``): nothing is read whole; each
        batch reads its own rows. Each argument is a file name (or a list of them) or an array.

        The file's pages that batches read are the kernel's page cache: they count in the process's
        resident size (RSS) once mapped, but not in its own (anonymous) memory, and the kernel takes them
        back when memory is short."""
        def load(part):
            if isinstance(part, (list, tuple)):
                return [load(p) for p in part]
            if isinstance(part, (str, os.PathLike)):
                return np.load(part, mmap_mode="r", allow_pickle=False)
            return part
        return cls.from_arrays(load(x), None if y is None else load(y),
                               None if sample_weight is None else load(sample_weight))

    @classmethod
    def from_generator(cls, generator, batched=True, length=None) -> Dataset:
        """Elements from Python: ``generator`` is a function called (with no arguments) at the start of each
        pass and returning an iterable, or a generator / iterator object, which runs once: later passes
        continue it where the last one stopped (``fit`` then needs ``steps_per_epoch``).

        Each item is one batch when ``batched`` (the default, as Keras's ``fit(generator)``), else one
        sample (then call ``.batch(n)``). ``length`` is the number of items of one pass, if known."""
        if length is not None:
            length = check_positive_int("length", length, "Dataset.from_generator")
        if callable(generator) and not hasattr(generator, "__next__"):
            def make_iterator():
                items = generator()
                if not hasattr(items, "__iter__"):
                    raise TypeError(f"Dataset.from_generator: the function must return an iterable of "
                                    f"elements, it returned {type(items).__name__}")
                return iter(items)
            return cls(make_iterator, length, batched)
        if not hasattr(generator, "__next__"):
            raise TypeError(f"Dataset.from_generator expected a function returning an iterable, or a generator, "
                            f"got {type(generator).__name__}: for arrays use Dataset.from_arrays(x, y)")
        return cls(lambda: generator, length, batched, one_shot=True)

    @classmethod
    def _indexed(cls, element_at, rows, order=None):
        """A dataset of ``rows`` elements ``element_at(i)``, in ``order()`` (None: 0, 1, 2, ...)."""
        def make_iterator():
            return (element_at(i) for i in (range(rows) if order is None else order()))
        return cls(make_iterator, rows, _rows=(element_at, rows, order))

    # ---- transformations ---------------------------------------------------------------------
    def batch(self, batch_size, drop_remainder=False) -> Dataset:
        """Consecutive elements stacked into batches of ``batch_size`` (the last one smaller unless
        ``drop_remainder``)."""
        batch_size = check_positive_int("batch_size", batch_size, "Dataset.batch")
        if self.batched:
            raise ValueError("Dataset.batch: this dataset already yields batches; call .batch() once")
        length = None if self._length is None else (
            self._length // batch_size if drop_remainder else -(-self._length // batch_size))
        if self._rows is not None:                        # indexed: one gather per batch
            element_at, rows, order = self._rows

            def gathered():
                index = None if order is None else np.fromiter(order(), dtype=np.intp, count=rows)
                stop = rows - rows % batch_size if drop_remainder else rows
                for start in range(0, stop, batch_size):
                    end = min(start + batch_size, rows)
                    yield element_at(slice(start, end) if index is None else index[start:end])
            return Dataset(gathered, length, batched=True)

        def stacked():
            group = []
            for element in self._make_iterator():
                group.append(element)
                if len(group) == batch_size:
                    yield _stack(group)
                    group = []
            if group and not drop_remainder:
                yield _stack(group)
        return Dataset(stacked, length, batched=True, one_shot=self.one_shot)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True) -> Dataset:
        """Elements in random order through a buffer of ``buffer_size`` (tf.data's algorithm: each element
        out is a random one of the buffer, replaced by the next one in). ``buffer_size >= len`` gives a
        uniform permutation. The same ``seed`` gives the same orders; each pass draws a new one unless
        ``reshuffle_each_iteration=False``."""
        buffer_size = check_positive_int("buffer_size", buffer_size, "Dataset.shuffle")
        passes = [0]

        def next_rng():
            rng = np.random.default_rng(None if seed is None else [seed, passes[0]])
            if reshuffle_each_iteration or seed is None:
                passes[0] += 1
            return rng
        if self._rows is not None:                       # indexed: shuffle the row indices only
            element_at, rows, order = self._rows
            indices = (lambda: range(rows)) if order is None else order
            return Dataset._indexed(element_at, rows, lambda: _shuffle_buffer(indices(), buffer_size, next_rng()))
        return Dataset(lambda: _shuffle_buffer(self._make_iterator(), buffer_size, next_rng()), self._length,
                       self.batched, self.one_shot)

    def map(self, fn) -> Dataset:
        """``fn`` applied to each element: ``fn(x, y)`` for a tuple element (its parts as arguments), ``fn(x)``
        otherwise; it returns the new element."""
        if not callable(fn):
            raise TypeError(f"Dataset.map expected a function, got {type(fn).__name__}")

        def apply(element):
            return fn(*element) if isinstance(element, tuple) else fn(element)
        return Dataset(lambda: map(apply, self._make_iterator()), self._length, self.batched, self.one_shot)

    def prefetch(self, buffer_size=2) -> Dataset:
        """Elements produced ahead by a background thread into a queue of ``buffer_size``: the next batch is
        read (from disk, or made by a generator) while the model trains on this one. An exception in the
        thread is raised in the loop that iterates; stopping the loop early stops the thread."""
        buffer_size = check_positive_int("buffer_size", buffer_size, "Dataset.prefetch")
        return Dataset(lambda: prefetched(self._make_iterator, buffer_size, close_source=not self.one_shot),
                       self._length, self.batched, self.one_shot)

    def take(self, count) -> Dataset:
        """The first ``count`` elements of each pass."""
        count = check_positive_int("count", count, "Dataset.take")
        length = count if self._length is None else min(count, self._length)

        def first():
            iterator = self._make_iterator()
            yield from itertools.islice(iterator, count)
            if not self.one_shot and hasattr(iterator, "close"):
                iterator.close()                          # stop a prefetching thread below at once
        return Dataset(first, length, self.batched, self.one_shot)

    # ---- iteration ---------------------------------------------------------------------------
    def __iter__(self):
        return iter(self._make_iterator())

    def cardinality(self) -> int | None:
        """The number of elements of one pass, or None when it is not known (a generator)."""
        return self._length

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("this Dataset's length is not known (a generator without length=): "
                            "use cardinality(), which returns None")
        return self._length

    def __repr__(self) -> str:
        kind = "batches" if self.batched else "samples"
        return f"Dataset({self._length if self._length is not None else 'unknown number of'} {kind})"


def _shuffle_buffer(iterable, buffer_size, rng):
    """tf.data's shuffle buffer: out goes a random element of the buffer, in comes the next one."""
    buffer, picks = [], iter(())
    for element in iterable:
        if len(buffer) < buffer_size:
            buffer.append(element)
            continue
        pick = next(picks, None)
        if pick is None:                                  # random slots drawn 1024 at a time
            picks = iter(rng.integers(0, buffer_size, size=1024).tolist())
            pick = next(picks)
        buffer[pick], element = element, buffer[pick]
        yield element
    for index in rng.permutation(len(buffer)).tolist():
        yield buffer[index]


def _as_arrays(part):
    if isinstance(part, dict):
        return {key: _as_array(value) for key, value in part.items()}
    if isinstance(part, (list, tuple)):
        return [_as_array(value) for value in part]
    return _as_array(part)


def _as_array(value):
    return value if isinstance(value, np.ndarray) else np.asarray(value)


def _leaves(structure):
    if isinstance(structure, dict):
        return [a for value in structure.values() for a in _leaves(value)]
    if isinstance(structure, (list, tuple)):
        return [a for value in structure for a in _leaves(value)]
    return [structure]


def _map_leaves(fn, structure):
    if isinstance(structure, dict):
        return {key: _map_leaves(fn, value) for key, value in structure.items()}
    if isinstance(structure, tuple):
        return tuple(_map_leaves(fn, value) for value in structure)
    if isinstance(structure, list):
        return [_map_leaves(fn, value) for value in structure]
    return fn(structure)


def _stack(elements):
    """Elements of the same structure as one element of stacked arrays."""
    first = elements[0]
    if isinstance(first, dict):
        return {key: _stack([e[key] for e in elements]) for key in first}
    if isinstance(first, (list, tuple)):
        if any(not isinstance(e, type(first)) or len(e) != len(first) for e in elements):
            raise ValueError(f"Dataset.batch: every element needs the structure of the first, a "
                             f"{type(first).__name__} of {len(first)}")
        return type(first)(_stack([e[k] for e in elements]) for k in range(len(first)))
    return np.stack([np.asarray(e) for e in elements])
