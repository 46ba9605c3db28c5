"""One table: scratchnn against PyTorch (CPU) on the digits MLP and CNN, per batch size, training and inference.

Both libraries start from the same weights (the builders of benchmarks/mlp.py and benchmarks/cnn.py) and
see the same number of samples. Training is fit(shuffle=True) in scratchnn and, in PyTorch, the loop a
user writes: a new permutation each epoch, the batch gathered with it, zero_grad / forward / backward /
SGD step. Inference is predict() in batches against the network under torch.inference_mode(). Each
repeat runs scratchnn, then PyTorch (each over all its batches: interleaving batch by batch lets
OpenBLAS's spinning threads steal PyTorch's cores); the table gives the median of the repeats and the
spread of the ratio. Then:

- effective GFLOP/s (2 per multiply-add forward, 6 per multiply-add in training) against the float32
  matrix-multiply peak measured in the same run (NumPy and PyTorch, 2048 x 2048);
- peak memory of a training step: the high-water mark of the resident set over a few steps (from after the
  build), minus the resident set before the network was built, each library in a fresh process with only
  its own network, glibc returning every freed block over 64 KiB (Linux: /proc/self/status);
- the latency of predicting one sample: scratchnn's predict, torch eager, onnxruntime on the model
  scratchnn exports;
- one float64 row (the MLP trained in float64 by both).

Run: python benchmarks/bench.py [--repeats 3] [--plot docs/images/bench_ratio.png]
     python benchmarks/bench.py --profile MLP 32             (where scratchnn's training time goes)
     OPENBLAS_NUM_THREADS=1 python benchmarks/bench.py     (one thread for NumPy's BLAS and for PyTorch)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))       # the builders of mlp.py and cnn.py
import cnn  # noqa: E402
import mlp  # noqa: E402

import scratchnn as snn  # noqa: E402

MLP_BATCHES = (32, 128, 512)
LATENCY_CALLS = 300
CNN_BATCHES = (64, 128)
CNN_TRAIN_SAMPLES = 2048                  # a CNN epoch of 8,000 digits takes seconds: a quarter of them
# multiply-adds of one sample's forward pass: the MLP's products; the CNN's two convolutions and two Dense
MACS = {"MLP": mlp.MACS_PER_SAMPLE, "CNN": 26 * 26 * 9 * 32 + 11 * 11 * 288 * 64 + 1600 * 128 + 128 * 10}


def digits(network, dtype=np.float32):
    (x, y), (x_test, _) = snn.datasets.load_digits()
    x, x_test = (x / dtype(255)).astype(dtype), (x_test / dtype(255)).astype(dtype)
    if network == "MLP":
        return x.reshape(len(x), -1), y, x_test.reshape(len(x_test), -1)
    return x[:CNN_TRAIN_SAMPLES, ..., None], y[:CNN_TRAIN_SAMPLES], x_test[..., None]


def build(network, dtype="float32"):
    """(scratchnn model, torch network) with the same weights, SGD(0.05), in dtype."""
    if network == "MLP":
        snn.backend.set_floatx(dtype)
        try:
            model, net = mlp.build_pair()
        finally:
            snn.backend.set_floatx("float32")
    else:
        model = cnn.build_scratchnn(0)
        net = cnn.build_torch(model, torch)
    return model, net.to(getattr(torch, dtype))


def to_torch(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x)


def torch_epoch(net, opt, x, y, batch_size, rng):
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.from_numpy(rng.permutation(len(x)))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        cnn.torch_step(net, opt, loss_fn, x[idx], y[idx])


def train_rates(network, batch_size, repeats, dtype="float32"):
    """Training samples/second of each library in every repeat: ([scratchnn], [torch])."""
    x, y, _ = digits(network, np.dtype(dtype).type)
    model, net = build(network, dtype)
    xt, yt = to_torch(x), torch.from_numpy(y.astype(np.int64))
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    model.fit(x[:4 * batch_size], y[:4 * batch_size], batch_size=batch_size, verbose=0)     # warm-up
    torch_epoch(net, opt, xt[:4 * batch_size], yt[:4 * batch_size], batch_size, rng)
    ours, theirs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
        ours.append(len(x) / (time.perf_counter() - start))
        start = time.perf_counter()
        torch_epoch(net, opt, xt, yt, batch_size, rng)
        theirs.append(len(x) / (time.perf_counter() - start))
    return ours, theirs


def inference_rates(network, batch_size, repeats):
    _, _, x = digits(network)
    model, net = build(network)
    xt = to_torch(x)

    def theirs_once():
        with torch.inference_mode():
            return torch.cat([net(xt[i:i + batch_size]) for i in range(0, len(xt), batch_size)])

    model.predict(x[:batch_size], batch_size=batch_size)
    theirs_once()
    ours, theirs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(x, batch_size=batch_size)
        ours.append(len(x) / (time.perf_counter() - start))
        start = time.perf_counter()
        theirs_once()
        theirs.append(len(x) / (time.perf_counter() - start))
    return ours, theirs


def _status_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(network, batch_size, library, steps=4):
    """Run in a fresh process: the peak resident set during training steps over the resident set before
    the network was built, in MiB (printed as JSON): the weights, gradients, activations, optimizer state
    and work buffers of this library's network alone."""
    import gc
    x, y, _ = digits(network)
    xb, yb = x[:batch_size], y[:batch_size]

    def own(pair):
        """This library's network (the other one, built only to share the weights, is let go)."""
        model, net = pair
        return model if library == "scratchnn" else (net, torch.optim.SGD(net.parameters(), lr=0.05))

    def step(trained):
        if library == "scratchnn":
            trained.train_on_batch(xb, yb)
        else:
            cnn.torch_step(*trained, torch.nn.CrossEntropyLoss(), to_torch(xb),
                           torch.from_numpy(yb.astype(np.int64)))

    # the library's own start-up (code loaded, pools made) is not the step's; the warm-up's arrays stay
    # alive, so that the steps measured cannot reuse memory it freed
    warm = own(build(network))
    for _ in range(2):
        step(warm)
    gc.collect()
    before = _status_kib("VmRSS")
    trained = own(build(network))
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")      # resets the high-water mark (VmHWM): building is not a step
    for _ in range(steps):
        step(trained)
    print(json.dumps((_status_kib("VmHWM") - before) / 1024))


# every block over 64 KiB its own pages, returned when freed (glibc otherwise raises this threshold as blocks
# are freed and keeps freed blocks resident): the resident set then follows the arrays alive, in both libraries
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def peak_memory(network, batch_size):
    """(scratchnn MiB, torch MiB) of a training step, or (None, None) where /proc cannot tell."""
    if not Path("/proc/self/clear_refs").exists():
        return None, None
    result = []
    for library in ("scratchnn", "torch"):
        done = subprocess.run([sys.executable, __file__, "--memory-child", network, str(batch_size), library],
                              capture_output=True, text=True, env={**os.environ, **MALLOC})
        result.append(json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else None)
    return tuple(result)


def latency(network, calls=LATENCY_CALLS, budget=5.0):
    """Median seconds of one single-sample prediction: scratchnn predict, torch eager, onnxruntime
    (``calls`` of each, one library after the other, or fewer when one takes more than its share of
    ``budget`` seconds)."""
    import onnxruntime

    _, _, x = digits(network)
    model, net = build(network)
    one, one_torch = x[:1], to_torch(x[:1])
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        snn.saving.export_onnx(model, path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def torch_once():
        with torch.inference_mode():
            return net(one_torch)

    runs = {"scratchnn": lambda: model.predict(one), "torch eager": torch_once,
            "onnxruntime": lambda: session.run(None, {name: one})}
    np.testing.assert_allclose(runs["onnxruntime"]()[0], runs["scratchnn"](), atol=1e-4)
    times = {key: [] for key in runs}
    for key, run in runs.items():           # each library in its own block, after a warm-up: interleaving call by
        for _ in range(10):                 # call lets one library's spinning threads (OpenBLAS's, PyTorch's
            run()                           # OpenMP) hold the cores the next call needs
        end = time.perf_counter() + budget / len(runs)
        for _ in range(calls):
            if time.perf_counter() > end and len(times[key]) >= 20:
                break
            start = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - start)
    return {key: float(np.median(values)) for key, values in times.items()} | {
        "calls": min(len(values) for values in times.values())}


def profile(network, batch_size, top=10):
    """Where a scratchnn training epoch spends its time: the functions with the most time of their own."""
    import cProfile
    import pstats

    x, y, _ = digits(network)
    model, _ = build(network)
    model.fit(x[:4 * batch_size], y[:4 * batch_size], batch_size=batch_size, verbose=0)
    profiler = cProfile.Profile()
    profiler.enable()
    model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(entry[2] for entry in stats.stats.values())
    print(f"{network} training, batch {batch_size}, one epoch of {len(x)}: {total:.2f} s in Python functions; "
          f"the {top} with the most time of their own:")
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:top]
    for (filename, line, name), (_, calls, own, _, _) in rows:
        where = f"{Path(filename).parent.name}/{Path(filename).name}:{line}" if line else filename
        print(f"  {100 * own / total:5.1f}%  {calls:6} calls  {name} ({where})")


def median(values):
    return float(np.median(values))


def run_all(repeats):
    rows = []
    for network, batches in (("MLP", MLP_BATCHES), ("CNN", CNN_BATCHES)):
        for batch_size in batches:
            memory = peak_memory(network, batch_size)
            for mode in ("training", "inference"):
                rates = (train_rates if mode == "training" else inference_rates)(network, batch_size, repeats)
                rows.append({"network": network, "batch": batch_size, "mode": mode, "dtype": "float32",
                             "ours": rates[0], "theirs": rates[1], "memory": memory if mode == "training" else None})
    rates = train_rates("MLP", 128, repeats, "float64")
    rows.append({"network": "MLP", "batch": 128, "mode": "training", "dtype": "float64", "ours": rates[0],
                 "theirs": rates[1], "memory": None})
    return rows


def print_table(rows, np_peak, torch_peak, latencies, repeats):
    print(f"numpy {np.__version__}, torch {torch.__version__}; {torch.get_num_threads()} threads for torch, "
          f"{snn.backend.get_num_threads()} for scratchnn; median of {repeats} repeats (samples/s)")
    print(f"float32 matmul peak (2048 x 2048, the best of 5 before the runs and 5 after): NumPy {np_peak:.0f} "
          f"GFLOP/s, PyTorch {torch_peak:.0f} GFLOP/s; % peak is scratchnn's GFLOP/s over NumPy's")
    header = (f"{'network':7} {'dtype':7} {'batch':>5} {'mode':9} {'scratchnn':>10} {'pytorch':>10} {'ratio':>6} "
              f"{'ratio range':>11} {'GFLOP/s':>7} {'% peak':>6} {'MiB ours':>8} {'MiB torch':>9}")
    print(header)
    print("-" * len(header))
    for row in rows:
        ours, theirs = median(row["ours"]), median(row["theirs"])
        ratios = [a / b for a, b in zip(row["ours"], row["theirs"])]
        gflops = (6 if row["mode"] == "training" else 2) * MACS[row["network"]] * ours / 1e9
        memory = row["memory"] or (None, None)
        mib = [f"{m:8.1f}" if m is not None else f"{'-':>8}" for m in memory]
        print(f"{row['network']:7} {row['dtype']:7} {row['batch']:5} {row['mode']:9} {ours:10,.0f} {theirs:10,.0f} "
              f"{ours / theirs:6.2f} {min(ratios):5.2f}-{max(ratios):<5.2f} {gflops:7.1f} "
              f"{f'{100 * gflops / np_peak:5.0f}%' if row['dtype'] == 'float32' else '     -'} {mib[0]} {mib[1]:>9}")
    for network, times in latencies.items():
        ours, eager, ort = times["scratchnn"], times["torch eager"], times["onnxruntime"]
        print(f"{network} single-sample predict latency (median of {times['calls']}): scratchnn {ours * 1e6:.0f} µs, "
              f"torch eager {eager * 1e6:.0f} µs, onnxruntime {ort * 1e6:.0f} µs "
              f"(scratchnn / eager {eager / ours:.2f}x as fast, {ours / ort:.2f}x onnxruntime's time)")


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axis = plt.subplots(figsize=(6.4, 4))
    styles = {("MLP", "training"): "o-", ("MLP", "inference"): "o--", ("CNN", "training"): "s-",
              ("CNN", "inference"): "s--"}
    for (network, mode), style in styles.items():
        chosen = [row for row in rows if (row["network"], row["mode"], row["dtype"]) == (network, mode, "float32")]
        batches = [row["batch"] for row in chosen]
        ratios = [median(row["ours"]) / median(row["theirs"]) for row in chosen]
        spread = np.array([[r - min(a / b for a, b in zip(row["ours"], row["theirs"])),
                            max(a / b for a, b in zip(row["ours"], row["theirs"])) - r]
                           for r, row in zip(ratios, chosen)]).T
        axis.errorbar(batches, ratios, yerr=spread, fmt=style, capsize=3, label=f"{network} {mode}")
    axis.axhline(1.0, color="grey", linewidth=0.8)
    low, high = axis.get_ylim()
    if high / max(low, 1e-3) > 3:                         # a wide range: 2x faster and 2x slower as far from 1
        axis.set_yscale("log", base=2)
        low, high = axis.get_ylim()
        axis.set_yticks([t for t in (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24) if low <= t <= high])
        axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axis.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.set_xscale("log", base=2)
    axis.set_xticks([32, 64, 128, 256, 512], ["32", "64", "128", "256", "512"])
    axis.set_xlabel("batch size")
    axis.set_ylabel("samples/s, scratchnn / PyTorch")
    axis.set_title(f"scratchnn against PyTorch (CPU, float32, {torch.get_num_threads()} thread(s)): above 1 is faster",
                   fontsize=10)
    axis.legend()
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plot", default=None, help="write the ratio against batch size to this PNG")
    parser.add_argument("--profile", nargs=2, metavar=("NETWORK", "BATCH"),
                        help="instead of the table: where scratchnn's training time goes (MLP or CNN, a batch size)")
    parser.add_argument("--memory-child", nargs=3, metavar=("NETWORK", "BATCH", "LIBRARY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if os.environ.get("OPENBLAS_NUM_THREADS"):                          # the same number of threads for all
        torch.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))
        snn.backend.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))
    if args.memory_child:
        network, batch_size, library = args.memory_child
        memory_child(network, int(batch_size), library)
        return
    if args.profile:
        profile(args.profile[0], int(args.profile[1]))
        return
    np_peak, torch_peak = mlp.matmul_peak()
    rows = run_all(args.repeats)
    latencies = {network: latency(network) for network in ("MLP", "CNN")}
    np_peak, torch_peak = (max(pair) for pair in zip((np_peak, torch_peak), mlp.matmul_peak()))   # before and after
    print_table(rows, np_peak, torch_peak, latencies, args.repeats)
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
