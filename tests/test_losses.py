"""Losses: the array module comes from the predictions (a second namespace runs the same math, with no direct
NumPy call), the stable functions come from backend.special, and integer labels are read by class_indices."""
import warnings

import numpy as np
import pytest

import strict_namespace
from scratchnn import losses

LOSSES = {
    "mse": (losses.MeanSquaredError, lambda r: r.standard_normal((6, 3)), lambda r: r.standard_normal((6, 3))),
    "mae": (losses.MeanAbsoluteError, lambda r: r.standard_normal((6, 3)), lambda r: r.standard_normal((6, 3))),
    "bce": (losses.BinaryCrossentropy, lambda r: r.uniform(0.05, 0.95, (6, 2)),
            lambda r: r.integers(0, 2, (6, 2)).astype(float)),
    "bce_logits": (lambda: losses.BinaryCrossentropy(from_logits=True), lambda r: 3 * r.standard_normal((6, 1)),
                   lambda r: r.integers(0, 2, 6).astype(float)),
    "cce": (losses.CategoricalCrossentropy, lambda r: r.dirichlet(np.ones(4), 6), lambda r: r.integers(0, 4, 6)),
    "cce_logits": (lambda: losses.CategoricalCrossentropy(from_logits=True), lambda r: r.standard_normal((6, 4)),
                   lambda r: r.integers(0, 4, (6, 1))),
    "cce_logits_onehot": (lambda: losses.CategoricalCrossentropy(from_logits=True),
                          lambda r: r.standard_normal((6, 4)), lambda r: np.eye(4)[r.integers(0, 4, 6)]),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_second_array_namespace_gives_the_same_loss_and_gradient(name, rng):
    make, pred, true = LOSSES[name]
    y_pred, y_true, weights = pred(rng), true(rng), rng.uniform(0.5, 2.0, 6)
    plain = make()
    expected = plain.forward(y_pred, y_true, weights), plain.backward()
    strict = make()
    got_loss = strict.forward(strict_namespace.as_strict(y_pred), strict_namespace.as_strict(y_true), weights)
    got_grad = strict.backward()
    assert isinstance(got_grad, strict_namespace.StrictArray)
    assert got_loss == pytest.approx(expected[0], rel=1e-12)
    np.testing.assert_allclose(strict_namespace.to_plain(got_grad), expected[1], rtol=1e-12)


def test_crossentropy_from_logits_is_exact_at_logits_of_plus_and_minus_1000():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        binary = losses.BinaryCrossentropy(from_logits=True)
        assert binary.forward(np.array([[-1000.0], [1000.0]]), np.array([1.0, 0.0])) == pytest.approx(1000.0)
        np.testing.assert_array_equal(binary.backward(), [[-0.5], [0.5]])       # (sigmoid(z) - y) / N
        categorical = losses.CategoricalCrossentropy(from_logits=True)
        assert categorical.forward(np.array([[1000.0, -1000.0]]), np.array([1])) == pytest.approx(2000.0)
        np.testing.assert_array_equal(categorical.backward(), [[1.0, -1.0]])


def test_sparse_labels_follow_class_indices_and_fractions_are_refused():
    loss = losses.CategoricalCrossentropy(from_logits=True)
    logits = np.zeros((3, 3))
    for labels in ([2, 0, 1], [[2], [0], [1]], np.array([2.0, 0.0, 1.0]), np.array([2, 0, 1], dtype=np.uint8)):
        loss.forward(logits, np.asarray(labels))
        np.testing.assert_array_equal(loss.y, np.eye(3)[[2, 0, 1]])
    with pytest.raises(ValueError, match=r"expected integer labels of shape \(N,\) or one-hot targets"):
        loss.forward(logits, np.array([0.2, 0.7, 0.9]))                 # a soft target would be rounded: refused
    with pytest.raises(ValueError, match=r"expected labels in \[0, 3\), got labels in \[-1, 2\]"):
        loss.forward(logits, np.array([-1, 0, 2]))
    with pytest.raises(ValueError, match=r"integer labels of shape \(N,\) or one-hot .* got <U1 array of shape"):
        loss.forward(logits, np.array(["a", "b", "c"]))
