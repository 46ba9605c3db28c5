"""The convolution family (issue 17) beyond the layer harness: output shapes against Keras's rules,
Conv2DTranspose as the exact adjoint of Conv2D, grouped / depthwise / separable convolutions against the
plain Conv2D they amount to, argument errors, and ONNX export checked in onnxruntime.

tests/test_onnx.py counts the layers exported here (COVERED) in its every-layer test.
"""
import itertools
import pathlib

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers, saving

from conftest import require

TOL = 1e-5


# ---- Keras's output-length rules (keras.src.utils.conv_utils), written out independently ---------------------
def keras_conv_length(size, kernel, padding, stride, dilation=1):
    span = (kernel - 1) * dilation + 1
    length = size - span + 1 if padding == "valid" else size
    return (length + stride - 1) // stride


def keras_deconv_length(size, kernel, padding, output_padding, stride, dilation=1):
    span = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        return size * stride + max(span - stride, 0) if padding == "valid" else size * stride
    pad = span // 2 if padding == "same" else 0
    return (size - 1) * stride + span - 2 * pad + output_padding


GRID = list(itertools.product((4, 5), (1, 2, 3), (1, 2, 3), ("valid", "same"), (1, 2)))  # size, k, s, pad, d


def built(layer, shape, seed=0):
    layer.dtype = np.dtype("float64")
    layer.build(shape, np.random.default_rng(seed))
    return layer


def test_output_shapes_follow_keras_rules():
    for size, kernel, stride, padding, dilation in GRID:
        shape = (size, size + 1, 2)
        if padding == "valid" and (kernel - 1) * dilation + 1 <= size:
            expected = [keras_conv_length(n, kernel, padding, stride, dilation) for n in shape[:2]]
        elif padding == "same":
            expected = [keras_conv_length(n, kernel, padding, stride, dilation) for n in shape[:2]]
        else:
            expected = None
        for make, channels in ((lambda: layers.DepthwiseConv2D(kernel, stride, padding, 2, dilation), 4),
                               (lambda: layers.SeparableConv2D(3, kernel, stride, padding, 1, dilation), 3),
                               (lambda: layers.Conv2D(4, kernel, stride, padding, dilation, groups=2), 4)):
            if expected is None:
                with pytest.raises(ValueError, match="more than the input"):
                    built(make(), shape)
                continue
            assert built(make(), shape).output_shape == (*expected, channels)
        for output_padding in (None, *range(stride)):
            layer = layers.Conv2DTranspose(3, kernel, stride, padding, output_padding, dilation)
            expected = [keras_deconv_length(n, kernel, padding, output_padding, stride, dilation) for n in shape[:2]]
            assert built(layer, shape).output_shape == (*expected, 3), (size, kernel, stride, padding, dilation)
            y = layer.forward(np.ones((1, *shape)))
            assert y.shape == (1, *expected, 3)


def test_conv2d_transpose_is_the_exact_adjoint_of_conv2d():
    """<Conv2D(x), y> = <x, Conv2DTranspose(y)> with the same kernel, for every stride / padding / dilation."""
    rng = np.random.default_rng(0)
    checked = 0
    for size, kernel, stride, padding, dilation in GRID:
        if padding == "valid" and (kernel - 1) * dilation + 1 > size:
            continue
        conv = built(layers.Conv2D(3, kernel, stride, padding, dilation, use_bias=False), (size, size + 1, 2))
        out_h, out_w, _ = conv.output_shape
        for output_padding in (None, *itertools.product(range(stride), repeat=2)):
            transpose = layers.Conv2DTranspose(2, kernel, stride, padding, output_padding, dilation, use_bias=False)
            if built(transpose, conv.output_shape).output_shape == conv.input_shape:
                break
        else:
            continue                   # an even kernel, "same", would need output_padding == stride
        transpose.params["kernel"][...] = conv.params["kernel"]
        x, y = rng.standard_normal((2, size, size + 1, 2)), rng.standard_normal((2, out_h, out_w, 3))
        np.testing.assert_allclose(np.vdot(conv.forward(x), y), np.vdot(x, transpose.forward(y)), rtol=1e-12)
        checked += 1
    assert checked >= 60


@pytest.mark.parametrize("fast", [True, False])
def test_grouped_conv_is_plain_convs_side_by_side(fast, monkeypatch):
    from scratchnn.backend import kernels_cpu
    if not fast:
        monkeypatch.setattr(kernels_cpu, "enabled", lambda kernel: False)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 6, 6))
    grouped = built(layers.Conv2D(6, 3, strides=2, padding="same", groups=3), (7, 6, 6))
    grouped.params["bias"][...] = rng.standard_normal(6)
    parts = []
    for g in range(3):
        plain = built(layers.Conv2D(2, 3, strides=2, padding="same"), (7, 6, 2))
        plain.params["kernel"][...] = grouped.params["kernel"][..., 2 * g:2 * g + 2]
        plain.params["bias"][...] = grouped.params["bias"][2 * g:2 * g + 2]
        parts.append(plain.forward(x[..., 2 * g:2 * g + 2]))
    np.testing.assert_allclose(grouped.forward(x), np.concatenate(parts, axis=-1), rtol=1e-12, atol=1e-12)

    one = built(layers.Conv2D(4, 3, groups=1), (7, 6, 6))
    plain = built(layers.Conv2D(4, 3), (7, 6, 6))
    plain.set_weights(one.get_weights())
    np.testing.assert_array_equal(one.forward(x), plain.forward(x))
    assert one.get_config().keys() == plain.get_config().keys()           # groups=1 is the plain layer


def test_depthwise_and_separable_are_grouped_and_pointwise_convs():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 5, 3))
    depthwise = built(layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2), (6, 5, 3))
    depthwise.params["bias"][...] = rng.standard_normal(6)
    grouped = built(layers.Conv2D(6, 3, padding="same", groups=3), (6, 5, 3))
    grouped.params["kernel"][...] = depthwise.params["kernel"].reshape(3, 3, 1, 6)   # channel c dm + m
    grouped.params["bias"][...] = depthwise.params["bias"]
    np.testing.assert_allclose(depthwise.forward(x), grouped.forward(x), rtol=1e-12, atol=1e-12)

    separable = built(layers.SeparableConv2D(4, 3, strides=2, depth_multiplier=2), (6, 5, 3))
    inner = built(layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, use_bias=False), (6, 5, 3))
    inner.params["kernel"][...] = separable.params["depthwise_kernel"]
    pointwise = built(layers.Conv2D(4, 1), inner.output_shape)
    pointwise.params["kernel"][...] = separable.params["pointwise_kernel"]
    np.testing.assert_allclose(separable.forward(x), pointwise.forward(inner.forward(x)), rtol=1e-12, atol=1e-12)
    assert separable.count_params() == 3 * 3 * 3 * 2 + 6 * 4 + 4


def test_upsampling_padding_and_cropping_values():
    x = np.arange(2 * 3 * 4 * 2, dtype=float).reshape(2, 3, 4, 2)
    nearest = built(layers.UpSampling2D((2, 3)), (3, 4, 2))
    np.testing.assert_array_equal(nearest.forward(x), x.repeat(2, axis=1).repeat(3, axis=2))
    bilinear = built(layers.UpSampling2D(2, interpolation="bilinear"), (3, 4, 2))
    np.testing.assert_allclose(bilinear.forward(np.full((1, 3, 4, 2), 1.5)), 1.5)   # constants stay constant
    ramp = np.broadcast_to(np.arange(4.0)[None, None, :, None], (1, 3, 4, 1))
    inner = built(layers.UpSampling2D(2, interpolation="bilinear"), (3, 4, 1)).forward(ramp)[0, 0, 1:-1, 0]
    np.testing.assert_allclose(inner, (np.arange(1, 7) + 0.5) / 2 - 0.5)            # a ramp stays a ramp inside
    padded = built(layers.ZeroPadding2D(((1, 2), (0, 3))), (3, 4, 2)).forward(x)
    assert padded.shape == (2, 6, 7, 2) and padded.sum() == x.sum()
    np.testing.assert_array_equal(padded[:, 1:4, :4], x)
    cropped = built(layers.Cropping2D(((1, 1), (1, 2))), (3, 4, 2)).forward(x)
    np.testing.assert_array_equal(cropped, x[:, 1:2, 1:2])


@pytest.mark.parametrize("make, message", [
    (lambda: layers.Conv2D(5, 3, groups=2), "groups=2 must divide filters=5"),
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, output_padding=2), "output_padding must be"),
    (lambda: layers.Conv2DTranspose(2, 3, output_padding=-1), "non-negative"),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    (lambda: layers.UpSampling2D(2, interpolation="cubic"), "interpolation must be one of"),
    (lambda: layers.ZeroPadding2D((1, 2, 3)), "padding must be an int, a pair"),
    (lambda: layers.Cropping2D(((1, 2), 3)), "cropping must be an int, a pair"),
    (lambda: layers.Cropping2D(-1), "non-negative"),
])
def test_argument_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make, shape, message", [
    (lambda: layers.Conv2D(4, 3, groups=4), (5, 5, 6), "groups=4 must divide the input's 6 channels"),
    (lambda: layers.Cropping2D(((2, 1), (0, 0))), (3, 4, 1), "leaves nothing"),
    (lambda: layers.UpSampling2D(), (3, 4), "add a channel axis"),
    (lambda: layers.Conv2DTranspose(2, 3), (3, 4), "add a channel axis"),
])
def test_shape_errors(make, shape, message):
    with pytest.raises(ValueError, match=message):
        built(make(), shape)


# ---- ONNX export -------------------------------------------------------------------------------------------
def image(*stack, shape=(7, 6, 4)):
    return shape, list(stack)


CASES = {
    "conv_transpose_valid": image(layers.Conv2DTranspose(3, 3, strides=2)),
    "conv_transpose_same": image(layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu")),
    "conv_transpose_even_same": image(layers.Conv2DTranspose(2, 4, strides=2, padding="same", use_bias=False)),
    "conv_transpose_stride_over_kernel": image(layers.Conv2DTranspose(2, 2, strides=3)),
    "conv_transpose_output_padding": image(layers.Conv2DTranspose(2, 3, strides=(2, 3), padding="same",
                                                                  output_padding=(1, 2))),
    "conv_transpose_dilated": image(layers.Conv2DTranspose(2, (3, 2), dilation_rate=(2, 1))),
    "conv_grouped": image(layers.Conv2D(6, 3, strides=2, padding="same", groups=2)),
    "conv_grouped_depthwise": image(layers.Conv2D(8, 3, groups=4, use_bias=False)),
    "depthwise": image(layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)),
    "depthwise_strided": image(layers.DepthwiseConv2D((2, 3), strides=2, dilation_rate=1, use_bias=False)),
    "separable": image(layers.SeparableConv2D(5, 3, strides=2, padding="same", depth_multiplier=2)),
    "separable_dilated": image(layers.SeparableConv2D(3, 2, dilation_rate=2, use_bias=False, activation="tanh")),
    "upsampling_nearest": image(layers.UpSampling2D((2, 3))),
    "upsampling_bilinear": image(layers.UpSampling2D(2, interpolation="bilinear")),
    "upsampling_bilinear_after_conv": image(layers.Conv2D(3, 3), layers.UpSampling2D((3, 2), "bilinear")),
    "zero_padding": image(layers.ZeroPadding2D(((1, 2), (0, 3)))),
    "zero_padding_after_conv": image(layers.Conv2D(3, 3), layers.ZeroPadding2D(1), layers.Conv2D(2, 3)),
    "cropping": image(layers.Cropping2D(((1, 0), (2, 1)))),
    "cropping_after_conv": image(layers.Conv2D(3, 2), layers.Cropping2D(1), layers.Flatten(), layers.Dense(3)),
    "autoencoder": image(layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
                         layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
                         layers.UpSampling2D(2), layers.Cropping2D(((0, 0), (1, 1))), layers.Conv2D(1, 3),
                         layers.ZeroPadding2D(((1, 1), (0, 0))), shape=(6, 7, 1)),
}
COVERED = {type(layer).__name__ for _, stack in CASES.values() for layer in stack}


@pytest.mark.parametrize("case", sorted(CASES))
def test_onnxruntime_matches_predict(case, tmp_path):
    onnx, ort = require("onnx"), require("onnxruntime")
    input_shape, stack = CASES[case]
    model = snn.Sequential(list(stack), input_shape=input_shape, seed=0)
    for layer in model.layers:
        if "bias" in layer.params:
            layer.params["bias"][...] = np.random.default_rng(3).standard_normal(layer.params["bias"].shape)
    proto = saving.export_onnx(model, tmp_path / "m.onnx")
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((5, *input_shape)).astype("float32")
    for batch in (x, x[:1]):
        np.testing.assert_allclose(session.run(["output"], {"input": batch})[0], model.predict(batch),
                                   rtol=TOL, atol=TOL)


def test_a_grouped_conv_is_not_imported_as_a_plain_one(tmp_path):
    require("onnx")
    model = snn.Sequential(list(CASES["conv_grouped"][1]), input_shape=CASES["conv_grouped"][0], seed=0)
    saving.export_onnx(model, tmp_path / "m.onnx")
    imported = saving.load_onnx(tmp_path / "m.onnx")                 # ONNX's group is our groups
    assert [(type(layer).__name__, getattr(layer, "groups", None)) for layer in imported.layers] == [("Conv2D", 2)]
    x = np.random.default_rng(4).standard_normal((3, *model.input_shape)).astype("float32")
    np.testing.assert_allclose(imported.predict(x), model.predict(x), rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_the_autoencoder_example_runs_and_writes_its_figure(tmp_path, monkeypatch, capsys):
    require("matplotlib")
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
    import digits_autoencoder
    error, baseline = digits_autoencoder.main(epochs=1, train=256, out=tmp_path)
    assert 0 < error < 1 and 0 < baseline < 1
    assert (tmp_path / "digits_autoencoder.png").stat().st_size > 1000
    assert "held-out reconstruction MSE" in capsys.readouterr().out
