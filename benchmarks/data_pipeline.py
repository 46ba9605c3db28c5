"""Training from a memory-mapped .npy file against training from the same array in memory.

Fashion-MNIST's 60,000 training images are written once to a temporary .npy (float32 in [0, 1], shape
(60000, 28, 28, 1), 188 MB). Each case then runs in a fresh Python process, so that its peak memory is its
own: the MLP [784, 256, 10] trained with the same seed and batches of 128, shuffled,
- ``arrays``: ``fit(x, y)`` on the array loaded whole (np.load), the array path;
- ``dataset``: ``Dataset.from_arrays(x, y).shuffle(60000, seed).batch(128)`` on the same loaded array;
- ``memmap``: ``Dataset.from_npy(x.npy, y.npy).shuffle(buffer, seed).batch(128).prefetch(2)``: nothing read
  whole, each batch gathered from the mapped file by the prefetching thread.
Per case: the median epoch time (of epochs 2..E; the first reads the file from disk into the page cache),
wall and CPU (``time.process_time``: every thread of the process; the steadier one on a loaded machine),
peak RSS (VmHWM) and the peak of its anonymous part (RssAnon, sampled every 10 ms): a mapped file's pages
count in RSS once read but are the kernel's page cache, which it drops under memory pressure, while
anonymous memory is what the process itself holds.

Run: python benchmarks/data_pipeline.py [--epochs 3] [--repeats 1] [--buffer 60000]
(the cases run in a rotating order, so that a change of the machine's load does not always hit one case)
(one thread each, OPENBLAS_NUM_THREADS=1 SCRATCHNN_NUM_THREADS=1, unless those are set)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

CASES = ("arrays", "dataset", "memmap")


def status_kib(field):
    """A field of /proc/self/status in KiB (VmHWM, VmRSS, RssAnon, RssFile)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class AnonPeak:
    """The largest RssAnon seen by a thread that looks every 10 ms."""

    def __init__(self):
        self.peak = status_kib("RssAnon")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while not self.done.wait(0.01):
            self.peak = max(self.peak, status_kib("RssAnon"))

    def stop(self):
        self.done.set()
        self.thread.join()
        return max(self.peak, status_kib("RssAnon"))


def write_files(folder):
    from scratchnn import datasets
    (x, y), _ = datasets.load_fashion_mnist()
    x_path, y_path = os.path.join(folder, "x.npy"), os.path.join(folder, "y.npy")
    np.save(x_path, (x.astype(np.float32) / 255.0)[..., None])
    np.save(y_path, y.astype(np.int64))
    return x_path, y_path


def run_case(case, x_path, y_path, epochs, buffer, seed=0):
    """One case in this process -> {"epoch_s": [...], "hwm_mib", "anon_mib", "start_mib", "loss"}."""
    import scratchnn as snn
    from scratchnn import callbacks, layers, optim
    from scratchnn.data import Dataset

    model = snn.Sequential([layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dense(10)],
                           input_shape=(28, 28, 1), seed=seed)
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.05))
    start_mib = status_kib("VmRSS") / 1024
    watch = AnonPeak()
    if case == "memmap":
        data = Dataset.from_npy(x_path, y_path).shuffle(buffer, seed=seed).batch(128).prefetch(2)
        args = {}
    else:
        x, y = np.load(x_path), np.load(y_path)
        data = Dataset.from_arrays(x, y).shuffle(buffer, seed=seed).batch(128) if case == "dataset" else x
        args = {"y": y, "batch_size": 128} if case == "arrays" else {}
    times, cpu_times = [], []

    def begin(epoch, logs):
        times.append(time.perf_counter())
        cpu_times.append(time.process_time())

    def end(epoch, logs):
        times.append(time.perf_counter() - times.pop())
        cpu_times.append(time.process_time() - cpu_times.pop())
    timer = callbacks.LambdaCallback(on_epoch_begin=begin, on_epoch_end=end)
    history = model.fit(data, epochs=epochs, verbose=0, callbacks=timer, **args)
    return {"epoch_s": times, "cpu_s": cpu_times, "hwm_mib": status_kib("VmHWM") / 1024,
            "anon_mib": watch.stop() / 1024, "start_mib": start_mib, "loss": history.history["loss"][-1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each case (the spread is printed)")
    parser.add_argument("--buffer", type=int, default=60000, help="shuffle buffer (60000: a full permutation)")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)        # a child process's one case
    parser.add_argument("--files", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, *args.files, args.epochs, args.buffer)))
        return
    env = {"OPENBLAS_NUM_THREADS": "1", "SCRATCHNN_NUM_THREADS": "1", **os.environ}
    results = {case: [] for case in CASES}
    with tempfile.TemporaryDirectory() as folder:
        files = write_files(folder)
        print(f"x.npy: {os.path.getsize(files[0]) / 2**20:.0f} MiB; {args.epochs} epochs, batch 128, "
              f"shuffle buffer {args.buffer}; load average {os.getloadavg()[0]:.2f}", flush=True)
        for repeat in range(args.repeats):
            for case in CASES[repeat % 3:] + CASES[:repeat % 3]:       # each case first in turn
                child = subprocess.run([sys.executable, __file__, "--case", case, "--files", *files,
                                        "--epochs", str(args.epochs), "--buffer", str(args.buffer)],
                                       env=env, capture_output=True, text=True)
                if child.returncode:
                    sys.exit(f"the {case!r} case failed:\n{child.stderr}")
                results[case].append(json.loads(child.stdout.splitlines()[-1]))
    print(f"{'case':<8} {'wall s/epoch':>20} {'wall ratio':>12} {'CPU s/epoch':>20} {'CPU ratio':>12} "
          f"{'peak RSS MiB':>13} {'peak anon MiB':>14} {'last loss':>10}")
    for case in CASES:
        runs = results[case]
        cells = []
        for key in ("epoch_s", "cpu_s"):
            medians = [statistics.median(run[key][1:] or run[key]) for run in runs]
            base = [statistics.median(run[key][1:] or run[key]) for run in results["arrays"]]
            ratios = [m / b for m, b in zip(medians, base)]
            cells += [" / ".join(f"{m:.2f}" for m in medians),
                      f"{min(ratios):.3f}-{max(ratios):.3f}" if len(ratios) > 1 else f"{ratios[0]:.3f}"]
        print(f"{case:<8} {cells[0]:>20} {cells[1]:>12} {cells[2]:>20} {cells[3]:>12} "
              f"{max(r['hwm_mib'] for r in runs):>13.0f} {max(r['anon_mib'] for r in runs):>14.0f} "
              f"{runs[0]['loss']:>10.4f}")
    print(f"RSS before the data: {results['arrays'][0]['start_mib']:.0f} MiB; ratios are to the arrays case of "
          "the same repeat (their range over the repeats)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
