"""ONNX defects found by ONNX's own tools and by torch's exporters (issue 19): BatchNormalization's axis after
a Conv2D, a MatMul as the last node, Reshape allowzero=1, external data, inputs that are no tensor, a Gemm
with a matrix C, a 1-D input; and the torch dynamo=True exporter's CNN imported where onnxscript installs."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers
from scratchnn.saving import export_onnx, load_onnx

from conftest import require

onnx = require("onnx")
ort = require("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("shape", [(6, 6, 2), (7, 5, 2)])
@pytest.mark.parametrize("axis", [1, 2, 3, -1])
def test_batch_norm_on_every_axis_after_a_conv2d_matches_predict(tmp_path, rng, axis, shape):
    model = snn.Sequential([layers.Conv2D(3, 3), layers.BatchNormalization(axis=axis)], input_shape=shape, seed=0)
    norm = model.layers[1]
    norm.buffers["moving_mean"][...] = rng.uniform(1, 3, norm.buffers["moving_mean"].shape)
    norm.buffers["moving_variance"][...] = rng.uniform(0.5, 2, norm.buffers["moving_variance"].shape)
    norm.params["gamma"][...] = rng.uniform(0.5, 1.5, norm.params["gamma"].shape)
    export_onnx(model, tmp_path / "bn.onnx")
    onnx.checker.check_model(onnx.shape_inference.infer_shapes(onnx.load(tmp_path / "bn.onnx"), strict_mode=True))
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(tmp_path / "bn.onnx", x), model.predict(x), rtol=1e-5, atol=1e-5)


def graph_model(nodes, inputs, outputs, initializers=(), opset=17):
    return helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(initializers)),
                             opset_imports=[helper.make_opsetid("", opset)])


def tensor(name, dims, elem_type=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem_type, dims)


def test_a_matmul_as_the_last_node_imports_as_a_dense_without_bias(tmp_path, rng):
    kernel = rng.standard_normal((4, 3)).astype(np.float32)
    proto = graph_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [tensor("x", ["N", 4])],
                        [tensor("y", ["N", 3])], [numpy_helper.from_array(kernel, "w")])
    onnx.save(proto, tmp_path / "matmul.onnx")
    model = load_onnx(tmp_path / "matmul.onnx")
    x = rng.standard_normal((5, 4)).astype(np.float32)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"] and not model.layers[0].use_bias
    np.testing.assert_allclose(model.predict(x), x @ kernel, rtol=1e-6)


def reshape_graph(shape, allowzero):
    nodes = [helper.make_node("Reshape", ["x", "s"], ["f"], allowzero=allowzero),
             helper.make_node("MatMul", ["f", "w"], ["y"])]
    return graph_model(nodes, [tensor("x", ["N", 2, 3])], [tensor("y", ["N", 2])],
                       [numpy_helper.from_array(np.array(shape, np.int64), "s"),
                        numpy_helper.from_array(np.ones((6, 2), np.float32), "w")], opset=14)


def test_reshape_with_allowzero_and_no_zero_in_its_shape_imports(tmp_path):
    onnx.save(reshape_graph([-1, 6], 1), tmp_path / "reshape.onnx")
    model = load_onnx(tmp_path / "reshape.onnx")
    assert model.predict(np.ones((2, 2, 3), np.float32)).tolist() == [[6.0, 6.0], [6.0, 6.0]]
    onnx.save(reshape_graph([0, 6], 1), tmp_path / "zero.onnx")
    with pytest.raises(ValueError, match="allowzero=1 and a 0 in its shape"):
        load_onnx(tmp_path / "zero.onnx")


def test_external_data_is_found_beside_the_file_from_another_folder(tmp_path, rng, monkeypatch):
    model = snn.Sequential([layers.Dense(3)], input_shape=(4,), seed=0)
    proto = export_onnx(model, tmp_path / "plain.onnx")
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    onnx.save_model(proto, folder / "m.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                    location="m.onnx.data", size_threshold=0)
    assert (folder / "m.onnx.data").exists()
    monkeypatch.chdir(tmp_path)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(load_onnx(folder / "m.onnx").predict(x), model.predict(x), rtol=1e-6)


@pytest.mark.parametrize("make_input, message", [
    (lambda: helper.make_tensor_sequence_value_info("x", TensorProto.FLOAT, ["N", 4]), "is a sequence_type, not a "
                                                                                      "tensor"),
    (lambda: helper.make_value_info("x", helper.make_optional_type_proto(helper.make_tensor_type_proto(
        TensorProto.FLOAT, ["N", 4]))), "is a optional_type, not a tensor"),
    (lambda: tensor("x", ["N"]), "the input has 1 axes; expected a batch axis and at least one more"),
    (lambda: tensor("x", ["N", 4], TensorProto.UNDEFINED), "must be float32 or float64, got element type UNDEFINED"),
])
def test_inputs_that_are_not_float_tensors_get_a_clear_error(tmp_path, make_input, message):
    proto = graph_model([helper.make_node("Relu", ["x"], ["y"])], [make_input()], [tensor("y", ["N", 4])])
    onnx.save(proto, tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=message) as info:
        load_onnx(tmp_path / "m.onnx")
    assert str(info.value).startswith(f"{tmp_path / 'm.onnx'}: cannot import: ")


def test_a_gemm_with_a_matrix_c_is_refused_clearly(tmp_path):
    proto = graph_model([helper.make_node("Gemm", ["x", "w", "c"], ["y"])], [tensor("x", ["N", 4])],
                        [tensor("y", ["N", 3])], [numpy_helper.from_array(np.ones((4, 3), np.float32), "w"),
                                                  numpy_helper.from_array(np.ones((2, 3), np.float32), "c")])
    onnx.save(proto, tmp_path / "gemm.onnx")
    with pytest.raises(ValueError, match=r"Gemm node '': C of shape \[2, 3\] is not a vector"):
        load_onnx(tmp_path / "gemm.onnx")


@pytest.mark.parametrize("node, message", [
    (helper.make_node("Constant", [], ["k"]), "Constant node '' has 0 attributes"),
    (helper.make_node("MaxPool", ["x"], ["y"]), "MaxPool node '' has no kernel_shape attribute"),
])
def test_malformed_nodes_get_a_value_error_naming_the_file(tmp_path, node, message):
    proto = graph_model([node] if node.op_type != "Constant" else [node, helper.make_node("Relu", ["x"], ["y"])],
                        [tensor("x", ["N", 2, 4, 4])], [tensor("y", ["N", 2, 2, 2])])
    onnx.save(proto, tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=message):
        load_onnx(tmp_path / "m.onnx")


@pytest.mark.slow
def test_torch_dynamo_exporter_cnn_round_trips(tmp_path, rng):
    torch = require("torch")
    pytest.importorskip("onnxscript")
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 3 * 3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3, bias=False))
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    path = tmp_path / "cnn.onnx"
    torch.onnx.export(net.eval(), (torch.from_numpy(x),), str(path), dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=True)
    model = load_onnx(path)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x.transpose(0, 2, 3, 1)), expected, rtol=1e-4, atol=1e-5)
