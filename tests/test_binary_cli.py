"""Two classes end to end: a sigmoid output trained on its logits, and predict, ONNX and explain agreeing on
what the one output is (the probability of class 1) and on which class each figure and line explains."""
import json

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import explain, layers, optim, plot
from scratchnn.backend.special import sigmoid
from scratchnn.cli import main
from scratchnn.gradcheck import numerical_gradient
from conftest import require

HEADER = ["age", "income", "height", "weight"]


def call(capsys, *args):
    """scratchnn.cli.main(ARGS) in this process -> (exit status, stdout, stderr)."""
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    """A 2-class CSV with a header (classes apart on age and height), trained by `scratchnn train`."""
    folder = tmp_path_factory.mktemp("binary")
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 160)
    features = rng.standard_normal((160, 4))
    features[:, 0] += 2.5 * labels
    features[:, 2] -= 1.5 * labels
    np.savetxt(folder / "two.csv", np.column_stack([features, labels]), delimiter=",", fmt="%.5f",
               header=",".join(HEADER + ["label"]), comments="")
    np.savetxt(folder / "rows.csv", features[:6], delimiter=",", fmt="%.5f", header=",".join(HEADER), comments="")
    status = main(["train", "--data", f"csv:{folder / 'two.csv'}", "--epochs", "4", "--verbose", "0",
                   "--out", str(folder / "two.snn")])
    assert status == 0
    rows = np.loadtxt(folder / "rows.csv", delimiter=",", skiprows=1, dtype=np.float32)
    return folder, snn.load_model(folder / "two.snn"), rows


def logits_of(model, x):
    """The input of the model's final Sigmoid: every layer but the last, in inference mode."""
    for layer in model.layers[:-1]:
        x = layer.forward(x, training=False)
    return x


def test_two_classes_train_a_sigmoid_output_with_binary_crossentropy_on_probabilities(binary):
    _, model, _ = binary
    assert model.output_shape == (1,) and type(model.layers[-1]).__name__ == "Sigmoid"
    assert type(model.loss).__name__ == "BinaryCrossentropy" and model.loss.from_logits is False
    assert model._fused_output() is model.layers[-1]


def test_predict_gives_the_probability_of_class_1_the_sigmoid_of_the_logit(binary, capsys):
    folder, model, rows = binary
    status, out, err = call(capsys, "predict", folder / "two.snn", folder / "rows.csv", "--json")
    assert status == 0, err
    expected = sigmoid(logits_of(model, rows)[:, 0].astype(np.float64))
    assert 0.02 < expected.min() and expected.max() < 0.98             # the model is not saturated here
    for prediction, p in zip(json.loads(out)["predictions"], expected):
        probabilities = {t["class"]: t["probability"] for t in prediction["top"]}
        assert 0 <= probabilities[1] <= 1 and probabilities[1] == pytest.approx(p, rel=1e-6)
        assert probabilities[0] == pytest.approx(1 - p, rel=1e-6)
        assert prediction["class"] == int(p > 0.5)
    np.testing.assert_allclose(model.predict(rows)[:, 0], expected, rtol=1e-6)


def test_onnx_export_gives_the_probabilities_of_predict(binary, capsys):
    ort = require("onnxruntime")
    folder, model, rows = binary
    status, out, err = call(capsys, "export", folder / "two.snn", folder / "two.onnx")
    assert status == 0, err
    session = ort.InferenceSession(str(folder / "two.onnx"), providers=["CPUExecutionProvider"])
    [exported] = session.run(None, {session.get_inputs()[0].name: rows})
    np.testing.assert_allclose(exported, model.predict(rows), rtol=1e-5, atol=1e-6)
    assert ((exported > 0) & (exported < 1)).all()


@pytest.fixture
def captured_figures(monkeypatch):
    """The keyword arguments of every plot_attributions call the CLI makes (the figure is still drawn)."""
    calls = []
    original = plot.plot_attributions

    def spy(values, **kwargs):
        calls.append({"values": np.asarray(values), **kwargs})
        return original(values, **kwargs)
    monkeypatch.setattr(plot, "plot_attributions", spy)
    return calls


def explain_row(capsys, folder, target, out, method="integrated-gradients"):
    status, printed, err = call(capsys, "explain", folder / "two.snn", folder / "rows.csv", "--index", 1,
                                "--method", method, "--target", target, "--out", out)
    assert status == 0, err
    return printed


def test_explain_takes_class_0_and_class_1_of_one_output_and_names_the_same_class_everywhere(
        binary, capsys, captured_figures):
    folder, model, rows = binary
    p = float(model.predict(rows[1:2])[0, 0])
    printed = {t: explain_row(capsys, folder, t, folder / f"class{t}.png") for t in (0, 1)}
    for target, figure in zip((0, 1), captured_figures):
        line = printed[target].splitlines()[0]
        subject = "the probability of class 0 (1 - p)" if target == 0 else "the probability of class 1"
        probability = 1 - p if target == 0 else p
        assert line.startswith(f"{folder / 'rows.csv'}[1]: class {target} (probability {probability:.4f}); "
                               f"integrated-gradients attributions of {subject}; completeness gap ")
        assert figure["title"].splitlines() == [f"integrated-gradients attributions of {subject}",
                                                f"{folder / 'rows.csv'}[1]: class {target} "
                                                f"(probability {probability:.4f})"]
        assert figure["label"] == f"attribution to {subject}"
        assert (folder / f"class{target}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_allclose(captured_figures[0]["values"], -captured_figures[1]["values"], rtol=1e-6)
    ig = explain.integrated_gradients(model, rows[1], target=0)             # the library's output 0 is P(class 1)
    np.testing.assert_allclose(captured_figures[1]["values"], ig, rtol=1e-5, atol=1e-7)
    assert float(ig.sum()) == pytest.approx(p - float(model.predict(np.zeros((1, 4), np.float32))[0, 0]), abs=5e-3)


def test_explain_npy_of_class_0_is_minus_class_1_except_for_saliency_which_is_a_size(binary, capsys):
    folder, _, _ = binary
    for method in ("integrated-gradients", "occlusion", "saliency"):
        values = []
        for target in (0, 1):
            explain_row(capsys, folder, target, folder / f"{method}{target}.npy", method)
            values.append(np.load(folder / f"{method}{target}.npy"))
        sign = 1 if method == "saliency" else -1
        np.testing.assert_allclose(values[0], sign * values[1], rtol=1e-6, err_msg=method)
        assert np.abs(values[1]).max() > 0


def test_explain_refuses_a_class_the_model_does_not_have(binary, capsys):
    folder, _, _ = binary
    status, _, err = call(capsys, "explain", folder / "two.snn", folder / "rows.csv", "--target", 2)
    assert status == 2
    assert err == ("scratchnn explain: error: --target 2 is out of range: the model has 2 classes (0 to 1)\n")


def test_a_one_output_model_of_logits_is_explained_through_its_logit(tmp_path, capsys, captured_figures):
    model = snn.Sequential([layers.Dense(1)], input_shape=(2,), seed=0)      # a model file from before sigmoids
    model.compile(loss="binary_crossentropy", from_logits=True, optimizer="sgd")
    model.save(tmp_path / "logit.snn")
    np.savetxt(tmp_path / "row.csv", [[0.5, -1.0]], delimiter=",")
    for target, subject in ((1, "the logit of class 1"), (0, "the log-odds of class 0 (minus the logit of class 1)")):
        status, printed, err = call(capsys, "explain", tmp_path / "logit.snn", tmp_path / "row.csv", "--target",
                                    target, "--method", "saliency", "--out", tmp_path / "logit.png")
        assert status == 0, err
        assert f"; saliency attributions of {subject}\n" in printed
        assert captured_figures[-1]["title"].startswith(f"saliency attributions of {subject}\n")


def test_explain_names_the_features_from_the_model_file(binary, capsys, captured_figures):
    folder, model, rows = binary
    printed = explain_row(capsys, folder, 1, folder / "numbered.png")
    assert captured_figures[-1]["feature_names"] in (None, HEADER)      # X_1..X_n without names in the file
    named = folder / "named.snn"
    model.metadata = {**(getattr(model, "metadata", None) or {}), "feature_names": HEADER}
    model.save(named)
    status, printed, err = call(capsys, "explain", named, folder / "rows.csv", "--index", 1, "--target", 1,
                                "--out", folder / "named.png")
    assert status == 0, err
    assert captured_figures[-1]["feature_names"] == HEADER
    np.testing.assert_allclose(captured_figures[-1]["features"], rows[1])
    figure = plot.plot_attributions(captured_figures[-1]["values"], feature_names=HEADER, features=rows[1])
    labels = [t.get_text().split(" = ")[0] for t in figure.axes[0].get_yticklabels()]
    assert sorted(labels) == sorted(HEADER)
    largest = printed.splitlines()[1]
    assert largest.startswith("largest: ") and largest.split()[1] in HEADER


# ---- the loss: binary crossentropy after a final Sigmoid is computed from the Sigmoid's input -------------------
def sigmoid_model(dtype="float64"):
    model = snn.Sequential([layers.Dense(3, activation="tanh"), layers.Dense(1, activation="sigmoid")],
                           input_shape=(2,), seed=0, dtype=dtype)
    model.compile(loss="binary_crossentropy", optimizer=optim.SGD(0.1))
    return model


def test_the_fused_gradient_matches_central_differences_of_the_loss():
    model = sigmoid_model()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 2)), rng.integers(0, 2, 12).astype(float)
    _, grads = model.compute_gradients(x, y)
    for (param, _), grad in zip(model.parameters(), grads):
        numeric = numerical_gradient(lambda: model.evaluate(x, y)["loss"], param, 1e-6)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-10)


HEADS = {"Dense(activation)": lambda: [layers.Dense(1, activation="sigmoid")],
         "Activation layer": lambda: [layers.Dense(1), layers.Activation("sigmoid")]}


@pytest.mark.parametrize("head", HEADS)
def test_a_saturated_wrong_sigmoid_keeps_its_whole_loss_and_gradient(head):
    model = snn.Sequential(HEADS[head](), input_shape=(1,), seed=0)
    model.compile(loss="binary_crossentropy", optimizer=optim.SGD(0.1))
    model.layers[0].params["kernel"][...] = 100.0
    model.layers[0].params["bias"][...] = 0.0
    x, y = np.array([[1.0], [-1.0]], dtype=np.float32), np.array([0.0, 1.0])   # logits +100 and -100, both wrong
    with np.errstate(over="raise", divide="raise", invalid="raise"):             # underflow to 0 is exact enough
        loss, (kernel_grad, bias_grad) = model.compute_gradients(x, y)
        evaluated = model.evaluate(x, y)["loss"]
    assert loss == pytest.approx(100.0) and evaluated == pytest.approx(100.0)   # -log sigmoid(-100), not clipped
    assert not any(layer.tape for layer in model.layers)          # evaluate records nothing (thread-safe)
    assert kernel_grad[0, 0] == pytest.approx(1.0) and bias_grad[0] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(model.predict(x)[:, 0], [1.0, 0.0], atol=1e-30)   # predict: probabilities


def test_the_server_reads_target_as_a_class_as_the_cli_does(binary):
    """POST /v1/explain's target: a class, 0 and 1 for one sigmoid output, the attributions those of the CLI."""
    require("starlette")
    from scratchnn.cli.explain import class_attributions, explained_output
    from scratchnn.serve.explaining import explain_sample
    from scratchnn.serve.requests import ApiError
    _, model, rows = binary
    p = float(model.predict(rows[:1])[0, 0])
    default = explain_sample(model, rows[0], "occlusion", None, 8)
    assert default["target"] == default["class"] == int(p >= 0.5)
    assert default["probabilities"] == [round(1 - p, 6), round(p, 6)]
    for target in (0, 1):
        answer = explain_sample(model, rows[0], "occlusion", target, 8)
        expected, _ = class_attributions("occlusion", model, rows[0], explained_output(model, target), 8)
        np.testing.assert_allclose(answer["attributions"], expected.reshape(-1), rtol=1e-6)
        assert answer["of"] == explained_output(model, target).subject
    with pytest.raises(ApiError, match=r"target 2 is out of range: the model has 2 classes \(0 to 1\)"):
        explain_sample(model, rows[0], "occlusion", 2, 8)
