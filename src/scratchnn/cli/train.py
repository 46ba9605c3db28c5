"""scratchnn train: fit a classifier (a built-in MLP or CNN, or a config file) and write it to a model file."""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import warnings

import numpy as np

from .common import EXIT_INTERRUPTED, EXIT_USAGE, CommandError, check_folder, fraction, positive_float, \
    positive_int, table
from .data import DATA_HELP, DOWNLOAD_HELP, Dataset, check_labels, dataset_spec, fit_to_model, limit_dataset, \
    load_dataset
from .model import compile_for_classes, outputs_probabilities

NAME = "train"
HELP = "train a classifier and write it to a model file"
IMAGE_LAYERS = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .. import optim
    parser.add_argument("--data", type=dataset_spec, default=("digits", None), help=DATA_HELP + " (default: digits)")
    parser.add_argument("--download", action="store_true", help=DOWNLOAD_HELP)
    parser.add_argument("--model", help="mlp (two ReLU layers of 256 with 20%% dropout), cnn (two "
                        "convolutions and max poolings, 128 ReLU units, dropout), for --data text:FILE lstm or "
                        "transformer (a causal one of two blocks), or CONFIG.json: the JSON of "
                        "model.get_config(), e.g. from `scratchnn summary MODEL --config` (default: mlp; lstm "
                        "for text)")
    parser.add_argument("--sequence-length", type=positive_int, default=64,
                        help="text: characters per training window (default: 64)")
    parser.add_argument("--units", type=positive_int, default=128,
                        help="text: the LSTM's state size, or the transformer's width (default: 128)")
    parser.add_argument("--epochs", type=positive_int, default=10, help="passes over the data (default: 10)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="samples per step (default: 64)")
    parser.add_argument("--optimizer", choices=sorted(optim.OPTIMIZERS), default="adam", help="(default: adam)")
    parser.add_argument("--lr", type=positive_float, default=1e-3,
                        help="learning rate (the peak rate with --schedule cosine) (default: 1e-3)")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                        help="cosine: warm up from lr/10 to lr over the first epoch, then a half cosine down "
                             "to 0 by the last (default: constant)")
    parser.add_argument("--validation-split", type=fraction, default=0.1,
                        help="fraction of the (shuffled) training data held out for validation (default: 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffling (default: 0)")
    parser.add_argument("--out", default="model.snn", help="the model file to write (default: model.snn)")
    parser.add_argument("--early-stopping", type=positive_int, metavar="PATIENCE",
                        help="stop after PATIENCE epochs without a better val_loss; keep the best weights")
    parser.add_argument("--checkpoint", metavar="DIR", help="write the model to DIR/epoch-NNN.snn after each epoch")
    parser.add_argument("--history", metavar="CSV", help="write the loss and metrics of each epoch to CSV")
    parser.add_argument("--limit", type=positive_int, help="use only the first N training and test samples")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="1: a live bar per epoch (one line per epoch when not a terminal), 2: one line "
                             "per epoch, 0: quiet")


EXIT_TERMINATED = 143                 # 128 + SIGTERM, what a shell reports for a process ended by SIGTERM


def run(args: argparse.Namespace) -> int:
    """Train; SIGTERM (docker stop, systemd, timeout) is handled as Ctrl-C is, exit status 143."""
    received = []

    def terminate(signum, frame):
        received.append(signum)
        signal.raise_signal(signal.SIGINT)          # what Ctrl-C does, in whatever handler is current

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, terminate)
    try:
        status = train(args)
    except KeyboardInterrupt:
        if not received:
            raise
        print("scratchnn train: terminated (SIGTERM)", file=sys.stderr)
        status = EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return EXIT_TERMINATED if received and status == EXIT_INTERRUPTED else status


def train(args: argparse.Namespace) -> int:
    from .. import optim
    for path in (args.out, args.history):
        if path is not None:
            check_folder(path)
    data = limit_dataset(text_dataset(args) if args.data[0] == "text" else load_dataset(args.data, args.download),
                         args.limit)
    x, y = data.x_train, data.y_train
    order = np.random.default_rng(args.seed).permutation(len(x))
    x, y = x[order], y[order]                     # fit holds out the last fraction for validation
    model = make_model(args.model, data._replace(x_train=x, y_train=y), args.seed, args.units)
    x = fit_to_model(x, model.input_shape, data.name)
    if data.vocabulary is None:
        check_labels(y, model, data.name)
    train_samples = int(len(x) * (1 - args.validation_split))
    rate = learning_rate(args.schedule, args.lr, args.epochs, -(-train_samples // args.batch_size))
    optimizer = optim.OPTIMIZERS[args.optimizer](learning_rate=rate)
    if data.vocabulary is None:
        compile_for_classes(model, optimizer)
    else:                                         # next-character ids (N, T) against logits (N, T, vocabulary)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer,
                      from_logits=not outputs_probabilities(model))
        model.metadata = data.vocabulary.to_metadata()   # kept in the model file for scratchnn generate
    model.summary()
    extra, checkpoint = training_callbacks(args)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="(interrupted by the user|loss became|the update of)",
                                category=RuntimeWarning)
        try:
            history = model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size,
                                validation_split=args.validation_split, callbacks=extra, verbose=args.verbose)
        except KeyboardInterrupt:
            return report_interrupted(args, checkpoint)
    if history.stopped_reason and history.stopped_reason.startswith("interrupted"):
        return report_interrupted(args, checkpoint)
    if getattr(history, "diverged", False):
        last = getattr(checkpoint, "last_path", None)
        kept = f"; the last good checkpoint is {last}" if last and os.path.exists(last) else ""
        raise CommandError(f"training diverged: {history.stopped_reason}; nothing written to {args.out}{kept}")
    if history.stopped_reason:
        print(f"warning: {history.stopped_reason}", file=sys.stderr)
    model.save(args.out)
    print_final_table(model, x, y, args.validation_split, data)
    print(f"model written to {args.out} ({model.count_params():,} parameters, {len(history.epoch)} epochs)")
    for label, path in (("history", args.history), ("checkpoints", args.checkpoint)):
        if path:
            print(f"{label} written to {path}")
    return 0


# ---- the model ------------------------------------------------------------------------------------
def builtin_model(kind: str, image_shape: tuple[int, int] | None, features: int, classes: int, seed: int):
    """The default networks: an MLP (two ReLU layers of 256, each followed by 20% dropout), or a CNN (two
    3x3 convolutions of 16 and 32 filters, each followed by 2x2 max pooling, then 128 ReLU units between
    25% dropouts)."""
    from .. import Sequential, layers

    def head():        # two classes: one sigmoid output, the probability of class 1 (Keras's); more: logits
        return layers.Dense(1, activation="sigmoid") if classes == 2 else layers.Dense(classes)

    if kind == "cnn":
        if image_shape is None:
            raise CommandError("--model cnn needs image data; use --model mlp for a CSV table", EXIT_USAGE)
        return Sequential([layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(2),
                           layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                           layers.Dropout(0.25), layers.Dense(128, activation="relu"), layers.Dropout(0.25),
                           head()], input_shape=(*image_shape, 1), seed=seed, name="cnn")
    return Sequential([layers.Dense(256, activation="relu"), layers.Dropout(0.2),
                       layers.Dense(256, activation="relu"), layers.Dropout(0.2),
                       head()], input_shape=(features,), seed=seed, name="mlp")


def model_from_config_file(path: str, sample_shape: tuple[int, ...], seed: int):
    """A fresh model from get_config()'s JSON (or a model file's config.json, whose "model" entry it is)."""
    from .. import Sequential
    if not os.path.exists(path) and not os.path.splitext(path)[1] and os.sep not in path:   # a word: a typo?
        raise CommandError(f"--model {path}: neither a built-in model (mlp, cnn; lstm or transformer for --data "
                           "text:FILE) nor a config file that exists", EXIT_USAGE)
    try:
        with open(path) as stream:
            config = json.load(stream)
    except json.JSONDecodeError as error:
        raise CommandError(f"{path}: not valid JSON ({error})") from None
    config = config.get("model", config) if isinstance(config, dict) else config
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise CommandError(f"{path}: expected a model config with a 'layers' list (the JSON of "
                           "model.get_config(), e.g. from `scratchnn summary MODEL --config`)")
    try:
        model = Sequential.from_config(config, seed=seed)
        if not model.built:
            model.build(_default_input_shape(model, sample_shape))
    except (ValueError, TypeError, KeyError) as error:
        raise CommandError(f"{path}: cannot build the model: {error}") from None
    return model


def _default_input_shape(model, sample_shape):
    """For a config without input_shape: images keep (H, W, 1) for convolutions, else flattened."""
    first = type(model.layers[0]).__name__ if model.layers else ""
    if first in IMAGE_LAYERS and len(sample_shape) == 2:
        return (*sample_shape, 1)
    return sample_shape if first in ("Flatten", "Reshape") else (math.prod(sample_shape),)


def text_dataset(args: argparse.Namespace) -> Dataset:
    """The next-character windows of --data text:FILE (no test split), with their vocabulary."""
    from .generate import load_text
    x, y, vocabulary = load_text(args.data[1], args.sequence_length)
    return Dataset(f"text:{args.data[1]}", x, y, None, None, False, vocabulary)


def make_model(choice: str | None, data: Dataset, seed: int, units: int = 128):
    from .generate import TEXT_MODELS, text_model
    sample_shape = data.x_train.shape[1:]
    if data.vocabulary is not None and (choice is None or choice in ("mlp", "cnn", *TEXT_MODELS)):
        return text_model(choice or "lstm", len(data.vocabulary), sample_shape[0], units, seed)
    if choice in TEXT_MODELS:
        raise CommandError(f"--model {choice} is a language model: train it on --data text:FILE", EXIT_USAGE)
    choice = choice or "mlp"
    if choice in ("mlp", "cnn"):
        image_shape = sample_shape if data.is_image else None
        return builtin_model(choice, image_shape, math.prod(sample_shape), int(data.y_train.max()) + 1, seed)
    return model_from_config_file(choice, sample_shape, seed)


# ---- training -------------------------------------------------------------------------------------
def training_callbacks(args: argparse.Namespace) -> tuple[list, object]:
    """EarlyStopping, ModelCheckpoint and CSVLogger as the flags ask; and the checkpoint callback (or None)."""
    from .. import callbacks
    extra, checkpoint = [], None
    if args.early_stopping is not None:
        extra.append(callbacks.EarlyStopping(monitor="val_loss" if args.validation_split else "loss",
                                             patience=args.early_stopping, restore_best_weights=True, verbose=1))
    if args.checkpoint:
        checkpoint = callbacks.ModelCheckpoint(os.path.join(args.checkpoint, "epoch-{epoch:03d}.snn"))
        extra.append(checkpoint)
    if args.history:
        extra.append(callbacks.CSVLogger(args.history))
    return extra, checkpoint


def learning_rate(schedule: str, peak: float, epochs: int, steps_per_epoch: int):
    """A constant rate, or "cosine": a linear warmup from peak / 10 to peak over the first epoch, then a
    half cosine down to 0 by the end of the last epoch."""
    if schedule == "constant":
        return peak
    from .. import schedules
    return schedules.warmup_cosine(peak, epochs, steps_per_epoch)


def report_interrupted(args: argparse.Namespace, checkpoint) -> int:
    last = getattr(checkpoint, "last_path", None)
    if last and os.path.exists(last):
        kept = f"the last good checkpoint is {last}"
    else:
        kept = "no checkpoint was written" + ("" if checkpoint else " (--checkpoint DIR keeps one per epoch)")
    print(f"scratchnn train: interrupted; nothing written to {args.out}; {kept}", file=sys.stderr)
    return EXIT_INTERRUPTED


def print_final_table(model, x: np.ndarray, y: np.ndarray, validation_split: float, data: Dataset) -> None:
    """Loss and metrics on the training part, the held-out validation part and the test split."""
    split = int(len(x) * (1 - validation_split))
    parts = [("train", x[:split], y[:split]), ("validation", x[split:], y[split:])]
    if data.x_test is not None:
        test_x = fit_to_model(data.x_test, model.input_shape, data.name)
        parts.append(("test", test_x, data.y_test))
    rows = []
    for name, part_x, part_y in parts:
        if len(part_x):
            results = model.evaluate(part_x, part_y)
            if data.vocabulary is not None:       # the mean crossentropy in nats per character, in bits
                results["bits/char"] = results["loss"] / math.log(2)
            rows.append([name, f"{len(part_x):,}", *(f"{value:.4f}" for value in results.values())])
    print(table(rows, ["", "samples", *results]))
