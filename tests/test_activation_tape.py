"""What an activation keeps for backward (``Elementwise.keeps``): only what its derivative reads, and the
same gradients as when it keeps both its input and its output."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers
from scratchnn.layers import activations

CLASSES = sorted(activations._elementwise_classes().items())
NAMES = sorted({*activations.ACTIVATIONS, *activations.ALIASES})


def built(layer, shape=(5, 7)):
    layer.dtype = "float64"
    layer.build(shape[1:], np.random.default_rng(0))
    return layer


def cases():
    for name, cls in CLASSES:
        if cls is not layers.Activation:
            yield pytest.param(cls, id=name)
    for name in NAMES:
        yield pytest.param(lambda name=name: layers.Activation(name), id=f"Activation-{name}")


@pytest.mark.parametrize("make", list(cases()))
def test_an_activation_keeps_only_what_its_gradient_reads(make):
    layer = built(make())
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, (5, 7)) + 0.05                          # away from the kinks at 0, 3, -3, 6
    grad_out = rng.standard_normal((5, 7))
    y = layer.forward(x, training=True)
    kept_x, kept_y = layer.tape[-1]
    assert set(layer.keeps) <= {"x", "y"}
    assert (kept_x is None) == ("x" not in layer.keeps) and (kept_y is None) == ("y" not in layer.keeps)
    kept = layer.backward(grad_out)
    layer.tape.append((x, y))                                       # the full record, as before `keeps`
    np.testing.assert_array_equal(kept, layer.backward(grad_out))


def test_relu_after_dense_keeps_its_output_only():
    model = snn.Sequential([layers.Dense(4, activation="relu")], input_shape=(3,), seed=0)
    model.forward(np.ones((2, 3), dtype=np.float32), training=True)
    relu = model.layers[1]
    assert isinstance(relu, layers.ReLU)
    (kept_x, kept_y), = relu.tape
    assert kept_x is None and kept_y.shape == (2, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_gradient_is_dy_times_the_step_bit_for_bit(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 9)).astype(dtype)
    x[0, :3] = 0.0
    x[1, 0] = -0.0
    grad_out = rng.standard_normal((6, 9)).astype(dtype)
    grad_out[2, :4] = [np.nan, np.inf, -np.inf, -0.0]
    relu = built(layers.ReLU(), (6, 9))
    relu.dtype = np.dtype(dtype).name
    y = relu.forward(x, training=True)
    with np.errstate(invalid="ignore"):                             # inf * 0 is NaN in both
        expected = grad_out * (y > 0)
        got = relu.backward(grad_out)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))
