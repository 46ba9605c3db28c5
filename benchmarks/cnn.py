"""A small CNN on the embedded digits, scratchnn against PyTorch (CPU) in one run: same weights, same batches.

Network: Conv(32, 3) ReLU -> MaxPool 2 -> Conv(64, 3) ReLU -> MaxPool 2 -> Flatten -> Dense 128 ReLU -> Dense 10,
softmax cross-entropy, SGD, batch 128. Prints samples/second for training and inference in both, their
ratio, and where scratchnn spends its time, layer by layer. Each library runs all its batches before the
other starts (see race()); on a busy machine the ratio is only as steady as the machine.

Run: python benchmarks/cnn.py [--epochs 1] [--batch-size 128] [--repeats 3]
     OPENBLAS_NUM_THREADS=1 python benchmarks/cnn.py     (one thread for NumPy's BLAS and for PyTorch)
"""
import argparse
import os
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, optim
from scratchnn.models.plan import execution_order


def build_scratchnn(seed):
    model = snn.Sequential([
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10),
    ], input_shape=(28, 28, 1), seed=seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05))
    return model


def build_torch(model, torch):
    """The same network in PyTorch (NCHW), its weights copied from the scratchnn model."""
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    conv1, conv2, dense1, dense2 = [layer for layer in model.layers if layer.params]
    with torch.no_grad():
        for target, conv in ((net[0], conv1), (net[3], conv2)):
            target.weight.copy_(torch.from_numpy(conv.params["kernel"].transpose(3, 2, 0, 1).copy()))
            target.bias.copy_(torch.from_numpy(conv.params["bias"]))
        # our Flatten reads (H, W, C), PyTorch's (C, H, W): reorder the rows of the first Dense kernel
        kernel = dense1.params["kernel"].reshape(5, 5, 64, 128).transpose(3, 2, 0, 1).reshape(128, 1600)
        net[7].weight.copy_(torch.from_numpy(kernel.copy()))
        net[7].bias.copy_(torch.from_numpy(dense1.params["bias"]))
        net[9].weight.copy_(torch.from_numpy(dense2.params["kernel"].T.copy()))
        net[9].bias.copy_(torch.from_numpy(dense2.params["bias"]))
    return net


def torch_step(net, opt, loss_fn, xb, yb):
    opt.zero_grad()
    loss = loss_fn(net(xb), yb)
    loss.backward()
    opt.step()
    return loss.item()


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def race(model, net, batches, x_eval, torch):
    """Time each library over all the batches in turn (training, then inference), one after the other.

    The libraries are not interleaved batch by batch: NumPy's OpenBLAS threads keep spinning for a while
    after each product and then steal the cores from PyTorch's threads (measured: PyTorch alone trained
    at 5,700 samples/s, interleaved with scratchnn at 1,600). Returns {"scratchnn" | "torch": (losses,
    training seconds, inference seconds)}.
    """
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()
    to_torch = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    torch_batches = [(to_torch(xb), torch.from_numpy(yb.astype(np.int64))) for xb, yb in batches]
    batch_size = len(batches[0][0])
    eval_batches = [x_eval[i:i + batch_size] for i in range(0, len(x_eval), batch_size)]
    ours = timed(lambda: [model.train_on_batch(xb, yb) for xb, yb in batches])
    theirs = timed(lambda: [torch_step(net, opt, loss_fn, xb, yb) for xb, yb in torch_batches])
    ours_eval = timed(lambda: [model.forward(xb) for xb in eval_batches])[1]
    torch_eval = [to_torch(xb) for xb in eval_batches]
    with torch.no_grad():
        theirs_eval = timed(lambda: [net(xb) for xb in torch_eval])[1]
    return {"scratchnn": (*ours, ours_eval), "torch": (*theirs, theirs_eval)}


def layer_profile(model, batches):
    """Seconds spent in each layer's forward and backward over the given batches (training mode), with the
    layers run as Sequential runs them (see scratchnn.models.plan.execution_order)."""
    forward = np.zeros(len(model.layers))
    backward = np.zeros(len(model.layers))
    order = execution_order(model.layers)
    for xb, yb in batches:
        model.zero_grad()
        with snn.backend.shared_work(len(xb) * model._widest):        # as Sequential.forward/backward do
            x = xb
            for i in order:
                start = time.perf_counter()
                x = model.layers[i].forward(x, training=True)
                forward[i] += time.perf_counter() - start
            model.loss.forward(x, yb)
            grad = model.loss.backward()
            for k in range(len(order) - 1, -1, -1):
                start = time.perf_counter()
                grad = model.layers[order[k]].backward(grad, input_grad=k > 0)
                backward[order[k]] += time.perf_counter() - start
    return forward, backward


def main(epochs=1, batch_size=128, repeats=3, seed=0):
    import torch

    if os.environ.get("OPENBLAS_NUM_THREADS"):                      # the same number of threads for all
        torch.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))
        snn.backend.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))

    (x_train, y_train), (x_test, _) = snn.datasets.load_digits()
    x_train = (x_train / np.float32(255)).astype(np.float32)[..., None]
    x_test = (x_test / np.float32(255)).astype(np.float32)[..., None]
    order = np.concatenate([np.random.default_rng(seed + epoch).permutation(len(x_train)) for epoch in range(epochs)])
    batches = [(x_train[order[i:i + batch_size]], y_train[order[i:i + batch_size]])
               for i in range(0, len(order) - batch_size + 1, batch_size)]

    profile_model = build_scratchnn(seed)
    layer_profile(profile_model, batches[:3])                       # warm-up of both
    warm_net = build_torch(profile_model, torch)
    with torch.no_grad():
        warm_net(torch.from_numpy(np.ascontiguousarray(batches[0][0].transpose(0, 3, 1, 2))))
    samples = len(batches) * batch_size
    rates = {"training": ([], []), "inference": ([], [])}
    for _ in range(repeats):                                        # each repeat from the same initial weights
        model = build_scratchnn(seed)
        results = race(model, build_torch(model, torch), batches, x_test, torch)
        ours, theirs = results["scratchnn"], results["torch"]
        for side, result in enumerate((ours, theirs)):
            rates["training"][side].append(samples / result[1])
            rates["inference"][side].append(len(x_test) / result[2])

    print(f"{len(batches)} training batches of {batch_size} ({samples} samples), inference on {len(x_test)} "
          f"test digits; numpy {np.__version__}, torch {torch.__version__}; {torch.get_num_threads()} threads "
          f"for torch, {snn.backend.get_num_threads()} for scratchnn")
    print(f"first-batch loss: scratchnn {ours[0][0]:.6f}, torch {theirs[0][0]:.6f}; "
          f"last-batch loss: scratchnn {ours[0][-1]:.6f}, torch {theirs[0][-1]:.6f}")
    print(f"{'':10} {'scratchnn':>12} {'pytorch':>12} {'ratio':>7}   (samples/second, best of {repeats}; "
          f"the ratio in each repeat)")
    rows = []
    for name, (mine, torch_rates) in rates.items():
        rows.append((name, max(mine), max(torch_rates)))
        each = ", ".join(f"{a / b:.2f}" for a, b in zip(mine, torch_rates))
        print(f"{name:10} {max(mine):12,.0f} {max(torch_rates):12,.0f} {max(mine) / max(torch_rates):7.2f}   ({each})")

    forward, backward = layer_profile(profile_model, batches[:20])
    total = forward.sum() + backward.sum()
    print(f"scratchnn time per layer over 20 training batches (forward / backward, % of {total:.2f}s):")
    for layer, f, b in zip(profile_model.layers, forward, backward):
        print(f"  {type(layer).__name__:14} {100 * f / total:5.1f}% / {100 * b / total:5.1f}%")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    main(args.epochs, args.batch_size, args.repeats)
