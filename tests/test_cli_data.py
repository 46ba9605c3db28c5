"""The command line's data: preprocessing carried by the model, scale warnings, MNIST framing of images,
CSV options (label column, delimiter, header names, string labels) and the architecture flags."""
import json
import zipfile

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import datasets, layers
from scratchnn.cli import main
from scratchnn.cli.inputs import check_scale, frame_digit
from scratchnn.cli.train import image_layers
from conftest import require


def call(capsys, *args):
    """scratchnn.cli.main(ARGS) in this process -> (exit status, stdout, stderr)."""
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def layer_names(model):
    return [type(layer).__name__ for layer in model.layers]


@pytest.fixture(scope="module")
def digits_mlp(tmp_path_factory):
    """The built-in MLP, 3 epochs on 3,000 embedded digits: good enough to read a clean digit."""
    path = tmp_path_factory.mktemp("cli_data") / "mlp.snn"
    assert main(["train", "--data", "digits", "--limit", "3000", "--epochs", "3", "--hidden", "128",
                 "--lr", "3e-3", "--verbose", "0", "--out", str(path)]) == 0
    return path


@pytest.fixture
def flowers(tmp_path):
    """A three-class table with a header, text labels in the second column and ';' between cells."""
    rng = np.random.default_rng(0)
    names = ["virginica", "setosa", "versicolor"]                      # first seen is not first sorted
    lines = ["petal_length;species;petal_width;weight"]
    for i in range(120):
        c = i % 3
        lines.append(f"{1 + 2 * c + rng.normal(0, .3):.2f};{names[c]};{0.2 + 0.8 * c + rng.normal(0, .2):.2f};"
                     f"{500 + 100 * rng.random():.1f}")
    path = tmp_path / "flowers.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- the model carries its preprocessing ----------------------------------------------------------------
def test_image_models_begin_with_rescaling_and_take_raw_pixels(capsys, digits_mlp, tmp_path):
    model = snn.load_model(digits_mlp)
    assert layer_names(model)[:2] == ["Rescaling", "Dense"] and model.layers[0].scale == pytest.approx(1 / 255)
    _, (images, labels) = datasets.load_digits()
    np.save(tmp_path / "raw.npy", images[:5])                         # uint8, fed as stored
    status, out, err = call(capsys, "predict", digits_mlp, tmp_path / "raw.npy", "--json")
    assert status == 0 and err == "", err
    classes = [p["class"] for p in json.loads(out)["predictions"]]
    assert classes == model.predict(images[:5].reshape(5, -1).astype(np.float32)).argmax(axis=1).tolist()
    status, out, err = call(capsys, "evaluate", digits_mlp, "--data", "digits", "--limit", 500, "--json")
    figures = model.evaluate(images[:500].reshape(500, -1).astype(np.float32), labels[:500])
    assert status == 0 and err == "" and json.loads(out)["accuracy"] == pytest.approx(figures["accuracy"])
    assert figures["accuracy"] > 0.85


def test_a_csv_model_begins_with_a_normalization_adapted_on_the_training_rows(capsys, tmp_path):
    rng = np.random.default_rng(1)
    features = rng.normal([100.0, -3.0], [20.0, 0.01], size=(60, 2))
    labels = (features[:, 0] > 100).astype(int) + 2 * (features[:, 1] > -3)
    np.savetxt(tmp_path / "t.csv", np.column_stack([features, labels]), delimiter=",", fmt="%.6f")
    status, _, err = call(capsys, "train", "--data", f"csv:{tmp_path / 't.csv'}", "--epochs", 1, "--seed", 4,
                          "--verbose", 0, "--out", tmp_path / "t.snn")
    assert status == 0, err
    model = snn.load_model(tmp_path / "t.snn")
    assert layer_names(model)[0] == "Normalization"
    rows = features.astype(np.float32)[np.random.default_rng(4).permutation(60)][:54]      # validation held out
    np.testing.assert_allclose(model.layers[0].buffers["mean"].reshape(-1), rows.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(model.layers[0].buffers["variance"].reshape(-1), rows.var(axis=0), rtol=1e-3)


# ---- warnings when values look scaled for another model --------------------------------------------------
def test_scale_warnings_are_one_line_and_only_when_the_values_do_not_fit(capsys, digits_mlp, tmp_path):
    _, (images, _) = datasets.load_digits()
    np.save(tmp_path / "scaled.npy", images[:2] / np.float32(255))
    status, out, err = call(capsys, "predict", digits_mlp, tmp_path / "scaled.npy")
    assert status == 0 and err.count("\n") == 1 and err.startswith("warning: ")
    assert "every value lies in [0, 1], but the model rescales pixels 0..255 itself" in err
    plain = snn.Sequential([layers.Flatten(), layers.Dense(10)], input_shape=(28, 28), seed=0)   # trained on [0, 1]
    plain.save(tmp_path / "plain.snn")
    np.save(tmp_path / "raw.npy", images[:2])
    status, _, err = call(capsys, "predict", tmp_path / "plain.snn", tmp_path / "raw.npy")
    assert status == 0 and err.count("\n") == 1 and "values reach 254, but the model has no preprocessing" in err
    status, _, err = call(capsys, "predict", tmp_path / "plain.snn", tmp_path / "scaled.npy")
    assert status == 0 and err == ""
    status, _, err = call(capsys, "evaluate", tmp_path / "plain.snn", "--data", "digits", "--limit", 20)
    assert status == 0 and err.count("\n") == 1 and "digits: values reach 255, but" in err
    normalized = snn.Sequential([layers.Normalization(mean=0, variance=1), layers.Dense(2)], input_shape=(3,))
    assert check_scale(np.full((2, 3), 300.0), normalized, "rows", pictures=False) is None
    assert check_scale(np.full((2, 3), 300.0), plain, "rows", pictures=False) is None     # not pictures


# ---- images framed as MNIST's digits were ------------------------------------------------------------------
def test_frame_digit_fits_a_20_pixel_box_and_centres_the_mass():
    ink = np.zeros((120, 90), dtype=np.float32)
    ink[10:90, 30:50] = 200                                         # an 80 x 20 bar, off centre
    frame, note = frame_digit(ink)
    assert frame.shape == (28, 28) and frame.max() == pytest.approx(255, abs=1)
    rows, cols = np.flatnonzero(frame.max(axis=1) > 50), np.flatnonzero(frame.max(axis=0) > 50)
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 == 5
    mass = frame.sum()
    centre = (frame.sum(axis=1) @ np.arange(28) / mass, frame.sum(axis=0) @ np.arange(28) / mass)
    assert abs(centre[0] - 13.5) <= 0.5 and abs(centre[1] - 13.5) <= 0.5
    assert note == "cropped 90x120 -> 20x80 (the ink), scaled to 5x20, centred by its centre of mass in 28x28"
    blank, note = frame_digit(np.full((50, 50), 30, dtype=np.float32))
    assert not blank.any() and note == "no ink found, resized 50x50 -> 28x28"


def test_a_small_seven_in_a_corner_of_white_paper_is_read(capsys, digits_mlp, tmp_path):
    Image = require("PIL.Image")
    _, (images, labels) = datasets.load_digits()
    seven = images[int(np.flatnonzero(labels == 7)[0])]
    small = Image.fromarray(255 - seven).resize((14, 14), Image.Resampling.LANCZOS)    # dark ink, half size
    canvas = Image.new("L", (200, 200), 255)
    canvas.paste(small, (6, 180))                                   # the bottom-left corner
    canvas.save(tmp_path / "seven.png")
    status, out, err = call(capsys, "predict", digits_mlp, tmp_path / "seven.png", "--json",
                            "--show-input", tmp_path / "fed.png")
    assert status == 0, err
    prediction = json.loads(out)["predictions"][0]
    assert prediction["class"] == 7 and prediction["probability"] > 0.9, prediction
    lines = err.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'seven.png'}: inverted (dark ink on light paper), cropped 200x200 -> ")
    assert lines[0].endswith(" (the ink), scaled to 12x20, centred by its centre of mass in 28x28"), lines[0]
    assert lines[1] == f"input as fed written to {tmp_path / 'fed.png'}" and len(lines) == 2
    fed = np.asarray(Image.open(tmp_path / "fed.png"))
    assert fed.shape == (28, 28) and fed.dtype == np.uint8
    whole = np.asarray(Image.fromarray(255 - np.asarray(canvas)).resize((28, 28), Image.Resampling.LANCZOS))
    model = snn.load_model(digits_mlp)
    framed = snn.cli.model.class_probabilities(model, model.predict(fed.reshape(1, -1).astype(np.float32)))[0]
    resized = snn.cli.model.class_probabilities(model, model.predict(whole.reshape(1, -1).astype(np.float32)))[0]
    assert framed[7] == pytest.approx(prediction["probability"], abs=0.02) and resized[7] < 0.5   # without framing


def test_show_input_numbers_several_pictures_and_an_image_of_the_model_size_is_fed_as_it_is(capsys, digits_mlp,
                                                                                          tmp_path):
    Image = require("PIL.Image")
    _, (images, _) = datasets.load_digits()
    Image.fromarray(images[0]).save(tmp_path / "screen.png")        # bright ink on black, 28x28
    np.save(tmp_path / "two.npy", images[1:3])
    status, _, err = call(capsys, "predict", digits_mlp, tmp_path / "screen.png", tmp_path / "two.npy",
                          "--show-input", tmp_path / "in.png")
    assert status == 0, err
    assert err.splitlines()[0] == f"{tmp_path / 'screen.png'}: 28x28, fed as it is"
    for index, image in enumerate(images[:3]):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / f"in-{index}.png")), image)
    status, _, err = call(capsys, "predict", digits_mlp, tmp_path / "two.npy", "--show-input", tmp_path / "in.jpg")
    assert status == 2 and "--show-input" in err and "expected a .png" in err


# ---- CSV: label column, delimiter, header names, text labels -------------------------------------------
def test_a_csv_with_a_header_text_labels_and_semicolons(capsys, flowers, tmp_path):
    status, _, err = call(capsys, "train", "--data", f"csv:{flowers}", "--delimiter", ";", "--label-column",
                          "species", "--hidden", 16, "--epochs", 25, "--batch-size", 16, "--lr", 1e-2,
                          "--verbose", 0, "--out", tmp_path / "f.snn")
    assert status == 0, err
    model = snn.load_model(tmp_path / "f.snn")
    assert model.metadata == {"feature_names": ["petal_length", "petal_width", "weight"],
                              "class_names": ["setosa", "versicolor", "virginica"], "label_column": "species",
                              "delimiter": ";"}
    config = json.loads(zipfile.ZipFile(tmp_path / "f.snn").read("config.json"))
    assert config["metadata"]["class_names"] == ["setosa", "versicolor", "virginica"]
    (tmp_path / "new.csv").write_text("weight;petal_width;petal_length\n512;0.2;1.1\n530;1.8;5.2\n")  # reordered
    status, out, err = call(capsys, "predict", tmp_path / "f.snn", tmp_path / "new.csv")
    assert status == 0, err
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["virginica", "versicolor"]
    (tmp_path / "some.csv").write_text("petal_length;species;petal_width;weight\n1.1;virginica;0.2;520\n"
                                       "0.9;virginica;0.3;580\n")
    status, out, err = call(capsys, "evaluate", tmp_path / "f.snn", "--data", f"csv:{tmp_path / 'some.csv'}",
                            "--json")
    assert status == 0, err
    assert json.loads(out)["confusion_matrix"][2][2] == 2              # virginica is class 2, as in training
    (tmp_path / "odd.csv").write_text("petal_length;species;petal_width;weight\n5.1;rosa;1.9;520\n")
    status, _, err = call(capsys, "evaluate", tmp_path / "f.snn", "--data", f"csv:{tmp_path / 'odd.csv'}")
    assert status == 1 and "'rosa' are not among the model's classes (setosa, versicolor, virginica)" in err
    status, out, err = call(capsys, "explain", tmp_path / "f.snn", tmp_path / "new.csv", "--method", "saliency",
                            "--out", tmp_path / "a.npy")
    assert status == 0, err
    assert out.splitlines()[1].startswith("largest: petal_")


@pytest.mark.parametrize("column", ["0", "-3", "first"])
def test_the_label_column_by_index_or_name_and_tabs(capsys, tmp_path, column):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 2))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    text = "".join(f"{label}\t{a:.4f}\t{b:.4f}\n" for label, (a, b) in zip(y, x))
    (tmp_path / "t.tsv").write_text(("first\tsecond\tthird\n" if column == "first" else "") + text)
    status, _, err = call(capsys, "train", "--data", f"csv:{tmp_path / 't.tsv'}", "--delimiter", "tab",
                          "--label-column", column, "--epochs", 1, "--verbose", 0, "--out", tmp_path / "m.snn")
    assert status == 0, err
    model = snn.load_model(tmp_path / "m.snn")
    assert model.input_shape == (2,) and model.output_shape[-1] == 3
    assert model.metadata["label_column"] == ("first" if column == "first" else 0)
    assert ("feature_names" in model.metadata) == (column == "first")


@pytest.mark.parametrize("args, code, match", [
    (["--label-column", "nope"], 2, "--label-column nope: "),
    (["--label-column", "7"], 2, "has 3 columns (0 to 2, or -1 to -3)"),
    (["--delimiter", "ab"], 2, "argument --delimiter: expected one character"),
])
def test_csv_option_errors_are_one_line(capsys, tmp_path, args, code, match):
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,yes\n3,4,no\n")
    status, _, err = call(capsys, "train", "--data", f"csv:{tmp_path / 't.csv'}", *args, "--out", tmp_path / "m.snn")
    assert status == code and err.count("\n") == 1 and match in err, err


def test_a_semicolon_file_read_with_commas_names_the_delimiter(capsys, tmp_path):
    (tmp_path / "t.csv").write_text("a;b;label\n1;2;yes\n3;4;no\n")
    status, _, err = call(capsys, "train", "--data", f"csv:{tmp_path / 't.csv'}", "--out", tmp_path / "m.snn")
    assert status == 1 and "(its cells look separated by ';': --delimiter)" in err


# ---- architecture flags -----------------------------------------------------------------------------------
def test_hidden_dropout_and_filters_shape_the_built_in_models(capsys, tmp_path):
    status, _, err = call(capsys, "train", "--hidden", "32,16", "--dropout", 0.3, "--epochs", 1, "--limit", 64,
                          "--verbose", 0, "--out", tmp_path / "mlp.snn")
    assert status == 0, err
    model = snn.load_model(tmp_path / "mlp.snn")
    assert [layer.units for layer in model.layers if type(layer).__name__ == "Dense"] == [32, 16, 10]
    assert [layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"] == [0.3, 0.3]
    status, _, err = call(capsys, "train", "--model", "cnn", "--filters", "4,8,12", "--hidden", 8, "--epochs", 1,
                          "--limit", 64, "--verbose", 0, "--out", tmp_path / "cnn.snn")
    assert status == 0, err
    model = snn.load_model(tmp_path / "cnn.snn")
    assert [layer.filters for layer in model.layers if type(layer).__name__ == "Conv2D"] == [4, 8, 12]
    assert [layer.units for layer in model.layers if type(layer).__name__ == "Dense"] == [8, 10]
    status, out, _ = call(capsys, "train", "--help")
    help_text = " ".join(out.split())
    for default in ("(default: 256,256 for mlp, 128 for cnn)", "(default: 0.2 for mlp, 0.25 for cnn",
                    "(default: 16,32)"):
        assert default in help_text


@pytest.mark.parametrize("args, match", [
    (["--hidden", "0"], "argument --hidden: expected comma-separated positive integers such as 256,128, got '0'"),
    (["--hidden", "64,,32"], "argument --hidden: expected comma-separated positive integers"),
    (["--dropout", "1"], "argument --dropout: expected a fraction in [0, 1), got '1'"),
    (["--filters", "8"], "--filters is for --model cnn"),
    (["--model", "cnn", "--filters", "8,8,8,8"], "--filters 8,8,8,8: 4 convolution blocks shrink 28x28 images "
                                                  "to nothing (at most 3 fit)"),
    (["--model", "lstm", "--hidden", "8"], "--hidden shapes the built-in mlp and cnn, not --model lstm"),
])
def test_architecture_flag_errors_are_usage_errors(capsys, tmp_path, args, match):
    status, _, err = call(capsys, "train", *args, "--limit", 10, "--out", tmp_path / "m.snn")
    assert status == 2 and err.count("\n") == 1 and match in err, err


# ---- image layers ------------------------------------------------------------------------------------------
def test_image_layers_come_from_the_registry_and_a_config_may_begin_with_rescaling(capsys, tmp_path):
    names = set(image_layers())
    assert {"Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "UpSampling2D", "ZeroPadding2D",
            "Cropping2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "RandomFlip",
            "RandomRotation", "RandomZoom", "RandomTranslation"} <= names
    assert not names & {"Dense", "Conv1D", "MaxPooling1D", "Flatten", "Rescaling"}
    for name in ("Conv2D", "DepthwiseConv2D", "MaxPooling2D", "GlobalAveragePooling2D", "UpSampling2D"):
        layer = getattr(layers, name)(*((4, 3) if "Conv" in name else ()))   # each refuses a sample of two axes
        with pytest.raises(ValueError, match=r"expected input of shape \(N, height, width, channels\)"):
            layer.build((5, 5))
    assert layers.Conv1D.sample_rank == layers.GlobalAveragePooling1D.sample_rank == 2
    config = snn.Sequential([layers.Rescaling(1 / 255), layers.SeparableConv2D(4, 3), layers.GlobalAveragePooling2D(),
                             layers.Dense(10)]).get_config()
    (tmp_path / "arch.json").write_text(json.dumps(config))
    status, _, err = call(capsys, "train", "--model", tmp_path / "arch.json", "--epochs", 1, "--limit", 32,
                          "--verbose", 0, "--out", tmp_path / "m.snn")
    assert status == 0 and err == "", err
    assert snn.load_model(tmp_path / "m.snn").input_shape == (28, 28, 1)


def test_yes_no_labels_give_one_sigmoid_output_and_named_predictions(capsys, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 2))
    rows = "".join(f"{a:.3f},{b:.3f},{'yes' if a + b > 0 else 'no'}\n" for a, b in x)
    (tmp_path / "t.csv").write_text("a,b,answer\n" + rows)
    status, _, err = call(capsys, "train", "--data", f"csv:{tmp_path / 't.csv'}", "--epochs", 40, "--lr", 1e-2,
                          "--batch-size", 16, "--verbose", 0, "--out", tmp_path / "m.snn")
    assert status == 0, err
    model = snn.load_model(tmp_path / "m.snn")
    assert model.output_shape[-1] == 1 and model.metadata["class_names"] == ["no", "yes"]
    (tmp_path / "new.csv").write_text("a,b\n2,2\n-2,-2\n")
    status, out, err = call(capsys, "predict", tmp_path / "m.snn", tmp_path / "new.csv", "--json")
    assert status == 0, err
    assert [p["name"] for p in json.loads(out)["predictions"]] == ["yes", "no"]


def test_an_input_without_samples_is_one_line(capsys, digits_mlp, tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 784), dtype=np.uint8))
    status, _, err = call(capsys, "predict", digits_mlp, tmp_path / "empty.npy")
    assert status == 1 and err == f"scratchnn predict: error: {tmp_path / 'empty.npy'}: holds no samples\n"
