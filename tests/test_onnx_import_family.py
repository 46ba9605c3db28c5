"""ONNX import of the convolution family and Embedding (issue 17): our export -> onnx.checker full check ->
import -> the same predictions as the original and as onnxruntime (1e-5, float32), Sequential and functional;
graphs written directly with onnx.helper (torch's NCHW forms); one-line errors naming the node and attribute."""
import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers, saving
from scratchnn.saving import onnx_registry

from conftest import require
from test_conv_family import CASES as CONV_CASES
from test_onnx import torch_export

onnx = require("onnx")
ort = require("onnxruntime")
helper, TensorProto = onnx.helper, onnx.TensorProto

TOL = 1e-5
SAME_LAYER_BACK = {"conv_grouped_depthwise": ["DepthwiseConv2D"]}     # Conv2D(groups=C): a depthwise Conv
CASES = {
    **CONV_CASES,
    "conv_transpose_valid_output_padding": ((5, 4, 2), [layers.Conv2DTranspose(3, 3, strides=2,
                                                                               output_padding=(1, 0))]),
    "embedding": ((5,), [layers.Embedding(9, 3), layers.Flatten(), layers.Dense(2)]),
    "embedding_softmax": ((4,), [layers.Embedding(6, 5, embeddings_initializer="random_normal"), layers.Flatten(),
                                 layers.Dense(3, activation="softmax")]),
}


def run_onnx(path, feeds, output="output"):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([output], feeds)[0]


def sample(model_input_shape, ids, rng, n=5):
    if ids:
        return rng.integers(0, ids, (n, *model_input_shape)).astype(np.int64)
    return rng.standard_normal((n, *model_input_shape)).astype(np.float32)


def randomize_biases(model, rng):
    for layer in model.layers:
        if "bias" in layer.params:
            layer.params["bias"][...] = rng.standard_normal(layer.params["bias"].shape)


@pytest.mark.parametrize("case", sorted(CASES))
def test_export_import_round_trip(case, tmp_path):
    input_shape, stack = CASES[case]
    model = snn.Sequential(list(stack), input_shape=input_shape, seed=0)
    randomize_biases(model, np.random.default_rng(3))
    proto = saving.export_onnx(model, tmp_path / "m.onnx")
    onnx.checker.check_model(proto, full_check=True)
    imported = saving.load_onnx(tmp_path / "m.onnx")
    expected = SAME_LAYER_BACK.get(case, [type(layer).__name__ for layer in model.layers])
    assert [type(layer).__name__ for layer in imported.layers] == expected
    ids = model.layers[0].input_dim if isinstance(model.layers[0], layers.Embedding) else 0
    x = sample(input_shape, ids, np.random.default_rng(1))
    np.testing.assert_allclose(imported.predict(x), model.predict(x), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(imported.predict(x), run_onnx(tmp_path / "m.onnx", {"input": x}), rtol=TOL, atol=TOL)


def test_layer_settings_come_back(tmp_path):
    """What the import rebuilds is the layer that was exported, settings included (not only its numbers)."""
    checks = {"conv_transpose_valid_output_padding": {"padding": "valid", "output_padding": (1, 0), "strides": (2, 2)},
              "conv_transpose_dilated": {"dilation_rate": (2, 1), "padding": "valid"},
              "separable": {"depth_multiplier": 2, "strides": (2, 2), "padding": "same", "filters": 5},
              "depthwise": {"depth_multiplier": 2, "padding": "same"},
              "upsampling_bilinear": {"size": (2, 2), "interpolation": "bilinear"},
              "zero_padding": {"padding": ((1, 2), (0, 3))}, "cropping": {"cropping": ((1, 0), (2, 1))}}
    for case, settings in checks.items():
        input_shape, stack = CASES[case]
        model = snn.Sequential(list(stack), input_shape=input_shape, seed=0)
        saving.export_onnx(model, tmp_path / f"{case}.onnx")
        layer = saving.load_onnx(tmp_path / f"{case}.onnx").layers[0]
        for name, value in settings.items():
            assert getattr(layer, name) == value, (case, name)


def mixed_model():
    """A functional model of every convolution-family layer: two branches merged, then a grouped Conv."""
    x = snn.Input((8, 8, 3), name="image")
    h = layers.SeparableConv2D(4, 3, padding="same", activation="relu")(x)
    a = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(h)
    b = layers.UpSampling2D(2, interpolation="bilinear")(h)
    m = layers.Add()([a, b])
    c = layers.Cropping2D(((2, 0), (0, 2)))(layers.ZeroPadding2D(1)(m))
    d = layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2)(c)
    e = layers.Conv2D(6, 3, groups=2)(layers.UpSampling2D((1, 2))(d))
    y = layers.Dense(3)(layers.GlobalAveragePooling2D()(e))
    return snn.Model(x, y, seed=0)


def ids_and_features_model():
    ids, features = snn.Input((6,), name="ids"), snn.Input((3,), name="features")
    looked_up = layers.Flatten()(layers.Embedding(10, 4)(ids))
    y = layers.Add()([looked_up, layers.Dense(24)(features)])
    return snn.Model([ids, features], layers.Dense(2)(y), seed=0)


def test_functional_models_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    model = mixed_model()
    saving.export_onnx(model, tmp_path / "mixed.onnx")
    imported = saving.load_onnx(tmp_path / "mixed.onnx")
    kinds = sorted(type(layer).__name__ for layer in imported.layers)      # a layer's activation: a layer of its own
    assert kinds == sorted([type(layer).__name__ for layer in model.layers] + ["ReLU"])
    x = rng.standard_normal((4, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(imported.predict(x), model.predict(x), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(imported.predict(x), run_onnx(tmp_path / "mixed.onnx", {"image": x},
                                                             model.output_names[0]), rtol=TOL, atol=TOL)

    model = ids_and_features_model()
    saving.export_onnx(model, tmp_path / "ids.onnx")
    imported = saving.load_onnx(tmp_path / "ids.onnx")
    assert "Embedding" in {type(layer).__name__ for layer in imported.layers}
    feeds = {"ids": rng.integers(0, 10, (4, 6)).astype(np.int64), "features": rng.standard_normal((4, 3)).astype(
        np.float32)}
    np.testing.assert_allclose(imported.predict([feeds["ids"], feeds["features"]]),
                               model.predict([feeds["ids"], feeds["features"]]), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(imported.predict([feeds["ids"], feeds["features"]]),
                               run_onnx(tmp_path / "ids.onnx", feeds, model.output_names[0]), rtol=TOL, atol=TOL)


# ---- graphs written directly with onnx.helper (torch's NCHW layout), not by our exporter --------------------
def constant(name, array, dtype=np.float32):
    return onnx.numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def write(tmp_path, nodes, initializers, input_shape, opset=17, elem_type=TensorProto.FLOAT, name="g"):
    """A one-input graph x -> ... -> y, full-checked, written to tmp_path / name.onnx; returns the path."""
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", elem_type, input_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = helper.find_min_ir_version_for(model.opset_import)
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)        # the output's type and shape
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def assert_same_as_onnxruntime(path, x, nchw=True):
    """The imported model takes NHWC images (an NCHW graph's input transposed) and gives onnxruntime's output."""
    imported = saving.load_onnx(path)
    ours = imported.predict(x.transpose(0, 2, 3, 1) if nchw else x)
    np.testing.assert_allclose(ours, run_onnx(path, {"x": x}, "y"), rtol=TOL, atol=TOL)
    return [type(layer).__name__ for layer in imported.layers]


CONV_TRANSPOSES = {   # attributes -> the padding the layer gets: torch's forms of ConvTranspose2d and ONNX's auto_pad
    "torch_dcgan": ({"strides": [2, 2], "pads": [1, 1, 1, 1]}, 4, "same"),      # ConvTranspose2d(4, 2, padding=1)
    "output_padding": ({"strides": [2, 2], "output_padding": [1, 0]}, 3, "valid"),
    "valid": ({"strides": [2, 2]}, 2, "valid"),
    "dilated": ({"dilations": [2, 1]}, 3, "valid"),
    "auto_pad_same_upper": ({"strides": [2, 2], "auto_pad": "SAME_UPPER"}, 3, "same"),
    "auto_pad_same_lower": ({"strides": [2, 2], "auto_pad": "SAME_LOWER"}, 4, "same"),
    "stride_over_kernel": ({"strides": [3, 3]}, 2, "valid"),
    # windows no padding gives: the whole scatter, then a Cropping2D
    "torch_3_2_1_1": ({"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}, 3, "crop"),
    "cut_at_the_end": ({"strides": [2, 2], "pads": [0, 0, 2, 2]}, 3, "crop"),
    "cut_unevenly": ({"strides": [2, 1], "pads": [2, 0, 1, 1], "output_padding": [1, 0]}, 3, "crop"),
}


@pytest.mark.parametrize("case", sorted(CONV_TRANSPOSES))
def test_a_hand_written_conv_transpose_imports(case, tmp_path):
    attributes, k, padding = CONV_TRANSPOSES[case]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 2, 5, 4)).astype(np.float32)
    out = onnx.shape_inference.infer_shapes(helper.make_model(helper.make_graph(
        [helper.make_node("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[k, k], **attributes)], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 2, 5, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [constant("w", np.zeros((2, 3, k, k)))])))
    dims = [d.dim_value for d in out.graph.output[0].type.tensor_type.shape.dim]
    nodes = [helper.make_node("ConvTranspose", ["x", "w", "b"], ["t"], name="deconv", kernel_shape=[k, k],
                              **attributes),
             helper.make_node("Relu", ["t"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1)]
    initializers = [constant("w", rng.standard_normal((2, 3, k, k))), constant("b", rng.standard_normal(3)),
                    constant("w2", rng.standard_normal((4, int(np.prod(dims[1:]))))),
                    constant("b2", rng.standard_normal(4))]
    path = write(tmp_path, nodes, initializers, ["N", 2, 5, 4])
    cropped = ["Cropping2D"] if padding == "crop" else []
    assert assert_same_as_onnxruntime(path, x) == ["Conv2DTranspose", *cropped, "ReLU", "Flatten", "Dense"]
    imported = saving.load_onnx(path)
    assert imported.layers[0].padding == ("valid" if cropped else padding)
    if cropped:
        pads = attributes["pads"]
        assert imported.layers[1].cropping == ((pads[0], pads[2]), (pads[1], pads[3]))


def test_a_hand_written_embedding_imports(tmp_path):
    rng = np.random.default_rng(8)
    nodes = [helper.make_node("Gather", ["table", "x"], ["e"], name="lookup", axis=0),
             helper.make_node("Flatten", ["e"], ["f"]), helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1)]
    initializers = [constant("table", rng.standard_normal((7, 3))), constant("w", rng.standard_normal((2, 15))),
                    constant("b", rng.standard_normal(2))]
    path = write(tmp_path, nodes, initializers, ["N", 5], elem_type=TensorProto.INT64)
    ids = rng.integers(0, 7, (4, 5)).astype(np.int64)
    assert assert_same_as_onnxruntime(path, ids, nchw=False) == ["Embedding", "Flatten", "Dense"]
    embedding = saving.load_onnx(path).layers[0]
    assert (embedding.input_dim, embedding.output_dim) == (7, 3)


def test_hand_written_depthwise_grouped_and_separable_convs_import(tmp_path):
    rng = np.random.default_rng(9)
    nodes = [helper.make_node("Conv", ["x", "dw", "dwb"], ["d"], group=4, pads=[1, 1, 1, 1]),   # MobileNet's block
             helper.make_node("Relu", ["d"], ["r"]), helper.make_node("Conv", ["r", "pw"], ["p"]),
             helper.make_node("Conv", ["p", "gw", "gb"], ["g"], group=2, strides=[2, 2]),
             helper.make_node("Conv", ["g", "sdw"], ["s"], group=4),                 # depthwise, no bias, then 1x1
             helper.make_node("Conv", ["s", "spw", "spb"], ["sp"]),
             helper.make_node("GlobalAveragePool", ["sp"], ["a"]), helper.make_node("Flatten", ["a"], ["y"])]
    initializers = [constant("dw", rng.standard_normal((8, 1, 3, 3))), constant("dwb", rng.standard_normal(8)),
                    constant("pw", rng.standard_normal((6, 8, 1, 1))),
                    constant("gw", rng.standard_normal((4, 3, 3, 3))),
                    constant("gb", rng.standard_normal(4)), constant("sdw", rng.standard_normal((4, 1, 2, 2))),
                    constant("spw", rng.standard_normal((5, 4, 1, 1))), constant("spb", rng.standard_normal(5))]
    path = write(tmp_path, nodes, initializers, ["N", 4, 9, 8])
    x = rng.standard_normal((3, 4, 9, 8)).astype(np.float32)
    assert assert_same_as_onnxruntime(path, x) == ["DepthwiseConv2D", "ReLU", "Conv2D", "Conv2D", "SeparableConv2D",
                                                   "GlobalAveragePooling2D"]
    assert saving.load_onnx(path).layers[3].groups == 2


RESIZES = {   # (node inputs, attributes, opset, fixed batch) -> UpSampling2D (size, interpolation)
    "sizes_half_pixel_nearest": (["x", "", "", "sizes"], {}, 13, ((2, 3), "nearest")),
    "torch_nearest": (["x", "", "scales"], {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
                      13, ((2, 2), "nearest")),
    "torch_bilinear": (["x", "", "scales"], {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
                       13, ((2, 2), "bilinear")),
    "axes_opset_18": (["x", "", "hw_scales"], {"axes": [2, 3], "coordinate_transformation_mode": "asymmetric",
                                                "nearest_mode": "floor"}, 18, ((2, 2), "nearest")),
    "upsample_opset_9": (["x", "scales"], {}, 9, ((2, 2), "nearest")),
}


@pytest.mark.parametrize("case", sorted(RESIZES))
def test_a_hand_written_resize_imports(case, tmp_path):
    inputs, attributes, opset, (size, interpolation) = RESIZES[case]
    op_type = "Upsample" if opset < 10 else "Resize"
    nodes = [helper.make_node(op_type, inputs, ["r"], name="resize", **attributes),
             helper.make_node("Transpose", ["r"], ["y"], perm=[0, 2, 3, 1])]
    initializers = [constant("sizes", [2, 2, 6, 12], np.int64), constant("scales", [1, 1, *size]),
                    constant("hw_scales", size)]
    path = write(tmp_path, nodes, [i for i in initializers if i.name in inputs], [2, 2, 3, 4], opset=opset)
    x = np.random.default_rng(10).standard_normal((2, 2, 3, 4)).astype(np.float32)
    assert assert_same_as_onnxruntime(path, x) == ["UpSampling2D"]
    layer = saving.load_onnx(path).layers[0]
    assert (layer.size, layer.interpolation) == (size, interpolation)


@pytest.mark.parametrize("opset", [9, 13, 18])
def test_hand_written_pad_and_slice_import(opset, tmp_path):
    """Pads and Slice's bounds as inputs (opset 11 / 10 on; axes of Pad from 18) or as attributes (before)."""
    end = np.iinfo(np.int64).max
    pad_inputs = ["x", "pads"] + (["", "pad_axes"] if opset >= 18 else [])
    pads = [1, 2, 0, 1] if opset >= 18 else [0, 0, 1, 2, 0, 0, 0, 1]
    nodes = [helper.make_node("Pad", pad_inputs, ["p"], name="pad"),
             helper.make_node("Slice", ["p", "starts", "ends", "axes"], ["s"], name="crop"),
             helper.make_node("Transpose", ["s"], ["y"], perm=[0, 2, 3, 1])]
    if opset < 10:
        nodes[:2] = [helper.make_node("Pad", ["x"], ["p"], name="pad", pads=pads, value=0.0),
                     helper.make_node("Slice", ["p"], ["s"], name="crop", starts=[-4, 1], ends=[end, -1], axes=[-2, 3])]
    initializers = [constant("pads", pads, np.int64), constant("pad_axes", [2, 3], np.int64),
                    constant("starts", [-4, 1], np.int64), constant("ends", [end, -1], np.int64),
                    constant("axes", [-2, 3], np.int64)]
    used = {name for node in nodes for name in node.input}
    path = write(tmp_path, nodes, [i for i in initializers if i.name in used], ["N", 3, 5, 6], opset=opset)
    x = np.random.default_rng(11).standard_normal((2, 3, 5, 6)).astype(np.float32)
    assert assert_same_as_onnxruntime(path, x) == ["ZeroPadding2D", "Cropping2D"]
    pad, crop = saving.load_onnx(path).layers
    assert pad.padding == ((1, 0), (2, 1)) and crop.cropping == ((2, 0), (1, 1))


@pytest.mark.filterwarnings("ignore:Constant folding:UserWarning")          # torch's own, about its Slice
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_a_torch_model_of_the_family_imports(mode, tmp_path):
    """torch.onnx.export's forms: ZeroPad2d's pads computed from constants (folded at import), x[..., a:b] as
    Slice, ConvTranspose2d(4, 2, padding=1), nn.Upsample, depthwise and grouped Conv2d; NCHW in, NHWC out."""
    torch = require("torch")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.deconv, self.up = nn.ConvTranspose2d(2, 3, 4, 2, 1), nn.Upsample(scale_factor=2, mode=mode)
            self.pad, self.depthwise = nn.ZeroPad2d((1, 2, 0, 1)), nn.Conv2d(3, 6, 3, groups=3)
            self.grouped = nn.Conv2d(6, 4, 3, groups=2, padding=1)

        def forward(self, x):
            y = self.pad(self.up(torch.relu(self.deconv(x))))[:, :, 1:-1, 2:]
            return self.grouped(self.depthwise(y)).permute(0, 2, 3, 1)

    net, x = Net().eval(), torch.randn(3, 2, 5, 4)
    torch_export(net, x, tmp_path / "torch.onnx")
    model = saving.load_onnx(tmp_path / "torch.onnx")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2DTranspose", "ReLU", "UpSampling2D", "ZeroPadding2D", "Cropping2D", "Cropping2D", "DepthwiseConv2D",
        "Conv2D"]
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(x.numpy().transpose(0, 2, 3, 1)), net(x).numpy(), rtol=TOL, atol=TOL)


def test_torchs_stride_2_conv_transpose_with_output_padding_imports(tmp_path):
    """ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1), the usual doubling in PyTorch decoders: its
    output starts one pixel later than TensorFlow's "same" window, so it comes in as the whole scatter and a crop."""
    torch = require("torch")
    torch.set_num_threads(1)
    torch.manual_seed(0)

    class Decoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1)

        def forward(self, x):
            return torch.relu(self.up(x)).permute(0, 2, 3, 1)

    net, x = Decoder().eval(), torch.randn(3, 2, 5, 4)
    torch_export(net, x, tmp_path / "torch.onnx")
    model = saving.load_onnx(tmp_path / "torch.onnx")
    assert [type(layer).__name__ for layer in model.layers] == ["Conv2DTranspose", "Cropping2D", "ReLU"]
    assert model.output_shape == (10, 8, 3)
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(x.numpy().transpose(0, 2, 3, 1)), net(x).numpy(), rtol=TOL, atol=TOL)


def test_a_torch_embedding_imports(tmp_path):
    torch = require("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Embedding(9, 3), torch.nn.Flatten(), torch.nn.Linear(15, 2)).eval()
    ids = torch.randint(0, 9, (4, 5))
    torch_export(net, ids, tmp_path / "torch.onnx")
    model = saving.load_onnx(tmp_path / "torch.onnx")
    assert [type(layer).__name__ for layer in model.layers] == ["Embedding", "Flatten", "Dense"]
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(ids.numpy()), net(ids).numpy(), rtol=TOL, atol=TOL)


# ---- what cannot be expressed: one line naming the node and the attribute --------------------------------------
def image_graph(tmp_path, node, initializers, input_shape=("N", 2, 5, 4), opset=17):
    return write(tmp_path, [node, helper.make_node("Transpose", ["t"], ["y"], perm=[0, 2, 3, 1])], initializers,
                 list(input_shape), opset=opset)


W = constant("w", np.ones((2, 3, 3, 3)))
REFUSED = {
    "conv_transpose_group": (helper.make_node("ConvTranspose", ["x", "g"], ["t"], name="n", group=2),
                             [constant("g", np.ones((2, 1, 3, 3)))], "'n': attribute group=2 is not supported"),
    "conv_transpose_output_shape": (helper.make_node("ConvTranspose", ["x", "w"], ["t"], name="n", strides=[2, 2],
                                                     output_shape=[10, 8]), [W], "'n': attribute output_shape="),
    "resize_cubic": (helper.make_node("Resize", ["x", "", "s"], ["t"], name="n", mode="cubic"),
                     [constant("s", [1, 1, 2, 2])], "'n': mode=cubic"),
    "resize_not_whole": (helper.make_node("Resize", ["x", "", "s"], ["t"], name="n"), [constant("s", [1, 1, 1.5, 2])],
                         "'n': scales .* must be whole factors"),
    "resize_channels": (helper.make_node("Resize", ["x", "", "s"], ["t"], name="n"), [constant("s", [1, 2, 2, 2])],
                        "'n': scales .* must be whole factors of the height and width only"),
    "resize_nearest_rounding": (helper.make_node("Resize", ["x", "", "s"], ["t"], name="n",
                                                 nearest_mode="round_prefer_ceil",
                                                 coordinate_transformation_mode="asymmetric"),
                                [constant("s", [1, 1, 3, 3])],
                                "'n': nearest with coordinate_transformation_mode=asymmetric"),
    "pad_reflect": (helper.make_node("Pad", ["x", "p"], ["t"], name="n", mode="reflect"),
                    [constant("p", [0, 0, 1, 1, 0, 0, 1, 1], np.int64)], "'n': mode=reflect"),
    "pad_value": (helper.make_node("Pad", ["x", "p", "v"], ["t"], name="n"),
                  [constant("p", [0, 0, 1, 1, 0, 0, 1, 1], np.int64), constant("v", 2.0)],
                  "'n': constant_value 2.0 is not supported"),
    "pad_channels": (helper.make_node("Pad", ["x", "p"], ["t"], name="n"),
                     [constant("p", [0, 1, 0, 0, 0, 0, 0, 0], np.int64)], "'n': padding the batch or channel axis"),
    "slice_steps": (helper.make_node("Slice", ["x", "a", "b", "c", "d"], ["t"], name="n"),
                    [constant("a", [0], np.int64), constant("b", [4], np.int64), constant("c", [2], np.int64),
                     constant("d", [2], np.int64)], r"'n': steps \[2\] are not supported"),
    "slice_channels": (helper.make_node("Slice", ["x", "a", "b", "c"], ["t"], name="n"),
                       [constant("a", [1], np.int64), constant("b", [2], np.int64), constant("c", [1], np.int64)],
                       "'n': cropping the batch or channel axis"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_the_layers_cannot_express_is_refused_in_one_line(case, tmp_path):
    node, initializers, message = REFUSED[case]
    path = image_graph(tmp_path, node, initializers)
    run_onnx(path, {"x": np.ones((1, 2, 5, 4), np.float32)}, "y")          # a valid graph: onnxruntime runs it
    with pytest.raises(ValueError, match=message) as error:
        saving.load_onnx(path)
    assert "\n" not in str(error.value) and str(error.value).startswith(f"{path}: cannot import: ")


def test_a_gather_that_is_not_an_embedding_is_refused(tmp_path):
    path = write(tmp_path, [helper.make_node("Gather", ["x", "i"], ["y"], name="pick", axis=1)],
                 [constant("i", [0, 2], np.int64)], ["N", 4])
    with pytest.raises(ValueError, match="Gather node 'pick': only a lookup of integer ids"):
        saving.load_onnx(path)
    nodes = [helper.make_node("Cast", ["x"], ["f"], to=TensorProto.FLOAT), helper.make_node("Relu", ["f"], ["y"])]
    path = write(tmp_path, nodes, [], ["N", 4], elem_type=TensorProto.INT64, name="ints")
    with pytest.raises(ValueError, match="the integer input 'x' must be read only by Gather nodes"):
        saving.load_onnx(path)


# ---- the registry ----------------------------------------------------------------------------------------------
def test_the_registry_holds_both_directions_and_refuses_a_second_entry():
    """(test_onnx.py's coverage test checks that every registered layer has its exporter.)"""
    importers = onnx_registry.importers()
    for op_type in ("Conv", "ConvTranspose", "Resize", "Upsample", "Pad", "Slice", "Gather"):
        assert op_type in importers
    assert onnx_registry.merges()["Sum"] == "Add"
    with pytest.raises(ValueError, match="layer 'Conv2D' is registered twice"):
        onnx_registry.onnx_exporter("Conv2D")(lambda builder, layer, x, hint: x)
    with pytest.raises(ValueError, match="operator 'Conv' is registered twice"):
        onnx_registry.onnx_importer("Conv")(lambda importer, node: None)
    with pytest.raises(ValueError, match="give one or more"):
        onnx_registry.onnx_importer()


def test_constants_computed_in_the_graph_are_bounded(tmp_path):
    """Constants-only nodes are evaluated at import (torch's ZeroPad2d pads); one that would allocate a huge
    array is refused before it does."""
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"], name="fill"),
             helper.make_node("Add", ["x", "big"], ["y"])]
    path = write(tmp_path, nodes, [constant("shape", [100_000, 100_000], np.int64)], [1, 1])
    with pytest.raises(ValueError, match=r"cannot import: ConstantOfShape node 'fill': a constant of shape "
                                         r"\[100000, 100000\]: a negative size or over 1048576 values"):
        saving.load_onnx(path)
