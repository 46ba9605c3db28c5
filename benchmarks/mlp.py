"""The digits MLP [784, 500, 500, 10] trained by scratchnn and by PyTorch in one run.

Same initial weights, same batches (128, no shuffling inside the timed loop), plain SGD, float32.
Prints samples/second of each, the ratio, the effective GFLOP/s, and the machine's float32
matrix-multiply peak measured now (NumPy and PyTorch, 2048 x 2048).

Run: python benchmarks/mlp.py [--epochs 3] [--repeats 3]
"""
import argparse
import time

import numpy as np
import torch

import scratchnn as snn
from scratchnn import layers, optim

SIZES = [784, 500, 500, 10]
MACS_PER_SAMPLE = sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))


def matmul_peak(n=2048, repeats=5):
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    best_np = best_torch = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best_np = min(best_np, time.perf_counter() - start)
        start = time.perf_counter()
        ta @ tb
        best_torch = min(best_torch, time.perf_counter() - start)
    flops = 2 * n ** 3
    return flops / best_np / 1e9, flops / best_torch / 1e9


def build_pair(seed=0):
    model = snn.Sequential([layers.Dense(500, activation="relu"), layers.Dense(500, activation="relu"),
                            layers.Dense(10)], input_shape=(784,), seed=seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05))
    net = torch.nn.Sequential(torch.nn.Linear(784, 500), torch.nn.ReLU(), torch.nn.Linear(500, 500),
                              torch.nn.ReLU(), torch.nn.Linear(500, 10))
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    with torch.no_grad():
        for ours, theirs in zip(dense, [m for m in net if isinstance(m, torch.nn.Linear)]):
            theirs.weight.copy_(torch.from_numpy(ours.params["kernel"].T.copy()))
            theirs.bias.copy_(torch.from_numpy(ours.params["bias"]))
    return model, net


def time_scratchnn(model, x, y, epochs, batch_size):
    start = time.perf_counter()
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    return time.perf_counter() - start, history.history["loss"][-1]


def time_torch(net, x, y, epochs, batch_size):
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    start = time.perf_counter()
    for _ in range(epochs):
        total = 0.0
        for i in range(0, len(xt), batch_size):
            xb, yb = xt[i:i + batch_size], yt[i:i + batch_size]
            opt.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
    return time.perf_counter() - start, total / len(xt)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    (x, y), _ = snn.datasets.load_digits()
    x = x.reshape(len(x), -1).astype(np.float32) / 255
    order = np.random.default_rng(0).permutation(len(x))
    x, y = np.ascontiguousarray(x[order]), y[order]

    np_peak, torch_peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; NumPy {np.__version__}")
    print(f"float32 matmul peak (2048x2048): NumPy {np_peak:.0f} GFLOP/s, PyTorch {torch_peak:.0f} GFLOP/s")

    model, net = build_pair()
    time_scratchnn(model, x[:1024], y[:1024], 1, args.batch_size)        # warm-up (also trains a bit)
    time_torch(net, x[:1024], y[:1024], 1, args.batch_size)
    samples = len(x) * args.epochs
    ours, theirs = [], []
    for _ in range(args.repeats):                                        # interleaved: same machine state
        seconds, our_loss = time_scratchnn(model, x, y, args.epochs, args.batch_size)
        ours.append(samples / seconds)
        seconds, their_loss = time_torch(net, x, y, args.epochs, args.batch_size)
        theirs.append(samples / seconds)
    best_ours, best_theirs = max(ours), max(theirs)
    gflops = lambda rate: 6 * MACS_PER_SAMPLE * rate / 1e9                # forward 2, backward 4 per MAC
    print(f"training, batch {args.batch_size}, {args.epochs} epochs x {args.repeats} repeats (best):")
    print(f"  scratchnn {best_ours:9,.0f} samples/s  {gflops(best_ours):6.1f} GFLOP/s  last loss {our_loss:.4f}")
    print(f"  PyTorch   {best_theirs:9,.0f} samples/s  {gflops(best_theirs):6.1f} GFLOP/s  last loss {their_loss:.4f}")
    print(f"  ratio scratchnn / PyTorch: {best_ours / best_theirs:.2f}x "
          f"(all repeats: {', '.join(f'{a / b:.2f}' for a, b in zip(ours, theirs))})")


if __name__ == "__main__":
    main()
