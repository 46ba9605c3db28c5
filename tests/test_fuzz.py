"""Property-based fuzzing (hypothesis, fixed seed and budget) of everything that reads a file a user hands us:
load_model, the IDX reader, the ONNX importer and the CLI's input readers (issue 19).

Property: every input loads, or raises the documented error (ModelFileError / ValueError / CommandError)
whose message starts with the file's path, within a time bound and with at most MEMORY_BOUND bytes
allocated at once (tracemalloc, which sees NumPy's allocations; for images, the resident peak). The budget
per target is small here; ``tools/fuzz.py`` runs the same properties longer (SCRATCHNN_FUZZ_EXAMPLES)."""
import gzip
import io
import json
import os
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers
from scratchnn.cli import inputs
from scratchnn.cli.common import CommandError
from scratchnn.cli.inputs import read_inputs
from scratchnn.datasets import read_idx
from scratchnn.saving import ModelFileError

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("SCRATCHNN_FUZZ_EXAMPLES", "40"))
MEMORY_BOUND = 64 * 2 ** 20                   # bytes allocated at once while reading one fuzzed file
TIME_BOUND = 10.0                             # seconds for one file
FUZZ = settings(max_examples=EXAMPLES, derandomize=not os.environ.get("SCRATCHNN_FUZZ_RANDOM"), deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


def resident_peak():
    """This process's peak resident memory (VmHWM) in bytes."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) * 1024


def holds(path, read, documented, memory_bound=MEMORY_BOUND):
    """read() loads, or raises `documented` naming path, within the time and memory bounds (memory_bound=None:
    the bound is on the resident peak instead of the bytes allocated)."""
    resident = resident_peak()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        read()
    except documented as error:
        assert str(error).startswith(str(path)), f"{type(error).__name__} without the file name: {error}"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - start < TIME_BOUND
    if memory_bound is None:
        grown = resident_peak() - resident
        assert grown < MEMORY_BOUND, f"the resident peak grew by {grown / 2 ** 20:.0f} MB while reading {path}"
    else:
        assert peak < memory_bound, f"{peak / 2 ** 20:.0f} MB allocated while reading {path}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def model_file(folder):
    model = snn.Sequential([layers.Conv2D(2, 3), layers.BatchNormalization(), layers.Flatten(), layers.Dense(3)],
                           input_shape=(6, 6, 1), seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(np.ones((4, 6, 6, 1), np.float32), np.arange(4) % 3, epochs=1, verbose=0)
    model.save(folder / "base.snn")
    return folder / "base.snn"


def json_values():
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True),
                        st.text(max_size=8))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                        max_leaves=8)


def replace_somewhere(config, path_choices, value):
    """config with the value at a path picked by path_choices (a list of ints) replaced by value."""
    node = config
    for choice in path_choices:
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) \
            if isinstance(node, list) else []
        if not children:
            break
        key, child = children[choice % len(children)]
        if not isinstance(child, (dict, list)) or choice % 3 == 0:
            node[key] = value
            return config
        node = child
    return config


@FUZZ
@given(data=st.data())
def test_load_model(model_file, folder, data):
    source = zipfile.ZipFile(model_file)
    members = {info.filename: source.read(info.filename) for info in source.infolist()}
    if data.draw(st.booleans(), label="edit the config"):
        config = json.loads(members["config.json"])
        config = replace_somewhere(config, data.draw(st.lists(st.integers(0, 50), min_size=1, max_size=8)),
                                   data.draw(json_values()))
        members["config.json"] = json.dumps(config)
        stream = io.BytesIO()
        with zipfile.ZipFile(stream, "w") as out:
            for name, content in members.items():
                out.writestr(name, content)
        raw = bytearray(stream.getvalue())
    else:
        raw = bytearray(model_file.read_bytes())
        for position, value in data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)),
                                                  min_size=1, max_size=6)):
            raw[position] = value
        raw = raw[:data.draw(st.integers(len(raw) // 2, len(raw)))]
    path = folder / "fuzzed.snn"
    path.write_bytes(bytes(raw))
    holds(path, lambda: snn.load_model(path), ModelFileError)


@FUZZ
@given(code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF]), ndim=st.integers(0, 5),
       dims=st.lists(st.one_of(st.integers(0, 8), st.integers(0, 2 ** 32 - 1)), max_size=5),
       body=st.binary(max_size=300), compressed=st.booleans(), cut=st.integers(0, 40), magic=st.binary(max_size=2))
def test_read_idx(folder, code, ndim, dims, body, compressed, cut, magic):
    raw = (magic + b"\x00\x00")[:2] + bytes([code, ndim]) + np.asarray(dims, ">u4").tobytes() + body
    if compressed:
        raw = gzip.compress(raw)
        raw = raw[:len(raw) - cut] if cut < 20 else raw
    path = folder / ("fuzzed.gz" if compressed else "fuzzed")
    path.write_bytes(raw)
    holds(path, lambda: read_idx(path), ValueError)


@pytest.fixture(scope="module")
def onnx_bytes(folder):
    pytest.importorskip("onnx")
    from scratchnn.saving import export_onnx
    model = snn.Sequential([layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                            layers.Dense(3)], input_shape=(8, 8, 1), seed=0)
    return export_onnx(model, folder / "base.onnx").SerializeToString()


@FUZZ
@given(data=st.data())
def test_load_onnx(onnx_bytes, folder, data):
    import onnx
    from scratchnn.saving import load_onnx
    if data.draw(st.booleans(), label="edit the graph"):
        proto = onnx.load_model_from_string(onnx_bytes)
        graph = proto.graph
        dims = graph.input[0].type.tensor_type.shape.dim
        dims[data.draw(st.integers(0, len(dims) - 1))].dim_value = data.draw(st.integers(0, 2 ** 40))
        node = graph.node[data.draw(st.integers(0, len(graph.node) - 1))]
        if data.draw(st.booleans()):
            del node.attribute[:]
        if data.draw(st.booleans()) and len(node.input) > 1:
            node.input[data.draw(st.integers(0, len(node.input) - 1))] = data.draw(st.sampled_from(
                [n.output[0] for n in graph.node] + ["missing"]))
        graph.input[0].type.tensor_type.elem_type = data.draw(st.sampled_from([0, 1, 7, 11, 16]))
        raw = proto.SerializeToString()
    else:
        raw = bytearray(onnx_bytes)
        for position, value in data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)),
                                                  min_size=1, max_size=4)):
            raw[position] = value
        raw = bytes(raw)
    path = folder / "fuzzed.onnx"
    path.write_bytes(raw)
    holds(path, lambda: load_onnx(path), ValueError)


@pytest.fixture(scope="module")
def small_model():
    return snn.Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(4, 4, 1), seed=0)


def png_bytes():
    from PIL import Image
    stream = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(stream, "PNG")
    return stream.getvalue()


@FUZZ
@given(kind=st.sampled_from([".npy", ".csv", ".png"]), data=st.data())
def test_cli_input_readers(small_model, folder, kind, data, monkeypatch):
    monkeypatch.setattr(inputs, "MAX_IMAGE_PIXELS", 2 ** 20)       # the memory bound scales with this cap
    if kind == ".npy":
        header = data.draw(st.sampled_from(["{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
                                            "{'descr': '%s', 'fortran_order': False, 'shape': (16,), }",
                                            "%s"]))
        filler = data.draw(st.one_of(st.sampled_from(["16,", "1, 16", "3000000000,", "-1,", "<f8", "|O", "|V8"]),
                                     st.text(max_size=20)))
        text = (header % filler).ljust(118) + "\n"
        raw = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("utf-8", "replace") + \
            data.draw(st.binary(max_size=128))
    elif kind == ".csv":
        raw = data.draw(st.one_of(st.binary(max_size=200), st.lists(st.lists(st.one_of(
            st.floats(), st.text(max_size=5)), min_size=1, max_size=17), max_size=4).map(
            lambda rows: "\n".join(",".join(map(str, row)) for row in rows).encode("utf-8", "replace"))))
    else:
        raw = bytearray(png_bytes())
        for position, value in data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)),
                                                  max_size=4)):
            raw[position] = value
        raw = bytes(raw)
    path = folder / f"fuzzed{kind}"
    path.write_bytes(raw)
    # Pillow reads a PNG chunk into a buffer of the length the chunk declares (up to 2 GiB), shrunk to the bytes
    # the file holds: tracemalloc counts it, but only the file's bytes are ever touched, so images are held to a
    # bound on the resident peak
    bound = None if kind == ".png" else MEMORY_BOUND
    holds(path, lambda: read_inputs([str(path)], small_model, "auto"), CommandError, bound)
