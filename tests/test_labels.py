"""scratchnn.labels.class_indices, the one label decoder: every rule, and every error message."""
import numpy as np
import pytest

from scratchnn.labels import class_indices


def decoded(y, **kwargs):
    labels = class_indices(y, **kwargs)
    assert labels.dtype == np.intp and labels.ndim == 1
    return labels.tolist()


# ---- what a label may be --------------------------------------------------------------------------------
def test_integer_labels_of_shape_n_or_n_1():
    assert decoded([2, 0, 1]) == [2, 0, 1]
    assert decoded(np.array([[2], [0], [1]], dtype=np.uint8)) == [2, 0, 1]
    assert decoded(np.array([3, 1], dtype=np.int64)) == [3, 1]


def test_whole_floats_and_booleans_are_integer_labels():
    assert decoded(np.array([2.0, 0.0, 1.0], dtype=np.float32)) == [2, 0, 1]
    assert decoded([[1.0], [0.0]]) == [1, 0]                         # 0 / 1 floats: labels, not probabilities
    assert decoded(np.array([True, False])) == [1, 0]


def test_rows_of_k_columns_give_the_argmax():
    assert decoded([[0, 0, 1], [1, 0, 0], [0, 1, 0]]) == [2, 0, 1]           # one-hot
    assert decoded([[0.1, 0.9], [0.8, 0.2]]) == [1, 0]                      # probabilities
    assert decoded([[-3.0, 5.0, 2.0], [7.0, -1.0, 7.0]]) == [1, 0]          # logits; a tie takes the first


def test_fractions_in_0_1_are_probabilities_of_class_1():
    assert decoded([0.2, 0.7, 0.5, 0.49]) == [0, 1, 1, 0]                   # >= 0.5 is class 1
    assert decoded(np.array([[0.25], [1.0]], dtype=np.float32)) == [0, 1]
    assert decoded([0.0, 0.5, 1.0]) == [0, 1, 1]


def test_empty_labels():
    assert decoded([]) == []
    assert decoded(np.zeros(0, dtype=int), num_classes=3) == []


def test_num_classes_bounds_every_form():
    assert decoded([0, 2], num_classes=3) == [0, 2]
    assert decoded([[0.1, 0.9]], num_classes=2) == [1]
    assert decoded([0.3, 0.8], num_classes=2) == [0, 1]


# ---- what it refuses, in words that name the argument ------------------------------------------------------
@pytest.mark.parametrize("y, kwargs, message", [
    ([-1, 2], {}, "labels: expected class labels >= 0, got -1"),
    ([-1.0, 2.0], {"name": "y_true"}, "y_true: expected class labels >= 0, got -1"),
    ([0.5, 2.5], {}, r"labels: expected whole class labels >= 0 or probabilities in \[0, 1\], got 0\.5"),
    ([-0.5, 0.3], {}, r"expected whole class labels >= 0 or probabilities in \[0, 1\], got -0\.5"),
    ([1.0, 1.5, 3.0], {"name": "y_pred"}, r"y_pred: expected whole class labels .* got 1\.5"),
    ([0.0, np.nan], {}, "labels: the labels contain NaN or inf"),
    ([1.0, np.inf], {"name": "targets"}, "targets: the labels contain NaN or inf"),
    ([[0.2, np.nan], [0.5, 0.5]], {}, "labels: the scores contain NaN or inf"),
    (["cat", "dog"], {}, "labels: expected class labels, one-hot rows or probabilities, got dtype <U3"),
    (np.array([1, None], dtype=object), {}, "expected class labels, one-hot rows or probabilities, got dtype object"),
    (np.zeros((2, 2, 2)), {}, r"labels: expected shape \(N,\), \(N, 1\) or \(N, K\), got \(2, 2, 2\)"),
    (np.zeros((2, 0)), {}, r"expected shape \(N,\), \(N, 1\) or \(N, K\), got \(2, 0\)"),
    ([0, 5], {"num_classes": 3}, "labels: labels go up to 5 but there are 3 classes"),
    ([[0, 0, 1]], {"num_classes": 2, "name": "y"}, "y: labels go up to 2 but there are 2 classes"),
    ([0.2, 0.9], {"num_classes": 1}, "labels go up to 1 but there are 1 classes"),
])
def test_errors_name_the_argument_what_was_expected_and_what_came(y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        class_indices(y, **kwargs)
