"""Parity with PyTorch 2.13 in float64 beyond one call: Dropout's statistics, BatchNormalization's moving
statistics over several steps.

Every layer configuration's forward and backward is compared with PyTorch by the harness (tests/harness.py
over tests/layer_cases.py). Our layers are channels-last (N, H, W, C); PyTorch's are (N, C, H, W).
"""
import numpy as np
import pytest

from scratchnn import layers
from scratchnn.layers.base import recording

from conftest import require

torch = require("torch")
F = torch.nn.functional

RTOL = 1e-10


def nchw(x):
    return torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), dtype=torch.float64, requires_grad=True)


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def built(layer, shape, seed=0):
    layer.dtype = np.dtype("float64")
    layer.build(shape, np.random.default_rng(seed))
    return layer


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
def test_batchnorm_matches_torch_over_several_steps_then_in_inference(shape, rng):
    """Four training steps, then inference: the same outputs and gradients as torch.nn.BatchNorm, the moving
    mean equal to PyTorch's running mean, the moving variance Keras's (the biased batch variance)."""
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
    grad_to_torch = (lambda a: torch.tensor(a)) if len(shape) == 2 else (
        lambda a: torch.tensor(a.transpose(0, 3, 1, 2).copy()))
    reduce_dims = (0,) if len(shape) == 2 else (0, 2, 3)

    def compare(x, grad_out, training):
        layer.zero_grad()
        torch_bn.zero_grad()
        with recording(True):                                           # inference backward records too
            y = layer.forward(x, training=training)
        grad_x = layer.backward(grad_out)
        x_t = to_torch(x)
        y_t = torch_bn(x_t)
        y_t.backward(grad_to_torch(grad_out))
        np.testing.assert_allclose(y, from_torch(y_t), rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(grad_x, from_torch(x_t.grad), rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(layer.grads["gamma"], torch_bn.weight.grad.numpy(), rtol=RTOL)
        np.testing.assert_allclose(layer.grads["beta"], torch_bn.bias.grad.numpy(), rtol=RTOL)
        return x_t

    expected_moving_var = np.ones(shape[-1])
    torch_bn.train()
    for _ in range(steps):
        x_t = compare(rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape), training=True)
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
    compare(rng.standard_normal(shape), rng.standard_normal(shape), training=False)
