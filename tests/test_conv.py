"""Conv2D, pooling, Reshape, Dropout and BatchNormalization: exact values, errors, the CPU kernels' memory
and product strategies, and small models.

Every layer configuration's gradients, PyTorch parity, config, save / load, kernels and second namespace are
checked by the harness (tests/harness.py over tests/layer_cases.py).
"""
import contextlib

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers
from scratchnn.backend import kernels_cpu
from scratchnn.layers.base import recording
from scratchnn.models import plan

import harness
from layer_cases import CASES

TOL = 1e-7
CONV_CASES = [case for case in CASES if isinstance(case.make(), layers.Conv2D) and case.fast]   # grouped: no kernel


class MatmulSpy:
    """kernels_cpu's NumPy with np.matmul's operand shapes recorded."""

    def __init__(self):
        self.shapes = []

    def matmul(self, a, b, **kwargs):
        self.shapes.append((np.shape(a), np.shape(b)))
        return np.matmul(a, b, **kwargs)

    def __getattr__(self, name):
        return getattr(np, name)


def test_a_long_kernel_gradient_sum_split_into_a_stack_of_products(rng, monkeypatch):
    """A small dW (a first layer's) over many rows is summed as a stack of products: the same gradients."""
    layer = layers.Conv2D(4, 3, padding="same", dtype="float64")
    layer.build((5, 6, 1), rng)
    x, grad_out = rng.standard_normal((3, 5, 6, 1)), rng.standard_normal((3, 5, 6, 4))
    with kernels_cpu.disabled():
        expected = harness.forward_backward(layer, x, grad_out, training=True)
    monkeypatch.setattr(kernels_cpu, "SMALL_PRODUCT", 40 * 7)         # 12 pieces of 7 rows and 6 left over
    monkeypatch.setattr(kernels_cpu, "MIN_SPLIT_ROWS", 2)
    spy = MatmulSpy()
    monkeypatch.setattr(kernels_cpu, "np", spy)
    got = harness.forward_backward(layer, x, grad_out, training=True)
    assert ((12, 10, 7), (12, 7, 4)) in spy.shapes, "the sum was not split into a stack of products"
    harness.assert_same_results(got, expected, 1e-12, "stacked dW")
    gradcheck.assert_gradients_close(gradcheck.check_layer(layer, x), TOL)


@pytest.mark.parametrize("kernel, strides, padding, dilation, by_convolution", [
    (3, 1, "same", 1, True), (2, 1, "same", 1, True), ((1, 3), 1, "same", 1, True), (1, 1, "valid", 1, True),
    (3, 1, "valid", 1, False), (3, 2, "same", 1, False), (3, 1, "same", 2, False)])
def test_a_stride_1_input_gradient_is_a_convolution_of_the_output_gradient(kernel, strides, padding, dilation,
                                                                            by_convolution, rng, monkeypatch):
    """dX of a stride-1 convolution with an output the size of its input is dY, padded by k - 1 - p, convolved
    with the turned kernel: one product of dY's patches with a (kh * kw * F, C_in) matrix and no scatter of patch
    gradients; a strided, dilated or shrinking ("valid") one scatters them. Both equal the reference."""
    layer = layers.Conv2D(5, kernel, strides=strides, padding=padding, dilation_rate=dilation, dtype="float64")
    layer.build((7, 6, 3), rng)
    x = rng.standard_normal((2, 7, 6, 3))
    grad_out = rng.standard_normal((2, *layer.output_shape))
    with kernels_cpu.disabled():
        expected = harness.forward_backward(layer, x, grad_out, training=True)
    spy = MatmulSpy()
    monkeypatch.setattr(kernels_cpu, "np", spy)
    scattered, scatter = [], kernels_cpu._col2im
    monkeypatch.setattr(kernels_cpu, "_col2im", lambda *args: scattered.append(args) or scatter(*args))
    got = harness.forward_backward(layer, x, grad_out, training=True)
    kh, kw = layer.kernel_size
    turned = any(b == (kh * kw * 5, 3) for _, b in spy.shapes)
    assert (turned, not scattered) == (by_convolution, by_convolution)
    harness.assert_same_results(got, expected, 1e-12, "input gradient")


def test_a_first_layer_keeps_its_patches_and_a_deeper_one_gathers_them_again(rng, monkeypatch):
    monkeypatch.setattr(kernels_cpu, "CHUNK_ELEMENTS", 100)            # small patches are kept too
    first, deeper = layers.Conv2D(12, 3), layers.Conv2D(4, 3)
    first.build((6, 6, 1), rng), deeper.build((6, 6, 3), rng)
    _, (_, kept) = kernels_cpu.conv2d_forward(first, rng.standard_normal((2, 6, 6, 1)), training=True)
    assert kept.shape == (2 * 4 * 4, 3 * 3 * 1 + 1)                     # depth 10 <= 12 filters
    _, (_, kept) = kernels_cpu.conv2d_forward(deeper, rng.standard_normal((2, 6, 6, 3)), training=True)
    assert kept is None                                                 # depth 28 > 4 filters, and large
    _, (_, kept) = kernels_cpu.conv2d_forward(first, rng.standard_normal((2, 6, 6, 1)), training=False)
    assert kept is None                                                 # inference keeps nothing
    monkeypatch.setattr(kernels_cpu, "CHUNK_ELEMENTS", 1 << 19)
    _, (_, kept) = kernels_cpu.conv2d_forward(deeper, rng.standard_normal((2, 6, 6, 3)), training=True)
    assert kept.shape == (2 * 4 * 4, 28)                                # small enough to keep


@pytest.mark.parametrize("case", CONV_CASES, ids=[case.id for case in CONV_CASES])
def test_conv2d_kernel_gathering_patches_again_one_sample_a_chunk(case, monkeypatch):
    """With chunks of one sample, patches are kept only when depth <= filters and gathered again otherwise:
    the kernel still equals the reference (split over threads and not)."""
    monkeypatch.setattr(kernels_cpu, "CHUNK_ELEMENTS", 64)
    harness.check_fast(case)


def test_conv_bn_pool_dense_stack_gradients(rng):
    model = snn.Sequential([
        layers.Conv2D(3, 3, padding="same", use_bias=False),   # BatchNorm cancels a bias: its gradient is 0
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(4),
    ], input_shape=(6, 5, 2), seed=0, dtype="float64")
    model.compile(loss="categorical_crossentropy", from_logits=True)
    errors = gradcheck.check_model(model, rng.standard_normal((3, 6, 5, 2)), np.array([0, 3, 1]))
    gradcheck.assert_gradients_close(errors, TOL)
    assert len(errors) == 1 + 1 + 2 + 2


class SeedConv(layers.Conv2D):
    """Seed 004's ConvLayer forward: the bias is added once per input channel, the backward is not told."""

    def forward(self, x, training=False):
        return super().forward(x, training) + (x.shape[-1] - 1) * self.params["bias"]


def test_gradient_check_catches_the_seed_bias_bug(rng):
    layer = SeedConv(2, 3, bias_initializer=lambda shape, rng, dtype: np.ones(shape, dtype))
    errors = gradcheck.check_layer(layer, rng.standard_normal((2, 5, 5, 3)))
    assert errors["bias"] > 0.1
    assert errors["kernel"] < TOL


def test_conv2d_exact_values():
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    layer = layers.Conv2D(1, 2, strides=2, bias_initializer=lambda shape, rng, dtype: np.full(shape, 0.5))
    layer.build((4, 4, 1), np.random.default_rng(0))
    layer.params["kernel"][...] = np.array([[1, 2], [3, 4]], dtype=np.float32).reshape(2, 2, 1, 1)
    y = layer.forward(x)[0, :, :, 0]
    expected = [[0 + 2 + 12 + 20 + 0.5, 2 + 6 + 18 + 28 + 0.5], [8 + 18 + 36 + 52 + 0.5, 10 + 22 + 42 + 60 + 0.5]]
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("size, kernel, stride, padding, dilation, expected", [
    (28, 3, 1, "valid", 1, 26), (28, 3, 1, "same", 1, 28), (7, 3, 2, "same", 1, 4), (6, 3, 2, "same", 1, 3),
    (7, 3, 2, "valid", 1, 3), (9, 3, 1, "valid", 2, 5), (5, 5, 1, "valid", 1, 1),
])
def test_conv2d_output_shapes(size, kernel, stride, padding, dilation, expected):
    layer = layers.Conv2D(4, kernel, stride, padding, dilation)
    assert layer.build((size, size + 1, 2), np.random.default_rng(0))[::2] == (expected, 4)


def test_same_padding_puts_the_extra_row_at_the_bottom():
    layer = layers.Conv2D(1, 2, padding="same", use_bias=False)
    layer.build((3, 3, 1), np.random.default_rng(0))
    layer.params["kernel"][...] = 1
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(layer.forward(x)[0, :, :, 0], [[8, 12, 7], [20, 24, 13], [13, 15, 8]])


@pytest.mark.parametrize("fast", [True, False], ids=["kernel", "reference"])
def test_max_pool_routes_ties_to_the_first_maximum(fast):
    layer = layers.MaxPooling2D(2)
    x = np.array([[1, 1, 0, 2], [1, 0, 2, 2]], dtype=np.float64).reshape(1, 2, 4, 1)
    layer.build((2, 4, 1))
    with contextlib.nullcontext() if fast else kernels_cpu.disabled():
        np.testing.assert_array_equal(layer.forward(x, training=True).ravel(), [1, 2])
        grad = layer.backward(np.array([3.0, 5.0]).reshape(1, 1, 2, 1))
    np.testing.assert_array_equal(grad[0, :, :, 0], [[3, 0, 0, 5], [0, 0, 0, 0]])


def test_average_pool_same_counts_only_the_input():
    layer = layers.AveragePooling2D(2, padding="same")
    layer.build((3, 3, 1))
    x = np.arange(9, dtype=np.float64).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(layer.forward(x)[0, :, :, 0], [[2, 3.5], [6.5, 8]])


def test_global_pooling_values(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(layers.GlobalAveragePooling2D()(x), x.mean(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_array_equal(layers.GlobalMaxPooling2D()(x), x.max(axis=(1, 2)))


def test_reshape_infers_the_missing_dimension():
    layer = layers.Reshape((-1, 4))
    assert layer.build((2, 3, 4)) == (6, 4)
    assert layer.forward(np.zeros((5, 2, 3, 4))).shape == (5, 6, 4)


def test_dropout_statistics():
    layer = layers.Dropout(0.3)
    layer.build((200, 100), np.random.default_rng(7))
    x = np.ones((50, 200, 100), dtype=np.float32)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    # 1,000,000 Bernoulli(0.7) draws: the kept fraction has standard deviation 4.6e-4
    assert abs(kept.mean() - 0.7) < 2.5e-3
    assert abs(y.mean() - 1.0) < 3.5e-3
    np.testing.assert_array_equal(layer.backward(np.full(y.shape, 2.0, np.float32)), 2 * y)


def test_dropout_is_identity_at_inference_and_repeats_with_the_seed():
    x = np.random.default_rng(0).standard_normal((4, 10))
    first, second = layers.Dropout(0.5), layers.Dropout(0.5)
    first.build((10,), np.random.default_rng(3))
    second.build((10,), np.random.default_rng(3))
    assert first.forward(x) is x and first.tape == []
    with recording(True):                                               # an explanation's inference backward
        assert first.forward(x) is x
    assert first.backward(x) is x
    np.testing.assert_array_equal(first.forward(x, training=True), second.forward(x, training=True))
    assert (first.forward(x, training=True) == 0).mean() > 0.2         # training drops, with a new mask


def test_batchnorm_moving_statistics_follow_keras(rng):
    layer = layers.BatchNormalization(momentum=0.9)
    layer.dtype = np.dtype("float64")
    layer.build((2, 2, 3), rng)
    expected_mean, expected_var = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = rng.standard_normal((4, 2, 2, 3)) * 2 + 1
        layer.forward(x, training=True)
        expected_mean = 0.9 * expected_mean + 0.1 * x.mean(axis=(0, 1, 2))
        expected_var = 0.9 * expected_var + 0.1 * x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(layer.buffers["moving_mean"], expected_mean, rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["moving_variance"], expected_var, rtol=1e-12)
    x = rng.standard_normal((2, 2, 2, 3))
    np.testing.assert_allclose(layer.forward(x), (x - expected_mean) / np.sqrt(expected_var + 1e-3), rtol=1e-12)


def test_batchnorm_training_output_is_normalised(rng):
    layer = layers.BatchNormalization(epsilon=1e-6)
    y = layer(rng.standard_normal((64, 5)).astype(np.float32) * 3 + 2, training=True)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=0), 1, rtol=1e-4)


def test_cnn_config_round_trip_rebuilds_the_same_function(rng):
    model = snn.Sequential([
        layers.Conv2D(4, 3, strides=2, padding="same", dilation_rate=1, activation="relu", use_bias=False,
                      kernel_regularizer="l2"),
        layers.BatchNormalization(momentum=0.9, epsilon=1e-4),
        layers.AveragePooling2D(2, 1, "same"),
        layers.MaxPooling2D((2, 1)),
        layers.Dropout(0.25),
        layers.Reshape((-1, 4)),
        layers.Flatten(),
        layers.Dense(3),
    ], input_shape=(9, 8, 1), seed=0)
    model.layers[2].buffers["moving_mean"][:] = [0.1, 0.2, 0.3, 0.4]
    clone = snn.Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert clone.get_config() == model.get_config()
    x = rng.random((2, 9, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    assert clone.layers[0].regularizers["kernel"].l2 == 0.01


def test_cnn_trains_float32_end_to_end(rng):
    x = rng.random((64, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(np.int64)
    model = snn.Sequential([layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                            layers.Dense(2)], input_shape=(8, 8, 1), seed=0)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=snn.optim.SGD(0.5),
                  metrics=["accuracy"])
    before = model.evaluate(x, y)["loss"]
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert model.predict(x).dtype == np.float32
    assert model.evaluate(x, y)["loss"] < 0.5 * before


@pytest.mark.parametrize("make, shape, match", [
    (lambda: layers.Conv2D(2, 5), (4, 4, 1), r"kernel spans 5 pixels, more than the input's 4"),
    (lambda: layers.Conv2D(2, 3, dilation_rate=3), (6, 8, 1), r"kernel spans 7 pixels, more than the input's 6"),
    (lambda: layers.Conv2D(2, 3), (28, 28), r"got \(N, 28, 28\): add a channel axis, x\[\.\.\., None\]"),
    (lambda: layers.MaxPooling2D(3), (2, 5, 1), r"pool spans 3 pixels, more than the input's 2"),
    (lambda: layers.MaxPooling2D(2), (28, 28), r"add a channel axis, x\[\.\.\., None\]"),
    (lambda: layers.GlobalAveragePooling2D(), (10,), r"expected input of shape \(N, height, width, channels\)"),
    (lambda: layers.Reshape((5, -1)), (3, 4), r"cannot reshape inputs of shape \(N, 3, 4\) \(12 values"),
    (lambda: layers.Reshape((5, 3)), (3, 4), r"to \(N, 5, 3\)"),
    (lambda: layers.BatchNormalization(axis=3), (4, 5), r"axis 3 is not a feature axis"),
], ids=["kernel_too_big", "dilated_too_big", "conv_rank", "pool_too_big", "pool_rank", "global_rank",
        "reshape_infer", "reshape_size", "bn_axis"])
def test_build_errors(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make().build(shape, np.random.default_rng(0))


@pytest.mark.parametrize("make, match", [
    (lambda: layers.Conv2D(0, 3), r"Conv2D: filters must be a positive integer, got 0"),
    (lambda: layers.Conv2D(4, -1), r"Conv2D: kernel_size must be a positive integer, got -1"),
    (lambda: layers.Conv2D(4, (3, 3, 3)), r"kernel_size must be a positive integer or a pair of them, got \(3, 3, 3\)"),
    (lambda: layers.Conv2D(4, 3, strides=0), r"strides must be a positive integer, got 0"),
    (lambda: layers.Conv2D(4, 3, dilation_rate=(1, 0)), r"dilation_rate must be a positive integer, got 0"),
    (lambda: layers.Conv2D(4, 3, padding="full"), r"padding must be one of \('valid', 'same'\), got 'full'"),
    (lambda: layers.MaxPooling2D(0), r"MaxPooling2D: pool_size must be a positive integer, got 0"),
    (lambda: layers.AveragePooling2D(2, padding="causal"), r"AveragePooling2D: padding must be one of"),
    (lambda: layers.Dropout(1.0), r"Dropout: rate must be in \[0, 1\), got 1.0"),
    (lambda: layers.Dropout(-0.1), r"rate must be in \[0, 1\), got -0.1"),
    (lambda: layers.Dropout("0.5"), r"rate must be a finite number, got '0.5'"),
    (lambda: layers.Reshape((2, -1, -1)), r"only one entry of target_shape may be -1"),
    (lambda: layers.Reshape((2, 0)), r"target_shape must be a tuple of positive ints"),
    (lambda: layers.BatchNormalization(momentum=1.5), r"momentum must be in \[0, 1\], got 1.5"),
], ids=["filters", "kernel", "kernel_triple", "strides", "dilation", "padding", "pool_size", "pool_padding",
        "rate_one", "rate_negative", "rate_str", "reshape_two_infer", "reshape_zero", "bn_momentum"])
def test_argument_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_model_input_without_channel_axis_gets_the_hint():
    model = snn.Sequential([layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(2)], input_shape=(28, 28, 1))
    with pytest.raises(ValueError, match=r"add a channel axis, x\[\.\.\., None\]"):
        model.predict(np.zeros((3, 28, 28)))
    layer = layers.Conv2D(2, 3, name="c")
    layer.build((8, 8, 1))
    with pytest.raises(ValueError, match=r"Conv2D 'c' expected input of shape \(N, 8, 8, 1\), got \(N, 8, 8, 3\)"):
        layer.forward(np.zeros((1, 8, 8, 3)))


def test_cnn_saves_and_loads_with_its_moving_statistics(tmp_path, rng):
    model = snn.Sequential([layers.Conv2D(4, 3, padding="same", activation="relu"), layers.BatchNormalization(),
                            layers.MaxPooling2D(2), layers.Dropout(0.2), layers.Flatten(), layers.Dense(3)],
                           input_shape=(6, 6, 1), seed=0)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=snn.optim.SGD(0.1))
    x = rng.random((8, 6, 6, 1)).astype(np.float32)
    model.fit(x, np.arange(8) % 3, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "cnn.snn")
    loaded = snn.load_model(tmp_path / "cnn.snn")
    moving_mean = model.layers[2].buffers["moving_mean"]
    assert np.abs(moving_mean).max() > 0
    np.testing.assert_array_equal(loaded.layers[2].buffers["moving_mean"], moving_mean)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_predict_leaves_every_tape_empty(rng):
    model = snn.Sequential([layers.Conv2D(2, 3, padding="same", activation="relu"), layers.BatchNormalization(),
                            layers.MaxPooling2D(2), layers.Dropout(0.3), layers.AveragePooling2D(1),
                            layers.GlobalMaxPooling2D(), layers.Dense(2, activation="softmax")],
                           input_shape=(6, 6, 1), seed=0)
    x = rng.random((3, 6, 6, 1))
    model.forward(x, training=True)                                     # training records, once per layer
    assert all(len(layer.tape) == 1 for layer in model.layers)
    model.clear_cache()
    model.predict(x)
    assert [layer.tape for layer in model.layers] == [[]] * len(model.layers)
    model.compile(loss="categorical_crossentropy", optimizer=snn.optim.SGD(0.1))
    model.fit(x, np.arange(3) % 2, epochs=1, batch_size=2, verbose=0)
    model.evaluate(x, np.arange(3) % 2)
    assert [layer.tape for layer in model.layers] == [[]] * len(model.layers)


def test_relu_then_max_pool_run_swapped_with_the_same_outputs_and_gradients(rng):
    model = snn.Sequential([layers.Conv2D(3, 3, activation="relu", bias_initializer=snn.initializers.Constant(-0.5)),
                            layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(2)],
                           input_shape=(7, 6, 2), seed=0, dtype="float64")
    assert plan.execution_order(model.layers) == [0, 2, 1, 3, 4]
    x, grad_out = rng.standard_normal((4, 7, 6, 2)), rng.standard_normal((4, 2))
    model.zero_grad()
    y = model.forward(x, training=True)
    grad_x = model.backward(grad_out)
    planned = {i: {k: np.array(g) for k, g in model.layers[i].grads.items()} for i in (0, 4)}
    model.zero_grad()
    listed, grad = x, grad_out                                      # the same layers run as listed
    for layer in model.layers:
        listed = layer.forward(listed, training=True)
        if isinstance(layer, layers.ReLU):
            assert (listed == 0).mean() > 0.3                       # many windows pass no gradient
    for layer in reversed(model.layers):
        grad = layer.backward(grad)
    for i, grads in planned.items():
        for name, planned_grad in grads.items():
            np.testing.assert_array_equal(model.layers[i].grads[name], planned_grad)
    np.testing.assert_array_equal(y, listed)
    np.testing.assert_array_equal(grad_x, grad)


def test_backward_without_input_grad_returns_none_when_the_first_layers_run_swapped(rng):
    model = snn.Sequential([layers.ReLU(), layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(2)],
                           input_shape=(4, 4, 1), seed=0)
    assert plan.execution_order(model.layers) == [1, 0, 2, 3]
    model.forward(rng.standard_normal((3, 4, 4, 1)), training=True)
    assert model.backward(np.ones((3, 2), np.float32), input_grad=False) is None


def test_execution_order_moves_only_the_relu_next_to_the_max_pooling():
    """(The other orders are in tests/test_plan.py.)"""
    made = [layers.ReLU(), layers.ReLU(), layers.MaxPooling2D(2), layers.Flatten()]
    assert plan.execution_order(made) == [0, 2, 1, 3]
