"""Devices without a GPU: a test-only device backed by the strict namespace (tests/strict_namespace.py).

The "strict" device keeps every array as a StrictArray, which raises on any direct NumPy function call, so a
whole fit / evaluate / predict / save / load through it fails wherever the training path (the trainer, the
losses, the optimizers, the regularizers, the tape) names NumPy instead of the arrays' namespace, as it would
on CuPy. Each model is trained twice from one seed, on NumPy and on the strict device; in float64 the losses,
metrics, predictions and weights agree to 1e-12 (the reference runs the layers' reference code, as the strict
device does: the fast NumPy kernels must never run there).

With SCRATCHNN_TEST_DEVICE=cupy (tools/gpu_check.sh, on a machine with a GPU) the same trainings also run
on the "gpu" device (CuPy), where float64 results agree to 1e-10 (cuBLAS rounds differently from OpenBLAS).
"""
import math
import os

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import backend, layers, optim
from scratchnn.backend import kernels_cpu

from harness import counting_kernels
from strict_namespace import StrictArray, as_strict, strict, to_plain

EXACT = 1e-12
ON_GPU = os.environ.get("SCRATCHNN_TEST_DEVICE") == "cupy"
DEVICES = {"strict": EXACT, **({"gpu": 1e-10} if ON_GPU else {})}          # device -> tolerance


def array_type(device):
    if device == "gpu":
        import cupy
        return cupy.ndarray
    return StrictArray


@pytest.fixture(scope="module", autouse=True)
def strict_device():
    device = backend.register_device(backend.Device("strict", strict, asarray=as_strict, to_numpy=to_plain))
    yield device
    backend.unregister_device("strict")


def mlp(seed=0):
    model = snn.Sequential([layers.Dense(16, activation="relu"), layers.Dropout(0.25), layers.Dense(3)],
                           input_shape=(6,), seed=seed, dtype="float64")
    model.compile(loss="categorical_crossentropy", from_logits=True, metrics=["accuracy"],
                  optimizer=optim.Adam(1e-2, clipnorm=1.0))
    return model


def cnn(seed=0):
    model = snn.Sequential([layers.Conv2D(4, 3, activation="relu", kernel_regularizer="l2"),
                            layers.BatchNormalization(), layers.MaxPooling2D(2), layers.Flatten(),
                            layers.Dense(3)], input_shape=(8, 8, 2), seed=seed, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, metrics=["accuracy"],
                  optimizer=optim.SGD(0.05, momentum=0.9))
    return model


def lstm(seed=0):
    model = snn.Sequential([layers.LSTM(8), layers.Dense(3)], input_shape=(5, 6), seed=seed, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, metrics=["accuracy"],
                  optimizer=optim.RMSprop(1e-2))
    return model


def resnet(seed=0):
    x = snn.Input(shape=(8, 8, 2))
    h = layers.Conv2D(4, 3, padding="same")(x)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    block = layers.BatchNormalization()(layers.Conv2D(4, 3, padding="same")(layers.ReLU()(h)))
    h = layers.ReLU()(layers.Add()([h, block]))
    y = layers.Dense(3)(layers.GlobalAveragePooling2D()(h))
    model = snn.Model(x, y, seed=seed, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, metrics=["accuracy"],
                  optimizer=optim.AdamW(1e-2, weight_decay=1e-3))
    return model


def data(shape, seed=1, n=40):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)), rng.integers(0, 3, n)


MODELS = {"mlp": (mlp, (6,)), "cnn": (cnn, (8, 8, 2)), "lstm": (lstm, (5, 6)), "resnet": (resnet, (8, 8, 2))}


def run(model, x, y, tmp_path, label):
    """fit (with validation), evaluate, predict and a save/load round trip -> the numbers to compare."""
    history = model.fit(x[:32], y[:32], epochs=2, batch_size=8, validation_data=(x[32:], y[32:]), verbose=0)
    evaluated = model.evaluate(x, y, batch_size=16)
    predicted = model.predict(x, batch_size=16)
    path = tmp_path / f"{label}.snn"
    model.save(path)
    loaded = snn.load_model(path)
    return {"history": history.history, "evaluate": evaluated, "predict": predicted,
            "weights": model.get_weights(), "loaded": loaded, "x": x}


def assert_close(tolerance, actual, expected, what):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    error = float(np.abs(actual - expected).max()) / scale if expected.size else 0.0
    assert error <= tolerance, f"{what}: differs by {error:.2e} (relative to {scale:.3g})"


@pytest.mark.parametrize("device", list(DEVICES))
@pytest.mark.parametrize("name", list(MODELS))
def test_training_on_a_device_matches_numpy(name, device, tmp_path):
    build, shape = MODELS[name]
    x, y = data(shape)
    on_device, tolerance = array_type(device), DEVICES[device]
    with kernels_cpu.disabled():                               # the reference code the device runs
        expected = run(build(), x, y, tmp_path, "numpy")
    model = build().to(device)
    assert model.device.name == device
    assert all(isinstance(a, on_device) for layer in model.layers for a in layer.params.values())
    with counting_kernels() as calls:
        got = run(model, x, y, tmp_path, device)
    assert calls == [], f"fast CPU kernels ran on the {device} device: {sorted(set(calls))}"
    for key, values in expected["history"].items():
        assert_close(tolerance, got["history"][key], values, f"{name}: history {key!r}")
    assert set(got["evaluate"]) == set(expected["evaluate"])
    for key, value in expected["evaluate"].items():
        assert type(got["evaluate"][key]) is float, f"evaluate()[{key!r}] is a {type(got['evaluate'][key])}"
        assert_close(tolerance, got["evaluate"][key], value, f"{name}: evaluate {key!r}")
    assert type(got["predict"]) is np.ndarray, "predict() returns NumPy by default"
    assert_close(tolerance, got["predict"], expected["predict"], f"{name}: predict")
    for i, (a, b) in enumerate(zip(got["weights"], expected["weights"])):
        assert type(a) is np.ndarray, "get_weights() returns host copies"
        assert_close(tolerance, a, b, f"{name}: weight {i} after training")
    # the trained arrays and the optimizer's state stayed on the device
    assert all(isinstance(a, on_device) for layer in model.layers for a in (*layer.params.values(),
                                                                             *layer.buffers.values()))
    assert all(isinstance(a, on_device) for slots in model.optimizer.slots for a in slots.values())
    # the model file is portable: it loads as a CPU (NumPy) model that can be moved
    loaded = got["loaded"]
    assert loaded.device.name == "cpu"
    assert all(type(a) is np.ndarray for layer in loaded.layers for a in layer.params.values())
    assert_close(tolerance, loaded.predict(x), expected["predict"], f"{name}: the loaded model's predictions")
    assert_close(tolerance, loaded.to(device).predict(x), expected["predict"], f"{name}: loaded, then moved")


def test_predict_can_stay_on_the_device_and_moving_back_gives_numpy():
    model = mlp().to("strict")
    x, _ = data((6,))
    on_device = model.predict(x, to_numpy=False)
    assert isinstance(on_device, StrictArray)
    host = model.predict(x)
    assert type(host) is np.ndarray and np.array_equal(to_plain(on_device), host)
    assert model.to("cpu") is model and model.device.name == "cpu"
    assert all(type(a) is np.ndarray for layer in model.layers for a in (*layer.params.values(),
                                                                         *layer.grads.values()))
    assert np.array_equal(model.predict(x), host)


def test_moving_mid_training_moves_the_optimizer_state(tmp_path):
    """Half the epochs on NumPy, the rest on the device: the same numbers as all of them on NumPy."""
    x, y = data((8, 8, 2))
    with kernels_cpu.disabled():
        whole = cnn()
        whole.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        split = cnn()
        split.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    split.to("strict")
    assert all(isinstance(a, StrictArray) for slots in split.optimizer.slots for a in slots.values())
    assert all(isinstance(a, StrictArray) for a in split.optimizer._scratch)
    split.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(split.get_weights(), whole.get_weights()):
        assert_close(EXACT, a, b, "weights after moving between epochs")


def test_device_at_construction_and_the_default_device():
    model = snn.Sequential([layers.Dense(2)], input_shape=(3,), seed=0, device="strict")
    assert isinstance(model.layers[0].params["kernel"], StrictArray)
    lazy = snn.Sequential([layers.Dense(2)], seed=0, device="strict")           # built on its first batch
    assert isinstance(lazy.predict(np.ones((4, 3)), to_numpy=False), StrictArray)
    assert isinstance(lazy.layers[0].params["kernel"], StrictArray)
    x = snn.Input(shape=(3,))
    functional = snn.Model(x, layers.Dense(2)(x), device="strict")
    assert isinstance(functional.layers[0].params["kernel"], StrictArray)
    try:
        assert backend.use("strict").name == "strict"
        assert snn.Sequential([layers.Dense(2)], input_shape=(3,)).device.name == "strict"
    finally:
        backend.use("numpy")
    assert backend.default_device().name == "cpu"
    assert snn.Sequential([layers.Dense(2)], input_shape=(3,)).device.name == "cpu"


def test_shared_arrays_stay_shared_when_moved():
    """A wrapper's params are its inner layer's arrays: after a move they are still one array each."""
    model = snn.Sequential([layers.Bidirectional(layers.LSTM(3)), layers.Dense(2)], input_shape=(4, 5),
                           seed=0, dtype="float64").to("strict")
    wrapper = model.layers[0]
    inner = wrapper.inner["forward_"]
    assert wrapper.params["forward_kernel"] is inner.params["kernel"]
    assert isinstance(inner.params["kernel"], StrictArray)


def test_the_gpu_without_cupy_or_a_device_is_one_clear_line(monkeypatch):
    from scratchnn.backend import device as device_module
    monkeypatch.setattr(device_module, "_DEVICES", {k: v for k, v in device_module._DEVICES.items() if k != "gpu"})
    try:
        import cupy  # noqa: F401
        has_cupy = True
    except ImportError:
        has_cupy = False
    if has_cupy:
        pytest.skip("CuPy is installed here: the GPU check runs in tools/gpu_check.sh")
    with pytest.raises(backend.GPUUnavailableError) as error:
        snn.Sequential([layers.Dense(2)], input_shape=(3,), device="gpu")
    message = str(error.value)
    assert "\n" not in message and "pip install 'scratchnn[gpu]'" in message, message
    with pytest.raises(backend.GPUUnavailableError):
        backend.use("cupy")
    assert backend.default_device().name == "cpu", "a failed use() changes nothing"
    assert backend.available_devices() == ["cpu", "strict"]


def test_no_cuda_device_is_named(monkeypatch):
    """CuPy present but no device: the message says so (a stand-in cupy module reports 0 devices)."""
    import sys
    import types
    from scratchnn.backend import device as device_module
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 0)
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=runtime)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(device_module, "_DEVICES", {k: v for k, v in device_module._DEVICES.items() if k != "gpu"})
    with pytest.raises(backend.GPUUnavailableError,
                       match=r"^no CUDA device found: cupy\.cuda\.runtime\.getDeviceCount\(\) == 0$"):
        backend.get_device("gpu")


def test_device_names_are_checked(strict_device):
    model = snn.Sequential([layers.Dense(2)], input_shape=(3,))
    assert model.to(strict_device).device is strict_device                  # the registered Device itself
    with pytest.raises(ValueError, match="is not the device registered as 'strict'"):
        model.to(backend.Device("strict", strict))
    with pytest.raises(ValueError, match="unknown device 'tpu'; the devices are"):
        snn.Sequential([layers.Dense(2)], input_shape=(3,), device="tpu")
    with pytest.raises(TypeError, match="device must be a name"):
        backend.get_device(3)
    with pytest.raises(ValueError, match="already registered"):
        backend.register_device(backend.Device("cpu", np))
    assert math.isclose(backend.get_device("numpy").asarray(np.float64(2.0)), 2.0)


def test_the_gpu_benchmark_stops_with_one_line_without_cupy():
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here: tools/gpu_check.sh runs the benchmark")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == ("benchmarks/gpu.py: device='gpu' needs the cupy-cuda12x package: "
                           "pip install 'scratchnn[gpu]'\n")
