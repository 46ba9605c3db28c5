"""Data-parallel training on Ray, measured on this machine, and a model of how it scales to N machines.

1. Throughput, samples/second, for the digits MLP [784, 500, 500, 10] and CNN (benchmarks/cnn.py's), SGD,
   global batch 128: one process with 2 threads against RayStrategy(num_workers=2, cpus_per_worker=1)
   (each worker 1 thread), with the object-store reduce and with ray.util.collective's gloo all-reduce.
   An epoch is timed from its start to its end (checkpoint included); the first epoch (start-up) is left out.
2. The all-reduce alone, per step: W actors exchange a gradient of the MLP's or the CNN's size (and of one
   element, for the fixed cost per step), repeated; its time and bandwidth.
3. The scaling model, from those measurements, for each reduce:
       step(W, B) = t0 + c * B / W + allreduce(W, P)
       allreduce(W, P) = a(W) + 2 (W - 1) / W * 4P / bandwidth        (0 for W = 1)
   c: compute seconds per sample on one thread, t0: the fixed cost of a step (both fitted from batches of 32
   and 128); a(W): the fixed cost of one exchange: for the object store a straight line through the
   one-element rounds at W = 2 and W = 4 (the driver submits 3W tasks a step), for gloo's ring 2 (W - 1) hops
   of half the one-element round at W = 2 (on one machine: a lower bound for a network); bandwidth: stated,
   --gbits (10 Gbit/s Ethernet by default). Printed: the speed-up over one worker at a fixed global batch
   (--batch, strong scaling) and at a fixed batch per worker (weak scaling), and b*, the batch per worker
   above which computing takes longer than communicating. The plot goes to docs/images/distributed_scaling.png.

Run: python benchmarks/distributed.py [--epochs 3] [--cnn-samples 2000] [--gbits 10] [--no-collective]
"""
import argparse
import os
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, optim
from scratchnn.callbacks import Callback
from scratchnn.distributed import RayStrategy
from scratchnn.distributed.reduce import chunks, reduce_chunk

WORKERS = (1, 2, 4, 8, 16, 32, 64)


def build_mlp(seed=0):
    model = snn.Sequential([layers.Dense(500, activation="relu"), layers.Dense(500, activation="relu"),
                            layers.Dense(10)], input_shape=(784,), seed=seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05))
    return model


def build_cnn(seed=0):
    model = snn.Sequential([layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                            layers.Dense(128, activation="relu"), layers.Dense(10)], input_shape=(28, 28, 1),
                           seed=seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05))
    return model


class EpochTimer(Callback):
    """Wall seconds of each epoch, and the CPU seconds of this process plus those of the strategy's workers."""

    def __init__(self, strategy=None):
        self.strategy, self.times, self.cpu = strategy, [], []

    def _cpu(self):
        workers = self.strategy.worker_info() if self.strategy is not None else []
        return time.process_time() + sum(info["cpu_seconds"] for info in workers)

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.start_cpu = time.perf_counter(), self._cpu()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)
        self.cpu.append(self._cpu() - self.start_cpu)


def throughput(build, x, y, epochs, batch, strategy=None):
    """Samples per wall second and per CPU second (all processes), of the best epoch after the first.

    On a busy machine the wall figure depends on how many runnable threads the other users have (two
    processes get a larger share than one), the CPU figure does not: it is the work each sample costs."""
    timer = EpochTimer(strategy)
    build().fit(x, y, epochs=epochs, batch_size=batch, shuffle=True, verbose=0, callbacks=[timer], strategy=strategy)
    return len(x) / min(timer.times[1:]), len(x) / min(timer.cpu[1:])


def compute_cost(build, x, y, repeats=5):
    """(t0, c): a step on one thread takes t0 + c * batch seconds (best of repeats at batch 32 and 128)."""
    from threadpoolctl import threadpool_limits
    model, times = build(), {}
    threads = snn.backend.get_num_threads()
    snn.backend.set_num_threads(1)
    with threadpool_limits(limits=1):
        for batch in (32, 128):
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                model.apply_gradients(model.compute_gradients(x[:batch], y[:batch])[1])
                best = min(best, time.perf_counter() - start)
            times[batch] = best
    snn.backend.set_num_threads(threads)
    c = (times[128] - times[32]) / 96
    return max(times[32] - 32 * c, 0.0), c


# ---- the all-reduce alone ----------------------------------------------------------------------------------
class ReduceBench:
    """What a worker does in the object-store reduce, with a fixed gradient instead of a model's."""

    def __init__(self, size, workers):
        self.flat, self.workers = np.ones(size, np.float32), workers

    def compute(self):
        return ((0.0, 1), *chunks(self.flat, self.workers))

    def reduce(self, *args):
        return reduce_chunk([n for _, n in args[:self.workers]], args[self.workers:])

    def apply(self, *args):
        return len(np.concatenate(args[self.workers:]))


class CollectiveBench:
    def __init__(self, size):
        self.flat = np.ones(size, np.float32)

    def join(self, workers, rank, name):
        import ray.util.collective as collective
        collective.init_collective_group(workers, rank, backend="gloo", group_name=name)
        self.name = name

    def run(self, repeats):
        import ray.util.collective as collective
        collective.allreduce(self.flat, group_name=self.name)
        start = time.perf_counter()
        for _ in range(repeats):
            collective.allreduce(self.flat, group_name=self.name)
        return (time.perf_counter() - start) / repeats


def object_store_round(ray, size, workers, repeats):
    actor = ray.remote(num_cpus=0)(ReduceBench)
    group = [actor.remote(size, workers) for _ in range(workers)]

    def one_round():
        outputs = [w.compute.options(num_returns=workers + 1).remote() for w in group]
        stats = [out[0] for out in outputs]
        reduced = [group[j].reduce.remote(*stats, *[outputs[i][j + 1] for i in range(workers)])
                   for j in range(workers)]
        ray.get([w.apply.remote(*stats, *reduced) for w in group])

    one_round()
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        one_round()
        best.append(time.perf_counter() - start)
    for w in group:
        ray.kill(w)
    return float(np.median(best))


def collective_round(ray, size, workers, repeats):
    actor = ray.remote(num_cpus=0)(CollectiveBench)
    group = [actor.remote(size) for _ in range(workers)]
    name = f"bench-{size}-{workers}-{time.time_ns()}"
    ray.get([w.join.remote(workers, rank, name) for rank, w in enumerate(group)])
    seconds = float(np.median(ray.get([w.run.remote(repeats) for w in group])))
    for w in group:
        ray.kill(w)
    return seconds


# ---- the model -----------------------------------------------------------------------------------------------
def allreduce_model(workers, params, latency, bandwidth):
    """Seconds of one all-reduce of `params` float32 values among `workers` (0 for one worker)."""
    if workers == 1:
        return 0.0
    return latency(workers) + 2 * (workers - 1) / workers * 4 * params / bandwidth


def predictions(t0, c, params, latency, bandwidth, batch):
    rows = []
    single = t0 + c * batch
    for w in WORKERS:
        strong = single / (t0 + c * batch / w + allreduce_model(w, params, latency, bandwidth))
        weak = w * single / (t0 + c * batch + allreduce_model(w, params, latency, bandwidth))
        crossover = allreduce_model(w, params, latency, bandwidth) / c
        rows.append((w, strong, weak, crossover))
    return rows


def plot(results, batch, gbits, path):
    """results[reduce][network] = rows of predictions(): one panel per network, weak and strong per reduce."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    networks = list(next(iter(results.values())))
    figure, axes = plt.subplots(1, len(networks), figsize=(11, 4.2), sharey=True)
    for ax, name in zip(axes, networks):
        w = list(WORKERS)
        ax.plot(w, w, "k:", label="ideal")
        for (reduce, by_network), color in zip(results.items(), ("tab:blue", "tab:orange")):
            rows = by_network[name]
            ax.plot(w, [r[2] for r in rows], "o-", color=color, label=f"{reduce}, {batch} per worker")
            ax.plot(w, [r[1] for r in rows], "s--", color=color, label=f"{reduce}, global batch {batch}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xticks(w, [str(v) for v in w])
        ax.set_yticks([1 / 16, 1 / 4, 1, 4, 16, 64], ["1/16", "1/4", "1", "4", "16", "64"])
        ax.set_title(f"digits {name}: predicted speed-up at {gbits:g} Gbit/s")
        ax.set_xlabel("workers (one machine each)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("speed-up over one worker")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def batchnorm_difference(x, y, epochs, batch):
    """An MLP with BatchNormalization, float64: one process against 2 workers (each normalising its half)."""
    def build():
        model = snn.Sequential([layers.Dense(128), layers.BatchNormalization(momentum=0.9), layers.ReLU(),
                                layers.Dense(10)], input_shape=(784,), seed=0, dtype="float64")
        model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05),
                      metrics=["accuracy"])
        return model
    split = int(0.8 * len(x))
    runs = []
    for strategy in (None, RayStrategy(2)):
        model = build()
        model.fit(x[:split], y[:split], epochs=epochs, batch_size=batch, verbose=0, strategy=strategy)
        runs.append((model, model.evaluate(x[split:], y[split:])))
    (alone, val_alone), (parallel, val_parallel) = runs
    weights = [np.abs(a - b).max() / np.abs(a).max() for a, b in zip(alone.get_weights(), parallel.get_weights())]
    print(f"\n4. BatchNormalization ({epochs} epochs, batch {batch}, {split} samples, float64): largest relative "
          f"weight difference 1 process vs 2 workers {max(weights):.2e}; held-out accuracy "
          f"{val_alone['accuracy']:.4f} vs {val_parallel['accuracy']:.4f}, loss {val_alone['loss']:.4f} vs "
          f"{val_parallel['loss']:.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--cnn-samples", type=int, default=2000)
    parser.add_argument("--gbits", type=float, default=10.0, help="network bandwidth per machine, Gbit/s")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-collective", action="store_true")
    parser.add_argument("--plot", default=os.path.join(os.path.dirname(__file__), "..", "docs", "images",
                                                       "distributed_scaling.png"))
    args = parser.parse_args()
    import ray
    ray.init(num_cpus=2, include_dashboard=False, logging_level="error")
    (x, y), _ = snn.datasets.load_digits()
    x = x.astype(np.float32) / 255
    data = {"MLP": (build_mlp, x.reshape(len(x), -1), y), "CNN": (build_cnn, x[:args.cnn_samples, ..., None],
                                                                y[:args.cnn_samples])}
    reduces = ["object_store"] + ([] if args.no_collective else ["collective"])
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)")
    print("\n1. throughput, samples/s (best epoch after the first), global batch", args.batch)
    costs, params = {}, {}
    for name, (build, xs, ys) in data.items():
        params[name] = build().count_params()
        snn.backend.set_num_threads(2)
        one, one_cpu = throughput(build, xs, ys, args.epochs, args.batch)
        print(f"  {name} ({params[name]:,} parameters, {len(xs)} samples), samples per wall second (per CPU "
              f"second):\n    1 process x 2 threads            {one:7.0f} ({one_cpu:6.0f})")
        for reduce in reduces:
            two, two_cpu = throughput(build, xs, ys, args.epochs, args.batch, RayStrategy(2, 1, reduce=reduce))
            print(f"    2 workers x 1 thread, {reduce:12s} {two:6.0f} ({two_cpu:6.0f}): {two / one:.2f}x the wall "
                  f"rate, {two_cpu / one_cpu:.2f}x the CPU rate")
        costs[name] = compute_cost(build, xs, ys)
    print("\n2. all-reduce per step (median of", args.repeats, "rounds, 2 workers on this machine)")
    rounds = {}
    for reduce in reduces:
        measure = object_store_round if reduce == "object_store" else collective_round
        for name, size in (("1 value", 1), ("CNN", params["CNN"]), ("MLP", params["MLP"])):
            seconds = measure(ray, size, 2, args.repeats)
            rounds[reduce, name] = seconds
            moved = 2 * (2 - 1) / 2 * 4 * size
            print(f"  {reduce:12s} {name:8s} {4 * size / 1e6:6.2f} MB: {seconds * 1e3:7.2f} ms per step, "
                  f"{4 * size / seconds / 1e9:5.2f} GB/s of gradient, "
                  f"{moved / seconds / 1e9:5.2f} GB/s moved per worker")
    latency4 = object_store_round(ray, 1, 4, args.repeats)
    latency2 = rounds["object_store", "1 value"]
    slope = max((latency4 - latency2) / 2, 0.0)
    print(f"  object_store 1 value, 4 workers: {latency4 * 1e3:.2f} ms, so its fixed cost is a(W) = "
          f"{latency2 * 1e3:.2f} ms + {slope * 1e3:.2f} ms x (W - 2)")
    latencies = {"object_store": lambda w: latency2 + slope * (w - 2)}
    if "collective" in reduces:
        hop = rounds["collective", "1 value"] / 2            # a ring all-reduce: 2 (W - 1) hops of one step each
        print(f"  collective fixed cost: 2 (W - 1) x {hop * 1e3:.2f} ms (a ring's 2 (W - 1) steps)")
        latencies["collective"] = lambda w: 2 * (w - 1) * hop
    bandwidth = args.gbits * 1e9 / 8
    print(f"\n3. the model: {args.gbits:g} Gbit/s network, global batch {args.batch} (strong scaling) or "
          f"{args.batch} per worker (weak); b*: the batch per worker above which computing outlasts the all-reduce")
    for name in data:
        t0, c = costs[name]
        print(f"  {name}: compute c = {c * 1e6:.1f} us per sample + t0 = {t0 * 1e3:.2f} ms per step (one thread); "
              f"gradient {4 * params[name] / 1e6:.2f} MB")
    results = {}
    for reduce, latency in latencies.items():
        results[reduce] = {name: predictions(*costs[name], params[name], latency, bandwidth, args.batch)
                           for name in data}
        print(f"  {reduce}: workers | " + " | ".join(f"{n} strong  {n} weak  {n} b*" for n in data))
        for i, w in enumerate(WORKERS):
            cells = [f"{rows[i][1]:10.2f} {rows[i][2]:8.2f} {rows[i][3]:7.0f}" for rows in results[reduce].values()]
            print(f"  {' ' * len(reduce)}  {w:7d} | " + " | ".join(cells))
    plot(results, args.batch, args.gbits, args.plot)
    print(f"plot written to {os.path.normpath(args.plot)}")
    batchnorm_difference(data["MLP"][1][:2500], y[:2500], 3, args.batch)


if __name__ == "__main__":
    main()
