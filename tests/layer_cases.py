"""Every registered layer x its configurations, for the harness (tests/harness.py, run by tests/test_layers.py).

Our layers are channels-last (N, H, W, C); PyTorch's image ops are (N, C, H, W): the PyTorch builders permute
inside the graph, and turn kernels (kh, kw, C_in, F) into (F, C_in, kh, kw), Dense's (in, units) into
Linear's (units, in). "same" padding is TensorFlow's (the odd row / column at the bottom / right), given to
PyTorch as an explicit F.pad. A registered layer without an entry here fails tests/test_layers.py.
"""
from __future__ import annotations

import numpy as np

from scratchnn import layers

from harness import Case

# Layers PyTorch cannot be compared with, and why (every other registered layer needs a torch builder).
NO_TORCH = {"Dropout": "PyTorch draws its own masks: tests/test_parity_conv.py compares the statistics"}


# ---- inputs ----------------------------------------------------------------------------------------------
def away_from_kinks(rng, shape):
    """Standard normal, with values within 1e-3 of 0 moved to 0.5 (where relu-like derivatives jump)."""
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5
    return x


def scaled(scale):
    def inputs(rng, shape):
        return away_from_kinks(rng, shape) * scale
    return inputs


def ties(rng, shape):
    """0s and 1s: windows with tied maxima of 0 and of 1 (the first one in row-major order wins)."""
    return rng.integers(0, 2, shape).astype(np.float64)


# ---- PyTorch builders: (layer, torch, training) -> (fn in our layout, {name: (leaf tensor, grad -> ours)}[,
# {buffer name: () -> its expected value after fn ran}]) ---------------------------------------------------
def leaf(torch, array):
    return torch.tensor(np.array(array, copy=True), requires_grad=True)


def as_numpy(grad):
    return grad.numpy()


def nchw(t):
    return t.permute(0, 3, 1, 2)


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def torch_pad(layer):
    """F.pad's (left, right, top, bottom) for a layer's TensorFlow-style padding."""
    (top, bottom), (left, right) = layer.pads
    return left, right, top, bottom


def torch_activation(layer, torch):
    """PyTorch's function for one of our activation layers (identity for None)."""
    F = torch.nn.functional
    if layer is None:
        return lambda t: t
    functions = {
        "Linear": lambda t: t, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "ReLU": torch.relu,
        "LeakyReLU": lambda t: F.leaky_relu(t, layer.alpha), "ELU": lambda t: F.elu(t, layer.alpha),
        "GELU": lambda t: F.gelu(t, approximate="tanh" if layer.approximate else "none"),
        "Softplus": F.softplus, "Softmax": lambda t: torch.softmax(t, dim=-1),
    }
    return next(functions[cls.__name__] for cls in type(layer).__mro__ if cls.__name__ in functions)


def torch_elementwise(layer, torch, training):
    return torch_activation(layer, torch), {}


def torch_dense(layer, torch, training):
    F = torch.nn.functional
    weight = leaf(torch, layer.params["kernel"].T)
    params = {"kernel": (weight, lambda g: g.numpy().T)}
    bias = None
    if layer.use_bias:
        bias = leaf(torch, layer.params["bias"])
        params["bias"] = (bias, as_numpy)
    activation = torch_activation(layer.activation, torch)
    return (lambda t: activation(F.linear(t, weight, bias))), params


def torch_conv2d(layer, torch, training):
    F = torch.nn.functional
    kernel = leaf(torch, layer.params["kernel"].transpose(3, 2, 0, 1))
    params = {"kernel": (kernel, lambda g: g.numpy().transpose(2, 3, 1, 0))}
    bias = None
    if layer.use_bias:
        bias = leaf(torch, layer.params["bias"])
        params["bias"] = (bias, as_numpy)
    activation = torch_activation(layer.activation, torch)

    def fn(t):
        y = F.conv2d(F.pad(nchw(t), torch_pad(layer)), kernel, bias, stride=layer.strides,
                     dilation=layer.dilation_rate)
        return activation(nhwc(y))
    return fn, params


def torch_max_pool(layer, torch, training):
    F = torch.nn.functional
    return (lambda t: nhwc(F.max_pool2d(F.pad(nchw(t), torch_pad(layer), value=-np.inf), layer.pool_size,
                                        layer.strides))), {}


def torch_average_pool(layer, torch, training):
    F = torch.nn.functional

    def pool(u):
        return F.avg_pool2d(F.pad(u, torch_pad(layer)), layer.pool_size, layer.strides, divisor_override=1)

    def fn(t):
        u = nchw(t)
        return nhwc(pool(u) / pool(torch.ones_like(u)))         # the sum over the window / the inputs in it
    return fn, {}


def torch_global_average(layer, torch, training):
    return (lambda t: nchw(t).mean(dim=(2, 3))), {}


def torch_global_max(layer, torch, training):
    F = torch.nn.functional
    return (lambda t: F.adaptive_max_pool2d(nchw(t), 1).flatten(1)), {}


def torch_batch_norm(layer, torch, training):
    """F.batch_norm over the layer's feature axis moved to axis 1 (Keras's momentum m is PyTorch's 1 - m)."""
    F = torch.nn.functional
    params, gamma, beta = {}, None, None
    if layer.scale:
        gamma = leaf(torch, layer.params["gamma"])
        params["gamma"] = (gamma, as_numpy)
    if layer.center:
        beta = leaf(torch, layer.params["beta"])
        params["beta"] = (beta, as_numpy)
    old_var = np.array(layer.buffers["moving_variance"], copy=True)
    mean, var = torch.tensor(np.array(layer.buffers["moving_mean"], copy=True)), torch.tensor(old_var)
    axis, use_batch, momentum = layer.feature_axis, training and layer.trainable, layer.momentum
    count = []

    def fn(t):
        count.append(t.numel() // t.shape[axis])
        y = F.batch_norm(t.movedim(axis, 1), mean, var, gamma, beta, training=use_batch,
                         momentum=1 - momentum, eps=layer.epsilon)
        return y.movedim(1, axis)

    def moving_variance():
        # PyTorch's running_var moves towards the unbiased batch variance (count / (count - 1) times ours)
        if not use_batch:
            return var.numpy()
        unbiased_step = var.numpy() - momentum * old_var
        return momentum * old_var + unbiased_step * (count[0] - 1) / count[0]

    return fn, params, {"moving_mean": lambda: mean.numpy(), "moving_variance": moving_variance}


def torch_flatten(layer, torch, training):
    return (lambda t: torch.flatten(t, 1)), {}


def torch_reshape(layer, torch, training):
    return (lambda t: t.reshape(len(t), *layer.output_shape)), {}


# ---- the table -------------------------------------------------------------------------------------------
CASES: list[Case] = []


def add(id, make, shape, **options):
    CASES.append(Case(id, make, tuple(shape), **options))


# Dense: (N, in), (N, ..., in) on the last axis, with and without bias and activation
add("dense", lambda: layers.Dense(3), (4, 5), torch=torch_dense)
add("dense_no_bias", lambda: layers.Dense(3, use_bias=False), (4, 5), torch=torch_dense)
add("dense_one_sample", lambda: layers.Dense(4), (1, 6), torch=torch_dense)
add("dense_wide", lambda: layers.Dense(7), (4, 5), torch=torch_dense)
add("dense_3d", lambda: layers.Dense(4), (2, 3, 5), torch=torch_dense)
add("dense_4d_tanh", lambda: layers.Dense(3, activation="tanh"), (2, 2, 3, 4), torch=torch_dense)
add("dense_relu", lambda: layers.Dense(3, activation="relu"), (6, 4), torch=torch_dense, inputs=away_from_kinks)
add("dense_softmax", lambda: layers.Dense(3, activation="softmax"), (4, 5), torch=torch_dense)
add("dense_leaky_relu_layer", lambda: layers.Dense(2, activation=layers.LeakyReLU(0.2)), (4, 5), torch=torch_dense)
add("dense_l2", lambda: layers.Dense(3, kernel_regularizer="l2"), (4, 5), torch=torch_dense)
add("dense_frozen", lambda: layers.Dense(3, trainable=False), (4, 5), torch=torch_dense)

# every activation, at normal scale and at |x| ~ 1000 (no overflow warning, finite outputs and gradients)
ACTIVATIONS = {
    "linear": layers.Linear, "sigmoid": layers.Sigmoid, "tanh": layers.Tanh, "relu": layers.ReLU,
    "leaky_relu": layers.LeakyReLU, "leaky_relu_0.1": lambda: layers.LeakyReLU(0.1),
    "elu": layers.ELU, "elu_0.7": lambda: layers.ELU(0.7), "elu_1.5": lambda: layers.ELU(1.5),
    "gelu": layers.GELU, "gelu_tanh": lambda: layers.GELU(approximate=True), "softplus": layers.Softplus,
    "softmax": layers.Softmax,
}
EXTREME = {"gradients": "at |x| ~ 1000 the derivatives underflow to ~0 and central differences measure only the "
                        "loss's rounding (the case is for overflow and PyTorch parity)"}
for name, make in ACTIVATIONS.items():
    add(name, make, (8, 6), torch=torch_elementwise, inputs=away_from_kinks)
    add(f"{name}_extreme", make, (8, 6), torch=torch_elementwise, inputs=scaled(1000.0),
        skip=EXTREME)
add("relu_4d", layers.ReLU, (2, 3, 4, 2), torch=torch_elementwise, inputs=away_from_kinks)
add("softmax_3d", layers.Softmax, (2, 3, 4), torch=torch_elementwise)

# Conv2D: kernel sizes, strides, padding (odd and even sizes), dilation, bias, one channel, an activation
CONV = {                                                    # id: (Conv2D arguments, input shape)
    "k3_valid_s1": ((3, 3), (2, 6, 5, 2)),
    "k3_valid_s2_odd": ((2, 3, 2), (2, 7, 7, 2)),
    "k3_same_s1_even": ((3, 3, 1, "same"), (2, 6, 6, 2)),
    "k3_same_s2_odd": ((3, 3, 2, "same"), (2, 7, 5, 3)),
    "k3_same_s2_even": ((2, 3, 2, "same"), (2, 6, 8, 2)),
    "k1": ((4, 1), (2, 4, 3, 3)),
    "k5_valid": ((2, 5), (2, 7, 6, 2)),
    "k5_same_s2": ((2, 5, 2, "same"), (1, 6, 7, 2)),
    "k2x3_rect": ((2, (2, 3), (1, 2)), (2, 5, 7, 2)),
    "dilation2_valid": ((2, 3, 1, "valid", 2), (2, 7, 7, 2)),
    "dilation2_same": ((2, 3, 1, "same", 2), (2, 6, 5, 2)),
    "one_channel_keeps_patches": ((12, 3, 2, "same"), (3, 7, 6, 1)),     # 3*3*1 + 1 <= 12 filters
    # the PyTorch grid of the former tests/test_parity_conv.py
    "grid_k3_valid": ((4, 3, 1, "valid", 1), (2, 8, 7, 3)),
    "grid_k3_same": ((4, 3, 1, "same", 1), (2, 8, 7, 3)),
    "grid_k3_same_s2": ((4, 3, 2, "same", 1), (2, 8, 7, 3)),
    "grid_k3_same_s2_square": ((4, 3, 2, "same", 1), (2, 9, 9, 2)),
    "grid_k3_valid_s2": ((3, 3, 2, "valid", 1), (2, 9, 8, 2)),
    "grid_k5_same_s2": ((3, 5, 2, "same", 1), (2, 10, 9, 2)),
    "grid_k1_valid": ((3, 1, 1, "valid", 1), (2, 5, 5, 4)),
    "grid_k1_same_s2": ((3, 1, 2, "same", 1), (2, 5, 6, 4)),
    "grid_k2x4_same_s2x1": ((2, (2, 4), (2, 1), "same", 1), (2, 7, 9, 3)),
    "grid_dilation2_valid": ((3, 3, 1, "valid", 2), (2, 9, 8, 2)),
    "grid_dilation2_same": ((3, 3, 1, "same", 2), (2, 8, 9, 2)),
    "grid_k2_same_one_channel": ((3, 2, 1, "same", 1), (1, 6, 6, 1)),
}
for name, (args, shape) in CONV.items():
    add(f"conv_{name}", lambda args=args: layers.Conv2D(*args), shape, torch=torch_conv2d, fast=True)
add("conv_no_bias", lambda: layers.Conv2D(3, 3, padding="same", use_bias=False), (2, 4, 5, 2), torch=torch_conv2d,
    fast=True)
add("conv_relu", lambda: layers.Conv2D(3, 3, activation="relu"), (2, 5, 5, 2), torch=torch_conv2d, fast=True)
add("conv_tanh_l2_s2_dilated", lambda: layers.Conv2D(2, 2, strides=2, dilation_rate=(1, 2), padding="same",
                                                     activation="tanh", kernel_regularizer="l2"),
    (2, 5, 6, 2), torch=torch_conv2d, fast=True)
add("conv_frozen", lambda: layers.Conv2D(2, 3, trainable=False), (2, 4, 4, 1), torch=torch_conv2d, fast=True)

# windowed pooling: valid / same, odd sizes, overlapping windows, rectangular windows and strides, ties
MAX_POOL = {
    "2": ((2,), (2, 6, 4, 3)),
    "2_odd_valid": ((2,), (2, 5, 7, 2)),
    "2_odd_same": ((2, None, "same"), (2, 5, 7, 2)),
    "3_s2_overlap": ((3, 2), (2, 7, 6, 2)),
    "3_s1_same": ((3, 1, "same"), (2, 5, 4, 2)),
    "2x3_s1x2": (((2, 3), (1, 2)), (2, 5, 7, 2)),
    "1x2": (((1, 2),), (2, 3, 4, 2)),
    "1x1": ((1,), (2, 3, 4, 2)),
}
POOL_GRID = {                                               # the PyTorch grid of the former parity tests
    "grid_2_even": ((2, None, "valid"), (2, 8, 6, 3)),
    "grid_2_odd": ((2, None, "valid"), (2, 7, 5, 3)),
    "grid_2_same": ((2, None, "same"), (2, 7, 5, 3)),
    "grid_3_s2": ((3, 2, "valid"), (2, 9, 8, 2)),
    "grid_3_s2_same": ((3, 2, "same"), (2, 9, 8, 2)),
    "grid_3_s1_same": ((3, 1, "same"), (2, 6, 5, 2)),
    "grid_2x3_s1x2": (((2, 3), (1, 2), "valid"), (2, 6, 7, 2)),
}
NO_GRADCHECK_AT_TIES = {"gradients": "tied maxima: max is not differentiable there (the tie rule is what "
                                     "the torch and fast checks compare)"}
for name, (args, shape) in {**MAX_POOL, **POOL_GRID}.items():
    add(f"max_pool_{name}", lambda args=args: layers.MaxPooling2D(*args), shape, torch=torch_max_pool, fast=True)
for name, (args, shape) in POOL_GRID.items():
    add(f"max_pool_{name}_ties", lambda args=args: layers.MaxPooling2D(*args), shape, torch=torch_max_pool,
        fast=True, inputs=ties, skip=NO_GRADCHECK_AT_TIES)
AVERAGE_POOL = {
    "2": ((2,), (2, 6, 4, 3)),
    "3_s2_same": ((3, 2, "same"), (2, 7, 6, 2)),
    "3_s1_overlap": ((3, 1), (2, 5, 5, 2)),
}
for name, (args, shape) in {**AVERAGE_POOL, **POOL_GRID}.items():
    add(f"average_pool_{name}", lambda args=args: layers.AveragePooling2D(*args), shape, torch=torch_average_pool)

add("global_average_pool", layers.GlobalAveragePooling2D, (3, 4, 5, 2), torch=torch_global_average)
add("global_average_pool_grid", layers.GlobalAveragePooling2D, (2, 5, 4, 3), torch=torch_global_average)
add("global_max_pool", layers.GlobalMaxPooling2D, (3, 4, 5, 2), torch=torch_global_max)
add("global_max_pool_grid", layers.GlobalMaxPooling2D, (2, 5, 4, 3), torch=torch_global_max)
add("global_max_pool_ties", layers.GlobalMaxPooling2D, (2, 3, 3, 2), torch=torch_global_max, inputs=ties,
    skip=NO_GRADCHECK_AT_TIES)

# BatchNormalization: after a Dense, after a Conv2D, other feature axes, without gamma / beta, frozen
BATCH_NORM = {
    "dense": ((), (8, 4)),
    "conv": ((), (3, 4, 3, 2)),
    "axis1_3d": ({"axis": 1}, (4, 3, 2)),
    "axis1_4d": ({"axis": 1}, (2, 3, 2, 2)),
    "axis2_4d": ({"axis": 2}, (2, 2, 3, 2)),
    "axis_minus2": ({"axis": -2}, (3, 3, 2)),
    "no_beta": ({"center": False}, (5, 3)),
    "no_gamma": ({"scale": False}, (5, 3)),
    "no_gamma_no_beta": ({"center": False, "scale": False}, (5, 3)),
    "momentum_0.9": ({"momentum": 0.9}, (16, 5)),                        # the former PyTorch cases
    "momentum_0.9_conv": ({"momentum": 0.9}, (4, 3, 5, 6)),
    "epsilon_1e-5": ({"epsilon": 1e-5}, (6, 3)),
}
for name, (kwargs, shape) in BATCH_NORM.items():
    add(f"batch_norm_{name}", lambda kwargs=kwargs: layers.BatchNormalization(**dict(kwargs)), shape,
        torch=torch_batch_norm, modes=("train", "infer"), fast=True)
add("batch_norm_frozen", lambda: layers.BatchNormalization(trainable=False), (6, 3), torch=torch_batch_norm,
    fast=True)                                              # frozen: the moving statistics in training too

# Dropout: training drops (the mask replayed from the layer's generator), inference is the identity
add("dropout", lambda: layers.Dropout(0.4), (4, 6), modes=("train", "infer"), draws=True)
add("dropout_4d", lambda: layers.Dropout(0.25), (2, 3, 2, 2), modes=("train", "infer"), draws=True)
add("dropout_rate0", lambda: layers.Dropout(0.0), (4, 6))

# shapes only
add("flatten", layers.Flatten, (4, 3, 2), torch=torch_flatten)
add("flatten_image", layers.Flatten, (2, 3, 2, 2), torch=torch_flatten)
add("flatten_2d", layers.Flatten, (3, 4), torch=torch_flatten)
add("reshape_infer", lambda: layers.Reshape((-1, 2)), (2, 3, 4), torch=torch_reshape)
add("reshape_exact", lambda: layers.Reshape((2, 2, 3)), (2, 12), torch=torch_reshape)
add("reshape_to_image", lambda: layers.Reshape((2, 3, 1)), (3, 6), torch=torch_reshape)

from layer_cases_keras import CASES as KERAS_CASES  # noqa: E402 - issue 16's activations, preprocessing, augmentation
CASES.extend(KERAS_CASES)

from layer_cases_rnn import CASES as RNN_CASES  # noqa: E402 - issue 18: Embedding, RNNs, wrappers
CASES.extend(RNN_CASES)

from layer_cases_seq import CASES as SEQUENCE_CASES  # noqa: E402 - issue 18: Conv1D, pooling, LayerNorm, attention
CASES.extend(SEQUENCE_CASES)

from layer_cases_merge import CASES as MERGE_CASES  # noqa: E402 - issue 17: merge layers, Residual
CASES.extend(MERGE_CASES)

from layer_cases_conv import CASES as CONV_CASES  # noqa: E402 - issue 17: the convolution family
CASES.extend(CONV_CASES)

assert len({case.id for case in CASES}) == len(CASES), "case ids must be unique"
