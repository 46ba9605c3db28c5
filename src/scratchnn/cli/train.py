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
from .data import DATA_HELP, DOWNLOAD_HELP, Dataset, add_csv_arguments, check_labels, dataset_spec, fit_to_model, \
    limit_dataset, load_dataset
from .inputs import check_scale
from .model import compile_for_classes, outputs_probabilities

NAME = "train"
HELP = "train a classifier and write it to a model file"
PREPROCESSING_LAYERS = ("Rescaling", "Normalization")
MLP_HIDDEN, CNN_HIDDEN, CNN_FILTERS = (256, 256), (128,), (16, 32)
MLP_DROPOUT, CNN_DROPOUT = 0.2, 0.25


def image_layers() -> tuple[str, ...]:
    """The registered layers that take images (N, H, W, C) only: those whose samples have three axes
    (``sample_rank = 3``: the 2-D convolutions, poolings, resizes and paddings, the augmentation layers)."""
    from ..registry import LAYERS
    return tuple(sorted(name for name, cls in LAYERS.items() if getattr(cls, "sample_rank", None) == 3))


def int_list(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated positive integers, e.g. 256,128."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers such as 256,128, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .. import optim
    parser.add_argument("--data", type=dataset_spec, default=("digits", None), help=DATA_HELP + " (default: digits)")
    parser.add_argument("--download", action="store_true", help=DOWNLOAD_HELP)
    add_csv_arguments(parser)
    parser.add_argument("--model", help="mlp (ReLU layers, --hidden, each followed by --dropout), cnn (a 3x3 "
                        "convolution and a 2x2 max pooling per --filters entry, then --hidden ReLU layers with "
                        "dropout); both begin with the data's preprocessing: Rescaling(1/255) for images, a "
                        "Normalization adapted on the training rows for a CSV. For --data text:FILE lstm or "
                        "transformer (a causal one of two blocks), or CONFIG.json: the JSON of "
                        "model.get_config(), e.g. from `scratchnn summary MODEL --config`, used as it is "
                        "(default: mlp; lstm for text)")
    parser.add_argument("--hidden", type=int_list, metavar="UNITS",
                        help="mlp, cnn: the ReLU layers' sizes, comma-separated (default: "
                             f"{','.join(map(str, MLP_HIDDEN))} for mlp, {','.join(map(str, CNN_HIDDEN))} for cnn)")
    parser.add_argument("--dropout", type=fraction, metavar="RATE",
                        help=f"mlp, cnn: the dropout rate after each hidden layer (default: {MLP_DROPOUT} for "
                             f"mlp, {CNN_DROPOUT} for cnn, which also drops before the first)")
    parser.add_argument("--filters", type=int_list, metavar="FILTERS",
                        help="cnn: the filters of each convolution block, comma-separated (default: "
                             f"{','.join(map(str, CNN_FILTERS))})")
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
    check_architecture_flags(args)
    data = limit_dataset(text_dataset(args) if args.data[0] == "text" else load_dataset(
        args.data, args.download, label_column=args.label_column, delimiter=args.delimiter or ","), args.limit)
    x, y = data.x_train, data.y_train
    order = np.random.default_rng(args.seed).permutation(len(x))
    x, y = x[order], y[order]                     # fit holds out the last fraction for validation
    train_samples = int(len(x) * (1 - args.validation_split))
    model = make_model(args.model, data._replace(x_train=x, y_train=y), args.seed, args.units, args,
                       train_samples)
    x = fit_to_model(x, model.input_shape, data.name)
    if data.vocabulary is None:
        check_labels(y, model, data.name)
        model.metadata = dataset_metadata(data, args.delimiter or ",")
        check_scale(x[:train_samples], model, f"{data.name} (the training data)", data.is_image)
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
def check_architecture_flags(args: argparse.Namespace) -> None:
    """--hidden, --dropout and --filters shape the built-in models only: elsewhere they are a usage error."""
    kind = args.model or ("lstm" if args.data[0] == "text" else "mlp")
    given = [flag for flag, value in (("--hidden", args.hidden), ("--dropout", args.dropout),
                                      ("--filters", args.filters)) if value is not None]
    if kind not in ("mlp", "cnn") and given:
        raise CommandError(f"{given[0]} shapes the built-in mlp and cnn, not --model {kind}", EXIT_USAGE)
    if kind == "mlp" and args.filters is not None:
        raise CommandError("--filters is for --model cnn (the mlp has no convolutions; its layers are --hidden)",
                           EXIT_USAGE)


def builtin_model(kind: str, image_shape: tuple[int, int] | None, features: int, classes: int, seed: int,
                  hidden: tuple[int, ...] | None = None, dropout: float | None = None,
                  filters: tuple[int, ...] | None = None, preprocessing=None):
    """The built-in networks, after ``preprocessing`` (a list of layers, e.g. ``[Rescaling(1 / 255)]``):

    - mlp: a ReLU Dense layer per ``hidden`` entry (default 256, 256), each followed by ``dropout``
      (default 0.2);
    - cnn: a 3x3 ReLU convolution and a 2x2 max pooling per ``filters`` entry (default 16, 32), then
      ``dropout`` (default 0.25) and a ReLU Dense layer per ``hidden`` entry (default 128), each followed
      by ``dropout``.
    """
    from .. import Sequential, layers
    pre = list(preprocessing or [])

    def dense_stack(units, rate):
        return [layer for n in units for layer in (layers.Dense(n, activation="relu"), layers.Dropout(rate))]

    def head():        # two classes: one sigmoid output, the probability of class 1 (Keras's); more: logits
        return layers.Dense(1, activation="sigmoid") if classes == 2 else layers.Dense(classes)

    if kind == "cnn":
        if image_shape is None:
            raise CommandError("--model cnn needs image data; use --model mlp for a CSV table", EXIT_USAGE)
        filters = filters or CNN_FILTERS
        check_blocks(filters, image_shape)
        rate = CNN_DROPOUT if dropout is None else dropout
        blocks = [layer for n in filters for layer in (layers.Conv2D(n, 3, activation="relu"), layers.MaxPooling2D(2))]
        return Sequential([*pre, *blocks, layers.Flatten(), layers.Dropout(rate),
                           *dense_stack(hidden or CNN_HIDDEN, rate), head()],
                          input_shape=(*image_shape, 1), seed=seed, name="cnn")
    rate = MLP_DROPOUT if dropout is None else dropout
    return Sequential([*pre, *dense_stack(hidden or MLP_HIDDEN, rate), head()], input_shape=(features,), seed=seed,
                      name="mlp")


def check_blocks(filters: tuple[int, ...], image_shape: tuple[int, int]) -> None:
    """Each block (3x3 valid convolution, 2x2 pooling) takes a side s to (s - 2) // 2: it must stay >= 1."""
    side = min(image_shape)
    for count in range(1, len(filters) + 1):
        side = (side - 2) // 2
        if side < 1:
            raise CommandError(f"--filters {','.join(map(str, filters))}: {len(filters)} convolution blocks shrink "
                               f"{image_shape[0]}x{image_shape[1]} images to nothing (at most {count - 1} fit)",
                               EXIT_USAGE)


def preprocessing_layers(data: Dataset, train_samples: int) -> list:
    """What a built-in model begins with: Rescaling(1/255) for pixels 0..255, or a Normalization adapted on
    the training rows (not the validation part) of a table."""
    from .. import layers
    if data.is_image:
        return [layers.Rescaling(1 / 255)]
    normalization = layers.Normalization()
    normalization.adapt(data.x_train[:max(train_samples, 1)])
    return [normalization]


def dataset_metadata(data: Dataset, delimiter: str = ",") -> dict:
    """What the model file keeps of a CSV: its feature names, class names, label column (when known) and
    delimiter (when not a comma): predict, explain and evaluate read the same kind of file by default."""
    fields = {"feature_names": data.feature_names, "class_names": data.class_names,
              "label_column": data.label_column, "delimiter": None if delimiter == "," else delimiter}
    return {name: value for name, value in fields.items() if value is not None}


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
    shaped = [type(layer).__name__ for layer in model.layers if type(layer).__name__ not in PREPROCESSING_LAYERS]
    first = shaped[0] if shaped else ""
    if first in image_layers() and len(sample_shape) == 2:
        return (*sample_shape, 1)
    return sample_shape if first in ("Flatten", "Reshape") else (math.prod(sample_shape),)


def text_dataset(args: argparse.Namespace) -> Dataset:
    """The next-character windows of --data text:FILE (no test split), with their vocabulary."""
    from .generate import load_text
    x, y, vocabulary = load_text(args.data[1], args.sequence_length)
    return Dataset(f"text:{args.data[1]}", x, y, None, None, False, vocabulary)


def make_model(choice: str | None, data: Dataset, seed: int, units: int = 128, args=None, train_samples=None):
    from .generate import TEXT_MODELS, text_model
    sample_shape = data.x_train.shape[1:]
    if data.vocabulary is not None and (choice is None or choice in ("mlp", "cnn", *TEXT_MODELS)):
        return text_model(choice or "lstm", len(data.vocabulary), sample_shape[0], units, seed)
    if choice in TEXT_MODELS:
        raise CommandError(f"--model {choice} is a language model: train it on --data text:FILE", EXIT_USAGE)
    choice = choice or "mlp"
    if choice in ("mlp", "cnn"):
        image_shape = sample_shape if data.is_image else None
        classes = len(data.class_names) if data.class_names else int(data.y_train.max()) + 1
        shape = {name: getattr(args, name, None) for name in ("hidden", "dropout", "filters")}
        pre = preprocessing_layers(data, len(data.x_train) if train_samples is None else train_samples)
        return builtin_model(choice, image_shape, math.prod(sample_shape), classes, seed, preprocessing=pre,
                             **shape)
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
