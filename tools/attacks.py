"""The hostile inputs of the hardening issue, each run in a child process: peak RSS, seconds and outcome.

    .venv/bin/python tools/attacks.py                 # every attack against the installed scratchnn
    PYTHONPATH=/some/other/src .venv/bin/python tools/attacks.py dense_snn idx_gz

Each child gets an address-space limit (--limit-gb, default 6) and a time limit (--timeout, default 60 s)
so that an attack that would exhaust memory ends in a MemoryError instead of taking the machine down;
"outcome" is the exception the child saw (type and the start of its message) or "loaded".
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile

import numpy as np


def dense_snn(folder):
    """A 1.4 KB model file whose config declares Dense 20000 -> 20000 (and a manifest of a tiny kernel)."""
    config = {"format": "scratchnn-model", "format_version": 1, "model_class": "Sequential",
              "model": {"name": "m", "input_shape": [20000], "dtype": "float32", "seed": None,
                        "layers": [{"class_name": "Dense", "config": {"name": "d", "units": 20000}}]},
              "compile": None, "optimizer": None, "rng_state": None,
              "weights": [{"index": 0, "class_name": "Dense", "name": "d",
                           "params": {"kernel": {"shape": [2, 2], "dtype": "float32"},
                                      "bias": {"shape": [2], "dtype": "float32"}}, "buffers": {}}]}
    path = os.path.join(folder, "dense.snn")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        for member, shape in (("layers/0/params/kernel.npy", (2, 2)), ("layers/0/params/bias.npy", (2,))):
            stream = io.BytesIO()
            np.save(stream, np.zeros(shape, np.float32))
            archive.writestr(member, stream.getvalue())
    return path, f"import scratchnn; scratchnn.load_model({path!r})"


def onnx_input(folder):
    """An ONNX file of a MatMul by a 2x3 constant and an Add of a bias, on an input declared (N, 30,000,000)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 30_000_000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(np.ones((2, 3), np.float32), "w"),
         numpy_helper.from_array(np.ones(3, np.float32), "b")])
    path = os.path.join(folder, "wide.onnx")
    onnx.save(helper.make_model(graph), path)
    return path, f"from scratchnn.saving import load_onnx; load_onnx({path!r})"


def idx_gz(folder):
    """A 3 MB gzip of zeros, read as an IDX file (3 GB once decompressed)."""
    path = os.path.join(folder, "zeros-idx1-ubyte.gz")
    block = bytes(2 ** 24)
    with gzip.open(path, "wb", compresslevel=9) as stream:
        stream.write(bytes([0, 0, 8, 1]) + (3 * 2 ** 30).to_bytes(4, "big"))
        for _ in range(3 * 2 ** 30 // len(block)):
            stream.write(block)
    return path, f"from scratchnn.datasets.idx import read_idx; read_idx({path!r})"


def big_png(folder):
    """A 12000 x 12000 grey PNG (about 140 KB), given to `scratchnn predict`."""
    from PIL import Image
    path = os.path.join(folder, "big.png")
    Image.new("L", (12000, 12000), 128).save(path)
    model = os.path.join(folder, "mlp.snn")
    build = ("import scratchnn as snn; m = snn.Sequential([snn.layers.Dense(10)], input_shape=(784,)); "
             f"m.compile(loss='sparse_categorical_crossentropy', optimizer='adam'); m.save({model!r})")
    subprocess.run([sys.executable, "-c", build], check=True)
    return path, f"from scratchnn.cli import main; raise SystemExit(main(['predict', {model!r}, {path!r}]))"


def dev_zero(folder):
    """load_model('/dev/zero')."""
    return "/dev/zero", "import scratchnn; scratchnn.load_model('/dev/zero')"


def fifo(folder):
    """load_model of a FIFO no one writes to."""
    path = os.path.join(folder, "model.snn")
    os.mkfifo(path)
    return path, f"import scratchnn; scratchnn.load_model({path!r})"


ATTACKS = {function.__name__: function for function in (dense_snn, onnx_input, idx_gz, big_png, dev_zero, fifo)}

CHILD = textwrap.dedent("""
    import resource, sys, time, traceback
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start = time.perf_counter()
    try:
        exec(sys.argv[2])
        outcome = "loaded"
    except SystemExit as stop:
        outcome = f"exit {stop.code}"
    except BaseException as error:
        outcome = f"{type(error).__name__}: {str(error)[:150]}"
    seconds = time.perf_counter() - start
    with open("/proc/self/status") as status:      # VmHWM: this process's own peak (ru_maxrss inherits the parent's)
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    print(f"{peak:.0f}\\t{seconds:.2f}\\t{outcome}")
""")


def run(name, limit_gb, timeout):
    with tempfile.TemporaryDirectory() as folder:
        path, code = ATTACKS[name](folder)
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-c", CHILD, str(int(limit_gb * 2 ** 30)), code],
                                  capture_output=True, text=True, timeout=timeout)
            report = done.stdout.strip().splitlines()
            line = report[-1] if report else f"\t\tno report: {done.stderr[-200:]}"
        except subprocess.TimeoutExpired:
            line = f"?\t{time.perf_counter() - start:.0f}\ttimed out (still running after {timeout} s)"
        peak, seconds, outcome = (line.split("\t", 2) + ["", ""])[:3]
        print(f"{name:10s} {size:>10,d} B  peak RSS {peak:>6s} MB  {seconds:>6s} s  {' '.join(outcome.split())}",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("attacks", nargs="*", help=f"some of {list(ATTACKS)} (default: all)")
    parser.add_argument("--limit-gb", type=float, default=6.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    unknown = set(args.attacks) - set(ATTACKS)
    if unknown:
        parser.error(f"unknown attacks {sorted(unknown)}; known: {list(ATTACKS)}")
    for name in args.attacks or ATTACKS:
        run(name, args.limit_gb, args.timeout)


if __name__ == "__main__":
    main()
