"""Regularizers: Keras's penalties, their gradients, a whole model's gradient check with them, configs, errors."""
import json

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers, optim, regularizers

TOL = 1e-7


def test_penalties_are_keras_definitions():
    weights = np.array([[1.5, -2.0], [0.0, 0.5]])
    assert regularizers.L1(0.1)(weights) == pytest.approx(0.1 * 4.0, abs=1e-15)
    assert regularizers.L2(0.1)(weights) == pytest.approx(0.1 * 6.5, abs=1e-15)
    assert regularizers.L1L2(0.1, 0.2)(weights) == pytest.approx(0.4 + 1.3, abs=1e-15)
    np.testing.assert_array_equal(regularizers.L1L2(0.1, 0.2).gradient(weights),
                                  0.1 * np.sign(weights) + 0.4 * weights)
    assert regularizers.get("l1").l1 == 0.01 and regularizers.get("l2").l2 == 0.01
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.0, "l2": 0.0}


@pytest.mark.parametrize("regularizer", [regularizers.L1(0.3), regularizers.L2(0.7), regularizers.L1L2(0.2, 0.05)])
def test_gradient_matches_central_differences(regularizer, rng):
    weights = rng.standard_normal((4, 3))
    weights[np.abs(weights) < 1e-3] = 0.5                          # away from the kink of |w|
    numeric = gradcheck.numerical_gradient(lambda: regularizer(weights), weights)
    assert gradcheck.relative_error(regularizer.gradient(weights), numeric) <= TOL


def test_gradient_keeps_float32():
    weights = np.ones((3, 2), dtype=np.float32)
    assert regularizers.L1L2(0.1, 0.1).gradient(weights).dtype == np.float32


def regularized_model(regularizer, seed=0):
    model = snn.Sequential([
        layers.Dense(6, activation="tanh", kernel_regularizer=regularizer),
        layers.Dense(3, kernel_regularizer=regularizer),
    ], input_shape=(4,), seed=seed, dtype="float64")
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer="sgd")
    return model


def test_model_gradients_include_the_penalties(rng):
    x, y = rng.standard_normal((8, 4)), rng.integers(0, 3, size=8)
    model = regularized_model(regularizers.L1L2(l1=0.01, l2=0.02))
    assert model.regularization_loss() > 0.05
    gradcheck.assert_gradients_close(gradcheck.check_model(model, x, y), TOL)
    with_penalty = [g.copy() for _, g in model.parameters()]
    plain = regularized_model(None)
    gradcheck.check_model(plain, x, y)
    kernel_shift = max(np.abs(a - b).max() for a, b in zip(with_penalty, [g for _, g in plain.parameters()]))
    assert kernel_shift > 1e-3                                     # the penalty really changed the gradient


def test_l2_training_shrinks_the_kernels(rng):
    x, y = rng.standard_normal((64, 4)), rng.integers(0, 3, size=64)
    norms = {}
    for name, regularizer in (("none", None), ("l2", regularizers.L2(0.05))):
        model = regularized_model(regularizer, seed=1)
        model.optimizer = optim.SGD(0.1)
        model.fit(x, y, epochs=30, batch_size=16, verbose=0)
        norms[name] = float(np.linalg.norm(model.layers[0].params["kernel"]))
    assert norms["l2"] < 0.8 * norms["none"]


@pytest.mark.parametrize("regularizer", [regularizers.L1(0.3), regularizers.L2(0.7), regularizers.L1L2(0.2, 0.05)])
def test_serialize_round_trip(regularizer):
    rebuilt = regularizers.deserialize(json.loads(json.dumps(regularizers.serialize(regularizer))))
    assert type(rebuilt) is type(regularizer) and rebuilt.get_config() == regularizer.get_config()
    assert regularizers.get(regularizers.serialize(regularizer)).get_config() == regularizer.get_config()


@pytest.mark.parametrize("make, message", [
    (lambda: regularizers.L1L2(l1=-0.1), r"L1L2: l1 must be a number >= 0, got -0\.1"),
    (lambda: regularizers.L2("big"), r"L2: l2 must be a number >= 0, got 'big'"),
    (lambda: regularizers.get("l3"), r"Unknown regularizer 'l3'; valid names: \['l1', 'l1_l2', 'l2'\]"),
    (lambda: regularizers.deserialize({"class_name": "L3", "config": {}}), r"Unknown regularizer"),
    (lambda: regularizers.serialize(regularizers.Regularizer()), r"Cannot serialize regularizer"),
])
def test_invalid_arguments_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()
