"""Parity with PyTorch 2.13 (float64): the losses, and training steps of a small network.

Every layer configuration is compared with PyTorch by the harness (tests/harness.py over tests/layer_cases.py)."""
import warnings

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers, losses, optim

from conftest import require

torch = require("torch")
F = torch.nn.functional

def _loss_cases(rng, scale):
    logits = rng.standard_normal((6, 4)) * scale
    labels = rng.integers(0, 4, size=6)
    onehot = np.eye(4)[labels]
    probs = np.clip(rng.uniform(size=(6, 3)), 0.05, 0.95)
    binary = rng.integers(0, 2, size=(6, 3)).astype(float)
    targets = rng.standard_normal((6, 3))
    return [
        ("cce_logits_int", losses.CategoricalCrossentropy(from_logits=True), logits, labels,
         lambda p: F.cross_entropy(p, torch.tensor(labels))),
        ("cce_logits_onehot", losses.CategoricalCrossentropy(from_logits=True), logits, onehot,
         lambda p: F.cross_entropy(p, torch.tensor(onehot))),
        ("cce_probs", losses.CategoricalCrossentropy(), np.abs(logits) / np.abs(logits).sum(1, keepdims=True),
         labels, lambda p: F.nll_loss(torch.log(p), torch.tensor(labels))),
        ("bce_logits", losses.BinaryCrossentropy(from_logits=True), logits[:, :3], binary,
         lambda p: F.binary_cross_entropy_with_logits(p, torch.tensor(binary))),
        ("bce_probs", losses.BinaryCrossentropy(), probs, binary,
         lambda p: F.binary_cross_entropy(p, torch.tensor(binary))),
        ("mse", losses.MeanSquaredError(), targets * scale, np.zeros_like(targets),
         lambda p: F.mse_loss(p, torch.zeros_like(p))),
        ("mae", losses.MeanAbsoluteError(), targets * scale, np.ones_like(targets),
         lambda p: F.l1_loss(p, torch.ones_like(p))),
    ]


# probability inputs are bounded, so the extreme (+-1000) case applies to logits and regression targets
LOSS_CASES = [(case, 1.0) for case in range(7)] + [(case, 1000.0) for case in (0, 1, 3, 5, 6)]


@pytest.mark.parametrize("case,scale", LOSS_CASES)
def test_loss_matches_torch(case, scale, rng):
    name, loss, y_pred, y_true, torch_loss = _loss_cases(rng, scale)[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss.forward(y_pred, y_true)
        grad = loss.backward()
    pt = torch.tensor(y_pred, requires_grad=True)
    expected = torch_loss(pt)
    expected.backward()
    assert np.isfinite(value) and np.isfinite(grad).all()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_sample_weighted_loss_matches_torch_reduction_none(rng):
    logits, labels, weights = rng.standard_normal((5, 3)), rng.integers(0, 3, 5), rng.uniform(size=5)
    loss = losses.CategoricalCrossentropy(from_logits=True)
    value = loss.forward(logits, labels, sample_weight=weights)
    grad = loss.backward()
    pt = torch.tensor(logits, requires_grad=True)
    expected = (F.cross_entropy(pt, torch.tensor(labels), reduction="none") * torch.tensor(weights)).mean()
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=1e-12)


def test_training_steps_match_torch(rng):
    """Three SGD steps of a 5-8-8-3 tanh/relu network: same losses and same weights as PyTorch."""
    model = snn.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(8, activation="relu"),
                            layers.Dense(3)], input_shape=(5,), seed=1, dtype="float64")
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.1))
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.ReLU(),
                              torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        for ours, theirs in zip(dense, [m for m in net if isinstance(m, torch.nn.Linear)]):
            theirs.weight.copy_(torch.tensor(ours.params["kernel"].T))
            theirs.bias.copy_(torch.tensor(ours.params["bias"]))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        x, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)
        ours = model.train_on_batch(x, y)
        opt.zero_grad()
        theirs = F.cross_entropy(net(torch.tensor(x)), torch.tensor(y))
        theirs.backward()
        opt.step()
        np.testing.assert_allclose(ours, theirs.item(), rtol=1e-12)
    for ours, theirs in zip(dense, [m for m in net if isinstance(m, torch.nn.Linear)]):
        np.testing.assert_allclose(ours.params["kernel"], theirs.weight.detach().numpy().T, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(ours.params["bias"], theirs.bias.detach().numpy(), rtol=1e-11, atol=1e-14)
