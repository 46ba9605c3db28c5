"""ONNX export of issue 16's layers (saving/onnx_export_keras.py), run in onnxruntime against predict.

tests/test_onnx.py counts the layers covered here (COVERED) in its every-layer test.
"""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers, saving

from conftest import require

TOL = 1e-5


def mlp(*stack):
    return (5,), [layers.Dense(6), *stack]


def image(*stack, shape=(8, 7, 3)):
    return shape, list(stack)


def prelu_start():
    return snn.initializers.RandomUniform(-0.5, 0.5)


CASES = {
    "selu": mlp(layers.SELU()), "silu": mlp(layers.SiLU()), "relu6": mlp(layers.ReLU6()),
    "hard_sigmoid": mlp(layers.HardSigmoid()), "mish": mlp(layers.Mish()),
    "prelu": mlp(layers.PReLU(prelu_start())),
    "activation_swish_softmax": mlp(layers.Activation("swish"), layers.Activation("softmax")),
    "dense_activations": mlp(layers.Dense(4, activation="selu"), layers.Dense(3, activation="hard_sigmoid")),
    # after a Conv2D the graph is channels-first: per-channel constants must follow
    "conv_prelu_per_channel": image(layers.Conv2D(4, 3, activation="relu6"), layers.PReLU(prelu_start(),
                                                                                        shared_axes=[1, 2])),
    "conv_prelu_per_pixel": image(layers.Conv2D(2, 3, activation="mish"), layers.PReLU(prelu_start())),
    "rescaling_per_channel_after_conv": image(layers.Conv2D(3, 3), layers.Rescaling([0.5, 2.0, -1.0], [1.0, 0, 3.0])),
    "preprocessing_then_cnn": image(layers.Rescaling(1 / 255), layers.Normalization(mean=[0.4, 0.5, 0.6],
                                                                                   variance=[0.1, 0.2, 0.3]),
                                    layers.RandomFlip(), layers.RandomTranslation(0.1, 0.1), layers.RandomRotation(0.1),
                                    layers.RandomZoom(0.2), layers.Conv2D(4, 3, activation="swish"),
                                    layers.Normalization(axis=None, mean=0.5, variance=4.0), layers.Flatten(),
                                    layers.Dense(3)),
    "normalization_on_height_after_conv": image(layers.Conv2D(2, 3), layers.Normalization(
        axis=1, mean=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], variance=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
}
COVERED = {type(layer).__name__ for _, stack in CASES.values() for layer in stack}


def run_onnx(ort, path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x})[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_onnxruntime_matches_predict(case, tmp_path, opset=18):
    onnx, ort = require("onnx"), require("onnxruntime")
    input_shape, stack = CASES[case]
    model = snn.Sequential(list(stack), input_shape=input_shape, seed=0)
    x = np.random.default_rng(1).uniform(0, 255 if case == "preprocessing_then_cnn" else 2,
                                         (6, *input_shape)).astype("float32") - (0 if "preprocessing" in case else 1)
    proto = saving.export_onnx(model, tmp_path / "m.onnx", opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    np.testing.assert_allclose(run_onnx(ort, tmp_path / "m.onnx", x), model.predict(x), rtol=TOL, atol=TOL)


def test_mish_is_one_operator_from_opset_18_and_its_formula_before(tmp_path):
    ort = require("onnxruntime")
    model = snn.Sequential([layers.Mish()], input_shape=(3,), seed=0)
    assert [n.op_type for n in saving.export_onnx(model, tmp_path / "a.onnx", opset=18).graph.node] == \
        ["Mish", "Identity"]
    assert [n.op_type for n in saving.export_onnx(model, tmp_path / "b.onnx", opset=13).graph.node] == \
        ["Softplus", "Tanh", "Mul", "Identity"]
    x = np.linspace(-30, 30, 12, dtype="float32").reshape(4, 3)
    for name in ("a.onnx", "b.onnx"):
        np.testing.assert_allclose(run_onnx(ort, tmp_path / name, x), model.predict(x), rtol=TOL, atol=TOL)


def test_an_adapted_normalization_exports_its_statistics(tmp_path):
    ort = require("onnxruntime")
    data = np.random.default_rng(0).normal(3.0, 2.0, (50, 4)).astype("float32")
    norm = layers.Normalization()
    norm.adapt(data)
    model = snn.Sequential([norm, layers.Dense(2)], input_shape=(4,), seed=0)
    saving.export_onnx(model, tmp_path / "m.onnx")
    np.testing.assert_allclose(run_onnx(ort, tmp_path / "m.onnx", data), model.predict(data), rtol=TOL, atol=TOL)
