"""Merge layers and Residual beyond the harness (tests/layer_cases_merge.py): errors, ties, zeros, nesting."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers
from scratchnn.layers.base import recording


@pytest.fixture(autouse=True)
def fresh_names():
    snn.clear_session()


def test_eager_calls_on_lists_of_arrays():
    a, b = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    np.testing.assert_array_equal(layers.Add()([a, b]), a + b)
    np.testing.assert_array_equal(layers.Subtract()([a, b]), a - b)
    np.testing.assert_array_equal(layers.Multiply()([a, b, a]), a * a)
    np.testing.assert_array_equal(layers.Average()([a, b]), (a + b) / 2)
    np.testing.assert_array_equal(layers.Maximum()([a, b]), np.maximum(a, b))
    np.testing.assert_array_equal(layers.Concatenate()([a, b]), np.concatenate([a, b], axis=1))
    np.testing.assert_array_equal(layers.Concatenate(axis=1)([a[:, None], b[:, None]]),
                                  np.stack([a, b], axis=1))


def test_wrong_inputs_are_clear_errors():
    with pytest.raises(ValueError, match=r"Add 'add' got \(None, 3\) and \(None, 4\): the inputs of Add must have"):
        layers.Add()([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="Subtract 'subtract' takes exactly 2 inputs, got 3"):
        layers.Subtract()([np.ones((2, 3))] * 3)
    with pytest.raises(ValueError, match="Average 'average' takes at least 2 inputs, got 1"):
        layers.Average()([np.ones((2, 3))])
    with pytest.raises(ValueError, match="Maximum 'maximum' takes a list of inputs"):
        layers.Maximum()(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"got \(None, 3, 2\) and \(None, 4, 3\): the inputs must have the same "
                                         "shape except on axis -1"):
        layers.Concatenate()([np.ones((2, 3, 2)), np.ones((2, 4, 3))])
    with pytest.raises(ValueError, match="axis 0 is not an axis of inputs of 2 axes"):
        layers.Concatenate(axis=0)([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="axis 3 is not an axis"):
        layers.Concatenate(axis=3)([np.ones((2, 3)), np.ones((2, 3))])
    add = layers.Add()
    add([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"expected inputs of shapes \(None, 3\), \(None, 3\), got \(None, 3\), "
                                         r"\(None, 5\)"):
        add.forward([np.ones((2, 3)), np.ones((2, 5))])
    with pytest.raises(ValueError, match="expected a list of 2 arrays, got 3 arrays"):
        add.forward([np.ones((2, 3))] * 3)


def test_maximum_gives_a_tie_to_the_first_input_and_multiply_is_exact_at_zero():
    a, b = np.array([[1.0, 2.0, 0.0]]), np.array([[1.0, 3.0, 5.0]])
    layer = layers.Maximum()
    with recording(True):
        layer([a, b])
    grad_a, grad_b = layer.backward(np.array([[10.0, 20.0, 30.0]]))
    np.testing.assert_array_equal(grad_a, [[10.0, 0.0, 0.0]])                # the tie at 1.0 goes to a
    np.testing.assert_array_equal(grad_b, [[0.0, 20.0, 30.0]])
    multiply = layers.Multiply()
    zeros, c = np.array([[0.0, 2.0]]), np.array([[4.0, 0.0]])
    with recording(True):
        multiply([zeros, c, b[:, :2]])
    grads = multiply.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(grads[0], c * b[:, :2])                    # no division by the zero input
    np.testing.assert_array_equal(grads[1], zeros * b[:, :2])
    np.testing.assert_array_equal(grads[2], zeros * c)


def test_concatenate_backward_gives_each_input_its_slice():
    layer = layers.Concatenate(axis=-2)
    a, b = np.zeros((2, 1, 3)), np.zeros((2, 2, 3))
    layer([a, b])
    grad = np.arange(18.0).reshape(2, 3, 3)
    grad_a, grad_b = layer.backward(grad)
    np.testing.assert_array_equal(grad_a, grad[:, :1])
    np.testing.assert_array_equal(grad_b, grad[:, 1:])
    assert layer.backward(grad, input_grad=False) is None


def test_residual_shapes_params_and_errors():
    block = layers.Residual([layers.Dense(6, activation="relu"), layers.Dense(4, trainable=False)])
    block.build((4,), 0)
    assert list(block.params) == ["0.kernel", "0.bias"] and list(block.buffers) == ["1.kernel", "1.bias"]
    assert block.count_params() == 4 * 6 + 6
    assert block.params["0.kernel"] is block.block[0].params["kernel"]
    with pytest.raises(ValueError, match=r"Residual 'residual_1': the block maps \(None, 4\) to \(None, 3\); "
                                         r"y = x \+ block\(x\) needs the same shape"):
        layers.Residual(layers.Dense(3)).build((4,), 0)
    with pytest.raises(TypeError, match="block must be a layer or a non-empty list of single-input layers"):
        layers.Residual([])
    with pytest.raises(TypeError, match="single-input layers"):
        layers.Residual(layers.Add())


def test_residual_is_x_plus_block_of_x_and_trains_inside_a_sequential():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6))
    y = np.argmax(x @ rng.standard_normal((6, 3)), axis=1)                  # a task the network can learn
    model = snn.Sequential([layers.Dense(8), layers.Residual([layers.Dense(8, activation="tanh"), layers.Dense(8)]),
                            layers.Dense(3)], input_shape=(6,), seed=0)
    residual = model.layers[1]
    h = model.layers[0].forward(x.astype(np.float32))
    inner = residual.block[1].forward(residual.block[0].forward(h))
    np.testing.assert_allclose(residual.forward(h), h + inner, rtol=1e-6)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=snn.optim.Adam(1e-2),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0] and history.history["accuracy"][-1] > 0.9
    clone = snn.Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
