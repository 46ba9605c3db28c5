"""Toy datasets: the seeds' tables (gender, exam scores, XOR) and seeded 2-D point clouds (spirals, moons, blobs)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..validation import check_int, check_positive_int

GENDER_NAMES = ("Alice", "Bob", "Charlie", "Diana")
GENDER_SHIFT = (135.0, 66.0)


def gender(shift=True, dtype=None):
    """Seed 000's four people: x = (weight lb, height in), y = 1 for female, 0 for male.

    With shift=True (default) the weights are minus 135 and the heights minus 66, as in the seed:
    Alice (-2, -1) 1, Bob (25, 6) 0, Charlie (17, 4) 0, Diana (-15, -6) 1. Rows follow GENDER_NAMES.
    Returns x of shape (4, 2) and y of shape (4,), both of ``dtype`` (default floatx()).
    """
    dtype = backend.as_dtype(dtype)
    x = np.array([[133, 65], [160, 72], [152, 70], [120, 60]], dtype=dtype)
    if shift:
        x -= np.array(GENDER_SHIFT, dtype=dtype)
    return x, np.array([1, 0, 0, 1], dtype=dtype)


def exam_scores(scaled=True, dtype=None):
    """Seed 002's table: x = (hours studied, hours slept), y = test score.

    Raw: x = [[2, 9], [1, 5], [3, 6]], y = [[92], [86], [89]]. With scaled=True (default) x is divided by
    its column maxima (3, 9) and y by 100, as the seed does. Returns x (3, 2) and y (3, 1).
    """
    dtype = backend.as_dtype(dtype)
    x = np.array([[2, 9], [1, 5], [3, 6]], dtype=dtype)
    y = np.array([[92], [86], [89]], dtype=dtype)
    if scaled:
        return x / x.max(axis=0), y / dtype.type(100)
    return x, y


def xor(dtype=None):
    """The four XOR cases: x (4, 2) = [[0, 0], [0, 1], [1, 0], [1, 1]], y (4, 1) = [[0], [1], [1], [0]]."""
    dtype = backend.as_dtype(dtype)
    return (np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype),
            np.array([[0], [1], [1], [0]], dtype=dtype))


def make_spirals(n_samples=300, n_classes=3, noise=0.2, seed=None, dtype=None):
    """Interleaved spiral arms (the CS231n toy set), one arm per class, ``n_samples // n_classes`` points each.

    Arm k: radius r in linspace(0, 1), angle t = linspace(4k, 4(k + 1)) + noise * N(0, 1); point
    (r sin t, r cos t). Returns x (n, 2) of ``dtype`` and integer labels y (n,), n = per-arm count * n_classes.
    """
    n_classes = check_int("n_classes", n_classes, "make_spirals", 2)
    per_class = check_int("n_samples", n_samples, "make_spirals", n_classes) // n_classes
    rng = backend.make_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, per_class), n_classes)
    starts = np.repeat(np.arange(n_classes) * 4.0, per_class)
    angle = starts + np.tile(np.linspace(0.0, 4.0, per_class), n_classes) + noise * rng.standard_normal(radius.size)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return x.astype(backend.as_dtype(dtype)), np.repeat(np.arange(n_classes), per_class)


def make_moons(n_samples=100, noise=0.0, shuffle=True, seed=None, dtype=None):
    """Two interleaving half circles, as scikit-learn's make_moons (same points before noise and shuffling).

    Upper moon (label 0): (cos t, sin t) for n_samples // 2 angles t in [0, pi]; lower moon (label 1):
    (1 - cos t, 0.5 - sin t) for the rest. Gaussian noise of standard deviation ``noise`` is added.
    Returns x (n_samples, 2) of ``dtype`` and integer labels y (n_samples,).
    """
    n_samples = check_int("n_samples", n_samples, "make_moons", 2)
    rng = backend.make_rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer, inner = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    x = np.stack([np.concatenate([np.cos(outer), 1 - np.cos(inner)]),
                  np.concatenate([np.sin(outer), 1 - np.sin(inner) - 0.5])], axis=1)
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    if shuffle:
        order = rng.permutation(n_samples)
        x, y = x[order], y[order]
    if noise:
        x = x + noise * rng.standard_normal(x.shape)
    return x.astype(backend.as_dtype(dtype)), y


def make_blobs(n_samples=100, centers=3, n_features=2, cluster_std=1.0, center_box=(-10.0, 10.0),
               shuffle=True, return_centers=False, seed=None, dtype=None):
    """Gaussian clusters, as scikit-learn's make_blobs: x (n_samples, n_features), integer labels y (n_samples,).

    ``centers`` is a count (drawn uniformly in center_box) or an array (k, n_features). Cluster i gets
    n_samples // k points, the first n_samples % k clusters one more; each point is its center plus
    cluster_std * N(0, 1). With return_centers=True the (k, n_features) centers come third.
    """
    n_samples = check_positive_int("n_samples", n_samples, "make_blobs")
    rng = backend.make_rng(seed)
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        n_features = check_positive_int("n_features", n_features, "make_blobs")
        count = check_positive_int("centers", centers, "make_blobs")
        centers = rng.uniform(center_box[0], center_box[1], size=(count, n_features))
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or len(centers) == 0:
        raise ValueError(f"make_blobs: centers must be a positive count or an array of shape (k, n_features), "
                         f"got shape {centers.shape}")
    k = len(centers)
    counts = np.full(k, n_samples // k)
    counts[:n_samples % k] += 1
    y = np.repeat(np.arange(k), counts)
    x = centers[y] + cluster_std * rng.standard_normal((n_samples, centers.shape[1]))
    if shuffle:
        order = rng.permutation(n_samples)
        x, y = x[order], y[order]
    x = x.astype(backend.as_dtype(dtype))
    return (x, y, centers) if return_centers else (x, y)
