"""The small ResNet of examples/fashion_resnet.py, one training step in scratchnn against PyTorch (CPU) in one run.

Both start from the same weights (PyTorch's are copied from scratchnn's) and train on the same Fashion-MNIST
batches with the same SGD (Nesterov momentum 0.9, weight decay 5e-4, a constant rate 0.05), for each batch
size in turn. Prints samples/second for training and for inference (the test images) in both and their ratio,
then where scratchnn spends a training step, by layer and feature-map size. Each library runs all its
batches before the other starts (see benchmarks/cnn.py's race()); on a busy machine the ratio is only as
steady as the machine.

Run: python benchmarks/resnet.py [--batch-sizes 64 128] [--batches 20] [--repeats 3]
     OPENBLAS_NUM_THREADS=1 python benchmarks/resnet.py     (one thread for NumPy's BLAS and for PyTorch)
"""
import argparse
import collections
import os
import sys
import time
from pathlib import Path

import numpy as np

import scratchnn as snn
from scratchnn import optim

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from fashion_resnet import MOMENTUM, WEIGHT_DECAY, resnet, stage_plan, to_nchw, torch_resnet  # noqa: E402

RATE = 0.05


def build(seed, torch):
    """(scratchnn model, PyTorch net, PyTorch optimizer): the same network, weights and optimizer settings."""
    plan = stage_plan()
    model = resnet(plan, seed)
    model.compile(loss="categorical_crossentropy", from_logits=True,
                  optimizer=optim.SGD(RATE, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY))
    net = torch_resnet(model, plan, torch)
    opt = torch.optim.SGD(net.parameters(), lr=RATE, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY)
    return model, net, opt


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def race(model, net, opt, batches, x_eval, batch_size, torch):
    """Seconds of each library over all the training batches, then over the inference batches, one library
    after the other -> {"scratchnn" | "torch": (losses, training seconds, inference seconds)}."""
    loss_fn = torch.nn.CrossEntropyLoss()
    torch_batches = [(to_nchw(xb, torch), torch.from_numpy(yb.astype(np.int64))) for xb, yb in batches]

    def torch_step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()
    eval_batches = [x_eval[i:i + batch_size] for i in range(0, len(x_eval), batch_size)]
    torch_eval = [to_nchw(xb, torch) for xb in eval_batches]
    ours = timed(lambda: [model.train_on_batch(xb, yb) for xb, yb in batches])
    ours_eval = timed(lambda: [model.forward(xb) for xb in eval_batches])[1]
    net.train()
    theirs = timed(lambda: [torch_step(xb, yb) for xb, yb in torch_batches])
    net.eval()
    with torch.no_grad():
        theirs_eval = timed(lambda: [net(xb) for xb in torch_eval])[1]
    return {"scratchnn": (*ours, ours_eval), "torch": (*theirs, theirs_eval)}


def describe(layer):
    """A layer by its kind and its output's size: "Conv2D 3x3/2 -> 14x14x32"."""
    kind = type(layer).__name__
    if hasattr(layer, "kernel_size"):
        kind += f" {layer.kernel_size[0]}x{layer.kernel_size[1]}/{layer.strides[0]}"
    return f"{kind} -> {'x'.join(map(str, layer.output_shape))}"


def step_profile(model, batches):
    """Seconds in each kind of layer's forward and backward over the batches (training mode), run as
    Model.forward / Model.backward run them, and in the graph's own work (adding the gradients of a tensor
    used twice), keyed by describe(layer); plus the optimizer's step."""
    forward, backward = collections.Counter(), collections.Counter()
    for xb, yb in batches:
        model.zero_grad()
        values = model._as_input(xb) + [None] * (model._slots - 1)
        with snn.backend.shared_work(len(xb) * model._widest):
            for layer, sources, target, multiple, _ in model._steps:
                start = time.perf_counter()
                values[target] = layer.forward([values[i] for i in sources] if multiple else values[sources[0]],
                                               training=True)
                forward[describe(layer)] += time.perf_counter() - start
        model.loss.forward(values[model._output_slots[0]], yb)
        grads = [None] * model._slots
        grads[model._output_slots[0]] = model.loss.backward()
        with snn.backend.shared_work(len(xb) * model._widest):
            for layer, sources, target, multiple, from_inputs in reversed(model._steps):
                grad, grads[target] = grads[target], None
                start = time.perf_counter()
                result = layer.backward(grad, input_grad=not from_inputs)
                backward[describe(layer)] += time.perf_counter() - start
                start = time.perf_counter()
                for source, part in ([] if from_inputs else zip(sources, result if multiple else [result])):
                    grads[source] = part if grads[source] is None else grads[source] + part
                backward["graph: gradient sums"] += time.perf_counter() - start
        start = time.perf_counter()
        for layer in model.layers:
            layer.settle_grads()
        model.optimizer.step(model.parameters())
        forward["optimizer step"] += time.perf_counter() - start
    return forward, backward


def main(batch_sizes=(64, 128), batches=20, repeats=3, seed=0, profile_batches=10):
    import torch

    if os.environ.get("OPENBLAS_NUM_THREADS"):                      # the same number of threads for all
        snn.backend.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))
    torch.set_num_threads(snn.backend.get_num_threads())
    (x_train, y_train), (x_test, _) = snn.datasets.load_fashion_mnist()
    x_train = (x_train[..., None] / np.float32(255)).astype(np.float32)
    x_eval = (x_test[:2048, ..., None] / np.float32(255)).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x_train))
    print(f"the ResNet of examples/fashion_resnet.py; {batches} training batches per size, inference on "
          f"{len(x_eval)} test images; numpy {np.__version__}, torch {torch.__version__}; {torch.get_num_threads()} "
          f"threads for torch, {snn.backend.get_num_threads()} for scratchnn; load average {os.getloadavg()[0]:.2f}")
    print(f"{'':16} {'scratchnn':>10} {'pytorch':>10} {'ratio':>7}   (samples/second, best of {repeats}; the "
          "ratio in each repeat)")
    rows = []
    for batch_size in batch_sizes:
        chosen = order[:batches * batch_size].reshape(batches, batch_size)
        data = [(x_train[idx], y_train[idx]) for idx in chosen]
        model, net, opt = build(seed, torch)                        # warm-up of both
        race(model, net, opt, data[:2], x_eval[:batch_size], batch_size, torch)
        rates = {"training": ([], []), "inference": ([], [])}
        for _ in range(repeats):                                    # each repeat from the same initial weights
            model, net, opt = build(seed, torch)
            results = race(model, net, opt, data, x_eval, batch_size, torch)
            ours, theirs = results["scratchnn"], results["torch"]
            for side, result in enumerate((ours, theirs)):
                rates["training"][side].append(len(data) * batch_size / result[1])
                rates["inference"][side].append(len(x_eval) / result[2])
        print(f"batch {batch_size}: first-batch loss scratchnn {ours[0][0]:.6f}, torch {theirs[0][0]:.6f}; "
              f"last-batch loss scratchnn {ours[0][-1]:.6f}, torch {theirs[0][-1]:.6f}")
        for name, (mine, torch_rates) in rates.items():
            rows.append((batch_size, name, max(mine), max(torch_rates)))
            each = ", ".join(f"{a / b:.2f}" for a, b in zip(mine, torch_rates))
            print(f"  {name:14} {max(mine):10,.0f} {max(torch_rates):10,.0f} {max(mine) / max(torch_rates):7.2f}"
                  f"   ({each})")
    if profile_batches:
        model = build(seed, torch)[0]
        batch_size = batch_sizes[-1]
        data = [(x_train[idx], y_train[idx]) for idx in order[:profile_batches * batch_size].reshape(-1, batch_size)]
        step_profile(model, data[:2])
        forward, backward = step_profile(model, data)
        total = sum(forward.values()) + sum(backward.values())
        calls = collections.Counter(describe(layer) for layer, *_ in model._steps)
        print(f"scratchnn, one training step of {batch_size}: {1000 * total / profile_batches:.0f} ms; by layer "
              f"(forward / backward ms, % of the step), over {profile_batches} steps:")
        for key in sorted(set(forward) | set(backward), key=lambda k: -(forward[k] + backward[k])):
            f, b = 1000 * forward[key] / profile_batches, 1000 * backward[key] / profile_batches
            label = f"{key} (x{calls[key]})" if calls[key] > 1 else key
            print(f"  {label:38} {f:7.1f} / {b:7.1f}   {100 * (forward[key] + backward[key]) / total:5.1f}%")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batches", type=int, default=20, help="training batches per batch size and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile-batches", type=int, default=10, help="0: no per-layer profile")
    args = parser.parse_args()
    main(tuple(args.batch_sizes), args.batches, args.repeats, profile_batches=args.profile_batches)
