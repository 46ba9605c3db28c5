"""Parallel hyperparameter trials on Ray: a grid or random search, bad trials stopped early, the best kept.

    result = search(build, {"learning_rate": {"loguniform": [1e-4, 1e-2]}, "width": [64, 128],
                            "dropout": {"uniform": [0.0, 0.5]}}, x, y, epochs=9, num_trials=8,
                    scheduler=ASHA(grace_epochs=1, reduction_factor=3), out="best.snn")

``build(params, seed)`` returns a compiled model for one point of the space. A trial runs as a chain of
Ray tasks, one per segment of epochs between two decisions of the scheduler; each task continues from the
model file the previous one returned (weights, optimizer state and generator, so a segmented trial trains
exactly as an unbroken fit) and returns the new model file and the epochs' logs. The driver keeps at most
``max_concurrent`` tasks in flight and decides, as each one finishes, whether its trial goes on:

- ``ASHA``: asynchronous successive halving, the stopping form of Li et al. (2018) that Ray Tune's
  ASHAScheduler uses: rungs at grace * eta**k epochs; a trial reaching a rung goes on only if its metric is
  within the best 1/eta of all values recorded at that rung so far;
- ``MedianStopping``: after ``grace_epochs``, a trial stops when its best value so far is worse than the
  median of the other trials' values at the same epoch (Golovin et al., 2017);
- None: every trial runs all its epochs.

Space values: a list (grid axis, or a uniform choice when sampling), ``{"uniform": [a, b]}``,
``{"loguniform": [a, b]}``, ``{"randint": [a, b]}`` (a <= k < b), ``{"choice": [...]}``, or a constant.
"""
from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..saving.files import atomic_file
from ..validation import check_number, check_positive_int
from .cluster import check_resources, connect, limit_threads
from .worker import load_model_bytes, model_bytes

DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")


# ---- the space ------------------------------------------------------------------------------------------
def _check_value(name, value):
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in DISTRIBUTIONS:
            raise ValueError(f"search space {name!r}: a distribution is one of {DISTRIBUTIONS} as "
                             f"{{'uniform': [low, high]}}, got {value!r}")
        kind, bounds = next(iter(value.items()))
        if kind != "choice" and (not isinstance(bounds, (list, tuple)) or len(bounds) != 2):
            raise ValueError(f"search space {name!r}: {kind} needs [low, high], got {bounds!r}")
        if kind == "loguniform" and not 0 < bounds[0] < bounds[1]:
            raise ValueError(f"search space {name!r}: loguniform needs 0 < low < high, got {bounds!r}")


def grid(space: dict) -> list[dict]:
    """Every combination of the list-valued entries (constants kept; distributions are not allowed)."""
    axes = {}
    for name, value in space.items():
        _check_value(name, value)
        if isinstance(value, dict):
            raise ValueError(f"a grid search takes lists, and {name!r} is a distribution {value!r}: "
                             "use method='random' or list the values")
        axes[name] = value if isinstance(value, list) else [value]
    names = list(axes)
    return [dict(zip(names, combination)) for combination in itertools.product(*axes.values())]


def sample_space(space: dict, count: int, seed: int = 0) -> list[dict]:
    """``count`` points drawn from the space with one generator (the same seed gives the same points)."""
    rng = np.random.default_rng(seed)
    for name, value in space.items():
        _check_value(name, value)
    points = []
    for _ in range(count):
        point = {}
        for name, value in space.items():
            if isinstance(value, list):
                value = {"choice": value}
            if not isinstance(value, dict):
                point[name] = value
                continue
            kind, bounds = next(iter(value.items()))
            if kind == "choice":
                point[name] = bounds[int(rng.integers(len(bounds)))]
            elif kind == "uniform":
                point[name] = float(rng.uniform(*bounds))
            elif kind == "loguniform":
                point[name] = float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))
            else:
                point[name] = int(rng.integers(bounds[0], bounds[1]))
        points.append(point)
    return points


# ---- schedulers -----------------------------------------------------------------------------------------
class ASHA:
    """Asynchronous successive halving (stopping form): rungs at grace_epochs * reduction_factor**k."""

    def __init__(self, grace_epochs=1, reduction_factor=3):
        self.grace = check_positive_int("grace_epochs", grace_epochs, "ASHA")
        self.eta = check_number("reduction_factor", reduction_factor, "ASHA", low=1, low_open=True)
        self.recorded: dict[int, list[float]] = {}

    def rungs(self, max_epochs):
        rungs, rung = [], self.grace
        while rung < max_epochs:
            rungs.append(rung)
            rung = max(int(round(rung * self.eta)), rung + 1)
        return rungs

    def next_stop(self, done, max_epochs) -> int:
        """The epoch count at which the trial is next judged (or its last epoch)."""
        return next((rung for rung in self.rungs(max_epochs) if rung > done), max_epochs)

    def keep(self, trial, epochs, values, minimize) -> bool:
        """Record the trial's value at this rung; go on if it is within the best 1/eta recorded there."""
        value = values[-1] if minimize else -values[-1]
        seen = self.recorded.setdefault(epochs, [])
        seen.append(value)
        cutoff = np.quantile(seen, 1 / self.eta) if len(seen) > 1 else value
        return bool(value <= cutoff)


class MedianStopping:
    """Stop a trial whose best value so far is worse than the median of the others' at the same epoch."""

    def __init__(self, grace_epochs=1, min_trials=3):
        self.grace = check_positive_int("grace_epochs", grace_epochs, "MedianStopping")
        self.min_trials = check_positive_int("min_trials", min_trials, "MedianStopping")
        self.recorded: dict[int, dict[int, float]] = {}

    def next_stop(self, done, max_epochs) -> int:
        return min(max(done + 1, self.grace), max_epochs)

    def keep(self, trial, epochs, values, minimize) -> bool:
        signed = [v if minimize else -v for v in values]
        for epoch, value in enumerate(signed, 1):
            self.recorded.setdefault(epoch, {})[trial] = value
        others = [v for t, v in self.recorded.get(epochs, {}).items() if t != trial]
        if epochs < self.grace or len(others) + 1 < self.min_trials:
            return True
        return bool(min(signed) <= float(np.median(others)))


class _RunAll:
    def next_stop(self, done, max_epochs):
        return max_epochs

    def keep(self, trial, epochs, values, minimize):
        return True


# ---- one segment of one trial (a Ray task) --------------------------------------------------------------
def train_segment(build, params, seed, blob, first, last, x, y, xv, yv, batch_size, cpus):
    """Epochs first..last-1 of a trial, from its model file (or a new model): (logs by name, model file)."""
    limit_threads(cpus)
    model = build(params, seed) if blob is None else load_model_bytes(blob)
    history = model.fit(x, y, epochs=last, initial_epoch=first, batch_size=batch_size, verbose=0,
                        validation_data=None if xv is None else (xv, yv))
    return history.history, model_bytes(model)


@dataclass
class Trial:
    id: int
    params: dict
    seed: int
    status: str = "pending"                       # running, completed, stopped, error
    epochs: int = 0
    logs: dict = field(default_factory=dict)
    error: str | None = None

    def value(self, metric):
        values = self.logs.get(metric)
        return values[-1] if values else None


@dataclass
class SearchResult:
    trials: list
    metric: str
    mode: str
    best: Trial | None
    best_value: float | None = None
    best_model_bytes: bytes | None = None
    path: str | None = None

    @property
    def best_params(self):
        return None if self.best is None else self.best.params

    def best_model(self):
        """The best trial's model (at the epoch of its best reported value), loaded."""
        return None if self.best_model_bytes is None else load_model_bytes(self.best_model_bytes)

    def table(self) -> str:
        names = sorted({name for trial in self.trials for name in trial.params})
        lines = ["trial  " + "  ".join(f"{n:>12}" for n in names) + f"  {'epochs':>6}  {self.metric:>10}  status"]
        for t in self.trials:
            value = t.value(self.metric)
            cells = "  ".join(f"{_short(t.params.get(n)):>12}" for n in names)
            shown = "-" if value is None else f"{value:.4f}"
            lines.append(f"{t.id:>5}  {cells}  {t.epochs:>6}  {shown:>10}  {t.status}")
        return "\n".join(lines)


def _short(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ---- the driver -----------------------------------------------------------------------------------------
def search(build, space, x, y, validation_data=None, epochs=10, batch_size=32, method="random", num_trials=8,
           scheduler=None, metric=None, mode="min", seed=0, cpus_per_trial=1, max_concurrent=None, address=None,
           out=None, verbose=1) -> SearchResult:
    """Train one model per point of ``space`` on Ray, stopping bad trials early; returns a SearchResult.

    ``validation_data`` (xv, yv) is what trials are judged on (``metric`` defaults to "val_loss"; without
    validation data, "loss"). ``out``: where the best model file is written.
    """
    epochs = check_positive_int("epochs", epochs, "search")
    if method not in ("grid", "random"):
        raise ValueError(f"search: method must be 'grid' or 'random', got {method!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"search: mode must be 'min' or 'max', got {mode!r}")
    points = grid(space) if method == "grid" else sample_space(space, check_positive_int(
        "num_trials", num_trials, "search"), seed)
    metric = metric or ("val_loss" if validation_data is not None else "loss")
    scheduler = scheduler or _RunAll()
    ray = connect(address)
    check_resources(ray, cpus_per_trial, "search (one trial)")
    slots = max_concurrent or max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_trial))
    task = ray.remote(num_cpus=cpus_per_trial, max_retries=2)(train_segment)
    xv, yv = (None, None) if validation_data is None else validation_data[:2]
    data = [ray.put(np.asarray(a)) if a is not None else None for a in (x, y, xv, yv)]
    trials = [Trial(i, params, seed + i) for i, params in enumerate(points)]
    waiting, running = list(reversed(trials)), {}
    best, best_value, best_blob = None, None, None

    def submit(trial, blob):
        trial.status = "running"
        last = scheduler.next_stop(trial.epochs, epochs)
        ref = task.remote(build, trial.params, trial.seed, blob, trial.epochs, last, *data, batch_size,
                          cpus_per_trial)
        running[ref] = (trial, last)

    try:
        while waiting or running:
            while waiting and len(running) < slots:
                submit(waiting.pop(), None)
            (ref,), _ = ray.wait(list(running), num_returns=1)
            trial, last = running.pop(ref)
            try:
                logs, blob = ray.get(ref)
            except Exception as error:              # a trial that raises is reported; the others go on
                trial.status, trial.error = "error", str(error).strip().splitlines()[-1]
                _say(verbose, f"trial {trial.id} {trial.params}: error: {trial.error}")
                continue
            for name, values in logs.items():
                trial.logs.setdefault(name, []).extend(values)
            trial.epochs = last
            if metric not in trial.logs:
                raise ValueError(f"search: the trials report {sorted(trial.logs)}, not the metric {metric!r}")
            value = trial.value(metric)
            if best is None or _better(value, best_value, mode):     # the best value any segment reported
                best, best_value, best_blob = trial, value, blob
            if last >= epochs:
                trial.status = "completed"
            elif scheduler.keep(trial.id, last, trial.logs[metric], mode == "min"):
                submit(trial, blob)
                continue
            else:
                trial.status = "stopped"
            _say(verbose, f"trial {trial.id} {_describe(trial.params)}: {trial.status} after {trial.epochs} "
                          f"epoch(s), {metric} {value:.4f}")
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
    if best is None:
        errors = "; ".join(t.error for t in trials if t.error)
        raise RuntimeError(f"search: every trial failed: {errors}")
    if out is not None:
        with atomic_file(os.fspath(out)) as stream:
            stream.write(best_blob)
    return SearchResult(trials, metric, mode, best, best_value, best_blob, None if out is None else os.fspath(out))


def _better(value, than, mode):
    return value < than if mode == "min" else value > than


def _describe(params):
    return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in params.items()) + "}"


def _say(verbose, text):
    if verbose:
        print(text, flush=True)
