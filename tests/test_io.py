"""Model files: exact round trips, resumed training, and a clear error for every kind of bad file."""
import ast
import io
import json
import os
import pathlib
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers, optim, saving
from scratchnn.saving import archive as snn_archive


def make_model(seed=0, dtype=None, optimizer="sgd", names=(None, None)):
    model = snn.Sequential([layers.Dense(6, activation="tanh", name=names[0]), layers.Dense(3, name=names[1])],
                           input_shape=(5,), seed=seed, dtype=dtype)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optimizer, metrics=["accuracy"])
    return model


def make_data(n=48):
    rng = np.random.default_rng(7)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


def every_optimizer():
    return sorted(optim.OPTIMIZERS)


@pytest.fixture
def saved(tmp_path):
    """A trained model and the path of its model file."""
    model = make_model()
    model.fit(*make_data(), epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "model.snn"
    model.save(path)
    return model, path


def rewrite(path, replace=None, compress=None, drop=()):
    """Copy a zip member by member, replacing some members' bytes (and compression) on the way."""
    replace = replace or {}
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist() if name not in drop}
    members.update(replace)
    with zipfile.ZipFile(path, "w") as target:
        for name, data in members.items():
            target.writestr(name, data, compress_type=(compress or {}).get(name, zipfile.ZIP_STORED))


def npy_bytes(array, allow_pickle=False):
    stream = io.BytesIO()
    np.save(stream, array, allow_pickle=allow_pickle)
    return stream.getvalue()


def read_config(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


# ---- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loaded_model_predicts_bit_identically(tmp_path, dtype):
    model = make_model(dtype=dtype)
    x, y = make_data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    assert loaded.predict(x).dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.get_config() == model.get_config()


def make_regularized_model(optimizer):
    """Dropout draws from the model's generator; BatchNormalization keeps moving statistics in buffers."""
    model = snn.Sequential([layers.Dense(6), layers.BatchNormalization(), layers.Dropout(0.3),
                            layers.Dense(3, activation="softmax")], input_shape=(5,), seed=3)
    model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


@pytest.mark.parametrize("optimizer", every_optimizer() + ["adam_with_schedule", "sgd_nesterov"])
def test_resumed_training_matches_the_uninterrupted_run(tmp_path, optimizer):
    x, y = make_data()
    if optimizer == "adam_with_schedule":
        optimizer = optim.Adam(snn.schedules.ExponentialDecay(0.01, decay_steps=5, decay_rate=0.5))
    elif optimizer == "sgd_nesterov":
        optimizer = optim.SGD(0.05, momentum=0.9, nesterov=True)
    model = make_regularized_model(optimizer)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    assert loaded.optimizer.iterations == model.optimizer.iterations == 12
    continued = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    resumed = loaded.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert resumed.history == continued.history
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def every_layer_models():
    """Two small models that between them hold one of every layer the library registers."""
    image = snn.Sequential([
        layers.Conv2D(4, 3, padding="same", activation="relu", kernel_regularizer=snn.regularizers.L2(0.01)),
        layers.BatchNormalization(), layers.MaxPooling2D(2), layers.AveragePooling2D(2, strides=1, padding="same"),
        layers.Dropout(0.2), layers.Reshape((4, 4, 1)), layers.Conv2D(3, 2, strides=(1, 2)),
        layers.GlobalAveragePooling2D(), layers.Dense(8, activation="gelu"), layers.Dense(3, activation="softmax"),
    ], input_shape=(4, 4, 2), seed=0)
    activations = snn.Sequential([
        layers.Conv2D(2, 3), layers.GlobalMaxPooling2D(), layers.Dense(6), layers.Linear(), layers.Sigmoid(),
        layers.LeakyReLU(0.1), layers.ELU(0.5), layers.GELU(approximate=True), layers.Softplus(), layers.Tanh(),
        layers.Reshape((3, 2)), layers.Flatten(), layers.Dense(3), layers.Softmax()], input_shape=(4, 4, 2), seed=1)
    return image, activations


def first_case_of_every_layer():
    """One harness case (tests/layer_cases.py) per registered layer: new layers are covered with no edit here."""
    from layer_cases import CASES
    cases = {}
    for case in CASES:
        cases.setdefault(type(case.make()).__name__, case)
    return cases


@pytest.mark.parametrize("name", sorted(layers.LAYERS))
def test_every_layer_trains_saves_and_resumes_through_a_model_file(name, tmp_path):
    """The layer under a small trainable head: fit, save, load, and the resumed run equals the continued one."""
    import harness
    case = first_case_of_every_layer()[name]
    head = [layers.Flatten(), layers.Dense(3, activation="softmax")]
    if case.shapes:
        model = harness.functional_model(case, case.make(), head)
    else:
        model = snn.Sequential([case.make(), *head], input_shape=case.shape[1:], dtype="float64", seed=0)
    rng = np.random.default_rng(0)
    x = harness.make_input(case, rng)
    y = np.arange(len(x[0] if case.shapes else x)) % 3
    model.compile(loss="categorical_crossentropy", optimizer=optim.Adam(0.01), metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=2, verbose=0)
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    resumed, continued = (m.fit(x, y, epochs=2, batch_size=2, verbose=0) for m in (loaded, model))
    assert resumed.history == continued.history


def test_the_image_models_round_trip_through_a_model_file(tmp_path):
    models = every_layer_models()
    x = np.random.default_rng(0).standard_normal((12, 4, 4, 2))
    y = np.arange(12) % 3
    for number, model in enumerate(models):
        model.compile(loss="categorical_crossentropy", optimizer=optim.Adam(0.01), metrics=["accuracy"])
        model.fit(x, y, epochs=2, batch_size=4, verbose=0)
        model.save(tmp_path / f"m{number}.snn")
        loaded = snn.load_model(tmp_path / f"m{number}.snn")
        assert loaded.get_config() == model.get_config()
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
        resumed, continued = (m.fit(x, y, epochs=2, batch_size=4, verbose=0) for m in (loaded, model))
        assert resumed.history == continued.history


def test_a_non_default_bit_generator_is_restored(tmp_path):
    model = snn.Sequential([layers.Dense(2), layers.Dropout(0.5)], input_shape=(3,),
                           seed=np.random.Generator(np.random.MT19937(5)))
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    assert type(loaded.rng.bit_generator) is np.random.MT19937
    assert loaded.layers[1].rng is loaded.rng
    np.testing.assert_array_equal(loaded.rng.random(5), model.rng.random(5))


def test_a_layer_with_a_generator_of_its_own_resumes_exactly(tmp_path):
    dropout = layers.Dropout(0.5)
    dropout.build((6,), rng=np.random.default_rng(11))
    model = snn.Sequential([layers.Dense(6), dropout, layers.Dense(3)], input_shape=(5,), seed=4)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer="adam")
    x, y = make_data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    assert loaded.layers[1].rng is not loaded.rng
    resumed, continued = (m.fit(x, y, epochs=2, batch_size=8, verbose=0) for m in (loaded, model))
    assert resumed.history == continued.history


def test_model_file_records_compile_settings_and_generator_state(saved):
    model, path = saved
    config = read_config(path)
    assert (config["format"], config["format_version"]) == ("scratchnn-model", 1)
    assert config["scratchnn_version"] == snn.__version__
    assert config["compile"] == {"loss": {"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}},
                                 "from_logits": True, "metrics": ["accuracy"]}
    assert config["optimizer"]["class_name"] == "SGD" and config["optimizer"]["state"]["iterations"] == 6
    assert config["rng_state"] == model.rng.bit_generator.state
    loaded = snn.load_model(path)
    assert loaded.metric_names == ["accuracy"] and loaded.loss.from_logits is True
    assert loaded.rng.integers(0, 2 ** 62) == model.rng.integers(0, 2 ** 62)


def test_every_member_is_a_plain_npy_readable_without_pickle(saved):
    model, path = saved
    with zipfile.ZipFile(path) as archive:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
        kernel = np.load(io.BytesIO(archive.read("layers/0/params/kernel.npy")), allow_pickle=False)
    np.testing.assert_array_equal(kernel, model.layers[0].params["kernel"])


def test_uncompiled_and_unbuilt_models_round_trip(tmp_path):
    built = snn.Sequential([layers.Dense(4), layers.Softmax()], input_shape=(3,), seed=1)
    built.save(tmp_path / "built.snn")
    loaded = snn.load_model(tmp_path / "built.snn")
    assert loaded.loss is None
    x = np.ones((2, 3), dtype="float32")
    np.testing.assert_array_equal(loaded.predict(x), built.predict(x))
    unbuilt = snn.Sequential([layers.Dense(4)], seed=1)
    unbuilt.save(tmp_path / "unbuilt.snn")
    assert snn.load_model(tmp_path / "unbuilt.snn").built is False


def test_metric_objects_are_left_out_with_a_warning(tmp_path):
    model = make_model()
    model.compile(loss="mse", metrics=["mae", snn.metrics.TopKAccuracy(k=2)])
    with pytest.warns(UserWarning, match=r"the metrics \['top_k_accuracy'\] were given as objects and are not saved"):
        model.save(tmp_path / "m.snn")
    assert snn.load_model(tmp_path / "m.snn").metric_names == ["mae"]


def test_a_custom_loss_cannot_be_saved_in_a_model_file(tmp_path):
    class Halved(snn.losses.MeanSquaredError):
        pass

    model = make_model()
    model.compile(loss=Halved())
    with pytest.raises(ValueError, match=r"cannot save the loss Halved: a model file records only the built-in "
                                         r"losses \[.*'MeanSquaredError'.*\]; use save_weights"):
        model.save(tmp_path / "m.snn")
    assert not (tmp_path / "m.snn").exists()


def test_unknown_metric_name_in_the_file(saved):
    _, path = saved
    config = read_config(path)
    config["compile"]["metrics"] = ["accuracy", "sharpness"]
    rewrite(path, {"config.json": json.dumps(config)})
    with pytest.raises(ValueError, match=r"compile settings in config\.json are not valid: Unknown metric 'sharpness'"):
        snn.load_model(path)


def test_config_round_trip_rebuilds_the_same_architecture():
    model = make_model()
    rebuilt = snn.Sequential.from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    assert [type(layer) for layer in rebuilt.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(rebuilt.layers[0].params["kernel"], model.layers[0].params["kernel"])


def test_get_and_set_weights_copy_arrays():
    source, target = make_model(seed=1), make_model(seed=2)
    weights = source.get_weights()
    assert [w.shape for w in weights] == [(5, 6), (6,), (6, 3), (3,)]
    weights[0][...] = 0.0
    assert source.layers[0].params["kernel"].any()
    target.set_weights(source.get_weights())
    x, _ = make_data(4)
    np.testing.assert_array_equal(target.predict(x), source.predict(x))
    with pytest.raises(ValueError, match=r"expected 4 arrays, got 3"):
        target.set_weights(weights[:3])
    with pytest.raises(ValueError, match=r"array 1 should have shape \(6,\), got \(5,\)"):
        target.set_weights([weights[0], np.zeros(5), weights[2], weights[3]])


# ---- weights files ------------------------------------------------------------------------------
def test_weights_round_trip_into_a_fresh_model(tmp_path):
    source, target = make_model(seed=1), make_model(seed=2)
    source.save_weights(tmp_path / "w.snn")
    target.load_weights(tmp_path / "w.snn")
    x, _ = make_data(10)
    np.testing.assert_array_equal(target.predict(x), source.predict(x))
    assert read_config(tmp_path / "w.snn")["format"] == "scratchnn-weights"


def test_weights_are_matched_by_layer_name_before_index(tmp_path):
    source = snn.Sequential([layers.Dense(4, name="a"), layers.Dense(4, name="b")], input_shape=(4,), seed=1)
    target = snn.Sequential([layers.Dense(4, name="b"), layers.Dense(4, name="a")], input_shape=(4,), seed=2)
    source.save_weights(tmp_path / "w.snn")
    target.load_weights(tmp_path / "w.snn")
    np.testing.assert_array_equal(target.layers[0].params["kernel"], source.layers[1].params["kernel"])
    np.testing.assert_array_equal(target.layers[1].params["kernel"], source.layers[0].params["kernel"])


def test_load_weights_rejects_other_shapes_dtypes_and_layers(tmp_path):
    make_model().save_weights(tmp_path / "w.snn")
    wider = snn.Sequential([layers.Dense(7, activation="tanh"), layers.Dense(3)], input_shape=(5,), seed=0)
    with pytest.raises(ValueError, match=r"w\.snn: member 'layers/0/params/kernel\.npy' holds an array of shape "
                                         r"\(5, 6\) float32, the model expects shape \(5, 7\) float32"):
        wider.load_weights(tmp_path / "w.snn")
    with pytest.raises(ValueError, match=r"shape \(5, 6\) float32, the model expects shape \(5, 6\) float64"):
        make_model(dtype="float64").load_weights(tmp_path / "w.snn")
    other = snn.Sequential([layers.Dense(6), layers.Tanh(), layers.Dense(3, use_bias=False)], input_shape=(5,))
    with pytest.raises(ValueError, match=r"layer 2 \(Dense 'dense(_\d+)?'\) has params \['kernel'\], "
                                         r"the file has \['bias', "
                                         r"'kernel'\]"):
        other.load_weights(tmp_path / "w.snn")
    shorter = snn.Sequential([layers.Dense(6)], input_shape=(5,))
    with pytest.raises(ValueError, match=r"the file has weights for 2 layers, the model has 1"):
        shorter.load_weights(tmp_path / "w.snn")


def test_failed_load_weights_leaves_the_model_untouched(tmp_path):
    source = make_model(seed=1)
    source.save_weights(tmp_path / "w.snn")
    rewrite(tmp_path / "w.snn", {"layers/2/params/bias.npy": npy_bytes(np.zeros(4, "float32"))})
    target = make_model(seed=2)
    before = target.get_weights()
    with pytest.raises(ValueError, match=r"bias\.npy' holds an array of shape \(4,\)"):
        target.load_weights(tmp_path / "w.snn")
    for now, then in zip(target.get_weights(), before):
        np.testing.assert_array_equal(now, then)


# ---- atomic writes ------------------------------------------------------------------------------
def test_a_failed_save_leaves_the_previous_file_and_no_temporary(saved, monkeypatch):
    model, path = saved
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["model.snn"]


def test_save_replaces_the_file_with_normal_permissions(saved):
    model, path = saved
    umask = os.umask(0)
    os.umask(umask)
    model.save(path)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~umask
    assert sorted(os.listdir(path.parent)) == ["model.snn"]


def test_save_into_a_stream_the_caller_owns(saved, tmp_path):
    model, _ = saved
    target = tmp_path / "streamed.snn"
    with saving.atomic_file(target) as stream:
        model.save(stream)
        saving.save_weights(model, io.BytesIO())
    x, _ = make_data()
    np.testing.assert_array_equal(snn.load_model(target).predict(x), model.predict(x))
    assert sorted(os.listdir(tmp_path)) == ["model.snn", "streamed.snn"]


# ---- the model class, found by name -------------------------------------------------------------
SAVING_FOLDER = pathlib.Path(saving.__file__).parent


def imported_modules(path):
    """Every module a source file imports, relative ones written with their leading dots."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names += [base] + [f"{base.rstrip('.')}.{alias.name}" if node.module else base + alias.name
                               for alias in node.names]
    return names


@pytest.mark.parametrize("module", sorted(p.name for p in SAVING_FOLDER.glob("*.py")))
def test_saving_never_imports_a_model_module(module):
    """Model classes come from registry.model_class, so saving has no model <-> saving import cycle."""
    names = imported_modules(SAVING_FOLDER / module)
    offending = [name for name in names if any(part in ("models", "model", "Sequential")
                                               for part in name.replace("..", ".").split("."))]
    assert offending == []


def test_the_file_names_its_model_class(saved):
    _, path = saved
    assert read_config(path)["model_class"] == "Sequential"


def test_a_file_without_a_model_class_loads_as_sequential(saved):
    model, path = saved
    config = read_config(path)
    del config["model_class"]
    rewrite(path, {"config.json": json.dumps(config)})
    loaded = snn.load_model(path)
    assert type(loaded) is snn.Sequential
    x, _ = make_data()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("value, message", [("Bogus", r"Unknown model type 'Bogus'; known models: \[.*'Sequential'"),
                                            (3, r"config\.json field 'model_class' should be a str, got int")])
def test_unknown_model_class(saved, value, message):
    _, path = saved
    config = read_config(path)
    config["model_class"] = value
    rewrite(path, {"config.json": json.dumps(config)})
    with pytest.raises(saving.ModelFileError, match=r"model\.snn: " + message):
        snn.load_model(path)


def test_import_scratchnn_does_not_import_onnx(tmp_path):
    """ONNX is an extra: its modules load only when an ONNX function is called, not to save or load a model."""
    script = ("import sys, numpy as np, scratchnn as snn\n"
              "from scratchnn import layers\n"
              "model = snn.Sequential([layers.Dense(2)], input_shape=(3,))\n"
              f"model.save({str(tmp_path / 'm.snn')!r})\n"
              f"snn.load_model({str(tmp_path / 'm.snn')!r})\n"
              "print(sorted(m for m in sys.modules if m.startswith(('onnx', 'scratchnn.saving.onnx'))))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_public_names():
    assert snn.load_model is saving.load_model and snn.load_model.__doc__
    for name in saving.__all__:
        assert callable(getattr(saving, name)) or isinstance(getattr(saving, name), type)
    assert issubclass(saving.ModelFileError, ValueError)
    assert saving.ModelFileError is snn_archive.ModelFileError


# ---- bad files ----------------------------------------------------------------------------------
def test_not_a_model_file(tmp_path):
    path = tmp_path / "notes.snn"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.snn: not a scratchnn model file \(not a complete zip archive"):
        snn.load_model(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.txt", "x")
    with pytest.raises(ValueError, match=r"notes\.snn: not a scratchnn model file \(no config\.json inside\)"):
        snn.load_model(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"format": "keras"}))
    with pytest.raises(ValueError, match=r"not a scratchnn model file \(config\.json has format 'keras'\)"):
        snn.load_model(path)


def test_missing_file_raises_an_oserror_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.snn"):
        snn.load_model(tmp_path / "nothing.snn")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_file(saved, keep):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"model\.snn: not a scratchnn model file \(not a complete zip archive"):
        snn.load_model(path)


def test_corrupted_member_fails_its_checksum(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("layers/0/params/kernel.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF       # a byte of the array's data
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"member 'layers/0/params/kernel\.npy' is not a valid array: "
                                         r"Bad CRC-32"):
        snn.load_model(path)


@pytest.mark.parametrize("version, message", [
    (2, r"written by a newer scratchnn \('0\.1\.0', format version 2\); this scratchnn 0\.1\.0 reads format "
        r"version 1: upgrade"),
    (0, r"invalid format_version 0"), ("1", r"invalid format_version '1'")])
def test_wrong_or_future_format_version(saved, version, message):
    _, path = saved
    config = read_config(path)
    config["format_version"] = version
    rewrite(path, {"config.json": json.dumps(config)})
    with pytest.raises(ValueError, match=r"model\.snn: " + message):
        snn.load_model(path)


def test_weights_file_and_model_file_are_not_confused(saved, tmp_path):
    model, path = saved
    model.save_weights(tmp_path / "w.snn")
    with pytest.raises(ValueError, match=r"expected a scratchnn-model file, got a scratchnn-weights file: use "
                                         r"model\.load_weights\(path\)"):
        snn.load_model(tmp_path / "w.snn")
    target = make_model(seed=5)
    target.load_weights(path)
    np.testing.assert_array_equal(target.get_weights()[0], model.get_weights()[0])


def test_unknown_layer_type(saved):
    _, path = saved
    config = read_config(path)
    config["model"]["layers"][1]["class_name"] = "Bogus"
    rewrite(path, {"config.json": json.dumps(config)})
    with pytest.raises(ValueError, match=r"model\.snn: the architecture in config\.json cannot be rebuilt: "
                                         r"Unknown layer type 'Bogus'"):
        snn.load_model(path)


def test_bad_layer_arguments(saved):
    _, path = saved
    config = read_config(path)
    config["model"]["layers"][0]["config"]["units"] = -3
    rewrite(path, {"config.json": json.dumps(config)})
    with pytest.raises(ValueError, match=r"cannot be rebuilt: Dense: units must be a positive integer, got -3"):
        snn.load_model(path)


def test_an_architecture_too_large_to_allocate(saved):
    _, path = saved
    config = read_config(path)
    config["model"]["layers"][0]["config"]["units"] = 10 ** 13
    rewrite(path, {"config.json": json.dumps(config)})
    with pytest.raises(ValueError, match=r"model\.snn: member 'layers/0/params/kernel\.npy' holds \d+ bytes, the "
                                         r"architecture needs 200,000,000,000,000 there"):     # found on a plan
        snn.load_model(path)


def test_invalid_json(saved):
    _, path = saved
    rewrite(path, {"config.json": b"{not json"})
    with pytest.raises(ValueError, match=r"model\.snn: cannot read config\.json: Expecting property name"):
        snn.load_model(path)


@pytest.mark.parametrize("array, message", [
    (np.zeros((6, 5), "float32"), r"holds an array of shape \(6, 5\) float32, the model expects shape \(5, 6\) "
                                  r"float32"),
    (np.zeros((5, 6), "float64"), r"holds an array of shape \(5, 6\) float64, the model expects shape \(5, 6\) "
                                  r"float32"),
    (np.zeros((5, 6), ">f4"), r"holds an array of shape \(5, 6\) >f4, the model expects"),
    (np.zeros(30, "float32"), r"holds an array of shape \(30,\) float32")])
def test_weight_not_matching_the_config(saved, array, message):
    _, path = saved
    rewrite(path, {"layers/0/params/kernel.npy": npy_bytes(array)})
    with pytest.raises(ValueError, match=r"model\.snn: member 'layers/0/params/kernel\.npy' " + message):
        snn.load_model(path)


def test_missing_weight_member(saved):
    _, path = saved
    rewrite(path, drop=["layers/2/params/bias.npy"])
    with pytest.raises(ValueError, match=r"member 'layers/2/params/bias\.npy' is missing"):
        snn.load_model(path)


def test_object_array_is_refused(saved):
    _, path = saved
    objects = np.empty((5, 6), dtype=object)
    rewrite(path, {"layers/0/params/kernel.npy": npy_bytes(objects, allow_pickle=True)})
    with pytest.raises(ValueError, match=r"kernel\.npy' holds Python objects \(object\); refused, since reading "
                                         r"them would need pickle"):
        snn.load_model(path)


class Payload:
    """Unpickling this would call Payload.trigger: the test proves it never happens."""
    ran = False

    @staticmethod
    def trigger():
        Payload.ran = True

    def __reduce__(self):
        return (Payload.trigger, ())


def test_pickle_smuggled_into_a_member_never_runs(saved):
    _, path = saved
    for member in ("layers/0/params/kernel.npy", "config.json"):
        rewrite(path, {member: pickle.dumps(Payload())})
        with pytest.raises(ValueError, match=r"model\.snn: "):
            snn.load_model(path)
    assert Payload.ran is False


def test_pickle_smuggled_as_npy_payload_is_refused(saved):
    _, path = saved
    header = npy_bytes(np.zeros((5, 6), "float32"))[:128]
    rewrite(path, {"layers/0/params/kernel.npy": header + pickle.dumps(Payload())})
    with pytest.raises(ValueError, match=r"holds \d+ bytes of data, its shape \(5, 6\) float32 needs 120"):
        snn.load_model(path)
    assert Payload.ran is False


def test_zip_bomb_is_not_decompressed(saved):
    _, path = saved
    bomb = npy_bytes(np.zeros((5, 6), "float32")) + bytes(20 * 2 ** 20)
    rewrite(path, {"layers/0/params/kernel.npy": bomb}, compress={"layers/0/params/kernel.npy": zipfile.ZIP_DEFLATED})
    assert path.stat().st_size < 2 ** 20
    with pytest.raises(ValueError, match=r"kernel\.npy' declares 2097\d{4} bytes, more than the 120 bytes of its "
                                         r"shape \(5, 6\) float32 plus a header: refused"):
        snn.load_model(path)


def test_member_data_is_read_only_up_to_its_expected_size(saved, monkeypatch):
    """Even past the declared-size check (disabled here), no more than shape x itemsize + 1 bytes are read."""
    _, path = saved
    bomb = npy_bytes(np.zeros((5, 6), "float32")) + bytes(10 * 2 ** 20)
    rewrite(path, {"layers/0/params/kernel.npy": bomb}, compress={"layers/0/params/kernel.npy": zipfile.ZIP_DEFLATED})
    reads = []
    original = zipfile.ZipExtFile.read

    def recording_read(self, n=-1):
        reads.append(n)
        return original(self, n)

    monkeypatch.setattr(snn_archive, "MAX_NPY_HEADER_BYTES", 2 ** 40)
    monkeypatch.setattr(zipfile.ZipExtFile, "read", recording_read)
    with pytest.raises(ValueError, match=r"kernel\.npy' holds 121\+ bytes of data, its shape \(5, 6\) float32 "
                                         r"needs 120: refused"):
        snn.load_model(path)
    assert -1 not in reads and reads[-1] == 121


def test_bad_optimizer_slots_and_generator_state(saved):
    _, path = saved
    config = read_config(path)
    config["optimizer"]["slots"] = [{"m": {"shape": [10 ** 9], "dtype": "float32"}}] * 4
    rewrite(path, {"config.json": json.dumps(config)})
    with pytest.raises(ValueError, match=r"optimizer slot 0 'm' should have shape \(5, 6\) or \(\)"):
        snn.load_model(path)
    config = read_config(path)
    config["optimizer"]["slots"] = []
    config["layer_rng_states"] = {"7": config["rng_state"]}
    rewrite(path, {"config.json": json.dumps(config)})
    with pytest.raises(ValueError, match=r"layer_rng_states names layer '7', the model has 3 layers"):
        snn.load_model(path)
    config["layer_rng_states"] = {}
    config["rng_state"] = {"bit_generator": "os.system"}
    rewrite(path, {"config.json": json.dumps(config)})
    with pytest.raises(ValueError, match=r"rng_state should name one of \('PCG64'"):
        snn.load_model(path)


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.onnx", "m.pt"])
def test_a_model_file_name_of_another_format_is_refused_and_nothing_written(name, tmp_path):
    model = snn.Sequential([layers.Dense(2)], input_shape=(3,))
    with pytest.raises(ValueError, match=rf"save: '.*{name}' ends in '\.\w+', expected '\.snn': scratchnn writes"):
        model.save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    model.save(tmp_path / "m.SNN")                                     # the case of the suffix does not matter
    model.save(tmp_path / "m")                                         # nor does a name without one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "m.SNN"]
