"""scratchnn tune CONFIG: a hyperparameter search on Ray (scratchnn.distributed.search) from a TOML or JSON file.

CONFIG (TOML shown; JSON takes the same keys and tables as objects; every key but [space] is optional):

    data = "digits"              # as `scratchnn train --data`: digits, mnist:DIR, fashion:DIR, csv:FILE
    limit = 2000                 # only the first N training samples
    validation_split = 0.2       # the held-out tail of the (seed-shuffled) training data the trials are judged on
    model = "mlp"                # mlp: Dense(width)-ReLU-Dropout twice; cnn: two Conv2D-MaxPool, Dense(width)
    epochs = 9                   # the most any trial trains
    batch_size = 64
    optimizer = "adam"           # one of scratchnn.optim.OPTIMIZERS (or put "optimizer" in [space])
    method = "random"            # random: `trials` points drawn from [space]; grid: every combination of lists
    trials = 8
    seed = 0
    metric = "val_loss"          # or val_accuracy (with mode = "max"), loss, accuracy
    mode = "min"
    out = "best.snn"             # the best trial's model file
    results = "trials.csv"       # one row per trial: parameters, epochs, metric, status

    [space]                      # learning_rate, width, dropout, optimizer
    learning_rate = {loguniform = [1e-4, 1e-2]}
    width = [64, 128, 256]
    dropout = {uniform = [0.0, 0.5]}

    [scheduler]
    kind = "asha"                # asha, median or none
    grace_epochs = 1
    reduction_factor = 3         # asha only; min_trials for median

    [ray]
    address = "auto"             # omit for a local cluster
    cpus_per_trial = 1
    max_concurrent = 2
"""
from __future__ import annotations

import argparse
import csv
import functools
import json
import os

import numpy as np

from .common import EXIT_USAGE, CommandError, check_folder

NAME = "tune"
HELP = "search hyperparameters on Ray (parallel trials, bad ones stopped early) and keep the best model"
TOP_KEYS = {"data", "limit", "validation_split", "model", "epochs", "batch_size", "optimizer", "method",
            "trials", "seed", "metric", "mode", "out", "results", "space", "scheduler", "ray"}
SPACE_KEYS = {"learning_rate", "width", "dropout", "optimizer"}
SCHEDULER_KEYS = {"kind", "grace_epochs", "reduction_factor", "min_trials"}
RAY_KEYS = {"address", "cpus_per_trial", "max_concurrent"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]            # the CONFIG format, as this module's docstring gives it
    parser.add_argument("config", metavar="CONFIG", help="a .toml or .json file (its format below, and in "
                        "docs/guide/distributed.md)")
    parser.add_argument("--out", help="the best model file (overrides the config's out)")
    parser.add_argument("--address", help="the Ray cluster: auto, HOST:PORT or ray://HOST:PORT (overrides [ray])")
    parser.add_argument("--quiet", action="store_true", help="print only the final table")


def read_config(path: str) -> dict:
    """The config file as a dict, its keys checked (an unknown key is a usage error naming it)."""
    try:
        with open(path, "rb") as stream:
            if path.endswith(".toml"):
                import tomllib
                config = tomllib.load(stream)
            else:
                config = json.load(stream)
    except OSError as error:
        raise CommandError(f"{path}: {error.strerror or error}") from None
    except ValueError as error:                    # json.JSONDecodeError and tomllib.TOMLDecodeError
        raise CommandError(f"{path}: not valid {'TOML' if path.endswith('.toml') else 'JSON'} ({error})",
                           EXIT_USAGE) from None
    if not isinstance(config, dict):
        raise CommandError(f"{path}: expected a table of settings, got {type(config).__name__}", EXIT_USAGE)
    for table, allowed in ((config, TOP_KEYS), (config.get("space", {}), SPACE_KEYS),
                           (config.get("scheduler", {}), SCHEDULER_KEYS), (config.get("ray", {}), RAY_KEYS)):
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise CommandError(f"{path}: unknown setting(s) {unknown}; expected some of {sorted(allowed)}", EXIT_USAGE)
    if not config.get("space"):
        raise CommandError(f"{path}: a [space] table is needed (e.g. learning_rate = [1e-3, 1e-2])", EXIT_USAGE)
    return config


def build_model(params: dict, seed: int, kind: str, input_shape: tuple, classes: int, optimizer: str,
                pixels: bool = False):
    """A compiled MLP or CNN for one point of the space (learning_rate, width, dropout, optimizer); for
    pixels 0..255 it begins with Rescaling(1/255), as the models of scratchnn train do."""
    from .. import Sequential, layers, optim
    from .model import compile_for_classes
    width, rate = int(params.get("width", 128)), float(params.get("dropout", 0.0))
    outputs = 1 if classes == 2 else classes
    if kind == "cnn":
        stack = [layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(2),
                 layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                 layers.Dropout(rate), layers.Dense(width, activation="relu"), layers.Dropout(rate),
                 layers.Dense(outputs)]
    else:
        stack = [layers.Dense(width, activation="relu"), layers.Dropout(rate), layers.Dense(width, activation="relu"),
                 layers.Dropout(rate), layers.Dense(outputs)]
    stack = ([layers.Rescaling(1 / 255)] if pixels else []) + stack
    model = Sequential(stack, input_shape=input_shape, seed=seed, name=kind)
    name = params.get("optimizer", optimizer)
    if name not in optim.OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(optim.OPTIMIZERS)}")
    compile_for_classes(model, optim.OPTIMIZERS[name](learning_rate=float(params.get("learning_rate", 1e-3))))
    return model


def _scheduler(settings: dict):
    from ..distributed import ASHA, MedianStopping
    kind = settings.get("kind", "asha")
    if kind == "asha":
        return ASHA(settings.get("grace_epochs", 1), settings.get("reduction_factor", 3))
    if kind == "median":
        return MedianStopping(settings.get("grace_epochs", 1), settings.get("min_trials", 3))
    if kind == "none":
        return None
    raise CommandError(f"[scheduler] kind must be asha, median or none, got {kind!r}", EXIT_USAGE)


def run(args: argparse.Namespace) -> int:
    from ..distributed import search
    from .data import dataset_spec, limit_dataset, load_dataset
    config = read_config(args.config)
    out = args.out or config.get("out", "best.snn")
    for path in (out, config.get("results")):
        if path:
            check_folder(path)
    try:
        spec = dataset_spec(config.get("data", "digits"))
    except argparse.ArgumentTypeError as error:
        raise CommandError(f"{args.config}: data: {error}", EXIT_USAGE) from None
    data = limit_dataset(load_dataset(spec), config.get("limit"))
    kind, seed = config.get("model", "mlp"), int(config.get("seed", 0))
    if kind not in ("mlp", "cnn"):
        raise CommandError(f"{args.config}: model must be mlp or cnn, got {kind!r}", EXIT_USAGE)
    x, y = data.x_train.astype(np.float32), np.asarray(data.y_train)
    if kind == "cnn":
        if x.ndim != 3:
            raise CommandError(f"{args.config}: model = \"cnn\" needs image data", EXIT_USAGE)
        x = x[..., None]
    else:
        x = x.reshape(len(x), -1)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(len(x) * (1 - float(config.get("validation_split", 0.2))))
    classes = int(y.max()) + 1
    build = functools.partial(build_model, kind=kind, input_shape=x.shape[1:], classes=classes,
                              optimizer=config.get("optimizer", "adam"), pixels=data.is_image)
    settings = config.get("ray", {})
    result = search(build, config["space"], x[:split], y[:split], validation_data=(x[split:], y[split:]),
                    epochs=config.get("epochs", 9), batch_size=config.get("batch_size", 64),
                    method=config.get("method", "random"), num_trials=config.get("trials", 8),
                    scheduler=_scheduler(config.get("scheduler", {})), metric=config.get("metric", "val_loss"),
                    mode=config.get("mode", "min"), seed=seed, cpus_per_trial=settings.get("cpus_per_trial", 1),
                    max_concurrent=settings.get("max_concurrent"), address=args.address or settings.get("address"),
                    out=out, verbose=0 if args.quiet else 1)
    print(result.table())
    print(f"best: trial {result.best.id} {result.best_params} with {result.metric} {result.best_value:.4f}; "
          f"model written to {out}")
    if config.get("results"):
        write_results(result, config["results"])
        print(f"results written to {config['results']}")
    return 0


def write_results(result, path: str) -> None:
    from ..saving.files import atomic_file
    names = sorted({name for trial in result.trials for name in trial.params})
    with atomic_file(os.fspath(path), "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["trial", *names, "epochs", result.metric, "status"])
        for trial in result.trials:
            writer.writerow([trial.id, *(trial.params.get(n) for n in names), trial.epochs, trial.value(result.metric),
                             trial.status])
