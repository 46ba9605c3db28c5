"""Hardening: files that would exhaust memory, non-regular files, errors of the documented type naming the
file, 16-bit images, a diverged run, an all-or-nothing optimizer step, optimizer state ranges, the
atomic writer's temporaries and the MNIST download (issue 19). The memory attacks run in one child process
with an address-space limit, so a regression fails the test instead of taking the machine down."""
import gzip
import http.server
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import zipfile

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers, optim
from scratchnn.backend import kernels_cpu
from scratchnn.cli import main
from scratchnn.cli.inputs import read_image
from scratchnn.datasets import mnist, read_idx
from scratchnn.saving import ModelFileError, files

PIL = pytest.importorskip("PIL.Image")


def npy(array):
    stream = io.BytesIO()
    np.save(stream, array)
    return stream.getvalue()


def dense_file(path, units=20000):
    """A 1 KB model file whose config declares Dense units x units and whose arrays are 2 x 2."""
    config = {"format": "scratchnn-model", "format_version": 1, "model_class": "Sequential",
              "model": {"name": "m", "input_shape": [units], "dtype": "float32", "seed": None,
                        "layers": [{"class_name": "Dense", "config": {"name": "d", "units": units}}]},
              "compile": None, "optimizer": None, "rng_state": None,
              "weights": [{"index": 0, "class_name": "Dense", "name": "d",
                           "params": {"kernel": {"shape": [2, 2], "dtype": "float32"},
                                      "bias": {"shape": [2], "dtype": "float32"}}, "buffers": {}}]}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("layers/0/params/kernel.npy", npy(np.zeros((2, 2), np.float32)))
        archive.writestr("layers/0/params/bias.npy", npy(np.zeros(2, np.float32)))
    return path


def functional_dense_file(path, units=20000):
    """dense_file's attack in a functional Model's config (a Model is built as it is made from its config)."""
    x = snn.Input((2,), name="x")
    snn.Model(x, layers.Dense(2, name="d")(x)).save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["model"]["input_layers"][0]["shape"] = [units]
    config["model"]["layers"][0]["config"]["units"] = units
    members["config.json"] = json.dumps(config)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def wide_onnx(path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 30_000_000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(np.ones((2, 10), np.float32), "w"),
         numpy_helper.from_array(np.ones(10, np.float32), "b")])
    onnx.save(helper.make_model(graph), path)
    return path


CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2 ** 30, 3 * 2 ** 30))
    import numpy as np, scratchnn
    from scratchnn.cli import main
    from scratchnn.datasets import read_idx
    from scratchnn.saving import load_onnx
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    attacks = json.loads(sys.argv[1])
    calls = {"dense": lambda: scratchnn.load_model(attacks["dense"]),
        "functional": lambda: scratchnn.load_model(attacks["functional"]), "dev_zero": lambda: scratchnn.load_model(
        "/dev/zero"), "fifo": lambda: scratchnn.load_model(attacks["fifo"]), "onnx": lambda: load_onnx(
        attacks["onnx"]), "idx": lambda: read_idx(attacks["idx"]), "idx_huge": lambda: read_idx(attacks["idx_huge"]),
        "png": lambda: main(["predict", attacks["model"], attacks["png"]]),
        "npy": lambda: main(["predict", attacks["model"], attacks["npy"]])}
    outcome = {}
    for name, call in calls.items():
        try:
            outcome[name] = f"returned {call()!r:.40}"
        except BaseException as error:
            outcome[name] = f"{type(error).__name__}: {error}"
    outcome["peak_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps(outcome))
""")


def test_small_files_cannot_exhaust_memory(tmp_path):
    """Each attack is refused with the documented error before its declared size is allocated: all together
    they raise the child's peak RSS by less than 250 MB (before the fixes: 4.6 GB, 2.8 GB, 3 GB, 2.0 GB...)."""
    model = snn.Sequential([layers.Dense(10)], input_shape=(784,))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.save(tmp_path / "mlp.snn")
    PIL.new("L", (6000, 6000), 128).save(tmp_path / "big.png", compress_level=1)      # 36 M pixels
    os.mkfifo(tmp_path / "fifo.snn")
    with gzip.open(tmp_path / "idx.gz", "wb", compresslevel=1) as stream:    # declares 3 bytes, holds 8 MB
        stream.write(bytes([0, 0, 8, 1, 0, 0, 0, 3]) + bytes(8 * 2 ** 20))
    (tmp_path / "huge-idx").write_bytes(bytes([0, 0, 8, 2, 255, 255, 255, 255, 255, 255, 255, 255]))
    header = npy(np.zeros(3, np.float32)).replace(b"(3,)", b"(3000000000,)".ljust(4))
    (tmp_path / "x.npy").write_bytes(header)
    attacks = {"dense": str(dense_file(tmp_path / "dense.snn")),
               "functional": str(functional_dense_file(tmp_path / "functional.snn")),
               "fifo": str(tmp_path / "fifo.snn"),
               "onnx": str(wide_onnx(tmp_path / "wide.onnx")), "idx": str(tmp_path / "idx.gz"),
               "idx_huge": str(tmp_path / "huge-idx"), "model": str(tmp_path / "mlp.snn"),
               "png": str(tmp_path / "big.png"), "npy": str(tmp_path / "x.npy")}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(attacks)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["dense"].startswith(f"ModelFileError: {attacks['dense']}: member 'layers/0/params/kernel.npy' "
                                       "holds 144 bytes, the architecture needs 1,600,000,000")
    assert outcome["functional"].startswith(f"ModelFileError: {attacks['functional']}: member "
                                            "'layers/0/params/kernel.npy' holds 144 bytes, the architecture needs "
                                            "1,600,000,000")
    assert outcome["dev_zero"] == ("ModelFileError: /dev/zero: not a regular file (a device); a model file must be "
                                   "a regular file")
    assert outcome["fifo"].startswith(f"ModelFileError: {attacks['fifo']}: not a regular file")
    assert outcome["onnx"].startswith(f"ValueError: {attacks['onnx']}: cannot import: MatMul node")
    assert "a kernel of 2 rows for an input of 30000000 features" in outcome["onnx"]
    assert outcome["idx"].startswith(f"ValueError: {attacks['idx']}: at least 65536 extra bytes at the end")
    assert outcome["idx_huge"].startswith(f"ValueError: {attacks['idx_huge']}: the header declares a uint8 array")
    assert outcome["png"] == "returned 1" and outcome["npy"] == "returned 1"          # exit status 1: refused
    assert outcome["peak_mb"] < 250, outcome


def test_refusals_reach_the_cli_as_one_line_naming_the_file(tmp_path, capsys):
    model = snn.Sequential([layers.Dense(10)], input_shape=(784,))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.save(tmp_path / "mlp.snn")
    PIL.new("L", (6000, 6000), 0).save(tmp_path / "big.png")
    (tmp_path / "wide.csv").write_text("1," + "2" * 200_000 + "\n")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4'}   \n")
    (tmp_path / "huge.csv").write_text(",".join(["1e39"] + ["0"] * 783) + "\n")
    for name, expected in (("big.png", "the image has 6000 x 6000 pixels, more than the 33,554,432 read"),
                           ("huge.csv", "holds 1e+39, beyond the model's float32 range"),
                           ("wide.csv", "cannot read it (field larger than field limit"),
                           ("bad.npy", "not a readable .npy array")):
        assert main(["predict", str(tmp_path / "mlp.snn"), str(tmp_path / name)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"scratchnn predict: error: {tmp_path / name}: ") and expected in err, err
        assert "internal error" not in err and len(err.splitlines()) == 1


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "grey16.png"
    PIL.fromarray(np.full((28, 28), 128 * 257, np.uint16)).save(path)
    assert PIL.open(path).mode == "I;16"
    pixels = read_image(path, (28, 28, 1), invert="no")
    np.testing.assert_allclose(pixels, 128, rtol=0, atol=1e-4)                             # mid-grey, not 255


# ---- load_model: every error a ModelFileError naming the file ----------------------------------------------
@pytest.fixture
def saved(tmp_path):
    model = snn.Sequential([layers.Dense(3)], input_shape=(2,), seed=0)
    model.compile(loss="mse", optimizer="adam")
    model.fit(np.ones((4, 2)), np.ones((4, 3)), epochs=1, verbose=0)
    model.save(tmp_path / "base.snn")
    return tmp_path / "base.snn"


def rewritten(path, edit, compress=None):
    source = zipfile.ZipFile(path)
    config = json.loads(source.read("config.json"))
    edit(config)
    target = path.with_name("edited.snn")
    with zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            data = json.dumps(config) if info.filename == "config.json" else source.read(info.filename)
            out.writestr(info.filename, data, compress_type=(compress or {}).get(info.filename, zipfile.ZIP_STORED))
    return target


def _set(*keys_and_value):
    *keys, last, value = keys_and_value

    def edit(config):
        for key in keys:
            config = config[key]
        config[last] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set("optimizer", "state", "iterations", -5), "iterations must be a non-negative integer, got -5"),
    (_set("optimizer", "state", "iterations", float("inf")), "iterations must be a non-negative integer"),
    (_set("optimizer", "config", "learning_rate", float("inf")), "learning_rate must be a positive number"),
    (_set("model", "input_shape", [float("inf")]), "cannot convert float infinity to integer"),
    (_set("model", "layers", 0, "config", "name", [1]), "unhashable type: 'list'"),
    (_set("optimizer", "slots", 0, "m", "shape", 5), "TypeError"),
    (_set("optimizer", "slots", 0, "m", "shape", [2.0, 3]), "TypeError"),
    (_set("rng_state", "state", "state", 10 ** 80), "OverflowError"),
    (_set("weights", 0, "name", {"a": 1}), "unhashable type"),
])
def test_malformed_configs_raise_model_file_errors_naming_the_file(saved, edit, message):
    path = rewritten(saved, edit)
    with pytest.raises(ModelFileError, match=message) as info:
        snn.load_model(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("method", [zipfile.ZIP_LZMA, zipfile.ZIP_BZIP2])
def test_corrupt_lzma_and_bz2_members_raise_model_file_errors(saved, method):
    path = rewritten(saved, lambda config: None, compress={"layers/0/params/kernel.npy": method})
    data = bytearray(path.read_bytes())
    start = data.index(b"layers/0/params/kernel.npy") + len("layers/0/params/kernel.npy")
    data[start + 8:start + 24] = bytes(16)                          # garble the member's compressed stream
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as info:
        snn.load_model(path)
    assert str(info.value).startswith(f"{path}: ")


def test_a_zip_of_an_unsupported_version_raises_a_model_file_error(saved):
    data = bytearray(saved.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 6:central + 8] = (99).to_bytes(2, "little")               # "needs zip version 9.9"
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=str(saved)):
        snn.load_model(saved)


def test_a_missing_file_keeps_its_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        snn.load_model(tmp_path / "none.snn")


# ---- the IDX reader -----------------------------------------------------------------------------------
def test_idx_corrupt_gzip_stream_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "labels.gz"
    data = bytearray(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 200]) + bytes(range(200))))
    data[12:20] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{path}: not a valid gzip file"):
        read_idx(path)


def test_idx_reader_refuses_non_regular_files(tmp_path):
    """In a child with a memory and a time limit: before the fix /dev/zero filled memory and a FIFO hung."""
    os.mkfifo(tmp_path / "fifo")
    code = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 ** 31, 2 ** 31))
        from scratchnn.datasets import read_idx
        for path in ("/dev/zero", {str(tmp_path / "fifo")!r}, {str(tmp_path)!r}):
            try:
                read_idx(path)
            except ValueError as error:
                print(error)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.splitlines() == [
        "/dev/zero: not a regular file (a device); an IDX file must be a regular file",
        f"{tmp_path / 'fifo'}: not a regular file (a FIFO); an IDX file must be a regular file",
        f"{tmp_path}: not a regular file (a folder); an IDX file must be a regular file"], done.stderr[-1000:]


# ---- a diverged run ------------------------------------------------------------------------------------
def test_a_step_that_makes_weights_non_finite_is_rolled_back(rng):
    model = snn.Sequential([layers.Dense(4), layers.Dense(2)], input_shape=(3,), seed=0)
    model.compile(loss="mse", optimizer=optim.Adam(learning_rate=1e38))
    before = model.get_weights()
    with pytest.warns(RuntimeWarning, match="rolled back"):
        history = model.fit(rng.standard_normal((16, 3)), rng.standard_normal((16, 2)), epochs=3, verbose=0)
    assert history.diverged and "made weights NaN or infinite: it was rolled back" in history.stopped_reason
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert model.optimizer.iterations == 0 and all(np.isfinite(a).all() for s in model.optimizer.slots
                                                   for a in s.values())


def test_a_non_finite_model_is_never_written(tmp_path):
    model = snn.Sequential([layers.Dense(2)], input_shape=(3,))
    model.layers[0].params["kernel"][0, 0] = np.nan
    with pytest.raises(ValueError, match="refusing to write layers/0/params/kernel: 1 of its 6 values are NaN"):
        model.save(tmp_path / "nan.snn")
    assert list(tmp_path.iterdir()) == []


def test_train_exits_non_zero_on_divergence_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "nan.snn"
    status = main(["train", "--data", "digits", "--limit", "200", "--model", "mlp", "--epochs", "2", "--optimizer",
                   "adam", "--lr", "1e38", "--out", str(out), "--verbose", "0"])
    err = capsys.readouterr().err
    assert status == 1 and not out.exists()
    assert err.startswith("scratchnn train: error: training diverged: ") and f"nothing written to {out}" in err


# ---- the optimizer step is all or nothing ------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_an_interrupted_step_changes_nothing(name, rng):
    """The staged reference, interrupted inside ``update`` (SGD's in-place BLAS path, which finishes an
    interrupted step instead, is tested in test_optim_fast.py)."""
    params = [rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((4, 2))]
    grads = [rng.standard_normal(p.shape) for p in params]
    optimizer = optim.OPTIMIZERS[name](learning_rate=0.1)
    optimizer.step(list(zip(params, grads)))
    state = optimizer.state_dict()
    before = [p.copy() for p in params]
    calls = []
    original = type(optimizer).update

    def interrupted_update(self, param, grad, slots, lr, scratch):
        calls.append(1)
        if len(calls) == 2:                                    # after the first parameter was stepped
            raise KeyboardInterrupt
        original(self, param, grad, slots, lr, scratch)

    optimizer.update = interrupted_update.__get__(optimizer)
    with pytest.raises(KeyboardInterrupt), kernels_cpu.disabled("sgd"):
        optimizer.step(list(zip(params, grads)))
    for old, new in zip(before, params):
        np.testing.assert_array_equal(old, new)
    after = optimizer.state_dict()
    assert after["iterations"] == state["iterations"] and not optimizer.stepping
    for old, new in zip(state["slots"], after["slots"]):
        for key in old:
            np.testing.assert_array_equal(old[key], new[key])


def test_a_second_ctrl_c_during_the_step_waits_for_its_end(rng):
    """fit's handler, called as a second Ctrl-C while the optimizer steps, does not raise inside the step."""
    from scratchnn.models.trainer import _StopOnSigint
    optimizer = optim.Adam()
    guard = _StopOnSigint(optimizer)
    guard.hit = True
    optimizer.stepping = True
    guard._handle(2, None)                                      # deferred: no KeyboardInterrupt here
    optimizer.stepping = False
    with pytest.raises(KeyboardInterrupt):
        guard._handle(2, None)


def test_nadam_state_must_be_finite():
    optimizer = optim.Nadam()
    with pytest.raises(ValueError, match="mu_product"):
        optimizer.load_state_dict({"iterations": 1, "slots": [], "mu_product": float("inf")})


# ---- the atomic writer's temporaries ---------------------------------------------------------------------
def test_one_temporary_per_write_and_stale_ones_removed(tmp_path):
    target = tmp_path / "model.snn"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".model.snn.{int(dead.stdout)}-abc_123.tmp"
    stale.write_bytes(b"partial")
    other = tmp_path / f".other.snn.{int(dead.stdout)}-abc_123.tmp"          # another target's: left alone
    other.write_bytes(b"partial")
    alive = tmp_path / f".model.snn.{os.getppid()}-xyz.tmp"                  # a writer that still runs
    alive.write_bytes(b"writing")
    seen = []
    with files.atomic_file(target) as stream:
        seen = sorted(p.name for p in tmp_path.iterdir())
        stream.write(b"new")
    temporaries = [name for name in seen if name.startswith(".model.snn.") and name != alive.name]
    assert len(temporaries) == 1 and str(os.getpid()) in temporaries[0]
    assert not stale.exists() and other.exists() and alive.exists() and target.read_bytes() == b"new"


# ---- the MNIST download ---------------------------------------------------------------------------------
class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve(behaviour):
    """A local server whose GET does behaviour(handler); returns (base url, server)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            behaviour(self)

        def log_message(self, *args):
            pass
    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def test_download_survives_a_cut_off_mirror_and_caps_the_size(tmp_path, monkeypatch):
    import hashlib
    import time
    payload = b"the real file"

    def cut_off(handler):                         # announces 1000 bytes, sends 10, closes: IncompleteRead
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"x" * 10)

    def endless(handler):
        handler.send_response(200)
        handler.end_headers()
        try:
            while True:
                handler.wfile.write(bytes(2 ** 16))
        except OSError:                           # the client gave up
            pass

    def dripping(handler):
        handler.send_response(200)
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    def good(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    servers = [serve(behaviour) for behaviour in (cut_off, endless, dripping, good)]
    monkeypatch.setattr(mnist, "MAX_DOWNLOAD_BYTES", 2 ** 20)
    monkeypatch.setattr(mnist, "DOWNLOAD_DEADLINE_S", 1.5)
    try:
        start = time.monotonic()
        path = mnist._download("f.gz", tmp_path, [url for url, _ in servers], hashlib.sha256(payload).hexdigest())
        assert time.monotonic() - start < 20
        assert path.read_bytes() == payload
        with pytest.raises(ConnectionError) as info:
            mnist._download("f.gz", tmp_path, [url for url, _ in servers[:3]], "0" * 64)
    finally:
        for _, server in servers:
            server.shutdown()
    message = str(info.value)
    assert "IncompleteRead" in message and "more than 1,048,576 bytes" in message and "not complete after 1.5 s" \
        in message
