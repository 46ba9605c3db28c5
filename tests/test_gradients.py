"""Finite-difference gradient checks (float64) for the losses and for stacks of layers, and of the checker itself.

Each layer configuration on its own is checked by the harness (tests/harness.py over tests/layer_cases.py)."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers, losses

TOL = 1e-7

LOSS_CASES = {
    "mse": (losses.MeanSquaredError, lambda r: r.standard_normal((5, 3))),
    "mae": (losses.MeanAbsoluteError, lambda r: r.standard_normal((5, 3)) + 0.5),
    "bce": (losses.BinaryCrossentropy, lambda r: r.integers(0, 2, (5, 3)).astype(float)),
    "bce_logits": (lambda: losses.BinaryCrossentropy(from_logits=True),
                   lambda r: r.integers(0, 2, (5, 3)).astype(float)),
    "cce": (losses.CategoricalCrossentropy, lambda r: r.integers(0, 3, 5)),
    "cce_logits": (lambda: losses.CategoricalCrossentropy(from_logits=True), lambda r: r.integers(0, 3, 5)),
    "cce_logits_onehot": (lambda: losses.CategoricalCrossentropy(from_logits=True),
                          lambda r: np.eye(3)[r.integers(0, 3, 5)]),
}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_loss_gradients(name, weighted, rng):
    make, targets = LOSS_CASES[name]
    y_pred = rng.uniform(0.1, 0.9, (5, 3))          # valid as probabilities and as logits
    if name == "cce":
        y_pred /= y_pred.sum(axis=1, keepdims=True)
    weights = rng.uniform(0.5, 2.0, 5) if weighted else None
    assert gradcheck.check_loss(make(), y_pred, targets(rng), sample_weight=weights) < TOL


STACKS = {
    "mlp_tanh_softmax_cce": ([lambda: layers.Dense(6, activation="tanh"), lambda: layers.Dense(4, activation="relu"),
                              lambda: layers.Dense(3, activation="softmax")], "categorical_crossentropy", False),
    "mlp_logits_cce": ([lambda: layers.Dense(6, activation="gelu"), lambda: layers.Dense(3)],
                       "categorical_crossentropy", True),
    "sigmoid_bce": ([lambda: layers.Dense(4, activation="elu"), lambda: layers.Dense(1, activation="sigmoid")],
                    "binary_crossentropy", False),
    "softplus_mse": ([lambda: layers.Dense(5, activation="softplus"), lambda: layers.LeakyReLU(0.2),
                      lambda: layers.Dense(2)], "mse", False),
    "flatten_dense": ([layers.Flatten, lambda: layers.Dense(4, activation="sigmoid"), lambda: layers.Dense(3)],
                      "categorical_crossentropy", True),
}


@pytest.mark.parametrize("name", sorted(STACKS))
def test_stack_gradients(name, rng):
    makers, loss, from_logits = STACKS[name]
    input_shape = (2, 3) if name == "flatten_dense" else (5,)
    model = snn.Sequential([make() for make in makers], input_shape=input_shape, seed=3, dtype="float64")
    model.compile(loss=loss, from_logits=from_logits)
    x = rng.standard_normal((7, *input_shape))
    out = model.output_shape[-1]
    y = rng.integers(0, out, 7) if out > 1 and loss != "mse" else rng.uniform(0, 1, (7, out))
    gradcheck.assert_gradients_close(gradcheck.check_model(model, x, y), TOL)


def test_gradcheck_catches_a_wrong_backward(rng):
    """The checker must fail when backward is wrong: a Tanh whose derivative forgets the square."""
    class WrongTanh(layers.Tanh):
        def grad(self, x, y, grad_out):
            return grad_out * (1 - y)

    errors = gradcheck.check_layer(WrongTanh(), rng.standard_normal((4, 5)))
    assert errors["input"] > 1e-2
    with pytest.raises(AssertionError, match="input"):
        gradcheck.assert_gradients_close(errors, TOL)


def test_gradcheck_refuses_float32(rng):
    layer = layers.Dense(2, dtype="float32")
    layer.build((3,), rng)
    with pytest.raises(ValueError, match="float64"):
        gradcheck.check_layer(layer, rng.standard_normal((2, 3)))


def test_erf_matches_the_standard_library_to_double_precision():
    import math
    from scratchnn.backend.special import erf
    x = np.concatenate([np.linspace(-30, 30, 20001), [0.0, 1e-300, 0.46875, 4.0, -4.0, 26.6, 1e5]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), expected, rtol=1e-15, atol=1e-16)
    assert erf(np.float32(0.5)).dtype == np.float64 and erf(np.array([-0.0]))[0] == 0
