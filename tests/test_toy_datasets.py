"""The toy datasets: the seeds' tables exactly, and the point clouds against scikit-learn's definitions."""
import numpy as np
import pytest

from conftest import require
from scratchnn import datasets


def test_gender_is_the_seed_table():
    x, y = datasets.gender()
    assert x.dtype == y.dtype == np.float32
    assert x.tolist() == [[-2, -1], [25, 6], [17, 4], [-15, -6]] and y.tolist() == [1, 0, 0, 1]
    raw, _ = datasets.gender(shift=False, dtype="float64")
    assert raw.dtype == np.float64 and raw.tolist() == [[133, 65], [160, 72], [152, 70], [120, 60]]


def test_exam_scores_scaled_as_the_seed():
    x, y = datasets.exam_scores(dtype="float64")
    np.testing.assert_array_equal(x, [[2 / 3, 1], [1 / 3, 5 / 9], [1, 6 / 9]])
    np.testing.assert_array_equal(y, [[0.92], [0.86], [0.89]])
    raw_x, raw_y = datasets.exam_scores(scaled=False)
    assert raw_x.dtype == np.float32 and raw_x.tolist() == [[2, 9], [1, 5], [3, 6]]
    assert raw_y.tolist() == [[92], [86], [89]]


def test_xor_cases():
    x, y = datasets.xor()
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [[0], [1], [1], [0]]
    assert datasets.xor("float64")[0].dtype == np.float64


@pytest.mark.parametrize("n_samples", [7, 100])
def test_make_moons_matches_scikit_learn_without_noise(n_samples):
    sklearn_datasets = require("sklearn.datasets")
    expected_x, expected_y = sklearn_datasets.make_moons(n_samples, shuffle=False, noise=0.0)
    x, y = datasets.make_moons(n_samples, shuffle=False, dtype="float64")
    np.testing.assert_allclose(x, expected_x, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(y, expected_y)


def test_make_moons_noise_shuffle_and_seed():
    clean, _ = datasets.make_moons(4000, shuffle=False, dtype="float64")
    noisy, _ = datasets.make_moons(4000, noise=0.1, shuffle=False, seed=0, dtype="float64")
    np.testing.assert_allclose((noisy - clean).std(), 0.1, rtol=0.03)
    x, y = datasets.make_moons(50, noise=0.05, seed=3)
    x_again, y_again = datasets.make_moons(50, noise=0.05, seed=3)
    assert x.dtype == np.float32 and np.array_equal(x, x_again) and np.array_equal(y, y_again)
    assert np.bincount(y).tolist() == [25, 25] and y[:25].tolist() != [0] * 25
    assert not np.array_equal(x, datasets.make_moons(50, noise=0.05, seed=4)[0])


def test_make_blobs_counts_centers_and_spread():
    sklearn_datasets = require("sklearn.datasets")
    _, expected_y = sklearn_datasets.make_blobs(10, centers=3, random_state=0)
    _, y = datasets.make_blobs(10, centers=3, seed=0)
    assert np.bincount(y).tolist() == np.bincount(expected_y).tolist() == [4, 3, 3]
    x, y, centers = datasets.make_blobs(3000, centers=3, n_features=4, cluster_std=0.5, seed=1,
                                        return_centers=True, dtype="float64")
    assert x.shape == (3000, 4) and centers.shape == (3, 4) and np.all(np.abs(centers) <= 10)
    for k in range(3):
        np.testing.assert_allclose(x[y == k].mean(axis=0), centers[k], atol=5 * 0.5 / np.sqrt(1000))
        np.testing.assert_allclose(x[y == k].std(axis=0), 0.5, rtol=0.1)
    fixed, labels = datasets.make_blobs(4, centers=[[0.0, 0.0], [5.0, 5.0]], cluster_std=1e-9, shuffle=False)
    np.testing.assert_allclose(fixed, [[0, 0], [0, 0], [5, 5], [5, 5]], atol=1e-6)
    assert labels.tolist() == [0, 0, 1, 1]


def test_make_spirals_arms():
    x, y = datasets.make_spirals(300, n_classes=3, noise=0.0, dtype="float64")
    assert x.shape == (300, 2) and np.bincount(y).tolist() == [100, 100, 100]
    np.testing.assert_allclose(np.hypot(x[:, 0], x[:, 1]), np.tile(np.linspace(0, 1, 100), 3), atol=1e-15)
    np.testing.assert_allclose(x[99], [np.sin(4.0), np.cos(4.0)], rtol=1e-15)
    noisy, _ = datasets.make_spirals(30, n_classes=2, seed=1)
    assert noisy.dtype == np.float32 and np.array_equal(noisy, datasets.make_spirals(30, n_classes=2, seed=1)[0])


def test_point_cloud_errors():
    with pytest.raises(ValueError, match=r"make_spirals: n_classes must be an integer >= 2, got 1"):
        datasets.make_spirals(10, n_classes=1)
    with pytest.raises(ValueError, match=r"make_spirals: n_samples must be an integer >= 3, got 2"):
        datasets.make_spirals(2, n_classes=3)
    with pytest.raises(ValueError, match=r"make_moons: n_samples must be an integer >= 2, got 1"):
        datasets.make_moons(1)
    with pytest.raises(ValueError, match=r"centers must be a positive count or an array of shape \(k, n_features\)"):
        datasets.make_blobs(10, centers=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"dtype must be one of \('float32', 'float64'\), got 'int64'"):
        datasets.gender(dtype="int64")
