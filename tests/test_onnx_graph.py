"""ONNX of functional models: export (full check, strict shape inference, onnxruntime against predict) and
import of graph-shaped files (ours, and torch's TorchScript exporter's) into a functional Model."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers, saving

from conftest import require

onnx = require("onnx")
ort = require("onnxruntime")

TOL = 1e-5


def check(proto):
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)


def run_onnx(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def randomize_buffers(model, rng):
    for layer in model.layers:
        if "moving_mean" in layer.buffers:
            layer.buffers["moving_mean"][...] = rng.standard_normal(layer.buffers["moving_mean"].shape)
            layer.buffers["moving_variance"][...] = rng.uniform(0.5, 2.0, layer.buffers["moving_variance"].shape)


def two_input_model():
    """Image and side inputs, a conv layer called twice, every merge layer, NCHW and NHWC merges, three outputs."""
    image, side = snn.Input(shape=(8, 8, 3), name="image"), snn.Input(shape=(4,), name="side")
    c = layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    shared = layers.Conv2D(4, 3, padding="same")
    a = shared(c)
    b = shared(layers.ReLU()(a))
    r = layers.Add()([c, b])
    m = layers.Average()([layers.Maximum()([r, a]), a, b])
    joined = layers.Concatenate()([m, layers.BatchNormalization()(r)])        # channels, in NCHW
    pooled = layers.MaxPooling2D(2)(joined)
    d = layers.Dense(8)(layers.GlobalAveragePooling2D()(pooled))
    s = layers.Dense(8, activation="tanh")(side)
    mixed = layers.Multiply()([layers.Subtract()([d, s]), s, d])
    rows = layers.Concatenate(axis=1)([pooled, pooled])                      # rows (H), in NCHW
    outputs = {"label": layers.Dense(3)(layers.Concatenate()([mixed, s])),
               "flat": layers.Dense(2)(layers.Flatten()(rows)), "map": joined}
    model = snn.Model([image, side], outputs, seed=0)
    randomize_buffers(model, np.random.default_rng(1))
    return model, shared


def inputs(rng, n=5):
    return [rng.standard_normal((n, 8, 8, 3)).astype("float32"), rng.standard_normal((n, 4)).astype("float32")]


def test_export_of_a_two_input_three_output_graph_matches_predict(tmp_path):
    model, shared = two_input_model()
    proto = saving.export_onnx(model, tmp_path / "g.onnx")
    check(proto)
    assert [v.name for v in proto.graph.input] == ["image", "side"]
    assert [v.name for v in proto.graph.output] == ["label", "flat", "map"]
    ops = [node.op_type for node in proto.graph.node]
    for op in ("Add", "Sub", "Mul", "Mean", "Max", "Concat"):
        assert op in ops
    assert ops.count("Transpose") == 3          # image to NCHW once; "map" and the Flatten's input back to NHWC
    kernel = shared.params["kernel"].transpose(3, 2, 0, 1)
    readers = [node for node in proto.graph.node if node.op_type == "Conv" and any(
        np.array_equal(onnx.numpy_helper.to_array(init), kernel) for init in proto.graph.initializer
        if init.name == node.input[1])]
    assert len(readers) == 2 and readers[0].input[1] == readers[1].input[1]   # one initializer, read twice
    x = inputs(np.random.default_rng(0))
    got, want = run_onnx(tmp_path / "g.onnx", {"image": x[0], "side": x[1]}), model.predict(x)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=TOL, rtol=TOL)


def test_round_trip_of_a_graph_restores_the_shared_layer(tmp_path):
    model, _ = two_input_model()
    saving.export_onnx(model, tmp_path / "g.onnx")
    back = saving.load_onnx(tmp_path / "g.onnx")
    assert type(back).__name__ == "Model" and back.input_names == ["image", "side"]
    assert back.output_names == ["label", "flat", "map"]
    assert back.count_params() == model.count_params()
    convs = [node.layer for node in back.nodes if type(node.layer).__name__ == "Conv2D"]
    assert len(convs) == 3 and len({id(layer) for layer in convs}) == 2     # the shared conv is one layer again
    x = inputs(np.random.default_rng(2))
    got, want = back.predict(x), model.predict(x)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=TOL, rtol=TOL)


def test_float64_graph_with_three_way_add_and_dense_inputs(tmp_path):
    x = snn.Input(shape=(6,), name="x")
    h = [layers.Dense(5)(x) for _ in range(3)]
    y = layers.Add()(h)
    model = snn.Model(x, [layers.Dense(2, activation="softmax")(y), layers.Maximum()(h)], seed=3, dtype="float64")
    proto = saving.export_onnx(model, tmp_path / "d.onnx", opset=13)
    check(proto)
    assert "Sum" in [node.op_type for node in proto.graph.node]
    data = np.random.default_rng(4).standard_normal((7, 6))
    got = list(run_onnx(tmp_path / "d.onnx", {"x": data}).values())
    for g, w in zip(got, model.predict(data)):
        np.testing.assert_allclose(g, w, atol=1e-12)
    back = saving.load_onnx(tmp_path / "d.onnx")
    for g, w in zip(back.predict(data).values(), model.predict(data)):
        np.testing.assert_allclose(g, w, atol=1e-12)


def test_a_straight_functional_model_imports_as_a_sequential(tmp_path):
    x = snn.Input(shape=(4,))
    model = snn.Model(x, layers.Dense(3, activation="relu")(layers.Dense(5)(x)), seed=0)
    proto = saving.export_onnx(model, tmp_path / "s.onnx")
    check(proto)
    back = saving.load_onnx(tmp_path / "s.onnx")
    assert type(back).__name__ == "Sequential"
    data = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    np.testing.assert_allclose(back.predict(data), model.predict(data), atol=TOL)


def test_import_of_a_torch_residual_network(tmp_path):
    torch = require("torch")
    torch.manual_seed(0)

    class Block(torch.nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(channels, channels, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(channels)
            self.conv2 = torch.nn.Conv2d(channels, channels, 3, padding=1)

        def forward(self, x):
            return torch.relu(x + self.conv2(torch.relu(self.bn(self.conv1(x)))))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(2, 4, 3, padding=1)
            self.block = Block(4)
            self.head = torch.nn.Linear(8, 3)

        def forward(self, x):
            h = self.block(torch.relu(self.stem(x)))
            peak = torch.flatten(torch.nn.functional.adaptive_max_pool2d(h, 1), 1)
            pooled = torch.cat([torch.flatten(torch.nn.functional.adaptive_avg_pool2d(h, 1), 1), peak], 1)
            return self.head(pooled), peak

    net = Net().eval()
    with torch.no_grad():
        net.block.bn.running_mean.uniform_(-0.5, 0.5)
        net.block.bn.running_var.uniform_(0.5, 2.0)
    with pytest.warns(DeprecationWarning):
        torch.onnx.export(net, (torch.randn(3, 2, 6, 6),), str(tmp_path / "res.onnx"), dynamo=False,
                          input_names=["x"], output_names=["logits", "peak"], opset_version=17,
                          dynamic_axes={"x": {0: "batch"}})
    ops = [node.op_type for node in onnx.load(str(tmp_path / "res.onnx")).graph.node]
    assert "Add" in ops and "Concat" in ops
    model = saving.load_onnx(tmp_path / "res.onnx")
    assert type(model).__name__ == "Model" and model.input_shape == (6, 6, 2)
    assert model.output_names == ["logits", "peak"]
    kinds = [type(node.layer).__name__ for node in model.nodes]
    assert "Add" in kinds and "Concatenate" in kinds
    data = torch.randn(5, 2, 6, 6)
    with torch.no_grad():
        want = [y.numpy() for y in net(data)]
    got = model.predict(data.numpy().transpose(0, 2, 3, 1))
    np.testing.assert_allclose(got["logits"], want[0], atol=TOL, rtol=TOL)
    np.testing.assert_allclose(got["peak"], want[1], atol=TOL, rtol=TOL)


def test_import_refuses_what_has_no_layer(tmp_path):
    helper = onnx.helper
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Min", ["x", "r"], ["y"])]
    proto = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(proto, str(tmp_path / "min.onnx"))
    with pytest.raises(ValueError, match=r"min.onnx: cannot import: .*Min"):
        saving.load_onnx(tmp_path / "min.onnx")
    wide = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])
    narrow = helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, ["N", 3])
    nodes = [helper.make_node("Relu", ["z"], ["r"]), helper.make_node("Add", ["x", "r"], ["y"])]
    proto = helper.make_model(helper.make_graph(nodes, "g", [wide, narrow], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(proto, str(tmp_path / "add.onnx"))
    with pytest.raises(ValueError, match=r"Add node .*\(None, 4\) and \(None, 3\)"):
        saving.load_onnx(tmp_path / "add.onnx")


def test_export_names_a_layer_without_an_onnx_form():
    x = snn.Input(shape=(3,))

    class Odd(layers.Layer):
        def compute_output_shape(self, input_shape):
            return input_shape

    model = snn.Model(x, layers.Add()([Odd()(x), x]), seed=0)
    with pytest.raises(ValueError, match="no ONNX form for Odd"):
        saving.export_onnx(model, __import__("io").BytesIO())


COVERED = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Concatenate"}   # for test_onnx's coverage check


def test_every_merge_layer_is_exported_and_imported(tmp_path):
    x, z = snn.Input(shape=(3,), name="x"), snn.Input(shape=(3,), name="z")
    outputs = [layer_class()([layers.Dense(3)(x), z]) for layer_class in
               (layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum, layers.Concatenate)]
    model = snn.Model([x, z], outputs, seed=0)
    assert {type(node.layer).__name__ for node in model.nodes} >= COVERED
    check(saving.export_onnx(model, tmp_path / "merges.onnx"))
    back = saving.load_onnx(tmp_path / "merges.onnx")
    assert [type(node.layer).__name__ for node in back.nodes if node.multiple] == [
        "Add", "Subtract", "Multiply", "Average", "Maximum", "Concatenate"]
    data = [np.random.default_rng(5).standard_normal((4, 3)).astype("float32") for _ in range(2)]
    for got, want in zip(back.predict(data).values(), model.predict(data)):
        np.testing.assert_allclose(got, want, atol=TOL)


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_written_as_arithmetic_imports_inside_a_graph(tmp_path, approximate):
    x = snn.Input(shape=(5,), name="x")
    h = layers.Dense(5)(x)
    model = snn.Model(x, layers.Add()([h, layers.GELU(approximate=approximate)(h)]), seed=0)
    proto = saving.export_onnx(model, tmp_path / "gelu.onnx", opset=17)       # below 20: GELU as a formula
    assert "Gelu" not in [node.op_type for node in proto.graph.node]
    back = saving.load_onnx(tmp_path / "gelu.onnx")
    assert [type(node.layer).__name__ for node in back.nodes] == ["Dense", "GELU", "Add"]
    assert back.nodes[1].layer.approximate is approximate
    data = np.random.default_rng(0).standard_normal((4, 5)).astype("float32")
    np.testing.assert_allclose(back.predict(data), model.predict(data), atol=TOL)


def test_equal_weights_at_two_input_shapes_import_as_two_layers(tmp_path):
    x = snn.Input(shape=(8, 8, 2), name="x")
    first, second = layers.Conv2D(2, 3, padding="same"), layers.Conv2D(2, 3, padding="same")
    a = first(x)
    b = second(layers.MaxPooling2D(2)(a))
    model = snn.Model(x, [a, b], seed=0)
    second.set_weights(first.get_weights())                     # one initializer in the file, read at 8x8 and 4x4
    proto = saving.export_onnx(model, tmp_path / "twice.onnx")
    check(proto)
    convs = [node for node in proto.graph.node if node.op_type == "Conv"]
    assert convs[0].input[1:] == convs[1].input[1:]
    back = saving.load_onnx(tmp_path / "twice.onnx")
    assert len({id(node.layer) for node in back.nodes if type(node.layer).__name__ == "Conv2D"}) == 2
    data = np.random.default_rng(0).standard_normal((2, 8, 8, 2)).astype("float32")
    for got, want in zip(back.predict(data).values(), model.predict(data)):
        np.testing.assert_allclose(got, want, atol=TOL)


def test_a_graph_with_integer_constants_exports(tmp_path):
    """Pad's pads, Slice's starts and Reshape's shape stay int64 in a graph (a float constant fails the check)."""
    image = snn.Input(shape=(6, 6, 2), name="image")
    padded = layers.ZeroPadding2D(1)(image)
    branch = layers.Cropping2D(1)(layers.Conv2D(2, 3, padding="same")(padded))
    merged = layers.Add()([image, branch])
    outputs = layers.Dense(3)(layers.Reshape((36, 2))(merged))
    model = snn.Model(image, outputs, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 6, 6, 2)).astype("float32")
    proto = saving.export_onnx(model, tmp_path / "m.onnx")
    check(proto)
    (got,) = run_onnx(tmp_path / "m.onnx", {"image": x}).values()
    np.testing.assert_allclose(got, model.predict(x), rtol=TOL, atol=TOL)
