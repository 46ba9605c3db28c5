"""The harness cases of the merge layers and Residual (issue 17).

A merge layer's case gives ``shapes`` (one per input): its forward takes a list of arrays and its backward
returns a list of gradients; the PyTorch builders take the list of input tensors. Residual's builder chains
the builders of its inner layers (tests/layer_cases.py) and adds the input: t + block(t).
"""
from __future__ import annotations

from scratchnn import layers

from harness import Case

CASES: list[Case] = []


def add(id, make, shapes, **options):
    """A merge case: ``shapes`` is one shape per input (batch first)."""
    shapes = tuple(tuple(shape) for shape in shapes)
    CASES.append(Case(id, make, shapes[0], shapes=shapes, **options))


def add_one(id, make, shape, **options):
    CASES.append(Case(id, make, tuple(shape), **options))


# ---- PyTorch builders: (layer, torch, training) -> (fn of the list of input tensors, {}) ----------------------
def torch_add(layer, torch, training):
    return (lambda ts: sum(ts[1:], ts[0])), {}


def torch_subtract(layer, torch, training):
    return (lambda ts: ts[0] - ts[1]), {}


def torch_multiply(layer, torch, training):
    def fn(ts):
        y = ts[0]
        for t in ts[1:]:
            y = y * t
        return y
    return fn, {}


def torch_average(layer, torch, training):
    return (lambda ts: torch.stack(ts).mean(dim=0)), {}


def torch_maximum(layer, torch, training):
    return (lambda ts: torch.stack(ts).amax(dim=0)), {}       # the inputs have no ties (standard normal)


def torch_concatenate(layer, torch, training):
    return (lambda ts: torch.cat(ts, dim=layer.axis)), {}


def torch_residual(layer, torch, training):
    """t + block(t), the block's layers through their own builders; frozen inner layers map no parameter."""
    from layer_cases import torch_conv2d, torch_dense, torch_elementwise
    builders = {"Dense": torch_dense, "Conv2D": torch_conv2d, "Tanh": torch_elementwise, "ReLU": torch_elementwise}
    functions, params = [], {}
    for index, inner in enumerate(layer.block):
        fn, inner_params = builders[type(inner).__name__](inner, torch, training)[:2]
        functions.append(fn)
        if inner.trainable:
            params.update({f"{index}.{name}": value for name, value in inner_params.items()})

    def residual(t):
        h = t
        for fn in functions:
            h = fn(h)
        return t + h
    return residual, params


# ---- the table ---------------------------------------------------------------------------------------------
add("add_2", layers.Add, [(4, 5), (4, 5)], torch=torch_add)
add("add_3_image", layers.Add, [(2, 3, 2, 2)] * 3, torch=torch_add)
add("subtract", layers.Subtract, [(4, 5), (4, 5)], torch=torch_subtract)
add("subtract_3d", layers.Subtract, [(2, 3, 4), (2, 3, 4)], torch=torch_subtract)
add("multiply_2", layers.Multiply, [(4, 5), (4, 5)], torch=torch_multiply)
add("multiply_3", layers.Multiply, [(3, 2, 4)] * 3, torch=torch_multiply)
add("average_2", layers.Average, [(4, 5), (4, 5)], torch=torch_average)
add("average_4", layers.Average, [(3, 4)] * 4, torch=torch_average)
add("maximum_2", layers.Maximum, [(4, 5), (4, 5)], torch=torch_maximum)
add("maximum_3_image", layers.Maximum, [(2, 3, 2, 2)] * 3, torch=torch_maximum)
add("concatenate_last", layers.Concatenate, [(4, 3), (4, 5)], torch=torch_concatenate)
add("concatenate_three", layers.Concatenate, [(3, 2), (3, 1), (3, 4)], torch=torch_concatenate)
add("concatenate_axis1_image", lambda: layers.Concatenate(axis=1), [(2, 3, 4, 2), (2, 1, 4, 2)],
    torch=torch_concatenate)
add("concatenate_channels", lambda: layers.Concatenate(axis=-1), [(2, 3, 3, 2), (2, 3, 3, 3)], torch=torch_concatenate)
add("concatenate_axis_minus2", lambda: layers.Concatenate(axis=-2), [(2, 3, 4), (2, 2, 4)], torch=torch_concatenate)

add_one("residual_dense_pair", lambda: layers.Residual([layers.Dense(5, activation="tanh"), layers.Dense(5)]),
        (4, 5), torch=torch_residual)
add_one("residual_one_layer_3d", lambda: layers.Residual(layers.Dense(3)), (2, 4, 3), torch=torch_residual)
add_one("residual_dense_then_tanh", lambda: layers.Residual([layers.Dense(4), layers.Tanh()]), (3, 4),
        torch=torch_residual)
add_one("residual_frozen_inner", lambda: layers.Residual([layers.Dense(4), layers.Dense(4, trainable=False)]),
        (3, 4), torch=torch_residual)
add_one("residual_conv", lambda: layers.Residual([layers.Conv2D(2, 3, padding="same", activation="tanh"),
                                                  layers.Conv2D(2, 3, padding="same")]),
        (2, 5, 4, 2), torch=torch_residual, fast=True, tol=1e-7)
add_one("residual_batch_norm", lambda: layers.Residual([layers.BatchNormalization(), layers.Dense(3)]), (6, 3),
        modes=("train", "infer"), fast=True)
add_one("residual_dropout", lambda: layers.Residual(layers.Dropout(0.3)), (4, 6), modes=("train", "infer"),
        draws=True)
