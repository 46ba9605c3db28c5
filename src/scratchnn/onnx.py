"""ONNX export and import: a Sequential as an ONNX graph that takes NHWC input like the model, and back.

Images are channels-last in scratchnn and channels-first in ONNX's Conv and pooling operators, so the
exported graph transposes to NCHW before the first of them and back to NHWC before anything that cares
about the order of the axes (Flatten, Reshape, Softmax, Dense, the output): Flatten then flattens in our
order and Dense kernels need no reordering. Import walks the graph one layer at a time and keeps track of
the same relation; a model written by another exporter that takes NCHW input becomes a model that takes
NHWC input (the Dense after its Flatten gets its kernel rows reordered to match).
"""
import math

import numpy as np

from .io import atomic_file
from .layers import GELU, LAYERS, BatchNormalization, Conv2D, Dense, Dropout, Flatten, Reshape, Softmax
from .layers.conv import window_geometry
from .model import Sequential

DEFAULT_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "output"
TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
SQRT_2 = math.sqrt(2.0)
GELU_TANH_COEFFICIENT = 0.044715


def _require_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("scratchnn.onnx needs the onnx package: pip install 'scratchnn[onnx]'") from exc
    return onnx


# ---- export --------------------------------------------------------------------------------------
class _GraphBuilder:
    """Collects nodes and initializers; tracks whether the current 4-D tensor is NHWC or NCHW."""

    def __init__(self, onnx, dtype, opset):
        self.onnx, self.dtype, self.opset = onnx, dtype, opset
        self.nodes, self.initializers = [], []
        self.channels_first = False
        self.count = 0

    def fresh(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def constant(self, hint, array, dtype=None):
        name = self.fresh(hint)
        array = np.array(array, dtype=dtype or self.dtype, order="C")
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op_type, inputs, hint, **attributes):
        output = self.fresh(hint)
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [output], name=output, **attributes))
        return output

    def channels(self, x, rank, first):
        """x with its channel axis first (NCHW) or last (NHWC); only 4-D tensors are ever transposed."""
        if rank != 4 or self.channels_first == first:
            return x
        self.channels_first = first
        return self.node("Transpose", [x], "to_nchw" if first else "to_nhwc", perm=TO_NCHW if first else TO_NHWC)


def export(model, path, opset=DEFAULT_OPSET):
    """Write ``model`` as an ONNX file: input "input" (N, *input_shape), output "output", N dynamic.

    Every layer of scratchnn.layers is supported (see the exporters below). Returns the ModelProto,
    which passes onnx.checker.check_model.
    """
    onnx = _require_onnx()
    if not model.built:
        raise ValueError("export needs a built model: pass input_shape=... or call build() first")
    if not isinstance(opset, int) or not 13 <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"export: opset must be an int from 13 to {onnx.defs.onnx_opset_version()}, got {opset!r}")
    dtype = np.dtype(model.dtype)
    builder = _GraphBuilder(onnx, dtype, opset)
    x = INPUT_NAME
    for index, layer in enumerate(model.layers):
        exporter = _EXPORTERS.get(type(layer).__name__)
        if exporter is None:
            raise ValueError(f"export: no ONNX form for layer {index} ({layer.describe()}); supported: "
                             f"{sorted(_EXPORTERS)}")
        x = exporter(builder, layer, x, layer.name or f"{index}_{type(layer).__name__.lower()}")
    x = builder.channels(x, len(model.output_shape) + 1, first=False)
    builder.nodes.append(onnx.helper.make_node("Identity", [x], [OUTPUT_NAME], name=OUTPUT_NAME))
    elem_type = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    graph = onnx.helper.make_graph(
        builder.nodes, model.name,
        [onnx.helper.make_tensor_value_info(INPUT_NAME, elem_type, ["N", *model.input_shape])],
        [onnx.helper.make_tensor_value_info(OUTPUT_NAME, elem_type, ["N", *model.output_shape])],
        builder.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="scratchnn", producer_version=_version())
    proto.ir_version = onnx.helper.find_min_ir_version_for(proto.opset_import)
    onnx.checker.check_model(proto, full_check=True)
    with atomic_file(path) as stream:
        stream.write(proto.SerializeToString())
    return proto


def _version():
    from . import __version__
    return __version__


def _export_unary(op_type, **attributes):
    def exporter(builder, layer, x, hint):
        return builder.node(op_type, [x], hint, **{k: getattr(layer, v) for k, v in attributes.items()})
    return exporter


def _export_dense(builder, layer, x, hint):
    kernel = builder.constant(f"{hint}_kernel", layer.params["kernel"])
    if not layer.use_bias:
        return builder.node("MatMul", [x, kernel], hint)                           # Y = X @ W
    bias = builder.constant(f"{hint}_bias", layer.params["bias"])
    return builder.node("Gemm", [x, kernel, bias], hint)                           # Y = X @ W + b


def _export_softmax(builder, layer, x, hint):
    x = builder.channels(x, len(layer.input_shape) + 1, first=False)
    return builder.node("Softmax", [x], hint, axis=-1)


def _export_gelu(builder, layer, x, hint):
    if builder.opset >= 20:
        return builder.node("Gelu", [x], hint, approximate="tanh" if layer.approximate else "none")
    if layer.approximate:                       # y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = builder.node("Mul", [builder.node("Mul", [x, x], f"{hint}_square"), x], f"{hint}_cube")
        inner = builder.node("Add", [x, builder.node("Mul", [cube, builder.constant(
            f"{hint}_c", GELU_TANH_COEFFICIENT)], f"{hint}_scaled_cube")], f"{hint}_inner")
        phi = builder.node("Tanh", [builder.node("Mul", [inner, builder.constant(
            f"{hint}_k", math.sqrt(2 / math.pi))], f"{hint}_arg")], f"{hint}_tanh")
    else:                                       # y = x/2 (1 + erf(x / sqrt 2))
        phi = builder.node("Erf", [builder.node("Div", [x, builder.constant(f"{hint}_sqrt2", SQRT_2)],
                                                f"{hint}_scaled")], f"{hint}_erf")
    one_plus = builder.node("Add", [phi, builder.constant(f"{hint}_one", 1.0)], f"{hint}_one_plus")
    product = builder.node("Mul", [x, one_plus], f"{hint}_product")
    return builder.node("Mul", [product, builder.constant(f"{hint}_half", 0.5)], hint)


def _pads(layer, window):
    """ONNX pads [top, left, bottom, right] of a "valid" or TensorFlow "same" window (odd pixel at the end)."""
    rows, cols = (window_geometry(size, span, stride, layer.padding, type(layer).__name__)
                  for size, span, stride in zip(layer.input_shape[:2], window, layer.strides))
    return [rows[1], cols[1], rows[2], cols[2]]


def _export_conv(builder, layer, x, hint):
    x = builder.channels(x, 4, first=True)
    span = [(k - 1) * d + 1 for k, d in zip(layer.kernel_size, layer.dilation_rate)]
    inputs = [x, builder.constant(f"{hint}_kernel", layer.params["kernel"].transpose(3, 2, 0, 1))]
    if layer.use_bias:
        inputs.append(builder.constant(f"{hint}_bias", layer.params["bias"]))
    return builder.node("Conv", inputs, hint, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                        dilations=list(layer.dilation_rate), pads=_pads(layer, span))


def _export_pooling(op_type, **attributes):
    def exporter(builder, layer, x, hint):
        x = builder.channels(x, 4, first=True)
        return builder.node(op_type, [x], hint, kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                            pads=_pads(layer, layer.pool_size), **attributes)
    return exporter


def _export_global_pooling(op_type):
    def exporter(builder, layer, x, hint):
        pooled = builder.node(op_type, [builder.channels(x, 4, first=True)], f"{hint}_pooled")   # (N, C, 1, 1)
        builder.channels_first = False
        return builder.node("Flatten", [pooled], hint, axis=1)                                     # (N, C)
    return exporter


def _export_flatten(builder, layer, x, hint):
    x = builder.channels(x, len(layer.input_shape) + 1, first=False)
    return builder.node("Flatten", [x], hint, axis=1)


def _export_reshape(builder, layer, x, hint):
    x = builder.channels(x, len(layer.input_shape) + 1, first=False)
    shape = builder.constant(f"{hint}_shape", [-1, *layer.output_shape], dtype=np.int64)
    return builder.node("Reshape", [x, shape], hint)


def _export_dropout(builder, layer, x, hint):
    """ONNX Dropout without training_mode is the identity; the ratio is kept so that import restores it."""
    return builder.node("Dropout", [x, builder.constant(f"{hint}_ratio", layer.rate)], hint)


def _export_batch_norm(builder, layer, x, hint):
    """ONNX BatchNormalization in inference form, features on axis 1 (transposed there if need be)."""
    rank = len(layer.input_shape) + 1
    axis = layer.axis % rank
    if rank == 4 and axis == 3:
        x, axis = builder.channels(x, 4, first=True), 1
    elif rank == 4 and builder.channels_first:
        axis = TO_NHWC.index(axis)
    order = [0, axis, *[i for i in range(1, rank) if i != axis]]
    if axis != 1:
        x = builder.node("Transpose", [x], f"{hint}_features_first", perm=order)
    features = layer.buffers["moving_mean"].shape[0]
    inputs = [x, builder.constant(f"{hint}_gamma", layer.params.get("gamma", np.ones(features))),
              builder.constant(f"{hint}_beta", layer.params.get("beta", np.zeros(features))),
              builder.constant(f"{hint}_mean", layer.buffers["moving_mean"]),
              builder.constant(f"{hint}_variance", layer.buffers["moving_variance"])]
    y = builder.node("BatchNormalization", inputs, hint, epsilon=layer.epsilon, momentum=layer.momentum)
    if axis != 1:
        y = builder.node("Transpose", [y], f"{hint}_features_back", perm=list(np.argsort(order)))
    return y


_EXPORTERS = {
    "Dense": _export_dense, "Linear": _export_unary("Identity"), "Sigmoid": _export_unary("Sigmoid"),
    "Tanh": _export_unary("Tanh"), "ReLU": _export_unary("Relu"), "Softplus": _export_unary("Softplus"),
    "LeakyReLU": _export_unary("LeakyRelu", alpha="alpha"), "ELU": _export_unary("Elu", alpha="alpha"),
    "GELU": _export_gelu, "Softmax": _export_softmax, "Flatten": _export_flatten, "Reshape": _export_reshape,
    "Conv2D": _export_conv, "MaxPooling2D": _export_pooling("MaxPool"),
    "AveragePooling2D": _export_pooling("AveragePool", count_include_pad=0),
    "GlobalAveragePooling2D": _export_global_pooling("GlobalAveragePool"),
    "GlobalMaxPooling2D": _export_global_pooling("GlobalMaxPool"),
    "Dropout": _export_dropout, "BatchNormalization": _export_batch_norm,
}


# ---- import --------------------------------------------------------------------------------------
def load(path):
    """Read an ONNX file that uses only the operators export writes (and torch's forms of them).

    Returns a built Sequential that takes NHWC input; raises ValueError naming the first operator or
    attribute it cannot map.
    """
    onnx = _require_onnx()
    with open(path, "rb") as stream:
        data = stream.read()
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:        # protobuf's DecodeError has no common base with ValueError
        raise ValueError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    return _Importer(onnx, proto, str(path)).run()


class _Importer:
    """Walks the graph from its input, one region (a layer's worth of nodes) at a time."""

    def __init__(self, onnx, proto, path):
        self.onnx, self.path = onnx, path
        graph = proto.graph
        self.constants = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in graph.initializer}
        self.nodes = []
        for node in graph.node:
            if node.op_type == "Constant":
                self.constants[node.output[0]] = self.constant_node_value(node)
            else:
                self.nodes.append(node)
        self.consumers = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        inputs = [value for value in graph.input if value.name not in self.constants]
        if len(inputs) != 1 or len(graph.output) != 1:
            self.fail(f"expected one input and one output, got {len(inputs)} inputs and {len(graph.output)} outputs")
        self.input, self.output = inputs[0], graph.output[0].name
        self.layers = []

    def fail(self, message):
        raise ValueError(f"{self.path}: cannot import: {message}")

    def constant_node_value(self, node):
        attribute = node.attribute[0]
        value = self.onnx.helper.get_attribute_value(attribute)
        if attribute.name == "value":
            return self.onnx.numpy_helper.to_array(value)
        if attribute.name in ("value_float", "value_floats", "value_int", "value_ints"):
            return np.asarray(value)
        self.fail(f"Constant node {node.name!r} with attribute {attribute.name!r} is not supported")

    def constant(self, node, position, required=True):
        names = list(node.input)
        if position >= len(names) or not names[position]:
            if required:
                self.fail(f"{node.op_type} node {node.name!r} lacks input {position}")
            return None
        if names[position] not in self.constants:
            self.fail(f"{node.op_type} node {node.name!r}: input {position} ({names[position]!r}) must be a "
                      "constant (an initializer), not computed")
        return self.constants[names[position]]

    def attributes(self, node):
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def region(self, tensor):
        """The nodes from ``tensor`` to the next tensor that every path from it goes through, and that tensor."""
        region, derived, members = [], {tensor}, set()
        for node in self.nodes:
            if not any(name in derived for name in node.input):
                continue
            region.append(node)
            members.add(id(node))
            derived.update(name for name in node.output if name)
            still_open = {name for name in derived if name == self.output or
                          any(id(c) not in members for c in self.consumers.get(name, []))}
            if len(still_open) == 1 and next(iter(still_open)) in node.output:
                return region, next(iter(still_open))
        self.fail(f"tensor {tensor!r} does not lead to the output {self.output!r}")

    # ---- the walk ----
    def run(self):
        elem_type = self.input.type.tensor_type.elem_type
        dtype = np.dtype(self.onnx.helper.tensor_dtype_to_np_dtype(elem_type))
        if dtype.name not in ("float32", "float64"):
            self.fail(f"the input must be float32 or float64, got {dtype.name}")
        dims = [d.dim_value for d in self.input.type.tensor_type.shape.dim][1:]
        if not dims or not all(d > 0 for d in dims):
            self.fail(f"every input dimension but the batch must be fixed, got {dims}")
        self.x, self.shape, self.row_order = self.input.name, tuple(dims), None
        self.batch = self.input.type.tensor_type.shape.dim[0].dim_value
        self.channels_first = len(dims) == 3 and not self.starts_with_transpose_to_nchw()
        if self.channels_first:
            self.shape = (dims[1], dims[2], dims[0])
        input_shape = self.shape
        while self.x != self.output:
            nodes, output = self.region(self.x)
            if len(nodes) == 1:
                handler = _IMPORTERS.get(nodes[0].op_type)
                if handler is None:
                    self.fail(f"operator {nodes[0].op_type} (node {nodes[0].name!r}) is not supported; "
                              f"supported: {sorted(_IMPORTERS)} and GELU written as Erf or Tanh formulas")
                output = handler(self, nodes[0]) or output
            elif nodes[-1].op_type == "Reshape" and all(
                    n.op_type == "Shape" or n.op_type in _SHAPE_OPERATIONS for n in nodes[:-1]):
                self.import_computed_reshape(nodes)
            else:
                nodes, output = self.extend_by_scalar_arithmetic(nodes, output)
                self.import_elementwise_formula(nodes)
            self.x = output
        if self.row_order is not None or self.channels_first:
            self.fail("the output is in NCHW order (a Flatten or image output of an NCHW graph)")
        model = Sequential([layer for layer, _ in self.layers], input_shape=input_shape, dtype=dtype)
        for layer, arrays in self.layers:
            for name, array in arrays.items():
                target = layer.params[name] if name in layer.params else layer.buffers[name]
                target[...] = np.asarray(array, dtype=dtype).reshape(target.shape)
        return model

    def starts_with_transpose_to_nchw(self):
        nodes, _ = self.region(self.input.name)
        return (len(nodes) == 1 and nodes[0].op_type == "Transpose"
                and tuple(self.attributes(nodes[0]).get("perm", ())) == TO_NCHW)

    def add(self, layer, **arrays):
        self.shape = layer.compute_output_shape(self.shape)
        self.layers.append((layer, arrays))

    def require_our_order(self, node):
        if self.row_order is not None:
            self.fail(f"{node.op_type} node {node.name!r} follows a Flatten of an NCHW tensor; only Dense, "
                      "BatchNormalization and elementwise layers may")

    def onnx_dims(self):
        """The current tensor's dimensions (batch excluded) in the ONNX graph's own order."""
        if len(self.shape) == 3 and self.channels_first:
            return (self.shape[2], self.shape[0], self.shape[1])
        return self.shape

    def import_computed_reshape(self, nodes):
        """Shape -> Gather -> Unsqueeze -> Concat -> Reshape (torch's x.view(x.size(0), -1)), evaluated here."""
        batch = -9973                                   # a stand-in for the batch size, known to be dynamic
        values = {}
        for node in nodes[:-1]:
            attributes = self.attributes(node)
            if node.op_type == "Shape":
                dims = np.array([batch, *self.onnx_dims()])
                values[node.output[0]] = dims[attributes.get("start", 0):attributes.get("end", len(dims))]
                continue
            operands = [values.get(name, self.constants.get(name)) for name in node.input]
            if any(operand is None for operand in operands):
                self.fail(f"{node.op_type} node {node.name!r} computes a shape from something other than the "
                          "input's shape")
            values[node.output[0]] = _SHAPE_OPERATIONS[node.op_type](operands, attributes)
        shape = values.get(nodes[-1].input[1])
        if shape is None:
            self.fail(f"Reshape node {nodes[-1].name!r}: its shape is neither a constant nor computed from the input's")
        _import_reshape(self, nodes[-1], [0 if d == batch else int(d) for d in np.reshape(shape, -1)])

    def onnx_axis_to_ours(self, axis):
        rank = len(self.shape) + 1
        axis %= rank
        return TO_NCHW[axis] if rank == 4 and self.channels_first else axis

    def image_node(self, node):
        if len(self.shape) != 3 or not self.channels_first:
            self.fail(f"{node.op_type} node {node.name!r} needs an NCHW image tensor, got a tensor of "
                      f"{len(self.shape) + 1} axes{' in NHWC order' if len(self.shape) == 3 else ''}")

    def padding(self, node, window, strides, attributes):
        """Our "valid" or "same" from ONNX pads / auto_pad; anything else cannot be expressed."""
        auto_pad = attributes.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad in ("VALID", "SAME_UPPER"):
            return "valid" if auto_pad == "VALID" else "same"
        pads = list(attributes.get("pads", [0, 0, 0, 0]))
        if auto_pad != "NOTSET":
            self.fail(f"{node.op_type} node {node.name!r}: auto_pad={auto_pad} is not supported")
        if not any(pads):
            return "valid"
        geometry = [window_geometry(size, span, stride, "same", node.op_type)
                    for size, span, stride in zip(self.shape[:2], window, strides)]
        if pads == [geometry[0][1], geometry[1][1], geometry[0][2], geometry[1][2]]:
            return "same"
        self.fail(f"{node.op_type} node {node.name!r}: pads {pads} are neither 'valid' nor TensorFlow's "
                  f"'same' for a {self.shape[0]}x{self.shape[1]} input")

    def extend_by_scalar_arithmetic(self, nodes, output):
        """Absorb the single multiplications / additions by a constant that end a formula (GELU's x 0.5)."""
        while output != self.output:
            following, after = self.region(output)
            node = following[0]
            if len(following) != 1 or node.op_type not in _SCALAR_ARITHMETIC or not all(
                    name == output or np.size(self.constants.get(name, ())) == 1 for name in node.input):
                break
            nodes, output = nodes + following, after
        return nodes, output

    def import_elementwise_formula(self, nodes):
        """A multi-node region made of elementwise arithmetic: accepted if it computes GELU (exact or tanh)."""
        probe = np.linspace(-5, 5, 101)
        values = {self.x: probe}
        for node in nodes:
            operation = _ELEMENTWISE.get(node.op_type)
            operands = [values.get(name, self.constants.get(name)) for name in node.input]
            if operation is None or any(operand is None or (name not in values and np.size(operand) != 1)
                                        for operand, name in zip(operands, node.input)):
                self.fail(f"the nodes {[n.op_type for n in nodes]} after tensor {self.x!r} do not form a "
                          "supported layer")
            values[node.output[0]] = operation(*[np.asarray(o, dtype=np.float64) for o in operands])
        result = values[nodes[-1].output[0]]
        for approximate in (False, True):
            if np.allclose(result, GELU(approximate=approximate).fn(probe), rtol=1e-6, atol=1e-6):
                return self.add(GELU(approximate=approximate))
        self.fail(f"the formula {[n.op_type for n in nodes]} after tensor {self.x!r} is not a supported activation")


def _shortest(value):
    """A float32 attribute as the shortest decimal that rounds to it (0.2, not 0.20000000298)."""
    return float(str(np.float32(value)))


def _import_activation(class_name, **attributes):
    """An elementwise ONNX operator -> our layer; attributes maps our argument to (ONNX name, default)."""
    def import_layer(importer, node):
        given = importer.attributes(node)
        importer.add(LAYERS[class_name](**{ours: _shortest(given.get(theirs, default))
                                          for ours, (theirs, default) in attributes.items()}))
    return import_layer


def _import_identity(importer, node):
    return None


def _import_gelu(importer, node):
    approximate = importer.attributes(node).get("approximate", b"none")
    importer.add(GELU(approximate=(approximate.decode() if isinstance(approximate, bytes) else approximate) == "tanh"))


def _import_softmax(importer, node):
    axis = importer.attributes(node).get("axis", -1)
    if importer.onnx_axis_to_ours(axis) != len(importer.shape):
        importer.fail(f"Softmax node {node.name!r} over axis {axis}: only the feature (last, channel) axis is "
                      "supported")
    importer.add(Softmax())


def _import_dropout(importer, node):
    ratio = importer.constant(node, 1, required=False)
    training = importer.constant(node, 2, required=False)
    if training is not None and bool(training):
        importer.fail(f"Dropout node {node.name!r} is in training mode")
    importer.add(Dropout(rate=0.5 if ratio is None else _shortest(ratio)))


def _dense(importer, node, kernel, bias):
    if len(importer.shape) != 1:
        importer.fail(f"{node.op_type} node {node.name!r} needs a 2-D (N, features) input, got "
                      f"{len(importer.shape) + 1} axes")
    if importer.row_order is not None:
        kernel, importer.row_order = kernel[importer.row_order], None
    importer.add(Dense(kernel.shape[1], use_bias=bias is not None), kernel=kernel,
                 **({} if bias is None else {"bias": np.reshape(bias, -1)}))


def _import_gemm(importer, node):
    attributes = importer.attributes(node)
    if attributes.get("transA", 0):
        importer.fail(f"Gemm node {node.name!r} with transA=1 is not supported")
    kernel = importer.constant(node, 1) * attributes.get("alpha", 1.0)
    kernel = kernel.T if attributes.get("transB", 0) else kernel
    bias = importer.constant(node, 2, required=False)
    if bias is not None:
        bias = np.broadcast_to(bias * attributes.get("beta", 1.0), (1, kernel.shape[1]))
    _dense(importer, node, kernel, bias)


def _import_matmul(importer, node):
    """MatMul by a constant, with the following Add of a constant vector taken as the bias."""
    kernel = importer.constant(node, 1)
    if kernel.ndim != 2:
        importer.fail(f"MatMul node {node.name!r}: the second operand must be a 2-D constant")
    following, output = importer.region(node.output[0])
    if len(following) == 1 and following[0].op_type == "Add":
        operands = [name for name in following[0].input if name != node.output[0]]
        value = importer.constants.get(operands[0]) if len(operands) == 1 else None
        if value is not None and np.size(value) == kernel.shape[1]:
            _dense(importer, node, kernel, value)
            return output
    _dense(importer, node, kernel, None)
    return None


def _flatten(importer):
    """A Flatten layer; after an NCHW tensor, remember where each (C, H, W) value lands in our (H, W, C) order."""
    if len(importer.shape) == 3 and importer.channels_first:
        height, width, channels = importer.shape
        importer.row_order = np.arange(channels * height * width).reshape(channels, height, width) \
            .transpose(1, 2, 0).reshape(-1)
        importer.channels_first = False
    importer.add(Flatten())


def _import_flatten(importer, node):
    if importer.attributes(node).get("axis", 1) != 1:
        importer.fail(f"Flatten node {node.name!r}: only axis=1 is supported")
    importer.require_our_order(node)
    _flatten(importer)


def _import_reshape(importer, node, shape=None):
    """Reshape to a constant shape, or to one computed from the input's (see import_computed_reshape)."""
    shape = [int(d) for d in (importer.constant(node, 1) if shape is None else shape)]
    importer.require_our_order(node)
    if importer.attributes(node).get("allowzero", 0):
        importer.fail(f"Reshape node {node.name!r} with allowzero=1 is not supported")
    if shape[0] not in (0, -1, importer.batch) or (shape[0] == -1 and -1 in shape[1:]):
        importer.fail(f"Reshape node {node.name!r} to {shape}: the batch axis must stay first (0 or -1)")
    dims = importer.onnx_dims()
    target = [dims[i] if d == 0 else d for i, d in enumerate(shape[1:])]
    if importer.channels_first and len(dims) == 3:
        if len(target) != 1 or target[0] not in (-1, int(np.prod(dims))):
            importer.fail(f"Reshape node {node.name!r} of an NCHW tensor to {shape}: only flattening is supported")
        return _flatten(importer)
    importer.add(Reshape(tuple(target)))


def _import_transpose(importer, node):
    perm = tuple(importer.attributes(node).get("perm", ()))
    importer.require_our_order(node)
    if len(importer.shape) == 3 and perm == (TO_NHWC if importer.channels_first else TO_NCHW):
        importer.channels_first = not importer.channels_first
    else:
        importer.fail(f"Transpose node {node.name!r} with perm {list(perm)} is not supported (only NHWC <-> NCHW)")


def _import_conv(importer, node):
    importer.image_node(node)
    attributes = importer.attributes(node)
    weights = importer.constant(node, 1)
    if attributes.get("group", 1) != 1:
        importer.fail(f"Conv node {node.name!r}: grouped convolutions are not supported")
    kernel_size = tuple(weights.shape[2:])
    strides = tuple(attributes.get("strides", (1, 1)))
    dilations = tuple(attributes.get("dilations", (1, 1)))
    span = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilations)]
    padding = importer.padding(node, span, strides, attributes)
    bias = importer.constant(node, 2, required=False)
    importer.add(Conv2D(weights.shape[0], kernel_size, strides=strides, padding=padding, dilation_rate=dilations,
                        use_bias=bias is not None),
                 kernel=weights.transpose(2, 3, 1, 0), **({} if bias is None else {"bias": bias}))


def _import_pooling(class_name):
    def import_layer(importer, node):
        importer.image_node(node)
        attributes = importer.attributes(node)
        pool_size = tuple(attributes["kernel_shape"])
        strides = tuple(attributes.get("strides", (1, 1)))
        unsupported = {name: attributes[name] for name in ("ceil_mode", "storage_order") if attributes.get(name)}
        if any(d != 1 for d in attributes.get("dilations", (1, 1))):
            unsupported["dilations"] = attributes["dilations"]
        counts_padding = attributes.get("count_include_pad", 0) and any(attributes.get("pads", ()))
        if class_name == "AveragePooling2D" and counts_padding:
            unsupported["count_include_pad"] = 1
        if unsupported:
            importer.fail(f"{node.op_type} node {node.name!r}: {unsupported} is not supported")
        padding = importer.padding(node, pool_size, strides, attributes)
        importer.add(LAYERS[class_name](pool_size, strides=strides, padding=padding))
    return import_layer


def _import_global_pooling(class_name):
    """GlobalAveragePool / GlobalMaxPool give (N, C, 1, 1); the Flatten (or Reshape) that follows is ours."""
    def import_layer(importer, node):
        importer.image_node(node)
        following, output = importer.region(node.output[0])
        if len(following) != 1 or following[0].op_type not in ("Flatten", "Reshape", "Squeeze"):
            importer.fail(f"{node.op_type} node {node.name!r} must be followed by a Flatten to (N, C)")
        importer.channels_first = False
        importer.add(LAYERS[class_name]())
        return output
    return import_layer


def _import_batch_norm(importer, node):
    attributes = importer.attributes(node)
    if attributes.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
        importer.fail(f"BatchNormalization node {node.name!r} is in training mode")
    gamma, beta, mean, variance = (importer.constant(node, i) for i in range(1, 5))
    if importer.row_order is not None:
        gamma, beta, mean, variance = (np.broadcast_to(a, importer.shape)[importer.row_order]
                                       for a in (gamma, beta, mean, variance))
    axis = importer.onnx_axis_to_ours(1)
    importer.add(BatchNormalization(axis=-1 if axis == len(importer.shape) else axis,
                                    momentum=_shortest(attributes.get("momentum", 0.9)),
                                    epsilon=_shortest(attributes.get("epsilon", 1e-5))),
                 gamma=gamma, beta=beta, moving_mean=mean, moving_variance=variance)


_IMPORTERS = {
    "Gemm": _import_gemm, "MatMul": _import_matmul, "Identity": _import_identity,
    "Relu": _import_activation("ReLU"), "Sigmoid": _import_activation("Sigmoid"),
    "Tanh": _import_activation("Tanh"), "Softplus": _import_activation("Softplus"),
    "LeakyRelu": _import_activation("LeakyReLU", alpha=("alpha", 0.01)),
    "Elu": _import_activation("ELU", alpha=("alpha", 1.0)), "Gelu": _import_gelu, "Softmax": _import_softmax,
    "Dropout": _import_dropout, "Flatten": _import_flatten, "Reshape": _import_reshape,
    "Transpose": _import_transpose, "Conv": _import_conv, "MaxPool": _import_pooling("MaxPooling2D"),
    "AveragePool": _import_pooling("AveragePooling2D"),
    "GlobalAveragePool": _import_global_pooling("GlobalAveragePooling2D"),
    "GlobalMaxPool": _import_global_pooling("GlobalMaxPooling2D"), "BatchNormalization": _import_batch_norm,
}

_SCALAR_ARITHMETIC = ("Add", "Sub", "Mul", "Div")
_SHAPE_OPERATIONS = {
    "Gather": lambda operands, attributes: np.take(operands[0], operands[1], axis=attributes.get("axis", 0)),
    "Unsqueeze": lambda operands, attributes: np.expand_dims(
        operands[0], tuple(operands[1] if len(operands) > 1 else attributes["axes"])),
    "Concat": lambda operands, attributes: np.concatenate([np.atleast_1d(o) for o in operands],
                                                          axis=attributes.get("axis", 0)),
    "Cast": lambda operands, attributes: np.asarray(operands[0], dtype=np.int64),
}
_ELEMENTWISE = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power,
                "Tanh": np.tanh, "Erf": np.vectorize(math.erf, otypes=[float]), "Sqrt": np.sqrt}
