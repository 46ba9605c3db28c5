"""Harness cases for the layers of issue 16: the activations Keras has (SELU, SiLU, ReLU6, HardSigmoid, Mish,
PReLU, Activation), the preprocessing layers (Rescaling, Normalization) and image augmentation (RandomFlip,
RandomTranslation, RandomRotation, RandomZoom). tests/layer_cases.py adds them to its CASES.

The augmentation layers are compared with PyTorch on the same draws: the builder replays the layer's generator
(a copy of it, taken before our forward draws), flips with torch.flip and samples with F.grid_sample
(align_corners=True: pixel centres at -1 and 1, which is our pixel grid), padding "zeros" for
fill_mode="constant" and "border" for "nearest". PyTorch has no form of our "reflect" and "wrap" (its reflection
is about the edge pixels' centres): those cases are checked by central differences and the rest of the harness.
"""
from __future__ import annotations

import copy

import numpy as np

from scratchnn import initializers, layers

from harness import Case

CASES: list[Case] = []


def add(id, make, shape, **options):
    CASES.append(Case(id, make, tuple(shape), **options))


# ---- inputs ----------------------------------------------------------------------------------------------
def away_from(*kinks, scale=1.0):
    """Standard normal times scale, with values within 1e-3 of a kink moved 0.5 away from it."""
    def inputs(rng, shape):
        x = rng.standard_normal(shape) * scale
        for kink in kinks:
            x[np.abs(x - kink) < 1e-3] = kink + 0.5
        return x
    return inputs


def uniform(low, high):
    def inputs(rng, shape):
        return rng.uniform(low, high, shape)
    return inputs


# ---- PyTorch builders --------------------------------------------------------------------------------------
def leaf(torch, array):
    return torch.tensor(np.array(array, copy=True), requires_grad=True)


def nchw(t):
    return t.permute(0, 3, 1, 2)


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def torch_function(layer, torch):
    """PyTorch's function for one of the activations of this file (None for another layer)."""
    F = torch.nn.functional
    # F.hardsigmoid's backward multiplies by a float32 1/6 (3e-8 off in float64): its definition instead
    functions = {"SELU": F.selu, "SiLU": F.silu, "ReLU6": F.relu6, "HardSigmoid": lambda t: F.relu6(t + 3) / 6,
                 "Mish": F.mish}
    if type(layer).__name__ == "Activation":
        return torch_function(layer.function, torch)
    return functions.get(type(layer).__name__)


def torch_elementwise(layer, torch, training):
    return torch_function(layer, torch), {}


def torch_prelu(layer, torch, training):
    """F.prelu where PyTorch's layout fits (one alpha, or one per channel of an image), else the formula."""
    F = torch.nn.functional
    alpha = layer.params["alpha"]
    if alpha.size == 1 or (alpha.ndim == 3 and alpha.shape[:2] == (1, 1)):
        weight = leaf(torch, alpha.reshape(-1))
        image = alpha.ndim == 3
        return ((lambda t: nhwc(F.prelu(nchw(t), weight))) if image else (lambda t: F.prelu(t, weight)),
                {"alpha": (weight, lambda g: g.numpy().reshape(alpha.shape))})
    weight = leaf(torch, alpha)
    return (lambda t: torch.where(t > 0, t, weight * t)), {"alpha": (weight, lambda g: g.numpy())}


def with_activation(builder_name):
    """tests/layer_cases.py's Dense / Conv2D builder, then PyTorch's form of one of our new activations."""
    def builder(layer, torch, training):
        import layer_cases
        activation, layer.activation = layer.activation, None          # the builder reads it only here
        try:
            fn, params = getattr(layer_cases, builder_name)(layer, torch, training)
        finally:
            layer.activation = activation
        after = torch_function(activation, torch)
        return (lambda t: after(fn(t))), params
    return builder


def torch_rescaling(layer, torch, training):
    scale, offset = torch.tensor(layer.scale_array), torch.tensor(layer.offset_array)
    return (lambda t: t * scale + offset), {}


def torch_normalization(layer, torch, training):
    mean, variance = (torch.tensor(np.array(layer.buffers[k], copy=True)) for k in ("mean", "variance"))
    return (lambda t: (t - mean) / torch.clamp(torch.sqrt(variance), min=1e-7)), {}


def torch_flip(layer, torch, training):
    if not training:
        return (lambda t: t), {}                                     # inference: the identity
    rng = copy.deepcopy(layer.rng)

    def fn(t):
        for axis, chosen in layer.flips(rng, len(t)):
            mask = torch.tensor(chosen).reshape(-1, 1, 1, 1)
            t = torch.where(mask, torch.flip(t, dims=(axis,)), t)
        return t
    return fn, {}


def torch_affine(layer, torch, training):
    """F.grid_sample at the points our transform reads (rows and columns as -1 .. 1 from pixel centres)."""
    F = torch.nn.functional
    if not training:
        return (lambda t: t), {}
    rng = copy.deepcopy(layer.rng)
    mode = "nearest" if layer.interpolation == "nearest" else "bilinear"
    padding = {"constant": "zeros", "nearest": "border"}[layer.fill_mode]

    def fn(t):
        n, height, width, _ = t.shape
        a = np.asarray(layer.transforms(rng, n, height, width), dtype=np.float64).reshape(2, 3, n, 1, 1)
        out_rows, out_cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        rows = a[0, 0] * out_rows + a[0, 1] * out_cols + a[0, 2]
        cols = a[1, 0] * out_rows + a[1, 1] * out_cols + a[1, 2]
        grid = torch.tensor(np.stack([2 * cols / (width - 1) - 1, 2 * rows / (height - 1) - 1], axis=-1))

        def sample(u):
            return nhwc(F.grid_sample(nchw(u), grid, mode=mode, padding_mode=padding, align_corners=True))
        y = sample(t)
        if layer.fill_mode == "constant" and layer.fill_value:
            y = y + layer.fill_value * (1 - sample(torch.ones_like(t)))
        return y
    return fn, {}


# ---- the cases ---------------------------------------------------------------------------------------------
EXTREME = {"gradients": "at |x| ~ 1000 the derivatives underflow to ~0 and central differences measure only the "
                        "loss's rounding (the case is for overflow and PyTorch parity)"}
ACTIVATIONS = {                                  # id: (make, inputs away from the kinks)
    "selu": (layers.SELU, away_from(0.0)),
    "silu": (layers.SiLU, away_from()),
    "relu6": (layers.ReLU6, away_from(0.0, 6.0, scale=4.0)),
    "hard_sigmoid": (layers.HardSigmoid, away_from(-3.0, 3.0, scale=2.5)),
    "mish": (layers.Mish, away_from()),
    "activation_selu": (lambda: layers.Activation("selu"), away_from(0.0)),
    "activation_swish": (lambda: layers.Activation("swish"), away_from()),
    "activation_hard_sigmoid": (lambda: layers.Activation("hard_sigmoid"), away_from(-3.0, 3.0, scale=2.5)),
}
for name, (make, inputs) in ACTIVATIONS.items():
    add(f"keras_{name}", make, (8, 6), torch=torch_elementwise, inputs=inputs)
    add(f"keras_{name}_extreme", make, (8, 6), torch=torch_elementwise, inputs=away_from(0.0, scale=1000.0),
        skip=EXTREME)
add("keras_mish_4d", layers.Mish, (2, 3, 4, 2), torch=torch_elementwise)

PRELU_START = initializers.RandomUniform(-0.5, 0.5)
add("keras_prelu", lambda: layers.PReLU(PRELU_START), (8, 6), torch=torch_prelu, inputs=away_from(0.0))
add("keras_prelu_default_zeros", layers.PReLU, (8, 6), torch=torch_prelu, inputs=away_from(0.0))
add("keras_prelu_image_per_channel", lambda: layers.PReLU(PRELU_START, shared_axes=[1, 2]), (2, 4, 3, 3),
    torch=torch_prelu, inputs=away_from(0.0))
add("keras_prelu_shared_width", lambda: layers.PReLU(PRELU_START, shared_axes=2), (3, 4, 5, 2),
    torch=torch_prelu, inputs=away_from(0.0))
add("keras_prelu_one_alpha_l2", lambda: layers.PReLU(PRELU_START, alpha_regularizer="l2", shared_axes=[1, 2]),
    (4, 3, 2, 1), torch=torch_prelu, inputs=away_from(0.0))
add("keras_prelu_extreme", lambda: layers.PReLU(PRELU_START), (8, 6), torch=torch_prelu,
    inputs=away_from(0.0, scale=1000.0), skip=EXTREME)

# the new names as activation= of Dense and Conv2D
add("keras_dense_selu", lambda: layers.Dense(3, activation="selu"), (4, 5), torch=with_activation("torch_dense"),
    inputs=away_from(0.0))
add("keras_dense_swish", lambda: layers.Dense(3, activation="swish"), (4, 5), torch=with_activation("torch_dense"))
add("keras_dense_mish", lambda: layers.Dense(3, activation="mish"), (4, 5), torch=with_activation("torch_dense"))
add("keras_conv_relu6", lambda: layers.Conv2D(3, 3, activation="relu6"), (2, 5, 5, 2),
    torch=with_activation("torch_conv2d"), fast=True, inputs=away_from(0.0))
add("keras_conv_hard_sigmoid", lambda: layers.Conv2D(2, 3, padding="same", activation="hard_sigmoid"),
    (2, 4, 4, 1), torch=with_activation("torch_conv2d"), fast=True)

# preprocessing: affine maps with fixed numbers
# (inputs of a few units: central differences at 255 would measure the loss's rounding, 2e-8 of the slope)
add("rescaling", lambda: layers.Rescaling(1 / 255), (4, 5), torch=torch_rescaling, inputs=uniform(0, 4))
add("rescaling_offset", lambda: layers.Rescaling(0.5, offset=-1.0), (2, 4, 4, 3), torch=torch_rescaling)
add("rescaling_pixels_to_signed", lambda: layers.Rescaling(1 / 127.5, offset=-1.0), (2, 4, 4, 3),
    torch=torch_rescaling, inputs=uniform(0, 255),
    skip={"gradients": "a slope of 1/127.5 under an offset of -1: central differences measure the loss's "
                       "rounding (6e-8 of the slope); rescaling_offset checks the same code at slope 0.5"})
add("rescaling_per_channel", lambda: layers.Rescaling([0.5, 2.0, -1.0], offset=[0.0, 1.0, 2.0]), (2, 3, 3),
    torch=torch_rescaling)
add("normalization_features", lambda: layers.Normalization(mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0]),
    (6, 3), torch=torch_normalization)
add("normalization_image_channels", lambda: layers.Normalization(mean=[0.2, 0.4], variance=[0.09, 0.01]),
    (2, 3, 4, 2), torch=torch_normalization)
add("normalization_axis_none", lambda: layers.Normalization(axis=None, mean=3.0, variance=2.0), (4, 5),
    torch=torch_normalization)
add("normalization_axes_1_2", lambda: layers.Normalization(axis=(1, 2), mean=np.arange(6.0).reshape(2, 3).tolist(),
                                                            variance=np.full((2, 3), 0.5).tolist()),
    (3, 2, 3, 2), torch=torch_normalization)
add("normalization_zero_variance", lambda: layers.Normalization(mean=[1.0, 2.0], variance=[0.0, 1.0]), (4, 2),
    torch=torch_normalization)

# augmentation: training draws a transform per image, inference is the identity
AUGMENT = {"modes": ("train", "infer"), "draws": True}
add("random_flip", layers.RandomFlip, (4, 3, 4, 2), torch=torch_flip, **AUGMENT)
add("random_flip_horizontal", lambda: layers.RandomFlip("horizontal"), (4, 3, 4, 1), torch=torch_flip, **AUGMENT)
add("random_flip_vertical", lambda: layers.RandomFlip("vertical"), (4, 4, 3, 2), torch=torch_flip, **AUGMENT)
AFFINE = {
    "translation": lambda **kw: layers.RandomTranslation(0.3, 0.2, **kw),
    "translation_pairs": lambda **kw: layers.RandomTranslation((-0.2, 0.4), (0.1, 0.3), **kw),
    "rotation": lambda **kw: layers.RandomRotation(0.1, **kw),
    "rotation_large": lambda **kw: layers.RandomRotation((0.2, 0.45), **kw),
    "zoom": lambda **kw: layers.RandomZoom(0.4, **kw),
    "zoom_in_wider": lambda **kw: layers.RandomZoom((-0.5, -0.1), (0.1, 0.6), **kw),
}
for name, make in AFFINE.items():
    add(f"random_{name}", make, (2, 5, 4, 2), torch=torch_affine, **AUGMENT)
VARIANTS = {                                     # (the fill and interpolation code is shared by the three)
    "translation_nearest": ("translation", {"interpolation": "nearest"}),
    "rotation_nearest": ("rotation", {"interpolation": "nearest"}),
    "translation_fill_nearest": ("translation", {"fill_mode": "nearest"}),
    "zoom_fill_nearest": ("zoom", {"fill_mode": "nearest"}),
    "translation_fill_value": ("translation", {"fill_value": 0.7}),
    "rotation_fill_value": ("rotation", {"fill_value": -0.3}),
    "translation_reflect": ("translation", {"fill_mode": "reflect"}),
    "zoom_reflect": ("zoom", {"fill_mode": "reflect"}),
    "translation_wrap": ("translation", {"fill_mode": "wrap"}),
    "rotation_wrap": ("rotation", {"fill_mode": "wrap"}),
}
for name, (base, kwargs) in VARIANTS.items():
    torch = torch_affine if kwargs.get("fill_mode") not in ("reflect", "wrap") else None
    add(f"random_{name}", lambda base=base, kwargs=kwargs: AFFINE[base](**kwargs), (2, 5, 4, 1), torch=torch,
        **AUGMENT)
add("random_rotation_one_sample", lambda: layers.RandomRotation(0.2), (1, 6, 6, 1), torch=torch_affine, **AUGMENT)
