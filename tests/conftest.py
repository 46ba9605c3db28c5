"""Shared fixtures. Optional test dependencies (torch, sklearn, onnx...) are required in CI (CI=true):
there a missing one fails the test; elsewhere the test is skipped."""
import importlib
import os

import numpy as np
import pytest


def require(module):
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
