"""An optimizer's step time on the parameters of the digits MLP [784, 500, 500, 10] (float32), scratchnn and
PyTorch: Adam, SGD, or SGD with momentum 0.9.

Both optimizers update the same six arrays (kernels and biases, 648,010 values) with the same gradients.
PyTorch runs its optimizer as constructed by default (on CPU that is its per-tensor loop), then with
foreach=True and fused=True for reference. For SGD scratchnn runs twice: its step in place through BLAS
(the "sgd" kernel) and the staged reference (``kernels_cpu.disabled("sgd")``). Prints the median
milliseconds per step over the repeats and the ratio scratchnn / PyTorch (below 1 means scratchnn is faster).

Run: python benchmarks/optim_step.py [--optimizer adam|sgd|sgd-momentum] [--steps 200] [--repeats 5]
                                     [--torch-threads N]
"""
import argparse
import contextlib
import time

import numpy as np
import torch

from scratchnn import optim
from scratchnn.backend import kernels_cpu

OPTIMIZERS = {                  # name: (scratchnn's, PyTorch's with the same settings)
    "adam": (lambda: optim.Adam(1e-3), lambda tensors, **kw: torch.optim.Adam(tensors, lr=1e-3, eps=1e-7, **kw)),
    "sgd": (lambda: optim.SGD(0.05), lambda tensors, **kw: torch.optim.SGD(tensors, lr=0.05, **kw)),
    "sgd-momentum": (lambda: optim.SGD(0.05, momentum=0.9),
                     lambda tensors, **kw: torch.optim.SGD(tensors, lr=0.05, momentum=0.9, **kw)),
}

SIZES = [784, 500, 500, 10]
SHAPES = [shape for n_in, n_out in zip(SIZES[:-1], SIZES[1:]) for shape in ((n_in, n_out), (n_out,))]


def make_arrays(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(shape).astype(np.float32) * 0.05 for shape in SHAPES]
    grads = [rng.standard_normal(shape).astype(np.float32) * 0.01 for shape in SHAPES]
    return params, grads


def time_scratchnn(name, steps, repeats, reference=False):
    params, grads = make_arrays()
    optimizer = OPTIMIZERS[name][0]()
    pairs = list(zip(params, grads))
    with kernels_cpu.disabled("sgd") if reference else contextlib.nullcontext():
        optimizer.step(pairs)                                # creates the slots outside the timing
        timings = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                optimizer.step(pairs)
            timings.append((time.perf_counter() - start) / steps)
    return float(np.median(timings)), params


def time_torch(name, steps, repeats, **kwargs):
    params, grads = make_arrays()
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    for tensor, grad in zip(tensors, grads):
        tensor.grad = torch.tensor(grad)
    optimizer = OPTIMIZERS[name][1](tensors, **kwargs)
    optimizer.step()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            optimizer.step()
        timings.append((time.perf_counter() - start) / steps)
    return float(np.median(timings)), [t.detach().numpy() for t in tensors]


def main(name="adam", steps=200, repeats=5, torch_threads=None):
    if torch_threads:
        torch.set_num_threads(torch_threads)
    print(f"{name} step on {sum(int(np.prod(s)) for s in SHAPES):,} float32 parameters in {len(SHAPES)} arrays "
          f"({steps} steps x {repeats} repeats; numpy {np.__version__}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads)")
    ours, our_params = time_scratchnn(name, steps, repeats)
    print(f"scratchnn {name:20s}{ours * 1e3:8.3f} ms/step")
    if name.startswith("sgd"):
        staged, _ = time_scratchnn(name, steps, repeats, reference=True)
        print(f"scratchnn staged reference     {staged * 1e3:8.3f} ms/step   in place / staged {ours / staged:.2f}")
    results = {}
    for label, kwargs in (("default", {}), ("foreach=True", {"foreach": True}), ("fused=True", {"fused": True})):
        try:
            results[label], torch_params = time_torch(name, steps, repeats, **kwargs)
        except (RuntimeError, TypeError, ValueError) as error:
            print(f"torch {label:24s} unavailable: {error}")
            continue
        difference = max(float(np.max(np.abs(a - b))) for a, b in zip(our_params, torch_params))
        print(f"torch {label:24s}{results[label] * 1e3:8.3f} ms/step   ratio scratchnn/torch "
              f"{ours / results[label]:.2f}   max |param difference| after the same steps {difference:.1e}")
    return ours, results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    main(args.optimizer, args.steps, args.repeats, args.torch_threads)
