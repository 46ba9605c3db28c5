"""What the Conv2D kernel's stride-1 input gradient earns end to end: dX computed as a convolution of dY with
the turned kernel (kernels_cpu._input_grad_by_convolution) against the patch-gradient product dY @ W.T and
its scatter back into dX (kernels_cpu._col2im), which the kernel keeps for every other layer.

Trains the ResNet of examples/fashion_resnet.py (its stride-1 convolutions keep the map size: the new path)
and the digits CNN of benchmarks/cnn.py ("valid" convolutions: the scatter either way, a control) on the
same Fashion-MNIST batches, the two ways interleaved, and prints the median seconds and their ratio.

Run: python benchmarks/conv_input_grad.py [--repeats 7] [--batches 10]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import scratchnn as snn
from scratchnn import losses, optim
from scratchnn.backend import kernels_cpu

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "examples"), str(HERE)]
import cnn  # noqa: E402
import fashion_resnet  # noqa: E402

NETWORKS = {"ResNet": lambda: fashion_resnet.resnet(fashion_resnet.stage_plan(), 0),
            "digits CNN": lambda: cnn.build_scratchnn(0)}


def seconds(model, batches):
    start = time.perf_counter()
    for xb, yb in batches:
        model.train_on_batch(xb, yb)
    return time.perf_counter() - start


def compare(make, batches, repeats):
    """Median seconds over the batches (after two warm-up steps), scatter first then convolution, each repeat."""
    by_convolution = kernels_cpu._input_grad_window
    times = {"scatter": [], "convolution": []}
    try:
        for _ in range(repeats):
            for way, window in (("scatter", lambda layer: None), ("convolution", by_convolution)):
                kernels_cpu._input_grad_window = window
                model = make()
                model.compile(loss=losses.CategoricalCrossentropy(from_logits=True),
                              optimizer=optim.SGD(0.05, momentum=0.9))
                seconds(model, batches[:2])
                times[way].append(seconds(model, batches))
    finally:
        kernels_cpu._input_grad_window = by_convolution
    return float(np.median(times["scatter"])), float(np.median(times["convolution"]))


def main(repeats=7, steps=10):
    (x, y), _ = snn.datasets.load_fashion_mnist()
    x = (x[:128 * steps, ..., None] / np.float32(255)).astype(np.float32)
    print(f"{steps} training steps, median of {repeats} interleaved repeats; {snn.backend.get_num_threads()} threads")
    for name, make in NETWORKS.items():
        for batch_size in (64, 128):
            batches = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, steps * batch_size, batch_size)]
            scatter, convolution = compare(make, batches, repeats)
            print(f"  {name:10} batch {batch_size:3}: scatter {scatter:.3f} s, convolution {convolution:.3f} s, "
                  f"{scatter / convolution:.3f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    main(args.repeats, args.batches)
