"""What each fast CPU kernel earns end to end: training time with every kernel, with none, and with each
one turned off alone (its layers then run their reference code), on the digits CNN of benchmarks/cnn.py
and on the same network with BatchNormalization after each convolution.

A kernel stays in scratchnn.backend.kernels_cpu only if turning it off costs at least 5% here.
Prints, per network, the seconds for the same batches (best of the repeats) and each ratio to "all on".

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


def train_seconds(batch_norm, batches, off, repeats):
    best = float("inf")
    for _ in range(repeats):
        model = digits_cnn(batch_norm)
        model.train_on_batch(*batches[0])                                   # warm-up
        with kernels_cpu.disabled(*off) if off is not None else contextlib.nullcontext():
            start = time.perf_counter()
            for xb, yb in batches:
                model.train_on_batch(xb, yb)
            best = min(best, time.perf_counter() - start)
    return best


def main(n_batches=30, repeats=3, batch_size=128):
    (x, y), _ = snn.datasets.load_digits()
    x = (x / np.float32(255)).astype(np.float32)[..., None]
    order = np.random.default_rng(0).permutation(len(x))
    batches = [(x[order[i:i + batch_size]], y[order[i:i + batch_size]])
               for i in range(0, n_batches * batch_size, batch_size)]
    print(f"{n_batches} training batches of {batch_size}, best of {repeats}; "
          f"{snn.backend.get_num_threads()} threads; numpy {np.__version__}")
    for batch_norm in (False, True):
        name = "digits CNN with BatchNormalization" if batch_norm else "digits CNN (benchmarks/cnn.py)"
        settings = [("all kernels on", None), ("all kernels off (reference code)", ())]
        settings += [(f"{kernel} off", (kernel,)) for kernel in kernels_cpu.KERNELS
                     if batch_norm or kernel != "batch_norm"]
        base = None
        print(name)
        for label, off in settings:
            seconds = train_seconds(batch_norm, batches, off, repeats)
            base = base or seconds
            print(f"  {label:34} {seconds:7.3f} s   {seconds / base:5.2f}x the time with all on")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    main(args.batches, args.repeats, args.batch_size)
