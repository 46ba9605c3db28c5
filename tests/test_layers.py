"""Every registered layer x its configurations through the harness (tests/harness.py, tests/layer_cases.py).

One test per (case, check), so that a failure names both: ``pytest tests/test_layers.py -k "conv_k1 and torch"``.
"""
import numpy as np
import pytest

from scratchnn import layers
from scratchnn.registry import LAYERS

import harness
import strict_namespace
from layer_cases import CASES, NO_TORCH

PAIRS = [pytest.param(case, check, id=f"{case.id}-{check}")
         for case in CASES for check in harness.CHECKS if harness.applicable(case, check)]


@pytest.mark.parametrize("case, check", PAIRS)
def test_layer(case, check, tmp_path):
    harness.check_layer(case, tmp_path, checks=[check])


def test_every_registered_layer_has_cases():
    covered = {type(case.make()).__name__ for case in CASES}
    missing = sorted(set(LAYERS) - covered)
    assert not missing, f"registered layers without an entry in tests/layer_cases.py: {missing}"


def test_every_registered_layer_is_compared_with_torch_or_says_why_not():
    compared = {type(case.make()).__name__ for case in CASES if case.torch is not None}
    missing = sorted(set(LAYERS) - compared - set(NO_TORCH))
    assert not missing, f"layers with no PyTorch case (add a builder, or a reason to NO_TORCH): {missing}"


def test_every_skipped_check_exists_and_says_why():
    for case in CASES:
        for check, reason in case.skip.items():
            assert check in harness.CHECKS and isinstance(reason, str) and reason, (case.id, check)


# ---- the harness catches what it is for --------------------------------------------------------------------
class OverwritingDense(layers.Dense):
    """A Dense whose backward overwrites its gradients (the bug the tape and += fixed)."""

    def accumulate(self, name, value):
        self.grads[name] = value


class NumPyOnTheMathPath(layers.Softmax):
    """A Softmax that names NumPy in its backward."""

    def grad(self, x, y, grad_out):
        return y * (grad_out - np.sum(grad_out * y, axis=-1, keepdims=True))


class WrongTanh(layers.Tanh):
    def grad(self, x, y, grad_out):
        return grad_out * (1 - y)


class Registered(layers.Layer):
    """A layer made known to the registry, with no case."""


def test_the_used_twice_check_catches_overwritten_gradients():
    with pytest.raises(AssertionError, match="sum of both uses"):
        harness.check_twice(harness.Case("overwriting", lambda: OverwritingDense(3), (4, 5)))


def test_the_namespace_check_catches_a_direct_numpy_call():
    with pytest.raises(strict_namespace.DirectNumPyCall, match=r"numpy\.sum was called on a StrictArray"):
        harness.check_namespace(harness.Case("numpy_softmax", NumPyOnTheMathPath, (4, 5)))
    harness.check_namespace(harness.Case("softmax", layers.Softmax, (4, 5)))          # the real one passes


def test_the_gradient_and_torch_checks_catch_a_wrong_derivative():
    from layer_cases import torch_elementwise
    case = harness.Case("wrong_tanh", WrongTanh, (4, 5), torch=torch_elementwise)
    with pytest.raises(AssertionError, match="input"):
        harness.check_gradients(case)
    pytest.importorskip("torch")
    with pytest.raises(AssertionError, match="input gradient vs torch"):
        harness.check_torch(case)


def test_the_contract_check_catches_a_wrong_fast_flag():
    with pytest.raises(AssertionError, match="called the fast kernels"):
        harness.check_contract(harness.Case("max_pool_unflagged", layers.MaxPooling2D, (2, 4, 4, 1)))
    with pytest.raises(AssertionError, match="called no kernel"):
        harness.check_contract(harness.Case("tanh_flagged", layers.Tanh, (4, 5), fast=True))


def test_a_registered_layer_without_a_case_is_reported(monkeypatch):
    monkeypatch.setitem(LAYERS, "Registered", Registered)
    with pytest.raises(AssertionError, match=r"without an entry in tests/layer_cases.py: \['Registered'\]"):
        test_every_registered_layer_has_cases()
