"""The sequential-digits LSTM, scratchnn against PyTorch's nn.LSTM on the CPU, in one run.

Each digit is read row by row: 28 steps of 28 pixels, LSTM(128) -> Dense(10), float32, batch 128, plain SGD.
Both start from the same weights (ours mapped onto nn.LSTM: Keras's gate order i, f, c, o is PyTorch's i, f, g,
o; kernel = weight_ih^T, bias = bias_ih, bias_hh = 0) and see the same batches in the same order. Prints the
training and inference samples/second of each and their ratio (best of --repeats, interleaved), the time
split of one of our training batches (the loop over steps against the products outside it), and the tape's
size per batch, measured (every array a training forward leaves for backward).

Run: python benchmarks/lstm.py [--samples 2048] [--repeats 3] [--units 128] [--threads 1]
"""
import argparse
import time

import numpy as np
import torch

import scratchnn as snn
from scratchnn import layers, optim


def build_pair(units, seed=0):
    model = snn.Sequential([layers.LSTM(units), layers.Dense(10)], input_shape=(28, 28), seed=seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05))
    lstm, dense = model.layers
    net = torch.nn.ModuleDict({"lstm": torch.nn.LSTM(28, units, batch_first=True),
                               "dense": torch.nn.Linear(units, 10)})
    with torch.no_grad():
        net["lstm"].weight_ih_l0.copy_(torch.from_numpy(lstm.params["kernel"].T.copy()))
        net["lstm"].weight_hh_l0.copy_(torch.from_numpy(lstm.params["recurrent_kernel"].T.copy()))
        net["lstm"].bias_ih_l0.copy_(torch.from_numpy(lstm.params["bias"]))
        net["lstm"].bias_hh_l0.zero_()
        net["dense"].weight.copy_(torch.from_numpy(dense.params["kernel"].T.copy()))
        net["dense"].bias.copy_(torch.from_numpy(dense.params["bias"]))
    return model, net


def torch_forward(net, xb):
    out, _ = net["lstm"](xb)
    return net["dense"](out[:, -1])


def train_scratchnn(model, x, y, batch_size):
    start = time.perf_counter()
    for i in range(0, len(x), batch_size):
        loss = model.train_on_batch(x[i:i + batch_size], y[i:i + batch_size])
    return time.perf_counter() - start, loss


def train_torch(net, x, y, batch_size):
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    start = time.perf_counter()
    for i in range(0, len(xt), batch_size):
        opt.zero_grad()
        loss = loss_fn(torch_forward(net, xt[i:i + batch_size]), yt[i:i + batch_size])
        loss.backward()
        opt.step()
    return time.perf_counter() - start, loss.item()


def infer_scratchnn(model, x, batch_size):
    start = time.perf_counter()
    for i in range(0, len(x), batch_size):
        model.predict(x[i:i + batch_size])
    return time.perf_counter() - start


def infer_torch(net, x, batch_size):
    xt = torch.from_numpy(x)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(xt), batch_size):
            torch_forward(net, xt[i:i + batch_size])
    return time.perf_counter() - start


def tape_bytes(layer):
    """Bytes of the distinct arrays a layer's tape holds (one array held twice, as h_t is, counted once; the
    batch x counted as the slice it is, not the data set it views)."""
    seen, total = set(), 0

    def walk(item):
        nonlocal total
        if isinstance(item, np.ndarray):
            key = (item.__array_interface__["data"][0], item.shape)
            if key not in seen:
                seen.add(key)
                total += item.nbytes
        elif isinstance(item, (list, tuple)):
            for inner in item:
                walk(inner)
    walk(layer.tape)
    return total


def split_of_one_batch(model, xb, yb):
    """Seconds of one training batch: the whole step, and the LSTM's loops over time alone."""
    lstm = model.layers[0]
    timings = {"step": 0.0, "forward loop": 0.0, "backward loop": 0.0}
    original_step, original_back = lstm.step, lstm.step_backward

    def timed(fn, key):
        def call(*args):
            start = time.perf_counter()
            result = fn(*args)
            timings[key] += time.perf_counter() - start
            return result
        return call

    lstm.step, lstm.step_backward = timed(original_step, "forward loop"), timed(original_back, "backward loop")
    start = time.perf_counter()
    model.train_on_batch(xb, yb)
    timings["step"] = time.perf_counter() - start
    del lstm.step, lstm.step_backward
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="BLAS / PyTorch threads for both (default: as set)")
    args = parser.parse_args()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
        snn.backend.cpu.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)

    (x, y), _ = snn.datasets.load_digits()
    x = np.ascontiguousarray(x[:args.samples].astype(np.float32) / 255)       # (N, 28, 28): 28 steps of 28
    y = y[:args.samples]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; NumPy {np.__version__}; "
          f"LSTM({args.units}) on 28 x 28, batch {args.batch_size}, {len(x)} samples")

    model, net = build_pair(args.units)
    train_scratchnn(model, x[:256], y[:256], args.batch_size)                  # warm-up (trains a little)
    train_torch(net, x[:256], y[:256], args.batch_size)
    rates = {"train": ([], []), "infer": ([], [])}
    for _ in range(args.repeats):                                              # interleaved: same machine state
        seconds, our_loss = train_scratchnn(model, x, y, args.batch_size)
        rates["train"][0].append(len(x) / seconds)
        seconds, their_loss = train_torch(net, x, y, args.batch_size)
        rates["train"][1].append(len(x) / seconds)
        rates["infer"][0].append(len(x) / infer_scratchnn(model, x, args.batch_size))
        rates["infer"][1].append(len(x) / infer_torch(net, x, args.batch_size))
    for what, (ours, theirs) in rates.items():
        repeats = ", ".join(f"{a / b:.2f}" for a, b in zip(ours, theirs))
        print(f"{what:5s}  scratchnn {max(ours):8,.0f} samples/s   PyTorch {max(theirs):8,.0f} samples/s   "
              f"ratio {max(ours) / max(theirs):.2f}x  (repeats: {repeats})")
    print(f"last training loss: scratchnn {our_loss:.4f}, PyTorch {their_loss:.4f}")

    xb, yb = x[:args.batch_size], y[:args.batch_size]
    timings = split_of_one_batch(model, xb, yb)
    loops = timings["forward loop"] + timings["backward loop"]
    print(f"one training batch: {timings['step'] * 1e3:.1f} ms, of which the cell steps {loops * 1e3:.1f} ms "
          f"({loops / timings['step']:.0%}: forward {timings['forward loop'] * 1e3:.1f}, backward "
          f"{timings['backward loop'] * 1e3:.1f}); the rest is x @ W, the weight gradients, Dense, loss, SGD")
    lstm = model.layers[0]
    model.forward(xb, training=True)
    measured = tape_bytes(lstm)
    model.clear_cache()
    n, steps, u = args.batch_size, 28, args.units
    print(f"tape per batch (LSTM, training forward): {measured / 2 ** 20:.2f} MiB measured; per step and sample "
          f"{measured / (n * steps * 4):.0f} float32 = {measured / (n * steps * 4 * u):.2f} x units")


if __name__ == "__main__":
    main()
