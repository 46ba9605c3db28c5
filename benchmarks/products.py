"""The digits MLP's matrix products alone, NumPy (OpenBLAS) against PyTorch (MKL on x86), per batch size.

What bounds the MLP's training ratio at small batches and its single-sample latency: the same products
with the same float32 arrays in each library, each library at its own default threads. Per batch size,
the forward products X @ W1, H @ W2, H @ W3, the kernel gradient X.T @ dH1 and the input gradient dH @ W2.T,
median microseconds of each over the calls, and the ratio NumPy / PyTorch (above 1: PyTorch faster). Then
one digit: the three products back to back (each kernel read from wherever the last call left it) in
NumPy with BLAS at one thread and at two, PyTorch, and scratchnn's forward pass and ``predict`` of the same
network; and the same for a network of three 4-wide Dense layers, where the products cost nothing: the
Python around them in each library.

Run: python benchmarks/products.py [--calls 400]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import scratchnn as snn
from scratchnn import layers

SIZES = (784, 500, 500, 10)


def median_us(fn, calls):
    for _ in range(20):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def products(batch, rng):
    """name -> (NumPy call, PyTorch call) of one product of the MLP's training step at this batch size."""
    x = rng.standard_normal((batch, SIZES[0]), dtype=np.float32)
    h = rng.standard_normal((batch, SIZES[1]), dtype=np.float32)
    w1, w2, w3 = (rng.standard_normal((a, b), dtype=np.float32) * 0.05 for a, b in zip(SIZES[:-1], SIZES[1:]))
    t = {name: torch.from_numpy(a) for name, a in {"x": x, "h": h, "w1": w1, "w2": w2, "w3": w3}.items()}
    return {
        "X @ W1": (lambda: x @ w1, lambda: t["x"] @ t["w1"]),
        "H @ W2": (lambda: h @ w2, lambda: t["h"] @ t["w2"]),
        "H @ W3": (lambda: h @ w3, lambda: t["h"] @ t["w3"]),
        "X.T @ dH1": (lambda: x.T @ h, lambda: t["x"].T @ t["h"]),
        "dH @ W2.T": (lambda: h @ w2.T, lambda: t["h"] @ t["w2"].T),
    }


def one_digit(calls, rng):
    model = snn.Sequential([layers.Dense(500, activation="relu"), layers.Dense(500, activation="relu"),
                            layers.Dense(10)], input_shape=(784,), seed=0)
    kernels = [layer.params["kernel"] for layer in model.layers if isinstance(layer, layers.Dense)]
    torch_kernels = [torch.from_numpy(k) for k in kernels]
    one = rng.standard_normal((1, SIZES[0]), dtype=np.float32)
    one_torch = torch.from_numpy(one)

    def numpy_chain():
        return np.maximum(np.maximum(one @ kernels[0], 0) @ kernels[1], 0) @ kernels[2]

    def torch_chain():
        with torch.inference_mode():
            return torch.relu(torch.relu(one_torch @ torch_kernels[0]) @ torch_kernels[1]) @ torch_kernels[2]

    results = {}
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            results[f"NumPy, BLAS at {threads} thread{'s' if threads > 1 else ''}"] = median_us(numpy_chain, calls)
    results[f"PyTorch ({torch.get_num_threads()} threads)"] = median_us(torch_chain, calls)
    results["scratchnn model.forward (the same products, bias and ReLU layers)"] = median_us(
        lambda: model.forward(one), calls)
    results["scratchnn model.predict"] = median_us(lambda: model.predict(one), calls)
    return results


def python_alone(calls):
    """scratchnn's predict and forward against PyTorch eager on Dense layers 4 wide: the fixed cost per call."""
    model = snn.Sequential([layers.Dense(4, activation="relu"), layers.Dense(4, activation="relu"), layers.Dense(2)],
                           input_shape=(3,), seed=0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4), torch.nn.ReLU(),
                              torch.nn.Linear(4, 2))
    one = np.ones((1, 3), np.float32)
    one_torch = torch.from_numpy(one)

    def eager():
        with torch.inference_mode():
            return net(one_torch)

    return {"scratchnn model.predict": median_us(lambda: model.predict(one), calls),
            "scratchnn model.forward": median_us(lambda: model.forward(one), calls),
            "PyTorch eager": median_us(eager, calls)}


def main(calls=400):
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"median µs of {calls} calls each")
    print(f"{'batch':>5} {'product':10} {'NumPy':>9} {'PyTorch':>9} {'NumPy / PyTorch':>16}")
    for batch in (32, 128, 512):
        for name, (ours, theirs) in products(batch, rng).items():
            a, b = median_us(ours, calls), median_us(theirs, calls)
            print(f"{batch:5d} {name:10} {a:9.1f} {b:9.1f} {a / b:16.2f}")
    print("one digit through the MLP's three products (the ReLUs between them):")
    for name, us in one_digit(calls, rng).items():
        print(f"  {name:68} {us:7.1f} µs")
    print("one sample through three Dense layers 4 wide (the Python around the products):")
    for name, us in python_alone(calls).items():
        print(f"  {name:68} {us:7.1f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    main(parser.parse_args().calls)
