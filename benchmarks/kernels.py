"""What each fast CPU kernel earns end to end: training time with every kernel, with none, and with each
one turned off alone (its layers then run their reference code), on the digits CNN of benchmarks/cnn.py,
on the same network with BatchNormalization after each convolution, and on the digits MLP of
benchmarks/mlp.py (where only SGD's in-place step applies).

A kernel stays in scratchnn.backend.kernels_cpu only if turning it off costs at least 5% here.
Prints, per network, the seconds for the same batches (best of the repeats) and each ratio to "all on";
the MLP trains its batches ten times over per timing (a batch of it takes a tenth of the CNN's time).

Run: python benchmarks/kernels.py [--batches 30] [--repeats 3] [--batch-size 128]
"""
from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, optim
from scratchnn.backend import kernels_cpu


def digits_cnn(batch_norm: bool, seed: int = 0):
    def norm():
        return [layers.BatchNormalization()] if batch_norm else []

    model = snn.Sequential([
        layers.Conv2D(32, 3), *norm(), layers.ReLU(), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3), *norm(), layers.ReLU(), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10),
    ], input_shape=(28, 28, 1), seed=seed)
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05))
    return model


def digits_mlp(seed: int = 0):
    model = snn.Sequential([layers.Dense(500, activation="relu"), layers.Dense(500, activation="relu"),
                            layers.Dense(10)], input_shape=(784,), seed=seed)
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05))
    return model


NETWORKS = {    # name: (builder, input shape of one sample, kernels it uses, passes over the batches per timing)
    "digits CNN (benchmarks/cnn.py)": (lambda: digits_cnn(False), (28, 28, 1), ("conv2d", "max_pool", "sgd"), 1),
    "digits CNN with BatchNormalization": (lambda: digits_cnn(True), (28, 28, 1), kernels_cpu.KERNELS, 1),
    "digits MLP (benchmarks/mlp.py)": (digits_mlp, (784,), ("sgd",), 10),    # a tenth of the CNN's time a batch
}


def train_seconds(build, batches, off, repeats):
    best = float("inf")
    for _ in range(repeats):
        model = build()
        model.train_on_batch(*batches[0])                                   # warm-up
        with kernels_cpu.disabled(*off) if off is not None else contextlib.nullcontext():
            start = time.perf_counter()
            for xb, yb in batches:
                model.train_on_batch(xb, yb)
            best = min(best, time.perf_counter() - start)
    return best


def main(n_batches=30, repeats=3, batch_size=128):
    (x, y), _ = snn.datasets.load_digits()
    x = (x / np.float32(255)).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    print(f"{n_batches} training batches of {batch_size}, best of {repeats}; "
          f"{snn.backend.get_num_threads()} threads; numpy {np.__version__}")
    for name, (build, shape, used, passes) in NETWORKS.items():
        batches = [(x[order[i:i + batch_size]].reshape(-1, *shape), y[order[i:i + batch_size]])
                   for i in range(0, n_batches * batch_size, batch_size)] * passes
        settings = [("all kernels on", None), ("all kernels off (reference code)", ())]
        settings += [(f"{kernel} off", (kernel,)) for kernel in used]
        base = None
        print(name + (f", {passes} passes over the batches" if passes > 1 else ""))
        for label, off in settings:
            seconds = train_seconds(build, batches, off, repeats)
            base = base or seconds
            print(f"  {label:34} {seconds:7.3f} s   {seconds / base:5.2f}x the time with all on")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    main(args.batches, args.repeats, args.batch_size)
