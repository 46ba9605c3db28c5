"""ONNX export checked in onnxruntime for every layer and configuration, and import back into a Sequential."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers
from scratchnn import saving
from scratchnn.datasets import load_digits

from conftest import require

onnx = require("onnx")
ort = require("onnxruntime")


TOL = 1e-5


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x})[0]


def randomize_buffers(model, rng):
    """Give BatchNormalization moving statistics that are not the identity (0 mean, 1 variance)."""
    for layer in model.layers:                          # a Residual's inner layers: "1.moving_mean", ...
        for name, buffer in layer.buffers.items():
            if name.endswith("moving_mean"):
                buffer[...] = rng.standard_normal(buffer.shape)
            elif name.endswith("moving_variance"):
                buffer[...] = rng.uniform(0.5, 2.0, buffer.shape)
        for name, param in layer.params.items():
            if name.split(".")[-1] in ("gamma", "beta"):
                param[...] = rng.uniform(0.5, 1.5, param.shape)


def mlp(*stack):
    return (5,), [layers.Dense(6), *stack]


def image(*stack, shape=(9, 8, 3)):
    return shape, list(stack)


CASES = {
    "dense": mlp(layers.Dense(4)),
    "dense_no_bias": mlp(layers.Dense(4, use_bias=False)),
    "linear": mlp(layers.Linear()), "sigmoid": mlp(layers.Sigmoid()), "tanh": mlp(layers.Tanh()),
    "relu": mlp(layers.ReLU()), "leaky_relu": mlp(layers.LeakyReLU(0.2)), "elu": mlp(layers.ELU(0.7)),
    "gelu": mlp(layers.GELU()), "gelu_tanh": mlp(layers.GELU(approximate=True)), "softplus": mlp(layers.Softplus()),
    "softmax": mlp(layers.Softmax()), "dropout": mlp(layers.Dropout(0.3)),
    "batch_norm": mlp(layers.BatchNormalization()),
    "batch_norm_no_scale_center": mlp(layers.BatchNormalization(center=False, scale=False, epsilon=0.01)),
    "flatten_3d": ((3, 4), [layers.Flatten(), layers.Dense(2)]),
    "reshape_to_image": mlp(layers.Reshape((3, 2, 1)), layers.Conv2D(2, 2, padding="same"), layers.Flatten()),
    "conv_valid": image(layers.Conv2D(4, 3)),
    "conv_same": image(layers.Conv2D(4, 3, padding="same")),
    "conv_same_even_kernel": image(layers.Conv2D(4, (2, 4), padding="same")),
    "conv_strided_same": image(layers.Conv2D(4, 3, strides=2, padding="same")),
    "conv_strided_valid": image(layers.Conv2D(4, (3, 2), strides=(2, 3))),
    "conv_dilated_same": image(layers.Conv2D(3, 3, dilation_rate=2, padding="same")),
    "conv_dilated_valid": image(layers.Conv2D(3, 2, dilation_rate=(2, 3), use_bias=False)),
    "conv_relu_softmax": image(layers.Conv2D(4, 3, activation="relu"), layers.Softmax()),
    "max_pool": image(layers.MaxPooling2D(2)),
    "max_pool_same": image(layers.MaxPooling2D(3, strides=2, padding="same")),
    "avg_pool": image(layers.AveragePooling2D((2, 3), strides=1)),
    "avg_pool_same": image(layers.AveragePooling2D(3, strides=2, padding="same")),
    "global_avg_pool": image(layers.Conv2D(4, 3), layers.GlobalAveragePooling2D(), layers.Dense(2)),
    "global_max_pool": image(layers.GlobalMaxPooling2D()),
    "image_batch_norm": image(layers.Conv2D(4, 3), layers.BatchNormalization(), layers.ReLU()),
    "image_batch_norm_first": image(layers.BatchNormalization(), layers.Conv2D(2, 3)),
    "sequence_batch_norm": ((4, 3), [layers.BatchNormalization(axis=1), layers.Flatten()]),
    "image_dropout_reshape": image(layers.Conv2D(4, 3), layers.Dropout(0.5), layers.Reshape((-1, 3, 4))),
    "cnn": image(layers.Conv2D(4, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                 layers.Conv2D(6, 3, padding="same", activation="elu"), layers.Flatten(), layers.Dense(5),
                 layers.Softmax()),
}
EXPORT_ONLY = {   # exported through a Transpose that import does not map back
    "image_batch_norm_height": image(layers.BatchNormalization(axis=1), layers.Conv2D(2, 3)),
    "sequence_batch_norm_last_axis": ((4, 3), [layers.BatchNormalization(), layers.Flatten()]),
}
MORE_EXPORTS = {   # exported and checked in onnxruntime; the importer builds no such layer
    "residual_dense": mlp(layers.Residual([layers.Dense(8, activation="relu"), layers.Dense(6)]), layers.Dense(2)),
    "residual_conv": image(layers.Conv2D(4, 3, padding="same"),
                           layers.Residual([layers.Conv2D(4, 3, padding="same", activation="relu"),
                                            layers.BatchNormalization()]), layers.Flatten(), layers.Dense(3)),
    "dense_on_a_sequence": ((4, 3), [layers.Dense(5, activation="tanh"), layers.Dense(2, use_bias=False),
                                     layers.Flatten()]),
    "dense_on_an_image": image(layers.Conv2D(4, 3), layers.Dense(3), layers.GlobalMaxPooling2D()),
}


def build(case, seed=0, dtype=None):
    input_shape, stack = {**CASES, **EXPORT_ONLY, **MORE_EXPORTS}[case]
    model = snn.Sequential(list(stack), input_shape=input_shape, seed=seed, dtype=dtype)
    randomize_buffers(model, np.random.default_rng(seed))
    return model


def test_every_layer_of_the_library_is_covered():
    """Each registered layer is exported in a test: here, or in its family's file (which lists what it covers)."""
    from test_conv_family import COVERED as CONV                 # issue 17's convolution family
    from test_onnx_graph import COVERED as MERGE                  # issue 17's merge layers, in functional models
    from test_onnx_keras import COVERED as KERAS                  # issue 16's activations and preprocessing
    from test_recurrent import ONNX_COVERED as RECURRENT          # issue 18's recurrent layers
    from test_sequence_layers import ONNX_COVERED as SEQUENCE     # issue 18's Conv1D, normalization, attention
    covered = {type(layer).__name__ for case in {**CASES, **EXPORT_ONLY, **MORE_EXPORTS}.values() for layer in case[1]}
    missing = sorted(set(layers.LAYERS) - (covered | CONV | MERGE | KERAS | RECURRENT | SEQUENCE))
    assert missing == [], f"layers no ONNX test exports: {missing}"
    from scratchnn.saving import onnx_registry                    # and each has its exporter in the one registry
    registered = set(onnx_registry.exporters()) | set(onnx_registry.merge_exporters())
    assert sorted(set(layers.LAYERS) - registered) == [], "layers with no ONNX exporter registered"


@pytest.mark.parametrize("case", sorted({**CASES, **EXPORT_ONLY, **MORE_EXPORTS}))
def test_onnxruntime_matches_predict(case, tmp_path):
    model = build(case)
    x = np.random.default_rng(1).standard_normal((7, *model.input_shape)).astype("float32")
    proto = saving.export_onnx(model, tmp_path / "m.onnx")
    onnx.checker.check_model(proto, full_check=True)
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x), model.predict(x), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x[:1]), model.predict(x[:1]), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_import_of_our_export_round_trips(case, tmp_path):
    model = build(case)
    saving.export_onnx(model, tmp_path / "m.onnx")
    imported = saving.load_onnx(tmp_path / "m.onnx")
    x = np.random.default_rng(2).standard_normal((6, *model.input_shape)).astype("float32")
    assert [type(layer) for layer in imported.layers] == [type(layer) for layer in model.layers
                                                          if type(layer) is not layers.Linear]
    np.testing.assert_allclose(imported.predict(x), model.predict(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", sorted(EXPORT_ONLY))
def test_batch_norm_on_a_non_channel_axis_is_not_imported(case, tmp_path):
    saving.export_onnx(build(case), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"m\.onnx: cannot import: Transpose node .* is not supported"):
        saving.load_onnx(tmp_path / "m.onnx")


def test_layer_settings_survive_the_round_trip(tmp_path):
    model = snn.Sequential([layers.Conv2D(3, (3, 2), strides=(2, 1), padding="same", dilation_rate=(1, 2)),
                            layers.LeakyReLU(0.2), layers.BatchNormalization(momentum=0.9, epsilon=1e-4),
                            layers.AveragePooling2D(3, strides=2, padding="same"), layers.Dropout(0.25),
                            layers.Flatten(), layers.Dense(3), layers.ELU(0.5)], input_shape=(8, 8, 2), seed=0)
    saving.export_onnx(model, tmp_path / "m.onnx")
    imported = saving.load_onnx(tmp_path / "m.onnx")
    def unnamed(config):                                 # ONNX keeps no layer names: imported ones are new
        return [{**entry, "config": {k: v for k, v in entry["config"].items() if k != "name"}}
                for entry in config["layers"]]
    assert unnamed(imported.get_config()) == unnamed(model.get_config())


def test_graph_has_named_io_and_a_dynamic_batch(tmp_path):
    model = build("cnn")
    proto = saving.export_onnx(model, tmp_path / "m.onnx")
    (graph_input,), (graph_output,) = proto.graph.input, proto.graph.output
    assert (graph_input.name, graph_output.name) == ("input", "output")
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert dims == ["N", 9, 8, 3]
    assert [d.dim_param or d.dim_value for d in graph_output.type.tensor_type.shape.dim] == ["N", 5]
    assert proto.opset_import[0].version == 17
    ops = [node.op_type for node in proto.graph.node]
    assert ops[0] == "Transpose" and ops.count("Transpose") == 2 and ops.index("Flatten") > ops.index("Conv")


def test_gelu_uses_erf_before_opset_20_and_gelu_from_it(tmp_path):
    model = build("gelu")
    x = np.random.default_rng(3).standard_normal((5, 5)).astype("float32")
    for opset, op in ((17, "Erf"), (20, "Gelu")):
        proto = saving.export_onnx(model, tmp_path / f"m{opset}.onnx", opset=opset)
        assert op in [node.op_type for node in proto.graph.node]
        np.testing.assert_allclose(run_onnx(tmp_path / f"m{opset}.onnx", x), model.predict(x), rtol=TOL, atol=TOL)
        assert type(saving.load_onnx(tmp_path / f"m{opset}.onnx").layers[-1]) is layers.GELU


@pytest.mark.parametrize("opset", [13, 15, 18, 21, onnx.defs.onnx_opset_version()])
def test_every_opset_from_13_runs_and_imports(opset, tmp_path):
    for case in ("cnn", "image_batch_norm", "gelu_tanh", "dropout", "global_avg_pool"):
        model = build(case)
        x = np.random.default_rng(5).standard_normal((4, *model.input_shape)).astype("float32")
        proto = saving.export_onnx(model, tmp_path / "m.onnx", opset=opset)
        assert proto.opset_import[0].version == opset
        np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x), model.predict(x), rtol=TOL, atol=TOL)
        np.testing.assert_allclose(saving.load_onnx(tmp_path / "m.onnx").predict(x), model.predict(x),
                                   rtol=1e-6, atol=1e-6)


def test_float64_model_exports_as_double(tmp_path):
    model = snn.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(3), layers.Softmax()],
                           input_shape=(4,), seed=0, dtype="float64")
    x = np.random.default_rng(4).standard_normal((5, 4))
    saving.export_onnx(model, tmp_path / "m.onnx")
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x), model.predict(x), rtol=1e-12, atol=1e-12)
    assert saving.load_onnx(tmp_path / "m.onnx").dtype == np.float64


@pytest.fixture(scope="module")
def digits():
    (x_train, y_train), (x_test, _) = load_digits()
    return x_train[:2000].astype("float32") / 255, y_train[:2000], x_test[:1000].astype("float32") / 255


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_trained_digits_models_agree_on_1000_test_digits(digits, kind, tmp_path):
    x_train, y_train, x_test = digits
    if kind == "mlp":
        stack = [layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10)]
    else:
        stack = [layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(2), layers.BatchNormalization(),
                 layers.Dropout(0.2), layers.Flatten(), layers.Dense(10)]
        x_train, y_train, x_test = x_train[:500, :, :, None], y_train[:500], x_test[:, :, :, None]
    model = snn.Sequential(stack, input_shape=x_train.shape[1:], seed=0)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=snn.optim.SGD(0.1),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0)
    saving.export_onnx(model, tmp_path / "digits.onnx")
    expected = model.predict(x_test)
    got = run_onnx(tmp_path / "digits.onnx", x_test)
    np.testing.assert_allclose(got, expected, rtol=TOL, atol=TOL)
    assert (got.argmax(1) == expected.argmax(1)).all()


# ---- models written by torch.onnx.export -------------------------------------------------------------
def torch_export(net, x, path):
    torch = require("torch")
    with pytest.warns(DeprecationWarning):
        torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}}, opset_version=17)


def test_import_of_a_torch_mlp(tmp_path):
    torch = require("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.GELU(), torch.nn.Linear(8, 6),
                              torch.nn.GELU(approximate="tanh"), torch.nn.LeakyReLU(0.1), torch.nn.Dropout(0.3),
                              torch.nn.Linear(6, 3, bias=False), torch.nn.Softmax(dim=-1)).eval()
    x = torch.randn(9, 5)
    torch_export(net, x, tmp_path / "torch.onnx")
    model = saving.load_onnx(tmp_path / "torch.onnx")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "GELU", "Dense", "GELU", "LeakyReLU", "Dense", "Softmax"]
    assert model.layers[3].approximate is True and model.layers[4].alpha == 0.1
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(x.numpy()), net(x).numpy(), rtol=TOL, atol=TOL)


def test_import_of_a_torch_cnn_takes_nhwc_input(tmp_path):
    torch = require("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 6, 3, dilation=2), torch.nn.AvgPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(6 * 5 * 5, 16), torch.nn.ELU(),
                              torch.nn.Linear(16, 10)).eval()
    with torch.no_grad():
        net[1].running_mean.normal_()
        net[1].running_var.uniform_(0.5, 2)
    x = torch.randn(5, 1, 28, 28)
    torch_export(net, x, tmp_path / "torch.onnx")
    model = saving.load_onnx(tmp_path / "torch.onnx")
    assert model.input_shape == (28, 28, 1)
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(x.numpy().transpose(0, 2, 3, 1)), net(x).numpy(),
                                   rtol=TOL, atol=TOL)


def test_import_of_torch_global_pooling_and_batch_norm_on_features(tmp_path):
    torch = require("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 5, 3, padding="same"), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.BatchNorm1d(5), torch.nn.Tanh()).eval()
    with torch.no_grad():
        net[3].running_mean.normal_()
        net[3].running_var.uniform_(0.5, 2)
    x = torch.randn(3, 2, 6, 7)
    torch_export(net, x, tmp_path / "torch.onnx")
    model = saving.load_onnx(tmp_path / "torch.onnx")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "GlobalAveragePooling2D", "BatchNormalization", "Tanh"]
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(x.numpy().transpose(0, 2, 3, 1)), net(x).numpy(),
                                   rtol=TOL, atol=TOL)


@pytest.mark.parametrize("dynamic_batch", [True, False])
def test_import_of_a_torch_cnn_that_flattens_with_view(tmp_path, dynamic_batch):
    torch = require("torch")
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = torch.nn.Conv2d(2, 3, 3), torch.nn.Linear(3 * 4 * 5, 4)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            return self.fc(x.view(x.size(0), -1))

    net, x = Net().eval(), torch.randn(3, 2, 6, 7)
    with pytest.warns(DeprecationWarning):
        torch.onnx.export(net, (x,), str(tmp_path / "torch.onnx"), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}} if dynamic_batch else None, opset_version=17)
    ops = [node.op_type for node in onnx.load(str(tmp_path / "torch.onnx")).graph.node]
    assert ("Shape" in ops) is dynamic_batch
    model = saving.load_onnx(tmp_path / "torch.onnx")
    assert [type(layer).__name__ for layer in model.layers] == ["Conv2D", "ReLU", "Flatten", "Dense"]
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(x.numpy().transpose(0, 2, 3, 1)), net(x).numpy(),
                                   rtol=TOL, atol=TOL)


# ---- errors -----------------------------------------------------------------------------------------
def graph_file(tmp_path, nodes, initializers=(), shape=(4,)):
    helper = onnx.helper
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                                                         ["N", *shape])],
                              [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, None)],
                              [onnx.numpy_helper.from_array(np.asarray(v, "float32"), k) for k, v in initializers])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_import_names_the_unsupported_operator(tmp_path):
    path = graph_file(tmp_path, [onnx.helper.make_node("Cos", ["input"], ["output"], name="c")])
    with pytest.raises(ValueError, match=r"g\.onnx: cannot import: operator Cos \(node 'c'\) is not supported"):
        saving.load_onnx(path)


def test_a_formula_that_is_not_gelu_imports_as_a_graph_of_merge_layers(tmp_path):
    nodes = [onnx.helper.make_node("Mul", ["input", "input"], ["square"]),
             onnx.helper.make_node("Add", ["square", "input"], ["output"])]
    model = saving.load_onnx(graph_file(tmp_path, nodes))
    x = np.array([[1, 2, -3, 0.5]], dtype="float32")
    np.testing.assert_array_equal(model.predict(x), x * x + x)
    assert [type(layer).__name__ for layer in model.layers] == ["Multiply", "Add"]


def test_import_names_an_unsupported_operator_inside_a_formula(tmp_path):
    nodes = [onnx.helper.make_node("Mul", ["input", "input"], ["square"]),
             onnx.helper.make_node("Sin", ["square"], ["output"], name="s")]
    with pytest.raises(ValueError, match=r"g.onnx: cannot import: operator Sin \(node 's'\) is not supported"):
        saving.load_onnx(graph_file(tmp_path, nodes))


def test_import_rejects_weights_computed_at_run_time(tmp_path):
    nodes = [onnx.helper.make_node("MatMul", ["input", "input"], ["output"], name="m")]
    with pytest.raises(ValueError, match=r"MatMul node 'm': input 1 \('input'\) must be a constant"):
        saving.load_onnx(graph_file(tmp_path, nodes))


def test_import_rejects_padding_other_than_valid_or_same(tmp_path):
    node = onnx.helper.make_node("Conv", ["input", "w"], ["output"], name="conv", pads=[2, 2, 0, 0])
    path = graph_file(tmp_path, [node], [("w", np.ones((2, 3, 3, 3)))], shape=(3, 8, 8))
    with pytest.raises(ValueError, match=r"Conv node 'conv': pads \[2, 2, 0, 0\] are neither 'valid' nor "
                                         r"TensorFlow's 'same' for a 8x8 input"):
        saving.load_onnx(path)


class Doubling(layers.Layer):
    """A layer of the user's own, not registered and without an ONNX form."""

    def forward(self, x, training=False):
        return 2 * x


def test_export_of_a_layer_without_onnx_form_writes_nothing(tmp_path):
    model = snn.Sequential([layers.Dense(3), Doubling()], input_shape=(2,))
    with pytest.raises(ValueError, match=r"export: no ONNX form for layer 1 \(Doubling 'doubling(_\d+)?'\); supported: "
                                         r"\['Activation', 'AveragePooling1D', 'AveragePooling2D'"):
        saving.export_onnx(model, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_errors(tmp_path):
    with pytest.raises(ValueError, match=r"export needs a built model"):
        saving.export_onnx(snn.Sequential([layers.Dense(3)]), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"opset must be an int from 13 to \d+, got 9"):
        saving.export_onnx(build("dense"), tmp_path / "m.onnx", opset=9)


@pytest.mark.parametrize("content, message", [(b"\xff\xfe not protobuf", r"not an ONNX model \(DecodeError"),
                                              (b"", r"cannot import: expected one input and one output, got 0")])
def test_import_of_a_file_that_is_not_an_onnx_model(tmp_path, content, message):
    path = tmp_path / "notes.onnx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"notes\.onnx: " + message):
        saving.load_onnx(path)


def cyclic_graph():
    """a = x + b, b = relu(a), output b: a cycle, listed in an order no walk can finish."""
    helper = onnx.helper
    value = lambda name: helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [None, 4])
    nodes = [helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("Add", ["x", "b"], ["a"], name="add")]
    graph = helper.make_graph(nodes, "cycle", [value("x")], [value("b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_cyclic_graph_is_refused_at_once(tmp_path):
    """Such a 760-byte file once made the import walk forever while its memory grew; run in a child
    process with a time limit, so a regression fails instead of hanging the suite."""
    import subprocess
    import sys
    path = tmp_path / "cycle.onnx"
    onnx.save(cyclic_graph(), path)
    script = ("from scratchnn.saving import load_onnx\n"
              f"try:\n    load_onnx({str(path)!r})\nexcept ValueError as error:\n    print(error)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "cannot import: the graph has a cycle (through nodes ['relu', 'add'])" in result.stdout


def test_the_importer_itself_refuses_a_cycle():
    from scratchnn.saving.onnx_import import _Importer
    with pytest.raises(ValueError, match=r"the graph has a cycle \(through nodes \['relu', 'add'\]\)"):
        _Importer(onnx, cyclic_graph(), "cycle.onnx")


def test_export_to_a_name_that_is_not_onnx_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"export: '.*out.txt' ends in '\.txt', expected '\.onnx'"):
        saving.export_onnx(build("dense"), tmp_path / "out.txt")
    assert list(tmp_path.iterdir()) == []
