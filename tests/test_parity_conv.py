"""Parity with PyTorch 2.13 in float64: Conv2D, pooling, Dropout and BatchNormalization, forward and backward.

Our layers are channels-last (N, H, W, C); PyTorch's are (N, C, H, W): inputs and gradients are transposed,
kernels (kh, kw, C_in, F) become (F, C_in, kh, kw). "same" padding is TensorFlow's (the odd row / column
at the bottom / right), given to PyTorch as an explicit F.pad.
"""
import numpy as np
import pytest

from scratchnn import layers

from conftest import require

torch = require("torch")
F = torch.nn.functional

RTOL = 1e-10


def nchw(x):
    return torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), dtype=torch.float64, requires_grad=True)


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def torch_pad(layer):
    """F.pad's (left, right, top, bottom) for a layer's TensorFlow-style padding."""
    (top, bottom), (left, right) = layer.pads
    return left, right, top, bottom


def run_ours(layer, x, grad_out, training=True):
    y = layer.forward(x, training=training)
    return y, layer.backward(grad_out)


def built(layer, shape, seed=0):
    layer.dtype = np.dtype("float64")
    layer.build(shape, np.random.default_rng(seed))
    return layer


CONV_GRID = [   # (filters, kernel, strides, padding, dilation), input (N, H, W, C)
    ((4, 3, 1, "valid", 1), (2, 8, 7, 3)),
    ((4, 3, 1, "same", 1), (2, 8, 7, 3)),
    ((4, 3, 2, "same", 1), (2, 8, 7, 3)),
    ((4, 3, 2, "same", 1), (2, 9, 9, 2)),
    ((3, 3, 2, "valid", 1), (2, 9, 8, 2)),
    ((3, 5, 2, "same", 1), (2, 10, 9, 2)),
    ((3, 1, 1, "valid", 1), (2, 5, 5, 4)),
    ((3, 1, 2, "same", 1), (2, 5, 6, 4)),
    ((2, (2, 4), (2, 1), "same", 1), (2, 7, 9, 3)),
    ((3, 3, 1, "valid", 2), (2, 9, 8, 2)),
    ((3, 3, 1, "same", 2), (2, 8, 9, 2)),
    ((3, 2, 1, "same", 1), (1, 6, 6, 1)),
]


@pytest.mark.parametrize("args, shape", CONV_GRID, ids=[f"{a}-{s}" for a, s in CONV_GRID])
def test_conv2d_matches_torch(args, shape, rng):
    layer = built(layers.Conv2D(*args, bias_initializer=lambda s, r, d: r.standard_normal(s)), shape[1:])
    x = rng.standard_normal(shape)
    y = layer.forward(x)
    grad_out = rng.standard_normal(y.shape)
    grad_x = layer.backward(grad_out)

    x_t = nchw(x)
    kernel = torch.tensor(layer.params["kernel"].transpose(3, 2, 0, 1).copy(), requires_grad=True)
    bias = torch.tensor(layer.params["bias"], requires_grad=True)
    y_t = F.conv2d(F.pad(x_t, torch_pad(layer)), kernel, bias, stride=layer.strides, dilation=layer.dilation_rate)
    y_t.backward(torch.tensor(grad_out.transpose(0, 3, 1, 2).copy()))

    np.testing.assert_allclose(y, nhwc(y_t), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(grad_x, nhwc(x_t.grad), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(layer.grads["kernel"], kernel.grad.numpy().transpose(2, 3, 1, 0), rtol=RTOL)
    np.testing.assert_allclose(layer.grads["bias"], bias.grad.numpy(), rtol=RTOL)


POOL_GRID = [   # (pool, strides, padding), input
    ((2, None, "valid"), (2, 8, 6, 3)),
    ((2, None, "valid"), (2, 7, 5, 3)),
    ((2, None, "same"), (2, 7, 5, 3)),
    ((3, 2, "valid"), (2, 9, 8, 2)),
    ((3, 2, "same"), (2, 9, 8, 2)),
    ((3, 1, "same"), (2, 6, 5, 2)),
    (((2, 3), (1, 2), "valid"), (2, 6, 7, 2)),
]


@pytest.mark.parametrize("args, shape", POOL_GRID, ids=[f"{a}-{s}" for a, s in POOL_GRID])
def test_max_pooling_matches_torch(args, shape, rng):
    layer = built(layers.MaxPooling2D(*args), shape[1:])
    x = rng.standard_normal(shape)
    grad_out = rng.standard_normal((shape[0], *layer.output_shape))
    y, grad_x = run_ours(layer, x, grad_out)
    x_t = nchw(x)
    y_t = F.max_pool2d(F.pad(x_t, torch_pad(layer), value=-np.inf), layer.pool_size, layer.strides)
    y_t.backward(torch.tensor(grad_out.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_array_equal(y, nhwc(y_t))
    np.testing.assert_allclose(grad_x, nhwc(x_t.grad), rtol=RTOL)


@pytest.mark.parametrize("args, shape", POOL_GRID, ids=[f"{a}-{s}" for a, s in POOL_GRID])
def test_max_pooling_ties_match_torch(args, shape, rng):
    x = rng.integers(0, 2, shape).astype(np.float64)   # windows with tied maxima of 0 and of 1
    layer = built(layers.MaxPooling2D(*args), shape[1:])
    grad_out = rng.standard_normal((shape[0], *layer.output_shape))
    _, grad_x = run_ours(layer, x, grad_out)
    x_t = nchw(x)
    y_t = F.max_pool2d(F.pad(x_t, torch_pad(layer), value=-np.inf), layer.pool_size, layer.strides)
    y_t.backward(torch.tensor(grad_out.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(grad_x, nhwc(x_t.grad), rtol=RTOL, atol=1e-15)


@pytest.mark.parametrize("args, shape", POOL_GRID, ids=[f"{a}-{s}" for a, s in POOL_GRID])
def test_average_pooling_matches_torch(args, shape, rng):
    layer = built(layers.AveragePooling2D(*args), shape[1:])
    x = rng.standard_normal(shape)
    grad_out = rng.standard_normal((shape[0], *layer.output_shape))
    y, grad_x = run_ours(layer, x, grad_out)
    x_t = nchw(x)
    pool = lambda t: F.avg_pool2d(F.pad(t, torch_pad(layer)), layer.pool_size, layer.strides, divisor_override=1)
    y_t = pool(x_t) / pool(torch.ones_like(x_t))    # the sum over the window / the input elements in it
    y_t.backward(torch.tensor(grad_out.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(y, nhwc(y_t), rtol=RTOL)
    np.testing.assert_allclose(grad_x, nhwc(x_t.grad), rtol=RTOL)


@pytest.mark.parametrize("layer_cls, torch_fn", [
    (layers.GlobalAveragePooling2D, lambda t: t.mean(dim=(2, 3))),
    (layers.GlobalMaxPooling2D, lambda t: F.adaptive_max_pool2d(t, 1).flatten(1)),
])
def test_global_pooling_matches_torch(layer_cls, torch_fn, rng):
    layer = built(layer_cls(), (5, 4, 3))
    x = rng.standard_normal((2, 5, 4, 3))
    grad_out = rng.standard_normal((2, 3))
    y, grad_x = run_ours(layer, x, grad_out)
    x_t = nchw(x)
    y_t = torch_fn(x_t)
    y_t.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=RTOL)
    np.testing.assert_allclose(grad_x, nhwc(x_t.grad), rtol=RTOL)


def test_dropout_statistics_match_torch():
    rate, shape = 0.2, (400, 1000)
    layer = built(layers.Dropout(rate), shape[1:], seed=11)
    x = np.ones(shape)
    ours = layer.forward(x, training=True)
    torch.manual_seed(0)
    theirs = F.dropout(torch.ones(shape, dtype=torch.float64), p=rate, training=True).numpy()
    # 400,000 draws each: the kept fraction has standard deviation 6.3e-4
    for y in (ours, theirs):
        np.testing.assert_allclose(np.unique(y), [0.0, 1 / (1 - rate)], rtol=1e-15)
        assert abs((y != 0).mean() - (1 - rate)) < 3e-3
        assert abs(y.mean() - 1.0) < 4e-3                    # the expectation is preserved
    assert abs(ours.mean() - theirs.mean()) < 6e-3
    np.testing.assert_array_equal(layer.forward(x, training=False), F.dropout(torch.ones(shape), p=rate,
                                                                               training=False).numpy())


@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 5, 6)], ids=["after_dense", "after_conv"])
def test_batchnorm_matches_torch_in_training_and_inference(shape, rng):
    momentum, epsilon, steps = 0.9, 1e-3, 4
    layer = built(layers.BatchNormalization(momentum=momentum, epsilon=epsilon), shape[1:])
    layer.params["gamma"][:] = rng.standard_normal(shape[-1])
    layer.params["beta"][:] = rng.standard_normal(shape[-1])
    torch_bn = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(
        shape[-1], eps=epsilon, momentum=1 - momentum, dtype=torch.float64)
    with torch.no_grad():
        torch_bn.weight.copy_(torch.from_numpy(layer.params["gamma"]))
        torch_bn.bias.copy_(torch.from_numpy(layer.params["beta"]))
    to_torch = (lambda a: torch.tensor(a, requires_grad=True)) if len(shape) == 2 else nchw
    from_torch = (lambda t: t.detach().numpy()) if len(shape) == 2 else nhwc
    reduce_dims = (0,) if len(shape) == 2 else (0, 2, 3)
    expected_moving_var = np.ones(shape[-1])
    for _ in range(steps):
        x = rng.standard_normal(shape) * 3 + 1
        grad_out = rng.standard_normal(shape)
        y, grad_x = run_ours(layer, x, grad_out)
        x_t = to_torch(x)
        torch_bn.train()
        y_t = torch_bn(x_t)
        y_t.backward(torch.tensor(grad_out if len(shape) == 2 else grad_out.transpose(0, 3, 1, 2).copy()))
        np.testing.assert_allclose(y, from_torch(y_t), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(grad_x, from_torch(x_t.grad), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(layer.grads["gamma"], torch_bn.weight.grad.numpy(), rtol=1e-9)
        np.testing.assert_allclose(layer.grads["beta"], torch_bn.bias.grad.numpy(), rtol=1e-9)
        torch_bn.zero_grad()
        batch_var = x_t.detach().var(dim=reduce_dims, unbiased=False).numpy()
        expected_moving_var = momentum * expected_moving_var + (1 - momentum) * batch_var
    # the moving mean is PyTorch's running mean; the moving variance uses the biased batch variance (Keras),
    # PyTorch's running_var the unbiased one (count / (count - 1) times larger)
    np.testing.assert_allclose(layer.buffers["moving_mean"], torch_bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["moving_variance"], expected_moving_var, rtol=1e-12)
    assert np.all(torch_bn.running_var.numpy() > layer.buffers["moving_variance"])

    with torch.no_grad():
        torch_bn.running_var.copy_(torch.from_numpy(layer.buffers["moving_variance"]))
    torch_bn.eval()
    x = rng.standard_normal(shape)
    grad_out = rng.standard_normal(shape)
    y, grad_x = run_ours(layer, x, grad_out, training=False)
    x_t = to_torch(x)
    y_t = torch_bn(x_t)
    y_t.backward(torch.tensor(grad_out if len(shape) == 2 else grad_out.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(y, from_torch(y_t), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, from_torch(x_t.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["gamma"], torch_bn.weight.grad.numpy(), rtol=1e-10)
