"""The build-time plan (models/plan.py) changes no value and no gradient: a property test over random nets."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers
from scratchnn.models import plan


@pytest.mark.parametrize("names, order", [
    (["Conv2D", "ReLU", "MaxPooling2D", "Flatten"], [0, 2, 1, 3]),
    (["ReLU", "MaxPooling2D", "ReLU", "MaxPooling2D"], [1, 0, 3, 2]),
    (["ReLU", "AveragePooling2D"], [0, 1]),
    (["MaxPooling2D", "ReLU"], [0, 1]),
    (["LeakyReLU", "MaxPooling2D"], [0, 1]),
])
def test_execution_order_moves_relu_after_max_pooling_only(names, order):
    made = [getattr(layers, name)() if name not in ("Conv2D",) else layers.Conv2D(2, 1) for name in names]
    assert plan.execution_order(made) == order


@pytest.mark.parametrize("seed", range(6))
def test_the_plan_changes_no_value_and_no_gradient(seed):
    """The same random CNN run in the planned order and in the listed one: equal outputs, input gradients
    and parameter gradients (float64), whatever ties the data has (a quarter of the inputs repeat)."""
    rng = np.random.default_rng(seed)
    pool = int(rng.integers(1, 3)) + 1
    padding = ["valid", "same"][int(rng.integers(0, 2))]
    x = rng.standard_normal((3, 6, 6, 2))
    x[:, ::2, ::2] = x[:, 1::2, 1::2]                                   # ties inside windows
    grad = None
    results = []
    for planned in (True, False):
        model = snn.Sequential([layers.Conv2D(3, 3, padding="same", activation="relu"),
                                layers.MaxPooling2D(pool, padding=padding), layers.Flatten(), layers.Dense(2)],
                               input_shape=(6, 6, 2), seed=seed, dtype="float64")
        if not planned:
            model._order = list(range(len(model.layers)))
        else:
            assert model._order != list(range(len(model.layers)))
        model.zero_grad()
        y = model.forward(x, training=True)
        grad = rng.standard_normal(y.shape) if grad is None else grad
        grad_x = model.backward(grad)
        results.append((y, grad_x, [g.copy() for _, g in model.parameters()]))
    (y1, gx1, g1), (y2, gx2, g2) = results
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_allclose(gx1, gx2, rtol=1e-13, atol=1e-15)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_the_planned_model_gradchecks(rng):
    model = snn.Sequential([layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                            layers.Dense(2)], input_shape=(6, 6, 1), seed=0, dtype="float64")
    model.compile(loss="mse")
    errors = gradcheck.check_model(model, rng.standard_normal((2, 6, 6, 1)), rng.standard_normal((2, 2)))
    gradcheck.assert_gradients_close(errors, 1e-6)
