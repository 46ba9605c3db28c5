"""The `scratchnn` command: each subcommand run as `python -m scratchnn`, its figures checked against the API."""
import csv
import json
import os
import signal
import subprocess
import sys

import warnings

import numpy as np
import pytest
import threadpoolctl

import scratchnn as snn
from scratchnn import datasets, explain, layers, metrics
from scratchnn.cli import describe_error, main
from scratchnn.cli.inputs import picture_shape, read_image
from scratchnn.cli.model import class_probabilities
from conftest import require

LIMIT = 300
ONE_BLAS_THREAD = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(*args):
    """`python -m scratchnn ARGS` -> CompletedProcess (text). One BLAS thread: the small matrices here
    gain nothing from more, and competing threads on a busy machine slow each run down many times."""
    return subprocess.run([sys.executable, "-m", "scratchnn", *map(str, args)], capture_output=True, text=True,
                          env=ONE_BLAS_THREAD, timeout=120)


def call(capsys, *args):
    """scratchnn.cli.main(ARGS) in this process -> (exit status, stdout, stderr)."""
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, code, match):
    assert status == code, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err


def digits_test(count):
    """The first ``count`` embedded test digits as the CLI feeds them: (N, 784) pixels 0..255, and labels."""
    _, (images, labels) = datasets.load_digits()
    return images[:count].reshape(count, -1).astype(np.float32), labels[:count]


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def tiny_config(workdir):
    """A small architecture written as model.get_config() writes it, taking pixels 0..255 as the CLI's do."""
    model = snn.Sequential([layers.Rescaling(1 / 255), layers.Dense(16, activation="relu"), layers.Dense(10)],
                           input_shape=(784,), seed=3)
    path = workdir / "tiny.json"
    path.write_text(json.dumps(model.get_config()))
    return path, model.get_config()


@pytest.fixture(scope="module")
def trained(workdir, tiny_config):
    """One epoch of the tiny model on 300 embedded digits, with history and checkpoints."""
    result = run("train", "--data", "digits", "--model", tiny_config[0], "--epochs", 1, "--batch-size", 32,
                 "--limit", LIMIT, "--seed", 0, "--out", workdir / "model.snn", "--history", workdir / "history.csv",
                 "--checkpoint", workdir / "checkpoints", "--verbose", 2)
    assert result.returncode == 0, result.stderr
    return result, workdir / "model.snn"


@pytest.fixture(scope="module")
def exported_digits(workdir):
    result = run("datasets", "--export-digits", workdir / "digits", "--count", 3)
    assert result.returncode == 0, result.stderr
    return workdir / "digits"


# ---- train ------------------------------------------------------------------------------------------------
def test_train_writes_the_model_history_checkpoint_and_a_final_table(trained, tiny_config, workdir):
    result, path = trained
    model = snn.load_model(path)
    assert [entry["class_name"] for entry in model.get_config()["layers"]] == ["Rescaling", "Dense", "ReLU", "Dense"]
    assert model.get_config()["layers"] == tiny_config[1]["layers"]
    assert "Epoch 1/1" in result.stdout
    x_test, y_test = digits_test(LIMIT)
    figures = model.evaluate(x_test, y_test)
    test_row = next(line.split() for line in result.stdout.splitlines() if line.startswith("test "))
    assert test_row == ["test", "300", f"{figures['loss']:.4f}", f"{figures['accuracy']:.4f}"]
    assert any(line.split()[:2] == ["train", "270"] for line in result.stdout.splitlines())
    assert any(line.split()[:2] == ["validation", "30"] for line in result.stdout.splitlines())
    with open(workdir / "history.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 1 and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    checkpoint = snn.load_model(workdir / "checkpoints" / "epoch-001.snn")
    for saved, final in zip(checkpoint.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(saved, final)
    assert not [name for name in os.listdir(workdir) if name.endswith(".snn") and name.startswith(".")]


def test_train_on_a_csv_is_accurate_and_reproducible(workdir):
    rng = np.random.default_rng(1)
    centres = np.array([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [0, 0, 4.0, 0]])
    labels = rng.integers(0, 3, 150)
    features = centres[labels] + rng.standard_normal((150, 4))
    path = workdir / "blobs.csv"
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["a", "b", "c", "d", "label"])
        writer.writerows([[*row, label] for row, label in zip(features, labels)])
    outs = [workdir / "blobs-1.snn", workdir / "blobs-2.snn"]
    for out in outs:
        result = run("train", "--data", f"csv:{path}", "--epochs", 20, "--lr", 1e-2, "--batch-size", 16,
                     "--seed", 5, "--out", out, "--verbose", 0)
        assert result.returncode == 0, result.stderr
    first, second = (snn.load_model(out) for out in outs)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    figures = first.evaluate(features.astype(np.float32), labels)
    assert figures["accuracy"] >= 0.95
    evaluated = json.loads(run("evaluate", outs[0], "--data", f"csv:{path}", "--json").stdout)
    assert evaluated["samples"] == 150 and evaluated["split"] == "all rows"
    assert evaluated["accuracy"] == pytest.approx(figures["accuracy"], rel=1e-12)


def test_train_cnn_adds_the_channel_axis(workdir):
    out = workdir / "cnn.snn"
    result = run("train", "--model", "cnn", "--epochs", 1, "--limit", 64, "--out", out, "--verbose", 0)
    assert result.returncode == 0, result.stderr
    model = snn.load_model(out)
    assert model.input_shape == (28, 28, 1) and [type(layer).__name__ for layer in model.layers[:2]] == [
        "Rescaling", "Conv2D"]
    assert any(line.split()[:2] == ["test", "64"] for line in result.stdout.splitlines())


def test_train_on_mnist_idx_files(workdir, tiny_config):
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    folder = workdir / "idx"
    folder.mkdir()
    for stem, array in zip(datasets.mnist.FILES, (x_train[:200], y_train[:200], x_test[:100], y_test[:100])):
        datasets.write_idx(folder / stem, array)
    result = run("train", "--data", f"mnist:{folder}", "--model", tiny_config[0], "--epochs", 1,
                 "--out", workdir / "idx.snn", "--verbose", 0)
    assert result.returncode == 0, result.stderr
    assert any(line.split()[:2] == ["test", "100"] for line in result.stdout.splitlines())


def test_ctrl_c_writes_nothing_and_names_the_last_checkpoint(workdir, tiny_config):
    out, folder = workdir / "interrupted.snn", workdir / "interrupted-checkpoints"
    process = subprocess.Popen([sys.executable, "-m", "scratchnn", "train", "--model", str(tiny_config[0]),
                                "--limit", "100", "--epochs", "100000", "--verbose", "2", "--out", str(out),
                                "--checkpoint", str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=ONE_BLAS_THREAD)
    try:
        epoch_lines = 0
        for line in process.stdout:
            epoch_lines += line.startswith("Epoch")
            if epoch_lines == 2:
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert not out.exists()
    last = sorted(folder.iterdir())[-1]
    assert err.strip() == f"scratchnn train: interrupted; nothing written to {out}; the last good checkpoint is {last}"
    assert snn.load_model(last).count_params() == 16 * 785 + 10 * 17


# ---- evaluate ---------------------------------------------------------------------------------------------
def test_evaluate_json_matches_the_api(trained):
    _, path = trained
    result = run("evaluate", path, "--data", "digits", "--limit", 200, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    model = snn.load_model(path)
    x, y = digits_test(200)
    with threadpoolctl.threadpool_limits(1):          # as the CLI ran (ONE_BLAS_THREAD): the same summation order
        figures = model.evaluate(x, y)
        predicted = model.predict(x).argmax(axis=1)
    macro = metrics.classification_report(y, predicted, num_classes=10, output_dict=True)["macro avg"]
    assert report["samples"] == 200 and report["data"] == "digits"
    assert report["loss"] == pytest.approx(figures["loss"], rel=1e-12)
    assert report["accuracy"] == pytest.approx(figures["accuracy"], rel=1e-12)
    assert report["f1_macro"] == pytest.approx(macro["f1-score"], rel=1e-12)
    assert report["confusion_matrix"] == metrics.confusion_matrix(y, predicted, num_classes=10).tolist()


def test_evaluate_prints_metrics_and_a_confusion_matrix(trained):
    _, path = trained
    result = run("evaluate", path, "--limit", 100)
    assert result.returncode == 0, result.stderr
    model = snn.load_model(path)
    x, y = digits_test(100)
    figures = model.evaluate(x, y)
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path} on digits (test split, 100 samples)"
    accuracy_row = next(line.split() for line in lines if line.startswith("accuracy"))
    assert accuracy_row == ["accuracy", f"{figures['accuracy']:.4f}"]
    start = lines.index("confusion matrix (rows: true class, columns: predicted class)") + 2
    matrix = np.array([line.split()[1:] for line in lines[start:start + 10]], dtype=int)
    np.testing.assert_array_equal(matrix, metrics.confusion_matrix(y, model.predict(x), num_classes=10))


# ---- predict --------------------------------------------------------------------------------------------
def test_predict_npy_png_and_csv_agree_with_the_api(trained, exported_digits, workdir):
    require("PIL")
    _, path = trained
    x, _ = digits_test(3)
    csv_path = workdir / "rows.csv"
    np.savetxt(csv_path, x, delimiter=",", fmt="%.9g")
    pngs = [exported_digits / name for name in sorted(os.listdir(exported_digits)) if name.endswith(".png")]
    result = run("predict", path, exported_digits / "digits.npy", *pngs, csv_path, "--json")
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout)["predictions"]
    expected = softmax(snn.load_model(path).predict(x).astype(np.float64))
    assert [p["input"] for p in predictions[:3]] == [f"{exported_digits / 'digits.npy'}[{i}]" for i in range(3)]
    assert [p["input"] for p in predictions[3:6]] == [str(png) for png in pngs]
    for index, prediction in enumerate(predictions):
        row = expected[index % 3]
        top3 = np.argsort(-row, kind="stable")[:3]
        assert prediction["class"] == top3[0]
        assert prediction["probability"] == pytest.approx(row[top3[0]], rel=1e-5)
        assert [t["class"] for t in prediction["top"]] == top3.tolist()


def test_predict_text_output(trained, exported_digits):
    _, path = trained
    result = run("predict", path, exported_digits / "digits.npy")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["input", "class", "probability", "top-3"]
    expected = softmax(snn.load_model(path).predict(digits_test(3)[0]).astype(np.float64))
    for line, row in zip(lines[1:], expected):
        assert line.split()[1:3] == [str(row.argmax()), f"{row.max():.4f}"]


def test_class_names(trained, exported_digits, capsys):
    _, path = trained
    names = [f"digit {word}" for word in "zero one two three four five six seven eight nine".split()]
    status, out, err = call(capsys, "predict", path, exported_digits / "digits.npy", "--class-names", ",".join(names),
                            "--json")
    assert status == 0, err
    for prediction in json.loads(out)["predictions"]:
        assert prediction["name"] == names[prediction["class"]]
        assert [t["name"] for t in prediction["top"]] == [names[t["class"]] for t in prediction["top"]]
    status, out, err = call(capsys, "evaluate", path, "--limit", 50, "--class-names", ",".join(names))
    assert status == 0, err
    assert sum(line.strip().startswith("digit ") for line in out.splitlines()) == 10
    status, _, err = call(capsys, "predict", path, exported_digits / "digits.npy", "--class-names", "fashion,x")
    assert_one_line_error(status, err, 2, "--class-names gives 2 names, the model has 10 classes")
    status, _, err = call(capsys, "predict", path, exported_digits / "digits.npy", "--class-names", "a,,b")
    assert_one_line_error(status, err, 2, "expected comma-separated names or 'fashion', got 'a,,b'")


def test_read_image_inverts_dark_ink_on_light_paper(tmp_path):
    Image = require("PIL.Image")
    ink = np.zeros((28, 28), dtype=np.uint8)
    ink[8:20, 12:16] = 255
    Image.fromarray(255 - ink).save(tmp_path / "paper.png")                 # dark ink on white paper
    Image.fromarray(ink).save(tmp_path / "screen.png")                      # bright ink on black
    transparent = np.zeros((28, 28, 4), dtype=np.uint8)
    transparent[..., 3] = ink                                               # black ink on nothing
    Image.fromarray(transparent, mode="RGBA").save(tmp_path / "alpha.png")
    for name in ("paper.png", "screen.png", "alpha.png"):
        np.testing.assert_array_equal(read_image(tmp_path / name, (784,)), ink.reshape(-1).astype(np.float32))
    np.testing.assert_array_equal(read_image(tmp_path / "paper.png", (28, 28, 1), invert="no"),
                                  (255 - ink)[..., None].astype(np.float32))
    Image.fromarray(np.kron(ink, np.ones((2, 2), dtype=np.uint8))).save(tmp_path / "large.png")
    assert read_image(tmp_path / "large.png", (28, 28)).shape == (28, 28)


# ---- summary, export, explain, plot, datasets, version -------------------------------------------------
def test_summary_and_config(trained, capsys):
    _, path = trained
    model = snn.load_model(path)
    status, out, _ = call(capsys, "summary", path)
    assert status == 0
    assert f"Total params: {model.count_params():,}" in out
    assert "optimizer: Adam (learning rate 0.001), 9 steps taken" in out
    status, out, _ = call(capsys, "summary", path, "--config")
    assert status == 0 and json.loads(out) == model.get_config()


def test_export_onnx_is_verified(trained, workdir):
    require("onnx")
    onnxruntime = require("onnxruntime")
    _, path = trained
    result = run("export", path, workdir / "model.onnx")
    assert result.returncode == 0, result.stderr
    assert "verified with onnxruntime" in result.stdout
    model = snn.load_model(path)
    session = onnxruntime.InferenceSession(str(workdir / "model.onnx"), providers=["CPUExecutionProvider"])
    x, _ = digits_test(16)
    np.testing.assert_allclose(session.run(None, {"input": x})[0], model.predict(x), rtol=1e-5, atol=1e-5)


def test_explain_integrated_gradients_matches_the_api(trained, exported_digits, workdir):
    _, path = trained
    out = workdir / "ig.npy"
    result = run("explain", path, exported_digits / "digits.npy", "--index", 1, "--out", out)
    assert result.returncode == 0, result.stderr
    model = snn.load_model(path)
    x, _ = digits_test(2)
    target = int(model.predict(x[1:2]).argmax())
    expected = explain.integrated_gradients(model, x[1], target=target)
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-6, atol=1e-9)
    assert f"class {target}" in result.stdout


@pytest.mark.parametrize("method", ["saliency", "occlusion"])
def test_explain_writes_a_heat_map(trained, exported_digits, workdir, method):
    require("matplotlib")
    Image = require("PIL.Image")
    _, path = trained
    out = workdir / f"{method}.png"
    result = run("explain", path, exported_digits / "digit-0-label-3.png", "--method", method, "--out", out)
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.format == "PNG" and min(image.size) > 100


def test_plot_model_and_history(trained, workdir):
    require("matplotlib")
    Image = require("PIL.Image")
    _, path = trained
    result = run("plot", path, "--history", workdir / "history.csv", "--out", workdir / "net.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"figure written to {workdir / 'net.png'} and {workdir / 'net-history.png'}"
    for name in ("net.png", "net-history.png"):
        with Image.open(workdir / name) as image:
            assert image.format == "PNG"


def test_datasets_lists_and_exports_digits(exported_digits, capsys):
    require("PIL")
    status, out, _ = call(capsys, "datasets")
    assert status == 0
    embedded = os.path.join(os.path.dirname(datasets.digits.__file__), "data", "mnist-10k.npz")
    assert out.splitlines()[1].split()[:2] == ["digits", "available"] and embedded in out
    _, (images, labels) = datasets.load_digits()
    np.testing.assert_array_equal(np.load(exported_digits / "digits.npy"), images[:3])
    np.testing.assert_array_equal(np.load(exported_digits / "labels.npy"), labels[:3])
    assert sorted(os.listdir(exported_digits)) == sorted(
        ["digits.npy", "labels.npy", *(f"digit-{i}-label-{labels[i]}.png" for i in range(3))])


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"scratchnn {snn.__version__}"


# ---- errors: one line on stderr, exit 2 for usage and 1 for runtime -----------------------------------------
@pytest.mark.parametrize("args, match", [
    (["train", "--data", "imagenet"], "argument --data: unknown dataset 'imagenet'"),
    (["train", "--data", "csv"], "csv needs a file: --data csv:FILE"),
    (["train", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    (["train", "--lr", "-1"], "argument --lr: expected a positive number, got '-1'"),
    (["train", "--validation-split", "1.5"], "expected a fraction in [0, 1), got '1.5'"),
    (["train", "--optimizer", "adamax"], "argument --optimizer: invalid choice: 'adamax'"),
    (["explain", "m.snn", "x.png", "--method", "lime"], "argument --method: invalid choice: 'lime'"),
    (["fly"], "invalid choice: 'fly'"),
    (["train", "--model", "resnet"], "--model resnet: neither a built-in model (mlp, cnn; lstm or transformer "
                                     "for --data text:FILE) nor a config file that exists"),
    ([], "the following arguments are required: COMMAND"),
])
def test_usage_errors_exit_2(capsys, args, match):
    status, _, err = call(capsys, *args)
    assert_one_line_error(status, err, 2, match)


def test_missing_and_corrupt_model_files_exit_1(trained, capsys, tmp_path):
    _, path = trained
    status, _, err = call(capsys, "evaluate", tmp_path / "nope.snn")
    assert_one_line_error(status, err, 1, f"{tmp_path / 'nope.snn'}: no such model file")
    garbage = tmp_path / "garbage.snn"
    garbage.write_bytes(b"not a zip file at all")
    status, _, err = call(capsys, "summary", garbage)
    assert_one_line_error(status, err, 1, "not a scratchnn model file")
    truncated = tmp_path / "truncated.snn"
    truncated.write_bytes(path.read_bytes()[:5000])
    status, _, err = call(capsys, "predict", truncated, tmp_path / "x.npy")
    assert_one_line_error(status, err, 1, f"{truncated}: not a scratchnn model file")


def test_a_missing_output_folder_fails_before_training(capsys, tmp_path):
    status, out, err = call(capsys, "train", "--out", tmp_path / "absent" / "m.snn")
    assert_one_line_error(status, err, 1, f"{tmp_path / 'absent' / 'm.snn'}: the folder "
                                          f"'{tmp_path / 'absent'}' does not exist")
    assert out == ""


def test_bad_inputs_exit_1(trained, capsys, tmp_path):
    require("PIL")
    _, path = trained
    broken = tmp_path / "broken.png"
    broken.write_text("this is not a picture")
    status, _, err = call(capsys, "predict", path, broken)
    assert_one_line_error(status, err, 1, f"{broken}: cannot read the image")
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 30), dtype=np.float32))
    status, _, err = call(capsys, "predict", path, wrong)
    assert_one_line_error(status, err, 1, f"{wrong}: samples of shape (30,) (30 values) do not fit the model, "
                                          "which takes input of shape (784,) (784 values)")
    labelled = tmp_path / "labelled.csv"
    np.savetxt(labelled, np.zeros((2, 785)), delimiter=",")
    status, _, err = call(capsys, "predict", path, labelled)
    assert_one_line_error(status, err, 1, f"{labelled}: rows of 785 values, the model takes 784 features: drop the "
                                          "label column")
    status, _, err = call(capsys, "predict", path, tmp_path / "absent.png")
    assert_one_line_error(status, err, 1, f"{tmp_path / 'absent.png'}: no such file")
    status, _, err = call(capsys, "evaluate", path, "--data", f"mnist:{tmp_path}")
    assert_one_line_error(status, err, 1, "cannot load mnist: mnist: missing train-images-idx3-ubyte")
    assert err.endswith("(from the command line: --download, or --data mnist:DIR)\n")
    assert describe_error(ConnectionError("could not download x:\n  mirror 1: timed out\n  mirror 2: 404")) == \
        "could not download x: mirror 1: timed out mirror 2: 404"


@pytest.mark.parametrize("rows, match", [
    ("1,2,0\n3,x,1\n", "data row 2 is not all numbers: '3,x,1'"),
    ("1,2,0\n3,4\n", "rows have different numbers of columns: [2, 3]"),
    ("1,2,0.5\n3,4,1\n", "the label column holds the class and must be whole numbers >= 0 or names, got "
                         "values such as 0.5"),
])
def test_bad_csv_files_exit_1(capsys, tmp_path, rows, match):
    path = tmp_path / "table.csv"
    path.write_text(rows)
    status, _, err = call(capsys, "train", "--data", f"csv:{path}", "--out", tmp_path / "m.snn")
    assert_one_line_error(status, err, 1, match)
    assert not (tmp_path / "m.snn").exists()


def test_a_model_config_that_does_not_fit_the_data_exits_1(capsys, tmp_path):
    config = snn.Sequential([layers.Dense(4)], input_shape=(30,)).get_config()
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(config))
    status, _, err = call(capsys, "train", "--model", path, "--limit", 10, "--out", tmp_path / "m.snn")
    assert_one_line_error(status, err, 1, "digits: samples of shape (28, 28) (784 values) do not fit the model")
    status, _, err = call(capsys, "train", "--model", tmp_path / "absent.json")
    assert_one_line_error(status, err, 1, f"{tmp_path / 'absent.json'}: No such file or directory")


def test_debug_shows_the_traceback(tmp_path):
    quiet = run("summary", tmp_path / "nope.snn")
    assert quiet.returncode == 1
    assert quiet.stderr == f"scratchnn summary: error: {tmp_path / 'nope.snn'}: no such model file\n"
    loud = run("summary", tmp_path / "nope.snn", "--debug")
    assert loud.returncode == 1 and "Traceback (most recent call last)" in loud.stderr


def test_a_two_class_csv_gets_one_sigmoid_output(capsys, tmp_path):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 60)
    features = labels[:, None] * 3.0 + rng.standard_normal((60, 3))
    np.savetxt(tmp_path / "two.csv", np.column_stack([features, labels]), delimiter=",")
    np.savetxt(tmp_path / "rows.csv", features[:4], delimiter=",")
    status, _, err = call(capsys, "train", "--data", f"csv:{tmp_path / 'two.csv'}", "--epochs", 2, "--verbose", 0,
                          "--out", tmp_path / "two.snn")
    assert status == 0, err
    model = snn.load_model(tmp_path / "two.snn")
    assert model.output_shape == (1,) and type(model.loss).__name__ == "BinaryCrossentropy"
    status, out, err = call(capsys, "predict", tmp_path / "two.snn", tmp_path / "rows.csv", "--json")
    assert status == 0, err
    positive = model.predict(features[:4].astype(np.float32))[:, 0].astype(np.float64)     # P(class 1)
    for prediction, p in zip(json.loads(out)["predictions"], positive):
        assert prediction["class"] == int(p > 0.5)
        assert [t["class"] for t in prediction["top"]] == ([1, 0] if p > 0.5 else [0, 1])
        assert prediction["top"][0]["probability"] == pytest.approx(max(p, 1 - p), rel=1e-6)
    status, out, err = call(capsys, "explain", tmp_path / "two.snn", tmp_path / "rows.csv", "--method", "saliency",
                            "--out", tmp_path / "saliency.npy")
    assert status == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "saliency.npy"),
                               explain.saliency(model, features[0].astype(np.float32), target=0), rtol=1e-6)
    assert "saliency attributions of the probability of class " in out


def test_predict_one_sample_npy(trained, capsys, tmp_path):
    _, path = trained
    x, _ = digits_test(1)
    np.save(tmp_path / "one.npy", (x.reshape(28, 28) * 255).round().astype(np.uint8))
    status, out, err = call(capsys, "predict", path, tmp_path / "one.npy", "--json")
    assert status == 0, err
    [prediction] = json.loads(out)["predictions"]
    assert prediction["input"] == str(tmp_path / "one.npy")
    assert prediction["class"] == int(snn.load_model(path).predict(x).argmax())


def test_cosine_schedule_warms_up_over_one_epoch_then_decays(capsys, tmp_path):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 150)
    np.savetxt(tmp_path / "three.csv", np.column_stack([rng.standard_normal((150, 2)), labels]), delimiter=",")
    status, _, err = call(capsys, "train", "--data", f"csv:{tmp_path / 'three.csv'}", "--epochs", 3, "--verbose", 0,
                          "--batch-size", 16, "--validation-split", 0.2, "--lr", 0.004, "--schedule", "cosine",
                          "--out", tmp_path / "cosine.snn")
    assert status == 0, err
    optimizer = snn.load_model(tmp_path / "cosine.snn").optimizer
    assert optimizer.iterations == 3 * 8                                    # 120 training rows, batches of 16
    assert snn.optim.serialize(optimizer)["config"]["learning_rate"] == {
        "class_name": "CosineDecay",
        "config": {"initial_learning_rate": 0.0004, "decay_steps": 16, "alpha": 0.0, "warmup_target": 0.004,
                   "warmup_steps": 8}}


def test_explain_draws_pictures_as_heat_maps_and_feature_rows_as_bars():
    assert picture_shape(np.zeros((3, 4)), ".csv", (4,)) is None
    assert picture_shape(np.zeros((3, 784)), ".csv", (784,)) is None
    assert picture_shape(np.zeros((3, 28, 28)), ".npy", (784,)) == (28, 28)
    assert picture_shape(np.zeros((1, 784)), ".png", (784,)) == (28, 28, 1)
    assert picture_shape(np.zeros((3, 16)), ".csv", (4, 4, 1)) == (4, 4, 1)


# ---- probabilities from logits: the stable sigmoid and softmax of backend.special -----------------------------
class _LogitModel:
    """What class_probabilities reads of a model: its layers (none here, so the outputs are logits)."""
    layers = []


def test_class_probabilities_at_logits_of_plus_and_minus_1000_do_not_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                  # an overflow warning fails the test
        one = class_probabilities(_LogitModel(), np.array([[-1000.0], [0.0], [1000.0]], dtype=np.float32))
        many = class_probabilities(_LogitModel(), np.array([[-1000.0, 1000.0, 0.0], [1000.0, -1000.0, 1000.0]]))
    np.testing.assert_array_equal(one, [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    np.testing.assert_array_equal(many, [[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    assert one.dtype == many.dtype == np.float64


@pytest.mark.parametrize("outputs", [1, 2])
def test_predict_at_logits_of_plus_and_minus_1000(capsys, tmp_path, outputs):
    model = snn.Sequential([layers.Dense(outputs)], input_shape=(1,), seed=0)
    kernel = np.array([[1000.0]] if outputs == 1 else [[-1000.0, 1000.0]], dtype=np.float32)
    model.set_weights([kernel, np.zeros(outputs, dtype=np.float32)])
    model.save(tmp_path / "sharp.snn")
    np.savetxt(tmp_path / "rows.csv", [[-1.0], [1.0]], delimiter=",")           # logits -1000 and +1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status, out, err = call(capsys, "predict", tmp_path / "sharp.snn", tmp_path / "rows.csv", "--json")
    assert status == 0, err
    assert err == ""
    first, second = json.loads(out)["predictions"]
    assert (first["class"], first["probability"]) == (0, 1.0)
    assert (second["class"], second["probability"]) == (1, 1.0)
    assert [(t["class"], t["probability"]) for t in first["top"]] == [(0, 1.0), (1, 0.0)]


def test_a_missing_extra_is_one_line_naming_the_install_command(trained, exported_digits, capsys, monkeypatch,
                                                               tmp_path):
    _, path = trained
    monkeypatch.setitem(sys.modules, "matplotlib", None)                 # `import matplotlib` now fails
    status, _, err = call(capsys, "explain", path, exported_digits / "digits.npy", "--out", tmp_path / "ig.png")
    assert_one_line_error(status, err, 1, "drawing figures needs the matplotlib package: "
                                          "pip install 'scratchnn[plot]' (or write a .npy)")
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    image = tmp_path / "digit.png"
    image.write_bytes(b"")
    status, _, err = call(capsys, "predict", path, image)
    assert_one_line_error(status, err, 1, "reading images needs the pillow package: pip install 'scratchnn[image]'")
