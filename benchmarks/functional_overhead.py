"""What the functional path costs: the digits MLP [784, 500, 500, 10] trained as a Sequential and as a Model.

The two networks have the same seed, hence the same initial weights, and see the same batches (128, no
shuffling), plain SGD, float32: the same numbers come out (the script checks the losses are equal), and the
only difference is the graph bookkeeping of the Model's forward and backward (slots, topological steps)
against Sequential's list. The runs alternate (Sequential, Model, Model, Sequential, ...: each goes first
in half of the repeats) so that a noisy machine slows both alike; the best and the median of the repeats
are printed, and the ratio Model / Sequential, for the wall-clock time and for the process's CPU time
(which other processes on a shared machine disturb less). Then single training steps (one batch,
``train_on_batch``), alternated many times: the fastest step of each is the least disturbed measurement
of what each path costs. Last, the bookkeeping alone: the same three layers 4 units wide on one sample,
where the math is nearly free; the difference of the fastest steps, against the MLP's fastest step, bounds
what the graph adds.

Run: python benchmarks/functional_overhead.py [--epochs 2] [--repeats 5] [--samples 8000]
"""
import argparse
import statistics
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, optim

SIZES = [784, 500, 500, 10]


def sequential(seed, sizes=SIZES):
    return snn.Sequential([layers.Dense(sizes[1], activation="relu"), layers.Dense(sizes[2], activation="relu"),
                           layers.Dense(sizes[3])], input_shape=(sizes[0],), seed=seed)


def functional(seed, sizes=SIZES):
    x = snn.Input(shape=(sizes[0],))
    h = layers.Dense(sizes[1], activation="relu")(x)
    h = layers.Dense(sizes[2], activation="relu")(h)
    return snn.Model(x, layers.Dense(sizes[3])(h), seed=seed)


def train(make, x, y, epochs, batch_size):
    model = make(0)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05))
    start, cpu_start = time.perf_counter(), time.process_time()
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    return (time.perf_counter() - start, time.process_time() - cpu_start), history.history["loss"]


def step_times(x, y, steps, batch_size, sizes=SIZES):
    """The time of single training steps of each model, alternating (the same batch, weights moving alike)."""
    models = {}
    for name, make in (("Sequential", sequential), ("Model", functional)):
        models[name] = make(0, sizes)
        models[name].compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05))
    xb, yb = x[:batch_size], y[:batch_size]
    times = {name: [] for name in models}
    for step in range(steps):
        for name in (list(models) if step % 2 == 0 else list(models)[::-1]):
            start = time.perf_counter()
            models[name].train_on_batch(xb, yb)
            times[name].append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100, help="single steps of each model, alternated")
    args = parser.parse_args()
    (x, y), _ = snn.datasets.digits.load_digits()
    x = (x[:args.samples].reshape(-1, SIZES[0]) / 255.0).astype(np.float32)
    y = y[:args.samples].astype(np.int64)
    train(sequential, x[:512], y[:512], 1, args.batch_size)               # warm up (allocations, thread pool)
    train(functional, x[:512], y[:512], 1, args.batch_size)
    times = {"Sequential": [], "Model": []}
    cpu = {"Sequential": [], "Model": []}
    pair = [("Sequential", sequential), ("Model", functional)]
    all_losses = {}
    for repeat in range(args.repeats):
        for name, make in pair if repeat % 2 == 0 else pair[::-1]:
            (seconds, cpu_seconds), all_losses[name] = train(make, x, y, args.epochs, args.batch_size)
            times[name].append(seconds)
            cpu[name].append(cpu_seconds)
        if all_losses["Model"] != all_losses["Sequential"]:
            raise SystemExit(f"the Model's losses {all_losses['Model']} differ from the Sequential's "
                             f"{all_losses['Sequential']}")
    reference = all_losses["Sequential"]
    samples = len(x) * args.epochs
    print(f"digits MLP {SIZES}, {len(x)} samples x {args.epochs} epochs, batch {args.batch_size}, "
          f"{args.repeats} alternating repeats, {snn.backend.get_num_threads()} threads; same losses: {reference}")
    for name, values in times.items():
        print(f"{name:10s} wall best {min(values):.3f} s ({samples / min(values):,.0f} samples/s), median "
              f"{statistics.median(values):.3f} s; CPU best {min(cpu[name]):.3f} s, median "
              f"{statistics.median(cpu[name]):.3f} s")
    for label, table in (("wall", times), ("CPU", cpu)):
        best = min(table["Model"]) / min(table["Sequential"])
        median = statistics.median(table["Model"]) / statistics.median(table["Sequential"])
        print(f"Model / Sequential {label} time: best {best:.3f}, median {median:.3f}")
    steps = step_times(x, y, args.steps, args.batch_size)
    for name, values in steps.items():
        print(f"{name:10s} one step (batch {args.batch_size}): fastest {min(values) * 1e3:.2f} ms, median "
              f"{statistics.median(values) * 1e3:.2f} ms over {len(values)}")
    print(f"Model / Sequential one step: fastest {min(steps['Model']) / min(steps['Sequential']):.3f}, median "
          f"{statistics.median(steps['Model']) / statistics.median(steps['Sequential']):.3f}")
    tiny = step_times(x[:, :4], y % 2, args.steps * 10, 1, sizes=[4, 4, 4, 2])
    extra = min(tiny["Model"]) - min(tiny["Sequential"])
    print(f"bookkeeping, [4, 4, 4, 2] on one sample: fastest step Sequential {min(tiny['Sequential']) * 1e6:.1f} us, "
          f"Model {min(tiny['Model']) * 1e6:.1f} us: the graph adds {extra * 1e6:.1f} us a step, "
          f"{100 * extra / min(steps['Sequential']):.2f}% of the MLP's fastest step")


if __name__ == "__main__":
    main()
