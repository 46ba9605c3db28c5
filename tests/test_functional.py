"""The functional API: Input, layer calls on symbolic tensors, Model (graphs, several inputs and outputs)."""
import json

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers, optim
from scratchnn.layers.base import recording

TOL = 1e-7                      # float64 central differences through a few layers (measured: ~1e-9 or less)


@pytest.fixture(autouse=True)
def fresh_names():
    snn.clear_session()


def data(rng, *shapes):
    return [rng.standard_normal(shape) for shape in shapes]


def assert_model_gradients(model, x, y):
    errors = gradcheck.check_model(model, x, y)
    assert set(errors) == {"input", *(name for name, _ in model.named_parameters())}
    gradcheck.assert_gradients_close(errors, TOL)


# ---- symbolic tensors and layer calls -------------------------------------------------------------------------
def test_input_is_a_symbolic_tensor_with_a_none_batch():
    x = snn.Input(shape=(28, 28, 1), name="image")
    assert x.shape == (None, 28, 28, 1) and x.name == "image" and x.node.layer is None
    y = layers.Dense(10)(layers.Flatten()(x))
    assert y.shape == (None, 10) and type(y.node.layer).__name__ == "Dense"
    assert y.node.inputs[0].node.layer.name == "flatten" and y.node.inputs[0].node.inputs == (x,)
    assert snn.Input(5).shape == (None, 5)
    with pytest.raises(ValueError, match="positive sizes"):
        snn.Input(shape=(0, 3))
    with pytest.raises(TypeError, match="tuple of ints"):
        snn.Input(shape="28")


def test_a_symbolic_call_computes_nothing_and_builds_nothing_until_the_model():
    x = snn.Input(shape=(4,))
    dense = layers.Dense(3)
    dense(x)
    assert not dense.built and dense.params == {} and dense.tape == []
    eager = layers.Dense(3)
    assert eager(np.ones((2, 4))).shape == (2, 3) and eager.built          # the eager path is unchanged


def test_symbolic_operators_make_merge_layers():
    a, b = snn.Input(shape=(3,)), snn.Input(shape=(3,))
    assert [type((op(a, b)).node.layer).__name__ for op in (lambda p, q: p + q, lambda p, q: p - q,
                                                           lambda p, q: p * q)] == ["Add", "Subtract", "Multiply"]
    with pytest.raises(TypeError, match="both sides must be symbolic"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="both sides must be symbolic"):
        np.ones(3) + a


# ---- forward and backward ---------------------------------------------------------------------------------------
def test_a_model_of_a_chain_gives_the_sequential_numbers_in_training_too():
    """Same seed, same layers in order: the same initial weights, predictions and training losses."""
    x_data, labels = np.random.default_rng(0).standard_normal((64, 6)), np.arange(64) % 3
    seq = snn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], input_shape=(6,), seed=3)
    x = snn.Input(shape=(6,))
    model = snn.Model(x, layers.Dense(3)(layers.Dense(8, activation="relu")(x)), seed=3)
    for m in (seq, model):
        m.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.Adam(1e-2), metrics=["accuracy"])
    for ours, theirs in zip(model.get_weights(), seq.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(model.predict(x_data), seq.predict(x_data))
    h1 = model.fit(x_data, labels, epochs=3, batch_size=16, verbose=0)
    h2 = seq.fit(x_data, labels, epochs=3, batch_size=16, verbose=0)
    assert h1.history == h2.history


def test_residual_model_gradients():
    rng = np.random.default_rng(1)
    x = snn.Input(shape=(5,))
    h = layers.Dense(5, activation="tanh")(x)
    h = layers.Add()([x, layers.Dense(5)(h)])                            # x feeds two layers: its gradients add
    y = layers.Dense(3)(layers.Residual([layers.Dense(5, activation="tanh"), layers.Dense(5)])(h))
    model = snn.Model(x, y, seed=0, dtype="float64")
    model.compile(loss="categorical_crossentropy", from_logits=True)
    x_data, = data(rng, (6, 5))
    assert_model_gradients(model, x_data, rng.integers(0, 3, 6))


def test_multi_output_model_gradients_with_loss_weights():
    rng = np.random.default_rng(2)
    x = snn.Input(shape=(4,))
    h = layers.Dense(6, activation="tanh")(x)
    out_a, out_b = layers.Dense(3, name="a")(h), layers.Dense(2, name="b")(layers.Dense(4, activation="tanh")(h))
    model = snn.Model(x, [out_a, out_b], seed=0, dtype="float64")
    model.compile(loss=["categorical_crossentropy", "mse"], from_logits=True, loss_weights=[0.3, 2.0])
    x_data, targets_b = data(rng, (5, 4), (5, 2))
    targets = [rng.integers(0, 3, 5), targets_b]
    assert_model_gradients(model, x_data, targets)
    pred_a, pred_b = model.predict(x_data)
    expected = 0.3 * snn.losses.get("categorical_crossentropy", from_logits=True)(targets[0], pred_a) + \
        2.0 * snn.losses.get("mse")(targets[1], pred_b)
    assert model.evaluate(x_data, targets)["loss"] == pytest.approx(expected, rel=1e-12)


def test_a_shared_layer_called_twice_shares_weights_and_sums_gradients():
    rng = np.random.default_rng(3)
    a, b = snn.Input(shape=(4,), name="a"), snn.Input(shape=(4,), name="b")
    shared = layers.Dense(3, activation="tanh", name="shared")
    y = layers.Dense(2)(layers.Concatenate()([shared(a), shared(b)]))
    model = snn.Model([a, b], y, seed=0, dtype="float64")
    assert model.layers.count(shared) == 1 and model.count_params() == 4 * 3 + 3 + 6 * 2 + 2
    model.compile(loss="mse")
    xa, xb, target = data(rng, (5, 4), (5, 4), (5, 2))
    errors = multi_input_errors(model, [xa, xb], target)
    gradcheck.assert_gradients_close(errors, TOL)
    with recording(True):                                    # the same call twice: the gradients of two uses
        model.forward([xa, xa])
    model.zero_grad()
    model.backward(np.ones((5, 2)))
    kernel_twice = shared.grads["kernel"].copy()
    assert shared.tape == []
    single = layers.Dense(3, activation="tanh", dtype="float64")
    single.build((4,), 0)
    single.set_weights(shared.get_weights())
    out = model.layers[-1]
    grad_h = np.ones((5, 2)) @ out.params["kernel"].T          # what each call of shared gets back
    single.zero_grad()
    with recording(True):
        single.forward(xa)
        single.forward(xa)
    single.backward(grad_h[:, 3:])
    single.backward(grad_h[:, :3])
    np.testing.assert_allclose(kernel_twice, single.grads["kernel"], rtol=1e-12)


def multi_input_errors(model, inputs, target):
    """check_model's errors for a model of several inputs: each input and every parameter."""
    model.clear_cache()
    model.zero_grad()
    with recording(True):
        model.loss.forward(model.forward(inputs, training=True), target)
    grad_inputs = model.backward(model.loss.backward())
    analytic = [g.copy() for _, g in model.parameters()]

    def loss():
        with recording(False):
            return model.loss.forward(model.forward(inputs, training=True), target)
    errors = {f"input {i}": gradcheck.relative_error(g, gradcheck.numerical_gradient(loss, x))
              for i, (x, g) in enumerate(zip(inputs, grad_inputs))}
    for (name, param), grad in zip(model.named_parameters(), analytic):
        errors[name] = gradcheck.relative_error(grad, gradcheck.numerical_gradient(loss, param))
    return errors


def test_multi_input_model_gradients():
    rng = np.random.default_rng(4)
    image, side = snn.Input(shape=(3, 3, 1), name="image"), snn.Input(shape=(2,), name="side")
    h = layers.Flatten()(layers.Conv2D(2, 2, activation="tanh")(image))
    h = layers.Concatenate()([h, layers.Dense(3, activation="tanh")(side)])
    y = layers.Dense(2)(layers.Multiply()([layers.Dense(4)(h), layers.Dense(4, activation="tanh")(h)]))
    model = snn.Model([image, side], y, seed=0, dtype="float64")
    model.compile(loss="mse")
    x_image, x_side, target = data(rng, (4, 3, 3, 1), (4, 2), (4, 2))
    errors = multi_input_errors(model, [x_image, x_side], target)
    assert set(errors) == {"input 0", "input 1", *(name for name, _ in model.named_parameters())}
    gradcheck.assert_gradients_close(errors, TOL)


def test_an_output_that_is_also_used_inside_gets_both_gradients():
    rng = np.random.default_rng(5)
    x = snn.Input(shape=(3,))
    h = layers.Dense(3, activation="tanh", name="h")(x)
    model = snn.Model(x, [h, layers.Dense(2, name="y")(h)], seed=0, dtype="float64")
    model.compile(loss=["mse", "mse"], loss_weights=[1.0, 1.0])
    x_data, t1, t2 = data(rng, (4, 3), (4, 3), (4, 2))
    assert_model_gradients(model, x_data, [t1, t2])


# ---- data in structures, fit, evaluate, predict -----------------------------------------------------------------
def two_input_model(seed=0):
    a, b = snn.Input(shape=(6,), name="a"), snn.Input(shape=(3,), name="b")
    h = layers.Concatenate()([layers.Dense(8, activation="relu")(a), layers.Dense(4, activation="relu")(b)])
    cls, reg = layers.Dense(3, name="cls")(h), layers.Dense(1, name="reg")(h)
    return snn.Model({"a": a, "b": b}, {"cls": cls, "reg": reg}, seed=seed)


def test_inputs_and_targets_as_lists_or_dicts_give_the_same_training():
    rng = np.random.default_rng(6)
    xa, xb = data(rng, (40, 6), (40, 3))
    y_cls, y_reg = rng.integers(0, 3, 40), xa[:, :1] - xb[:, 1:2]
    histories = []
    for x, y in (({"a": xa, "b": xb}, {"cls": y_cls, "reg": y_reg}), ([xa, xb], [y_cls, y_reg])):
        model = two_input_model()
        model.compile(loss={"cls": "categorical_crossentropy", "reg": "mse"}, from_logits=True,
                      loss_weights={"cls": 1.0, "reg": 0.5}, optimizer="adam", metrics={"cls": ["accuracy"]})
        histories.append(model.fit(x, y, epochs=2, batch_size=8, verbose=0).history)
    assert histories[0] == histories[1]
    assert set(histories[0]) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}
    total = np.array(histories[0]["cls_loss"]) + 0.5 * np.array(histories[0]["reg_loss"])
    np.testing.assert_allclose(histories[0]["loss"], total, rtol=1e-6)
    prediction = model.predict([xa, xb], batch_size=16)
    assert set(prediction) == {"cls", "reg"} and prediction["cls"].shape == (40, 3)
    assert prediction["reg"].shape == (40, 1) and prediction["cls"].dtype == np.float32
    empty = model.predict([xa[:0], xb[:0]])
    assert empty["cls"].shape == (0, 3) and empty["reg"].shape == (0, 1)
    results = model.evaluate({"b": xb, "a": xa}, {"reg": y_reg, "cls": y_cls})
    assert set(results) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}


def test_data_that_does_not_fit_the_structure_is_a_clear_error():
    model = two_input_model()
    model.compile(loss="mse")                                  # one loss for every output
    xa, xb = np.ones((4, 6)), np.ones((4, 3))
    with pytest.raises(ValueError, match=r"inputs dict should have the keys \['a', 'b'\], got \['a'\]"):
        model.predict({"a": xa})
    with pytest.raises(ValueError, match="has 2 inputs .* got one ndarray"):
        model.predict(xa)
    with pytest.raises(ValueError, match=r"expected input 'b' of shape \(N, 3\), got \(N, 6\)"):
        model.predict([xa, xa])
    with pytest.raises(ValueError, match="same number of samples, got 4 and 3"):
        model.evaluate([xa, xb[:3]], [np.zeros(4), np.zeros((4, 1))])
    with pytest.raises(ValueError, match="loss_weights applies to a model of several outputs"):
        snn.Sequential([layers.Dense(1)], input_shape=(2,)).compile(loss="mse", loss_weights=[1.0])
    with pytest.raises(ValueError, match="loss_weights applies to a model of several outputs"):
        x = snn.Input(shape=(2,))
        snn.Model(x, layers.Dense(1)(x)).compile(loss=["mse"], loss_weights=[2.0])
    with pytest.raises(ValueError, match=r"loss should have one entry per output \['cls', 'reg'\], got 3"):
        model.compile(loss=["mse"] * 3)
    with pytest.raises(ValueError, match="class_weight applies to a model of one output"):
        model.compile(loss="mse")
        model.fit([xa, xb], [np.zeros((4, 3)), np.zeros((4, 1))], class_weight={0: 2.0}, verbose=0)


def test_fit_on_a_two_input_digits_task_reaches_its_accuracy():
    """The image and a side input (the digit's parity): the parity head learns it, the digit head 85%."""
    (x_train, y_train), _ = snn.datasets.digits.load_digits()
    x_all, y_all = x_train[:1300].reshape(-1, 784) / 255.0, y_train[:1300].astype(int)
    x_train, y_train, x_test, y_test = x_all[:1000], y_all[:1000], x_all[1000:], y_all[1000:]

    def parity(y):
        return (y % 2).astype(np.float64)[:, None]
    image, side = snn.Input(shape=(784,), name="image"), snn.Input(shape=(1,), name="parity")
    h = layers.Dense(32, activation="relu")(image)
    h = layers.Concatenate()([h, layers.Dense(4, activation="relu")(side)])
    digit = layers.Dense(10, name="digit")(h)
    odd = layers.Dense(1, name="odd")(layers.Dense(8, activation="relu")(side))
    model = snn.Model([image, side], [digit, odd], seed=0)
    model.compile(loss=["categorical_crossentropy", "binary_crossentropy"], from_logits=True,
                  loss_weights=[1.0, 0.5], optimizer=optim.Adam(3e-3), metrics=["accuracy"])
    model.fit([x_train, parity(y_train)], [y_train, parity(y_train)], epochs=6, batch_size=50, verbose=0)
    results = model.evaluate([x_test, parity(y_test)], [y_test, parity(y_test)])
    assert results["digit_accuracy"] >= 0.85 and results["odd_accuracy"] == 1.0, results


# ---- persistence ---------------------------------------------------------------------------------------------
def test_config_round_trip_rebuilds_the_same_graph():
    model = two_input_model()
    config = json.loads(json.dumps(model.get_config()))
    assert [node["layer"] for node in config["nodes"]] == [layer.name for layer in model.layers]
    assert config["nodes"][2]["inbound"] == [["dense", 0], ["dense_1", 0]]
    assert config["outputs"] == {"kind": "dict", "keys": ["cls", "reg"], "refs": [["cls", 0], ["reg", 0]]}
    clone = snn.Model.from_config(config)
    assert json.loads(json.dumps(clone.get_config())) == config
    clone.set_weights(model.get_weights())
    x = [np.random.default_rng(0).standard_normal((3, 6)), np.ones((3, 3))]
    for key, value in model.predict(x).items():
        np.testing.assert_array_equal(clone.predict(x)[key], value)


def test_save_and_load_a_functional_model(tmp_path):
    rng = np.random.default_rng(7)
    a, b = snn.Input(shape=(4,), name="a"), snn.Input(shape=(4,), name="b")
    shared = layers.Dense(5, activation="tanh", name="shared")
    h = layers.Maximum()([shared(a), shared(b)])
    h = layers.Residual([layers.Dense(5, activation="relu"), layers.Dropout(0.2), layers.Dense(5)])(h)
    model = snn.Model([a, b], [layers.Dense(3, name="p")(h), layers.Dense(1, name="q")(h)], seed=1)
    model.compile(loss=["categorical_crossentropy", "mse"], from_logits=True, loss_weights=[1.0, 0.25],
                  optimizer=optim.Adam(1e-2), metrics=[["accuracy"], []])
    xa, xb, yq = data(rng, (32, 4), (32, 4), (32, 1))
    y = [rng.integers(0, 3, 32), yq]
    model.fit([xa, xb], y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "graph.snn")
    loaded = snn.load_model(tmp_path / "graph.snn")
    assert type(loaded) is snn.Model and loaded.get_config() == model.get_config()
    for ours, theirs in zip(model.predict([xa, xb]), loaded.predict([xa, xb])):
        np.testing.assert_array_equal(ours, theirs)
    assert loaded.evaluate([xa, xb], y) == model.evaluate([xa, xb], y)
    h1 = model.fit([xa, xb], y, epochs=1, batch_size=8, verbose=0)       # optimizer state and generator too
    h2 = loaded.fit([xa, xb], y, epochs=1, batch_size=8, verbose=0)
    assert h1.history == h2.history


# ---- construction errors: one line each, naming the layers ----------------------------------------------------
def one_line(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_a_merge_of_shapes_that_differ_names_both_shapes_and_layers():
    x = snn.Input(shape=(8,))
    with pytest.raises(ValueError) as excinfo:
        layers.Add()([layers.Dense(16)(x), layers.Dense(32)(x)])
    assert one_line(excinfo) == ("Add 'add' got (None, 16) and (None, 32): the inputs of Add must have the same "
                                 "shape (called on the outputs of Dense 'dense' and Dense 'dense_1')")


def test_an_input_that_is_not_an_input():
    x = snn.Input(shape=(3,))
    h = layers.Dense(4)(x)
    with pytest.raises(ValueError) as excinfo:
        snn.Model(h, layers.Dense(2)(h))
    assert "Model input 0 is the output of Dense 'dense', not an Input" in one_line(excinfo)
    with pytest.raises(TypeError) as excinfo:
        snn.Model(np.ones((1, 3)), h)
    assert "Model input 0 is a ndarray, not a symbolic tensor" in one_line(excinfo)


def test_a_disconnected_output_and_an_unused_input():
    a, b = snn.Input(shape=(3,), name="a"), snn.Input(shape=(3,), name="b")
    y = layers.Dense(2, name="head")(layers.Add()([a, b]))
    with pytest.raises(ValueError) as excinfo:
        snn.Model(a, y)
    assert one_line(excinfo).startswith("Model: the output of Dense 'head' depends on Input 'b', which is not "
                                        "among the model's inputs ['a']")
    with pytest.raises(ValueError) as excinfo:
        snn.Model([a, b], layers.Dense(1)(a))
    assert one_line(excinfo) == "Model: no output uses Input 'b': remove it from inputs or use it"


def test_a_cycle_is_an_error_naming_its_layers():
    x = snn.Input(shape=(3,))
    first = layers.Dense(3, name="first")
    h = first(x)
    y = layers.Dense(3, name="second")(h)
    h.node.inputs = (y,)                                            # a graph edited by hand into a loop
    with pytest.raises(ValueError) as excinfo:
        snn.Model(x, y)
    assert one_line(excinfo) == "the graph has a cycle: Dense 'second' -> Dense 'first' -> Dense 'second'"


def graph_config():
    x = snn.Input(shape=(3,), name="x")
    y = layers.Dense(2, name="c")(layers.Dense(3, name="b")(layers.Dense(3, name="a")(x)))
    return snn.Model(x, y).get_config()


def test_a_config_that_uses_a_tensor_before_it_is_defined_or_in_a_cycle():
    config = graph_config()
    config["nodes"][0], config["nodes"][1] = config["nodes"][1], config["nodes"][0]
    with pytest.raises(ValueError) as excinfo:
        snn.Model.from_config(config)
    assert one_line(excinfo) == ("Model config: node 0 (Dense 'b') uses tensor ['a', 0] before it is defined "
                                 "(by node 1): nodes must come in topological order")
    config = graph_config()
    config["nodes"][0]["inbound"] = [["b", 0]]                     # a -> b -> a
    with pytest.raises(ValueError) as excinfo:
        snn.Model.from_config(config)
    assert one_line(excinfo) == "Model config: the graph has a cycle: 'a' -> 'b' -> 'a'"
    config = graph_config()
    config["nodes"][2]["inbound"] = [["z", 0]]
    with pytest.raises(ValueError) as excinfo:
        snn.Model.from_config(config)
    assert one_line(excinfo) == "Model config: node 2 (Dense 'c') uses tensor ['z', 0], which no input or node defines"


def test_calls_that_cannot_be_graphs():
    a, b = snn.Input(shape=(3,)), snn.Input(shape=(4,))
    with pytest.raises(TypeError, match="takes one input, got a list of 2: merge them first"):
        layers.Dense(2)([a, b])
    with pytest.raises(TypeError, match="takes a list of inputs, got one tensor from Input 'input'"):
        layers.Add()(a)
    with pytest.raises(TypeError, match="mixing symbolic tensors and ndarray"):
        layers.Add()([a, np.ones((1, 3))])
    shared = layers.Dense(2, name="shared")
    with pytest.raises(ValueError) as excinfo:
        snn.Model([a, b], layers.Concatenate()([shared(a), shared(b)]))
    assert one_line(excinfo) == ("Dense 'shared' was built for inputs (None, 3) and gets (None, 4) in its call 2: "
                                 "a shared layer takes one input shape")
    with pytest.raises(ValueError) as excinfo:
        snn.Model(a, layers.Dense(2, name="input")(a))
    assert "Input 'input' and Dense 'input' have the same name" in one_line(excinfo)
    with pytest.raises(ValueError) as excinfo:
        snn.Model(a, layers.Dense(2, name="twin")(layers.Dense(3, name="twin")(a)))
    assert "Dense 'twin' and Dense 'twin' have the same name" in one_line(excinfo)
    model = snn.Model(a, layers.Dense(2)(a))
    with pytest.raises(TypeError, match="calling a Model on symbolic tensors"):
        model(a)


def test_summary_shows_inbound_layers():
    x = snn.Input(shape=(4,), name="x")
    shared = layers.Dense(4, name="shared")
    model = snn.Model(x, layers.Add(name="sum")([shared(x), shared(shared(x))]), name="net")
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0].splitlines()
    assert text[0] == 'Model: "net"'
    assert text[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#", "Connected", "to"]
    rows = [line.split() for line in text[4:9]]
    assert rows == [["x", "(Input)", "(None,", "4)", "0"],
                    ["shared", "(Dense)", "(None,", "4)", "20", "x"],
                    ["shared[1]", "(Dense)", "(None,", "4)", "(shared)", "x"],
                    ["shared[2]", "(Dense)", "(None,", "4)", "(shared)", "shared[1]"],
                    ["sum", "(Add)", "(None,", "4)", "0", "shared,", "shared[2]"]]
    assert "Total params: 20" in text


def test_an_input_or_output_listed_twice():
    x = snn.Input(shape=(3,), name="x")
    y = layers.Dense(2, name="y")(x)
    with pytest.raises(ValueError) as excinfo:
        snn.Model([x, x], y)
    assert one_line(excinfo) == "Model: an Input is listed twice (the tensor of Input 'x')"
    with pytest.raises(ValueError) as excinfo:
        snn.Model(x, [y, y])
    assert one_line(excinfo) == "Model: an output is listed twice (the tensor of Dense 'y')"
    np.testing.assert_array_equal(snn.Model(x, x).predict(np.ones((2, 3))), np.ones((2, 3)))   # identity
