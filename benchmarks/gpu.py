"""scratchnn on a GPU (CuPy) against PyTorch CUDA: the digits MLP, the CNN, the LSTM and the ResNet, in one run.

Each network comes from its CPU benchmark's builder (benchmarks/mlp.py, cnn.py, lstm.py, resnet.py: skipped
with a message if that file is missing), so both libraries start from the same weights; the scratchnn model
is then moved with ``model.to("gpu")`` and the PyTorch net with ``.cuda()``. Both train on the same digits
batches, already on the GPU (scratchnn's as CuPy arrays, PyTorch's as CUDA tensors), float32, one optimizer
step per batch, for each batch size; then inference over the same batches. Before timing, one step of each
from the same weights checks that they compute the same loss (float32: to 1e-4 relative). Each timing ends
with a device synchronisation; the best of --repeats is kept.

Prints the GPU's name, then samples/second of each library for training and inference and the ratio
(scratchnn / PyTorch); --json writes the same figures to a file. Needs CuPy and a CUDA device
(``pip install 'scratchnn[gpu]'``); without them it exits with one line saying which. PyTorch without CUDA
(the CPU build the test extra pins) checks the first loss on the CPU and is not timed: "n/a" in its columns.

Run: python benchmarks/gpu.py [--batch-sizes 128 1024] [--batches 20] [--repeats 3] [--json results.json]
"""
import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np

import scratchnn as snn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def require_gpu():
    """scratchnn's GPU device, or exit with one line naming what is missing."""
    try:
        return snn.backend.get_device("gpu")
    except snn.backend.GPUUnavailableError as error:
        sys.exit(f"benchmarks/gpu.py: {error}")


def to_nchw(xb):
    """A channels-last (N, H, W, C) CUDA tensor as PyTorch's (N, C, H, W)."""
    return xb.permute(0, 3, 1, 2).contiguous()


def networks(torch):
    """name -> builder(seed) -> (scratchnn model, torch net, torch optimizer, torch forward, input shape)."""
    def mlp(seed):
        module = importlib.import_module("mlp")
        model, net = module.build_pair(seed)
        return model, net, torch.optim.SGD(net.parameters(), lr=0.05), net, (784,)

    def cnn(seed):
        module = importlib.import_module("cnn")
        model = module.build_scratchnn(seed)
        net = module.build_torch(model, torch)
        return model, net, torch.optim.SGD(net.parameters(), lr=0.05), lambda xb: net(to_nchw(xb)), (28, 28, 1)

    def lstm(seed):
        module = importlib.import_module("lstm")
        model, net = module.build_pair(128, seed)
        return (model, net, torch.optim.SGD(net.parameters(), lr=0.05),
                lambda xb: module.torch_forward(net, xb), (28, 28))

    def resnet(seed):
        module = importlib.import_module("resnet")
        model, net, opt = module.build(seed, torch)
        return model, net, opt, lambda xb: net(to_nchw(xb)), (28, 28, 1)

    found = {"mlp": mlp, "cnn": cnn, "lstm": lstm}
    if (HERE / "resnet.py").is_file():
        found["resnet"] = resnet
    else:
        print("resnet: skipped (benchmarks/resnet.py is not there)")
    return found


def batches_of(x, y, batch_size, count):
    """``count`` batches of ``batch_size`` rows, cycling through the data (a fixed order)."""
    rows = np.arange(count * batch_size) % len(x)
    return [(x[rows[i:i + batch_size]], y[rows[i:i + batch_size]]) for i in range(0, len(rows), batch_size)]


def timed(fn, synchronize):
    synchronize()
    start = time.perf_counter()
    result = fn()
    synchronize()
    return result, time.perf_counter() - start


class Target:
    """Where both libraries run: the GPU, or the CPU for --dry-run (checks this script where there is no GPU).

    PyTorch without CUDA (a CPU-only build) is timed not at all: scratchnn's figures are printed alone, and
    PyTorch on the CPU still checks the first loss (the same weights)."""

    def __init__(self, dry_run, torch):
        if dry_run:
            self.device, self.asarray, self.torch_device = snn.backend.get_device("cpu"), np.asarray, "cpu"
            self.torch_sync, self.name, self.versions = (lambda: None), "none (--dry-run: both on the CPU)", ""
            self.time_torch = True
            return
        self.device = require_gpu()
        import cupy
        self.asarray = cupy.asarray
        self.time_torch = torch.cuda.is_available()
        self.torch_device = "cuda" if self.time_torch else "cpu"
        self.torch_sync = torch.cuda.synchronize if self.time_torch else (lambda: None)
        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        self.name = name.decode() if isinstance(name, bytes) else str(name)
        self.versions = f"CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}; "
        if not self.time_torch:
            print(f"PyTorch {torch.__version__} sees no CUDA device (a CPU-only build): scratchnn is timed alone")


def measure(name, build, batch_size, images, labels, args, target, torch):
    """Samples/second of both libraries, training and inference, for one network and batch size."""
    model, net, opt, forward, shape = build(args.seed)
    net.to(target.torch_device)                  # in place: the optimizer keeps the same (moved) parameters
    device = target.device
    loss_fn = torch.nn.CrossEntropyLoss()
    model.to(device)
    host = batches_of(images.reshape(len(images), *shape), labels, batch_size, args.batches)
    ours = [(target.asarray(xb), target.asarray(yb)) for xb, yb in host]
    on = target.torch_device
    theirs = [(torch.from_numpy(xb).to(on), torch.from_numpy(yb.astype(np.int64)).to(on)) for xb, yb in host]

    def torch_step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(forward(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    first_ours, first_theirs = model.train_on_batch(*ours[0]), torch_step(*theirs[0])    # same weights here
    agree = abs(first_ours - first_theirs) <= 1e-4 * max(1.0, abs(first_theirs))
    for xb, yb in ours[1:3]:                                           # warm-up: CuPy compiles its kernels
        model.train_on_batch(xb, yb)
        model.forward(xb)
    for xb, yb in theirs[1:3] if target.time_torch else ():
        torch_step(xb, yb)
    samples = len(ours) * batch_size
    rates = {"train": ([], []), "infer": ([], [])}
    for _ in range(args.repeats):
        rates["train"][0].append(samples / timed(lambda: [model.train_on_batch(xb, yb) for xb, yb in ours],
                                                 device.synchronize)[1])
        rates["infer"][0].append(samples / timed(lambda: [model.forward(xb) for xb, _ in ours], device.synchronize)[1])
        if not target.time_torch:
            continue
        net.train()
        rates["train"][1].append(samples / timed(lambda: [torch_step(xb, yb) for xb, yb in theirs],
                                                 target.torch_sync)[1])
        net.eval()
        with torch.no_grad():
            rates["infer"][1].append(samples / timed(lambda: [forward(xb) for xb, _ in theirs], target.torch_sync)[1])
    result = {"network": name, "batch_size": batch_size, "samples": samples, "first_loss_scratchnn": first_ours,
              "first_loss_torch": first_theirs, "same_first_loss": bool(agree)}
    for phase, (a, b) in rates.items():
        result[f"{phase}_scratchnn"] = max(a)
        result[f"{phase}_torch"] = max(b) if b else None
        result[f"{phase}_ratio"] = max(a) / max(b) if b else None
    return result


def cell(value, width, digits=0):
    return f"{'n/a':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--networks", nargs="+", default=None, help="a subset of: mlp cnn lstm resnet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--dry-run", action="store_true", help="run both on the CPU: checks the script, measures "
                        "nothing about GPUs")
    args = parser.parse_args()
    if not args.dry_run:
        require_gpu()
    try:
        import torch
    except ImportError:
        sys.exit("benchmarks/gpu.py: PyTorch is missing: pip install torch (a CUDA build, to time it too)")
    target = Target(args.dry_run, torch)
    print(f"GPU: {target.name}; {target.versions}PyTorch {torch.__version__}, "
          f"NumPy {np.__version__}; float32, {args.batches} batches per timing, best of {args.repeats}")
    (images, labels), _ = snn.datasets.load_digits()
    images = np.ascontiguousarray(images.astype(np.float32) / 255)
    chosen = networks(torch)
    if args.networks:
        chosen = {name: chosen[name] for name in args.networks if name in chosen}
    results = []
    header = (f"{'network':8} {'batch':>6} {'train ours':>11} {'train torch':>12} {'ratio':>6}   "
              f"{'infer ours':>11} {'infer torch':>12} {'ratio':>6}  same first loss")
    print(header)
    for name, build in chosen.items():
        for batch_size in args.batch_sizes:
            row = measure(name, build, batch_size, images, labels, args, target, torch)
            results.append(row)
            print(f"{name:8} {batch_size:6d} {cell(row['train_scratchnn'], 11)} {cell(row['train_torch'], 12)} "
                  f"{cell(row['train_ratio'], 6, 2)}   {cell(row['infer_scratchnn'], 11)} "
                  f"{cell(row['infer_torch'], 12)} {cell(row['infer_ratio'], 6, 2)}  {row['same_first_loss']}",
                  flush=True)
    print("samples/second; ratio = scratchnn / PyTorch (above 1: scratchnn is faster)")
    if args.json:
        Path(args.json).write_text(json.dumps({"gpu": target.name, "versions": target.versions,
                                               "torch": torch.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
