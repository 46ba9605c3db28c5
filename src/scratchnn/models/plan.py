"""Exact rewrites of a model's execution, computed once when the model is built (never per forward).

Each rewrite changes no value and no gradient (a property test checks both, tests/test_plan.py); it only
lets the same numbers come from less work.
"""
from __future__ import annotations

from ..layers import activations, pooling


def execution_order(layers: list) -> list[int]:
    """The order in which forward runs the layers (backward runs it reversed): the listed one, except that
    a ReLU followed by a MaxPooling2D runs after it. max(relu(x)) = relu(max(x)) exactly, and the gradients
    are the same (a window whose maximum is not positive passes no gradient either way), but ReLU's two
    passes then touch a quarter of the data, and max pooling finds no ties at zero to break.

    >>> from scratchnn import layers
    >>> execution_order([layers.Conv2D(4, 3), layers.ReLU(), layers.MaxPooling2D(2), layers.Flatten()])
    [0, 2, 1, 3]
    """
    order = list(range(len(layers)))
    k = 0
    while k < len(order) - 1:
        if type(layers[order[k]]) is activations.ReLU and type(layers[order[k + 1]]) is pooling.MaxPooling2D:
            order[k], order[k + 1] = order[k + 1], order[k]
            k += 1
        k += 1
    return order
