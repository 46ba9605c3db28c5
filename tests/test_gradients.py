"""Finite-difference gradient checks (float64) for every core layer and loss, alone and stacked."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers, losses

TOL = 1e-7

LAYER_CASES = {
    "dense": lambda: layers.Dense(3),
    "dense_no_bias": lambda: layers.Dense(3, use_bias=False),
    "linear": layers.Linear, "sigmoid": layers.Sigmoid, "tanh": layers.Tanh, "relu": layers.ReLU,
    "leaky_relu": lambda: layers.LeakyReLU(0.1), "elu": lambda: layers.ELU(0.7), "gelu": layers.GELU,
    "gelu_tanh": lambda: layers.GELU(approximate=True), "softplus": layers.Softplus,
    "softmax": layers.Softmax, "flatten": layers.Flatten,
}


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_layer_gradients(name, rng):
    layer = LAYER_CASES[name]()
    shape = (4, 3, 2) if name == "flatten" else (4, 5)
    x = rng.standard_normal(shape)
    if name in ("relu", "leaky_relu", "elu"):
        x[np.abs(x) < 1e-3] = 0.5                 # keep away from the kink where the derivative jumps
    errors = gradcheck.check_layer(layer, x)
    gradcheck.assert_gradients_close(errors, TOL)
