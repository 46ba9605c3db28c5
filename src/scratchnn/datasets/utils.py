"""Data utilities: one-hot labels, a seeded (stratified) split, feature scalers and a batch iterator."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..validation import check_number, check_positive_int


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot rows from integer labels: shape y.shape + (num_classes,) (a trailing axis of 1 is dropped).

    >>> to_categorical([0, 2], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    labels = np.asarray(y)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.dtype.kind == "f" and np.any(labels != np.round(labels)):
        raise ValueError("to_categorical expected integer labels, got non-integer floats")
    if labels.dtype.kind not in "iuf" and labels.size:
        raise TypeError(f"to_categorical expected integer labels, got dtype {labels.dtype}")
    labels = labels.astype(np.intp)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical expected labels >= 0, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ValueError(f"to_categorical: label {labels.max()} does not fit num_classes={num_classes}")
    onehot = np.zeros((labels.size, num_classes), dtype=dtype)
    onehot[np.arange(labels.size), labels.reshape(-1)] = 1
    return onehot.reshape(labels.shape + (num_classes,))


def _test_count(n: int, test_size) -> int:
    try:
        if isinstance(test_size, (float, np.floating)):
            fraction = check_number("test_size", test_size, "train_test_split", 0, 1, low_open=True, high_open=True)
            count = int(np.ceil(n * fraction))
        else:
            count = check_positive_int("test_size", test_size, "train_test_split")
    except ValueError:
        raise ValueError(f"train_test_split: test_size must be a float in (0, 1) or a positive int, "
                         f"got {test_size!r}") from None
    if not 0 < count < n:
        raise ValueError(f"train_test_split: test_size={test_size!r} leaves {n - count} of {n} samples for "
                         "training; both parts must be non-empty")
    return count


def _stratified_test_indices(labels, n_test, rng):
    """Test indices drawn per class in proportion to its size (largest remainders fill the rounding gap)."""
    classes, class_of, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quotas = counts * n_test / len(labels)
    take = np.floor(quotas).astype(int)
    shortfall = n_test - take.sum()
    take[np.argsort(take - quotas, kind="stable")[:shortfall]] += 1
    order = rng.permutation(len(labels))
    by_class = order[np.argsort(class_of[order], kind="stable")]
    rank_in_class = np.arange(len(labels)) - np.repeat(np.cumsum(counts) - counts, counts)
    return by_class[rank_in_class < np.repeat(take, counts)]


def train_test_split(*arrays, test_size=0.25, shuffle=True, stratify=None, seed=None):
    """Split arrays into train and test parts -> a_train, a_test, b_train, b_test, ... (scikit-learn's order).

    Args:
        test_size: fraction of the samples (float in (0, 1), rounded up) or their number (int).
        shuffle: draw the test samples at random (else the last ones are the test part).
        stratify: labels (integer or one-hot) whose class proportions both parts keep.
        seed: int or numpy Generator; the same seed gives the same split.
    """
    if not arrays:
        raise ValueError("train_test_split expected at least one array")
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"train_test_split: all arrays need the same length, got {[len(a) for a in arrays]}")
    n_test = _test_count(n, test_size)
    rng = backend.make_rng(seed)
    if stratify is not None:
        if not shuffle:
            raise ValueError("train_test_split: stratify needs shuffle=True")
        labels = np.asarray(stratify)
        labels = labels.argmax(axis=1) if labels.ndim == 2 and labels.shape[1] > 1 else labels.reshape(-1)
        if len(labels) != n:
            raise ValueError(f"train_test_split: stratify has {len(labels)} labels for {n} samples")
        is_test = np.zeros(n, dtype=bool)
        is_test[_stratified_test_indices(labels, n_test, rng)] = True
        order = rng.permutation(n)
        test, train = order[is_test[order]], order[~is_test[order]]
    else:
        order = rng.permutation(n) if shuffle else np.arange(n)
        train, test = order[:n - n_test], order[n - n_test:]
    return [part for a in arrays for part in (a[train], a[test])]


def _float_dtype(x):
    return x.dtype if x.dtype.kind == "f" else backend.floatx()


class _Scaler:
    """fit on the training set, then transform any set the same way; statistics reduce over ``axis``."""

    def __init__(self, axis=0):
        self.axis = axis
        self.fitted = False

    def fit(self, x):
        x = np.asarray(x)
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"{type(self).__name__}.fit expected a non-empty array of samples, got shape {x.shape}")
        self.feature_shape = x.shape[1:]
        self._fit(x, self.axis)
        self.fitted = True
        return self

    def _check(self, x, method):
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__}.{method}: call fit(x_train) first")
        x = np.asarray(x)
        if x.shape[1:] != self.feature_shape:
            raise ValueError(f"{type(self).__name__}.{method} expected samples of shape {self.feature_shape} "
                             f"(as in fit), got {x.shape[1:]}")
        return x

    def fit_transform(self, x):
        return self.fit(x).transform(x)

    def transform(self, x):
        x = self._check(x, "transform")
        dtype = _float_dtype(x)
        return ((x - self.offset_.astype(dtype)) / self.scale_.astype(dtype)).astype(dtype, copy=False)

    def inverse_transform(self, x):
        x = self._check(x, "inverse_transform")
        dtype = _float_dtype(x)
        return (x * self.scale_.astype(dtype) + self.offset_.astype(dtype)).astype(dtype, copy=False)


class Standardizer(_Scaler):
    """(x - mean) / std with the training set's mean and std (per feature for axis=0; axis=None: one
    number for the whole array). A feature of zero spread keeps scale 1, as scikit-learn's StandardScaler."""

    def _fit(self, x, axis):
        self.mean_ = x.mean(axis=axis, dtype=np.float64, keepdims=True)[0]
        std = x.std(axis=axis, dtype=np.float64, keepdims=True)[0]
        self.scale_ = np.where(std > 0, std, 1.0)
        self.offset_ = self.mean_


class MinMaxScaler(_Scaler):
    """Maps the training set's [min, max] onto feature_range (default [0, 1]); a constant feature keeps scale 1."""

    def __init__(self, feature_range=(0.0, 1.0), axis=0):
        low, high = feature_range
        if not low < high:
            raise ValueError(f"MinMaxScaler: feature_range must be (low, high) with low < high, got {feature_range!r}")
        super().__init__(axis)
        self.feature_range = (float(low), float(high))

    def _fit(self, x, axis):
        low, high = self.feature_range
        self.data_min_ = x.min(axis=axis, keepdims=True)[0].astype(np.float64)
        self.data_max_ = x.max(axis=axis, keepdims=True)[0].astype(np.float64)
        spread = self.data_max_ - self.data_min_
        self.scale_ = np.where(spread > 0, spread, 1.0) / (high - low)
        self.offset_ = self.data_min_ - low * self.scale_


class BatchIterator:
    """Mini-batches of aligned arrays; each pass (epoch) draws a new order of the indices.

    Only an index permutation is made per epoch; each batch gathers its rows with ``a[idx]``, so the
    dataset itself is never copied whole. ``len(it)`` is the number of batches per epoch.

    >>> x, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [yb.tolist() for _, yb in BatchIterator(x, y, batch_size=2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, *arrays, batch_size=32, shuffle=True, drop_last=False, seed=None):
        if not arrays:
            raise ValueError("BatchIterator expected at least one array")
        self.arrays = [np.asarray(a) for a in arrays]
        self.n = len(self.arrays[0])
        if any(len(a) != self.n for a in self.arrays):
            raise ValueError(f"BatchIterator: all arrays need the same length, got {[len(a) for a in self.arrays]}")
        self.batch_size = check_positive_int("batch_size", batch_size, "BatchIterator")
        self.shuffle, self.drop_last = shuffle, drop_last
        self.rng = backend.make_rng(seed)

    def __len__(self):
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self):
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = tuple(a[idx] for a in self.arrays)
            yield batch if len(batch) > 1 else batch[0]
