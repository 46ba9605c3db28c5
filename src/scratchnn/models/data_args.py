"""The Trainer's data arguments: arrays or a stream (a Dataset, a generator), checked, cut into batches.

Data is one array, or (for a model of several inputs or outputs) a list of arrays in the model's order: a
batch of it is ``_rows(data, index)``. ``ArrayFeed`` and ``StreamFeed`` give ``fit`` its batches, epoch by
epoch, as (x, y, sample_weight or None): the first by slicing arrays, the second by reading a Dataset and
checking each batch as the array path checks the whole arrays.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..callbacks import Callback
from ..data import Dataset
from ..validation import check_finite_array


def as_stream(x, y, method, **array_only):
    """x as a batched Dataset when it is a stream (a Dataset, a generator or iterator), else None (arrays).

    ``array_only`` holds the arguments that apply to arrays only (y, batch_size, sample_weight, ...): given
    with a stream, they are a one-line error naming the fix."""
    if isinstance(x, Dataset):
        stream = x
    elif hasattr(x, "__next__"):                            # a generator object: Keras's fit(generator)
        stream = Dataset.from_generator(x)
    else:
        return None
    if y is not None:
        raise ValueError(f"{method}: y was passed with a {_kind(x)}, which yields its own (x, y) batches: drop y, "
                         "or build the Dataset with Dataset.from_arrays(x, y)")
    given = [name for name, value in array_only.items() if value is not None]
    if given:
        raise ValueError(f"{method}: {', '.join(given)} applies to arrays, not to a {_kind(x)}: "
                         f"{_stream_hint(given[0])}")
    if not stream.batched:
        raise ValueError(f"{method} expected a Dataset of batches, got one of single samples: call "
                         ".batch(batch_size) on it first")
    return stream


def _kind(x):
    return "Dataset" if isinstance(x, Dataset) else "generator"


def _stream_hint(name):
    return {"batch_size": "call .batch(batch_size) on the Dataset instead",
            "sample_weight": "yield (x, y, sample_weight) batches instead",
            "validation_split": "pass validation_data=Dataset (or a tuple of arrays) instead"}.get(
                name, f"drop {name}")


def split_element(element, method, with_targets=True):
    """(x, y, w) of one batch of a stream: a tuple (x, y) or (x, y, w); for predict also x alone."""
    if isinstance(element, tuple) and len(element) in (2, 3):
        return element if len(element) == 3 else (*element, None)
    if not with_targets and not isinstance(element, tuple):
        return element, None, None
    if not with_targets and len(element) == 1:
        return element[0], None, None
    got = f"a tuple of {len(element)}" if isinstance(element, tuple) else (
        f"an array of shape {element.shape}" if hasattr(element, "shape") else f"a {type(element).__name__}")
    raise ValueError(f"{method} expected batches (x, y) or (x, y, sample_weight), got {got}: yield a tuple, "
                     "or build the Dataset with Dataset.from_arrays(x, y)")


class ArrayFeed:
    """fit's batches from arrays: plain slices when not shuffling, a new permutation at each pass.

    With ``steps_per_epoch`` (Keras's semantics) an epoch is that many batches, continuing where the last
    epoch stopped and starting a new (reshuffled) pass when one is used up."""

    def __init__(self, x, y, weights, batch_size, shuffle, rng, steps_per_epoch=None):
        self.x, self.y, self.weights, self.batch_size, self.shuffle, self.rng = x, y, weights, batch_size, shuffle, rng
        self.steps_per_epoch = steps_per_epoch
        self.steps = steps_per_epoch or -(-_length(x) // batch_size)
        self.samples = _length(x) if steps_per_epoch is None else None
        self.current = None

    def one_pass(self):
        order = self.rng.permutation(_length(self.x)) if self.shuffle else None     # None: no copies
        for start in range(0, _length(self.x), self.batch_size):
            idx = slice(start, start + self.batch_size) if order is None else order[start:start + self.batch_size]
            yield _rows(self.x, idx), _rows(self.y, idx), None if self.weights is None else self.weights[idx]

    def epoch(self):
        if self.steps_per_epoch is None:
            yield from self.one_pass()
            return
        for _ in range(self.steps_per_epoch):
            batch = None if self.current is None else next(self.current, None)
            if batch is None:
                self.current = self.one_pass()
                batch = next(self.current)
            yield batch

    def close(self):
        self.current = None


class StreamFeed:
    """fit's batches from a batched Dataset, each checked (finite floats, x and y of the same length).

    Without ``steps_per_epoch`` an epoch is one pass. With it, an epoch is that many batches, continuing
    the same pass across epochs; when the pass ends (a finite generator runs out) the epoch ends there and
    the next one starts a new pass. ``close()`` ends the pass in progress (fit calls it however it ends)."""

    def __init__(self, model, stream, method, steps_per_epoch=None, class_weight=None):
        if steps_per_epoch is None and stream.one_shot and stream.cardinality() is None:
            raise ValueError(f"{method}: a generator has no length, so an epoch has no end: pass steps_per_epoch="
                             "(batches per epoch), or give Dataset.from_generator a function that makes the "
                             "generator (each epoch then runs it once)")
        self.model, self.stream, self.method = model, stream, method
        self.steps_per_epoch, self.class_weight = steps_per_epoch, class_weight
        self.steps = steps_per_epoch or stream.cardinality()
        self.samples = None
        self.current = None

    def checked(self, element):
        xb, yb, wb = split_element(element, self.method)
        xb, yb = self.model._check_data(xb, yb, self.method)
        weights = _sample_weights(yb, wb, self.class_weight, self.method)
        return xb, yb, weights

    def epoch(self):
        if self.current is None:
            self.current = iter(self.stream)
        for _ in itertools.count() if self.steps_per_epoch is None else range(self.steps_per_epoch):
            element = next(self.current, _END)
            if element is _END:
                self.current = None                 # the pass is over: the next epoch starts a new one
                return
            yield self.checked(element)

    def close(self):
        if self.current is not None:
            _close(self.current, self.stream)
            self.current = None                     # dropped: a map's or a batch's pass ends with it


_END = object()


def _close(iterator, stream):
    """Stop a pass early (a prefetching thread stops with it); a one-shot generator is left to continue."""
    if not stream.one_shot and hasattr(iterator, "close"):
        iterator.close()


def stream_batches(model, stream, method, steps=None, with_targets=True):
    """(x, y, w) of each batch of a stream for evaluate / predict, checked, at most ``steps`` of them."""
    iterator = iter(stream)
    try:
        for element in itertools.islice(iterator, steps):          # steps None: to the end
            xb, yb, wb = split_element(element, method, with_targets)
            if with_targets:
                xb, yb = model._check_data(xb, yb, method)
            else:
                xb = _finite(model._arrange_inputs(xb, method), method)
            yield xb, yb, wb
    finally:
        _close(iterator, stream)


def _validation_tuple(data):
    """fit's validation_data as (x, y, sample_weight or None): Keras's (x, y) or (x, y, sample_weight); a
    Dataset (or a generator, made one) as it is."""
    if data is None or isinstance(data, Dataset):
        return data
    if hasattr(data, "__next__"):
        return Dataset.from_generator(data)
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        what = f"an array of shape {np.shape(data)}" if hasattr(data, "shape") else (
            f"a {type(data).__name__} of {len(data)}" if isinstance(data, (tuple, list)) else type(data).__name__)
        raise ValueError(f"fit: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight), got "
                         f"{what} (a Dataset of (x, y) batches works too)")
    return (*data, None) if len(data) == 2 else tuple(data)


def _callback_list(callbacks):
    """fit's callbacks as a list: None, one Callback, or an iterable of them."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"fit: callbacks must be a Callback or a list of them, got {type(callbacks).__name__}")
    callbacks = list(callbacks)
    wrong = [type(c).__name__ for c in callbacks if not isinstance(c, Callback)]
    if wrong:
        raise TypeError(f"fit: callbacks must be scratchnn.callbacks.Callback instances, got {', '.join(wrong)}")
    return callbacks


def _length(data) -> int:
    """The number of samples in one array or in a list of arrays (of the same length)."""
    return len(data[0]) if isinstance(data, list) else len(data)


def _rows(data, index):
    """data[index], for one array or for each array of a list."""
    return [a[index] for a in data] if isinstance(data, list) else data[index]


def _finite(data, method):
    if isinstance(data, list):
        return [check_finite_array(a, method) for a in data]
    return check_finite_array(data, method)


def _sample_weights(y, sample_weight, class_weight, method="fit"):
    """Per-sample weights from sample_weight and/or class_weight ({class: weight}); None if neither."""
    from ..labels import class_indices
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(-1)
    if weights is not None and len(weights) != _length(y):
        raise ValueError(f"{method}: sample_weight must have one value per sample ({_length(y)}), got {len(weights)}")
    if class_weight and isinstance(y, list):
        raise ValueError(f"{method}: class_weight applies to a model of one output; with several outputs pass "
                         "sample_weight (one weight per sample)")
    if class_weight:
        labels = class_indices(y, f"{method} (labels for class_weight)")
        per_class = np.array([class_weight.get(int(c), 1.0) for c in labels], dtype=float)
        weights = per_class if weights is None else weights * per_class
    return weights
