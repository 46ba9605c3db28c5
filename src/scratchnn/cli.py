"""The `scratchnn` command: train, evaluate, predict, explain, plot and export from the shell."""
import argparse
import contextlib
import csv
import json
import math
import os
import sys
import tempfile
import warnings
from collections import namedtuple
from pathlib import Path

import numpy as np

EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
PROBABILITY_LAYERS = ("Softmax", "Sigmoid")
IMAGE_LAYERS = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D")
EXPLAIN_METHODS = ("integrated-gradients", "saliency", "occlusion")
TOP_K = 3
DATA_HELP = ("digits (the 10,000 embedded MNIST digits, 8,000 train / 2,000 test), mnist[:DIR] or "
             "fashion[:DIR] (a folder holding the four IDX files, raw or .gz), or csv:FILE (numeric feature "
             "columns with the integer class label in the LAST column; an optional header row is skipped)")

DOWNLOAD_HELP = ("fetch missing MNIST / Fashion-MNIST files (SHA-256 checked) into ~/.scratchnn/datasets "
                 "(or DIR when given)")

Dataset = namedtuple("Dataset", "name x_train y_train x_test y_test is_image")


class CommandError(Exception):
    """A failure reported as one line on stderr: code 1 (runtime) or 2 (usage)."""

    def __init__(self, message, code=EXIT_RUNTIME):
        super().__init__(message)
        self.code = code


class ArgumentParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit 2) instead of the usage text and the error."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---- argument types -----------------------------------------------------------------------------------
def _checked(text, convert, valid, expected):
    """argparse type: convert text, or fail with 'expected ..., got ...'."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text):
    return _checked(text, int, lambda v: v > 0, "a positive integer")


def positive_float(text):
    return _checked(text, float, lambda v: math.isfinite(v) and v > 0, "a positive number")


def fraction(text):
    return _checked(text, float, lambda v: 0.0 <= v < 1.0, "a fraction in [0, 1)")


def dataset_spec(text):
    """'digits', 'mnist[:DIR]', 'fashion[:DIR]' or 'csv:FILE' -> (name, path or None)."""
    name, _, path = text.partition(":")
    if name not in ("digits", "mnist", "fashion", "csv"):
        raise argparse.ArgumentTypeError(f"unknown dataset {text!r}: expected digits, mnist[:DIR], "
                                         "fashion[:DIR] or csv:FILE")
    if name == "digits" and path:
        raise argparse.ArgumentTypeError(f"the embedded digits take no path, got {text!r}")
    if name == "csv" and not path:
        raise argparse.ArgumentTypeError("csv needs a file: --data csv:FILE")
    return name, path or None


# ---- data -----------------------------------------------------------------------------------------
def load_dataset(spec, download=False):
    """The named dataset, images scaled to [0, 1] float32; a CSV has no test split (x_test is None).

    With download, missing MNIST / Fashion-MNIST files are fetched (SHA-256 checked) into the cache folder.
    """
    from . import datasets
    name, path = spec
    if name == "csv":
        x, y = split_label_column(read_numeric_csv(path), path)
        return Dataset(f"csv:{path}", x, y, None, None, False)
    loaders = {"digits": lambda fetch: datasets.load_digits(),
               "mnist": lambda fetch: datasets.load_mnist(path, download=fetch),
               "fashion": lambda fetch: datasets.load_fashion_mnist(path, download=fetch)}
    try:
        try:
            (x_train, y_train), (x_test, y_test) = loaders[name](False)
        except FileNotFoundError:
            if not download:
                raise
            (x_train, y_train), (x_test, y_test) = loaders[name](True)
    except (OSError, ValueError) as error:
        hint = "" if download or name == "digits" else f" (from the command line: --download, or --data {name}:DIR)"
        raise CommandError(f"cannot load {name}: {error}{hint}") from None
    label = name if path is None else f"{name}:{path}"
    return Dataset(label, scale_pixels(x_train), y_train, scale_pixels(x_test), y_test, True)


def limit_dataset(data, limit):
    """The first ``limit`` samples of each split (all of them for None)."""
    if limit is None:
        return data
    test = (None, None) if data.x_test is None else (data.x_test[:limit], data.y_test[:limit])
    return data._replace(x_train=data.x_train[:limit], y_train=data.y_train[:limit], x_test=test[0], y_test=test[1])


def scale_pixels(images):
    """uint8 pixels 0..255 -> float32 in [0, 1]; other arrays are returned as they are."""
    return images / np.float32(255) if images.dtype == np.uint8 else images


def read_numeric_csv(path):
    """The rows of a CSV file as a 2-D float array; a first row that is not numeric is a header."""
    with open(path, newline="") as stream:
        rows = [row for row in csv.reader(stream) if row and any(cell.strip() for cell in row)]
    if rows and not _is_numeric(rows[0]):
        rows = rows[1:]
    if not rows:
        raise CommandError(f"{path}: no data rows")
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise CommandError(f"{path}: rows have different numbers of columns: {sorted(widths)}")
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        bad = next(number for number, row in enumerate(rows, 1) if not _is_numeric(row))
        raise CommandError(f"{path}: data row {bad} is not all numbers: {','.join(rows[bad - 1])[:80]!r}") from None


def _is_numeric(row):
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def split_label_column(table, path):
    """Features (float32) and integer labels (the last column, whole numbers >= 0)."""
    if table.shape[1] < 2:
        raise CommandError(f"{path}: expected feature columns and a label column, got {table.shape[1]} column")
    labels = table[:, -1]
    if np.any(labels != np.round(labels)) or labels.min() < 0:
        raise CommandError(f"{path}: the last column holds the class label and must be whole numbers >= 0, "
                           f"got values such as {float(labels[(labels != np.round(labels)) | (labels < 0)][0]):g}")
    return table[:, :-1].astype(np.float32), labels.astype(np.int64)


def fit_to_model(x, input_shape, source):
    """x as (N, *input_shape): reshaped when each sample holds as many values as the model takes."""
    sample = tuple(input_shape)
    if x.shape[1:] == sample:
        return x
    if math.prod(x.shape[1:]) == math.prod(sample):
        return x.reshape(len(x), *sample)
    raise CommandError(f"{source}: samples of shape {x.shape[1:]} ({math.prod(x.shape[1:])} values) do not fit "
                       f"the model, which takes input of shape {sample} ({math.prod(sample)} values)")


def check_labels(y, model, source):
    classes = class_count(model)
    if len(y) and int(y.max()) >= classes:
        raise CommandError(f"{source}: labels go up to {int(y.max())} but the model has {classes} classes")


def class_count(model):
    outputs = model.output_shape[-1]
    return 2 if outputs == 1 else outputs


# ---- the model ------------------------------------------------------------------------------------
def builtin_model(kind, image_shape, features, classes, seed):
    """The default networks: an MLP (two ReLU layers of 256, each followed by 20% dropout), or a CNN (two
    3x3 convolutions of 16 and 32 filters, each followed by 2x2 max pooling, then 128 ReLU units between
    25% dropouts)."""
    from . import Sequential, layers
    outputs = 1 if classes == 2 else classes
    if kind == "cnn":
        if image_shape is None:
            raise CommandError("--model cnn needs image data; use --model mlp for a CSV table", EXIT_USAGE)
        return Sequential([layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(2),
                           layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                           layers.Dropout(0.25), layers.Dense(128, activation="relu"), layers.Dropout(0.25),
                           layers.Dense(outputs)], input_shape=(*image_shape, 1), seed=seed, name="cnn")
    return Sequential([layers.Dense(256, activation="relu"), layers.Dropout(0.2),
                       layers.Dense(256, activation="relu"), layers.Dropout(0.2),
                       layers.Dense(outputs)], input_shape=(features,), seed=seed, name="mlp")


def model_from_config_file(path, sample_shape, seed):
    """A fresh model from get_config()'s JSON (or a model file's config.json, whose "model" entry it is)."""
    from . import Sequential
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


def make_model(choice, data, seed):
    sample_shape = data.x_train.shape[1:]
    if choice in ("mlp", "cnn"):
        image_shape = sample_shape if data.is_image else None
        return builtin_model(choice, image_shape, math.prod(sample_shape), int(data.y_train.max()) + 1, seed)
    return model_from_config_file(choice, sample_shape, seed)


def compile_for_classes(model, optimizer):
    """Crossentropy on the model's outputs: logits unless the last layer is a Softmax or Sigmoid."""
    loss = "binary_crossentropy" if model.output_shape[-1] == 1 else "categorical_crossentropy"
    model.compile(loss=loss, optimizer=optimizer, metrics=["accuracy"], from_logits=not outputs_probabilities(model))


def outputs_probabilities(model):
    return bool(model.layers) and type(model.layers[-1]).__name__ in PROBABILITY_LAYERS


def class_probabilities(model, outputs):
    """(N, K) class probabilities from the model's outputs (softmax / sigmoid of logits)."""
    outputs = outputs.reshape(len(outputs), -1).astype(np.float64)
    if outputs.shape[1] == 1:
        positive = outputs[:, 0] if outputs_probabilities(model) else 1 / (1 + np.exp(-outputs[:, 0]))
        return np.stack([1 - positive, positive], axis=1)
    if outputs_probabilities(model):
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def open_model(path):
    from .io import ModelFileError, load_model
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such model file")
    try:
        return load_model(path)
    except ModelFileError as error:
        raise CommandError(str(error)) from None


# ---- output -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path):
    """A temporary path next to ``path`` (same suffix), moved over it once the block has written it."""
    path = Path(path)
    if not path.parent.is_dir():
        raise CommandError(f"{path}: the folder {str(path.parent)!r} does not exist")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def print_json(value):
    print(json.dumps(value, indent=1))


def table(rows, header):
    """Rows of cells as aligned text: columns of numbers right-aligned, the others left-aligned."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(_is_numeric([row[i].replace(",", "")]) for row in cells[1:]) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric))
                     .rstrip() for row in cells)


# ---- train --------------------------------------------------------------------------------------------
def command_train(args):
    from . import optim
    for path in (args.out, args.history):
        if path is not None and not Path(path).resolve().parent.is_dir():
            raise CommandError(f"{path}: the folder {str(Path(path).parent)!r} does not exist")
    data = limit_dataset(load_dataset(args.data, args.download), args.limit)
    x, y = data.x_train, data.y_train
    order = np.random.default_rng(args.seed).permutation(len(x))
    x, y = x[order], y[order]                     # fit holds out the last fraction for validation
    model = make_model(args.model, data._replace(x_train=x, y_train=y), args.seed)
    x = fit_to_model(x, model.input_shape, data.name)
    check_labels(y, model, data.name)
    train_samples = int(len(x) * (1 - args.validation_split))
    rate = learning_rate(args.schedule, args.lr, args.epochs, -(-train_samples // args.batch_size))
    compile_for_classes(model, optim.OPTIMIZERS[args.optimizer](learning_rate=rate))
    model.summary()
    extra, checkpoint = training_callbacks(args)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="(interrupted by the user|loss became)", category=RuntimeWarning)
        try:
            history = model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size,
                                validation_split=args.validation_split, callbacks=extra, verbose=args.verbose)
        except KeyboardInterrupt:
            return report_interrupted(args, checkpoint)
    if history.stopped_reason and history.stopped_reason.startswith("interrupted"):
        return report_interrupted(args, checkpoint)
    if history.stopped_reason:
        print(f"warning: {history.stopped_reason}", file=sys.stderr)
    model.save(args.out)
    print_final_table(model, x, y, args.validation_split, data)
    print(f"model written to {args.out} ({model.count_params():,} parameters, {len(history.epoch)} epochs)")
    for label, path in (("history", args.history), ("checkpoints", args.checkpoint)):
        if path:
            print(f"{label} written to {path}")
    return 0


def training_callbacks(args):
    """EarlyStopping, ModelCheckpoint and CSVLogger as the flags ask; and the checkpoint callback (or None)."""
    from . import callbacks
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


def learning_rate(schedule, peak, epochs, steps_per_epoch):
    """A constant rate, or "cosine": a linear warmup from peak / 10 to peak over the first epoch, then a
    half cosine down to 0 by the end of the last epoch."""
    if schedule == "constant":
        return peak
    from . import schedules
    return schedules.warmup_cosine(peak, epochs, steps_per_epoch)


def report_interrupted(args, checkpoint):
    last = getattr(checkpoint, "last_path", None)
    if last and os.path.exists(last):
        kept = f"the last good checkpoint is {last}"
    else:
        kept = "no checkpoint was written" + ("" if checkpoint else " (--checkpoint DIR keeps one per epoch)")
    print(f"scratchnn train: interrupted; nothing written to {args.out}; {kept}", file=sys.stderr)
    return EXIT_INTERRUPTED


def print_final_table(model, x, y, validation_split, data):
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
            rows.append([name, f"{len(part_x):,}", *(f"{value:.4f}" for value in results.values())])
    print(table(rows, ["", "samples", *results]))


# ---- evaluate -----------------------------------------------------------------------------------------
def command_evaluate(args):
    from . import metrics, optim
    model = open_model(args.model)
    labels = class_labels(args.class_names, model)
    data = limit_dataset(load_dataset(args.data, args.download), args.limit)
    x, y = (data.x_test, data.y_test) if data.x_test is not None else (data.x_train, data.y_train)
    x = fit_to_model(x, model.input_shape, data.name)
    check_labels(y, model, data.name)
    if model.loss is None:
        compile_for_classes(model, optim.SGD())
    results = {name: float(value) for name, value in model.evaluate(x, y, batch_size=args.batch_size).items()}
    predicted = class_probabilities(model, model.predict(x, batch_size=args.batch_size)).argmax(axis=1)
    classes = class_count(model)
    matrix = metrics.confusion_matrix(y, predicted, num_classes=classes)
    report = metrics.classification_report(y, predicted, num_classes=classes, output_dict=True)
    macro = {f"{name}_macro": report["macro avg"][name] for name in ("precision", "recall")}
    macro["f1_macro"] = report["macro avg"]["f1-score"]
    split = "test split" if data.x_test is not None else "all rows"
    if args.json:
        print_json({"model": args.model, "data": data.name, "split": split, "samples": len(x), **results,
                    **macro, "confusion_matrix": matrix.tolist()})
        return 0
    print(f"{args.model} on {data.name} ({split}, {len(x):,} samples)")
    print(table([[name, f"{value:.4f}"] for name, value in {**results, **macro}.items()], ["metric", "value"]))
    print("\nconfusion matrix (rows: true class, columns: predicted class)")
    print(table([[f"{c}", *row] for c, row in enumerate(matrix.tolist())], ["", *range(classes)]))
    print("\n" + metrics.classification_report(y, predicted, num_classes=classes, digits=4, target_names=labels))
    return 0


# ---- predict and explain: reading inputs -------------------------------------------------------------
def read_inputs(paths, model, invert):
    """Samples from .npy files, CSV feature rows and images, shaped for the model, with a name each, and
    for each the (H, W[, C]) shape to draw it as a picture in (None for rows of features)."""
    names, blocks, pictures = [], [], []
    for path in paths:
        if not os.path.exists(path):
            raise CommandError(f"{path}: no such file")
        suffix = Path(path).suffix.lower()
        if suffix == ".npy":
            block = read_npy(path, model.input_shape)
        elif suffix in IMAGE_SUFFIXES:
            block = read_image(path, model.input_shape, invert)[None]
        elif suffix in (".csv", ".txt"):
            block = read_feature_rows(path, model.input_shape)
        else:
            raise CommandError(f"{path}: unknown input kind {suffix!r}: expected .npy, .csv or an image "
                               f"({', '.join(IMAGE_SUFFIXES)})")
        blocks.append(fit_to_model(block, model.input_shape, path))
        names += [path] if len(block) == 1 else [f"{path}[{i}]" for i in range(len(block))]
        pictures += [picture_shape(block, suffix, model.input_shape)] * len(block)
    return names, np.concatenate(blocks).astype(model.dtype, copy=False), pictures


def picture_shape(block, suffix, input_shape):
    """Images, arrays of 2-D or 3-D samples and the inputs of image models are pictures; rows are not."""
    if suffix in IMAGE_SUFFIXES:
        return image_size(input_shape)
    if block.ndim in (3, 4):
        return block.shape[1:]
    return tuple(input_shape) if len(input_shape) in (2, 3) else None


def read_feature_rows(path, input_shape):
    """The rows of a CSV as samples; one column more than the model takes is named as a likely label."""
    rows = read_numeric_csv(path).astype(np.float32)
    if len(input_shape) == 1 and rows.shape[1] == input_shape[0] + 1:
        raise CommandError(f"{path}: rows of {rows.shape[1]} values, the model takes {input_shape[0]} features: "
                           "drop the label column (predict reads feature columns only)")
    return rows


def read_npy(path, input_shape):
    """An array of samples (or one sample); uint8 pixels are scaled to [0, 1] as in training."""
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise CommandError(f"{path}: not a readable .npy array ({error})") from None
    if array.dtype.kind not in "biuf":
        raise CommandError(f"{path}: expected a numeric array, got dtype {array.dtype}")
    size = math.prod(input_shape)
    if array.size == size and (array.ndim < 2 or math.prod(array.shape[1:]) != size):
        array = array.reshape(1, *input_shape)
    elif array.ndim < 2:
        raise CommandError(f"{path}: expected samples of shape {tuple(input_shape)} for the model, got an array "
                           f"of shape {array.shape}")
    return scale_pixels(array)


def image_size(input_shape):
    """(height, width, channels) an image must have for a model taking input_shape."""
    if len(input_shape) == 3 and input_shape[-1] in (1, 3):
        return input_shape
    if len(input_shape) == 2:
        return (*input_shape, 1)
    side = math.isqrt(input_shape[0]) if len(input_shape) == 1 else 0
    if side * side != math.prod(input_shape) or side == 0:
        raise CommandError(f"the model takes input of shape {tuple(input_shape)}, which is not an image")
    return side, side, 1


def read_image(path, input_shape, invert="auto"):
    """An image as the model's input: grayscale (or RGB), resized, ink bright on a dark ground, in [0, 1].

    MNIST draws bright ink on a dark ground. With invert="auto" the image is inverted when its border
    (the outermost row and column of pixels on each side) is on average lighter than mid-grey, i.e.
    when it looks like dark ink on light paper. Transparent pixels count as white paper.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise CommandError("reading images needs Pillow: pip install 'scratchnn[image]'") from None
    height, width, channels = image_size(input_shape)
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGBA")
    except (UnidentifiedImageError, OSError) as error:
        raise CommandError(f"{path}: cannot read the image ({error})") from None
    paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
    image = Image.alpha_composite(paper, image).convert("L" if channels == 1 else "RGB")
    pixels = np.asarray(image, dtype=np.float32)
    if invert == "yes" or (invert == "auto" and border_mean(pixels) > 127.5):
        image = Image.fromarray((255 - pixels).astype(np.uint8))
    resized = np.asarray(image.resize((width, height), Image.Resampling.LANCZOS), dtype=np.float32) / 255
    return resized.reshape(input_shape)


def border_mean(pixels):
    edges = (pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1])
    return float(np.mean(np.concatenate([edge.reshape(-1) for edge in edges])))


# ---- predict ------------------------------------------------------------------------------------------
def command_predict(args):
    model = open_model(args.model)
    labels = class_labels(args.class_names, model)
    names, x, _ = read_inputs(args.inputs, model, args.invert)
    probabilities = class_probabilities(model, model.predict(x, batch_size=args.batch_size))
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :TOP_K]
    predictions = [{"input": name, "class": int(best[0]), "name": labels[best[0]], "probability": float(p[best[0]]),
                    "top": [{"class": int(c), "name": labels[c], "probability": float(p[c])} for c in best]}
                   for name, p, best in zip(names, probabilities, top)]
    if args.json:
        print_json({"model": args.model, "predictions": predictions})
        return 0
    rows = [[item["input"], item["name"], f"{item['probability']:.4f}",
             "  ".join(f"{t['name']}: {t['probability']:.4f}" for t in item["top"])] for item in predictions]
    print(table(rows, ["input", "class", "probability", f"top-{min(TOP_K, probabilities.shape[1])}"]))
    return 0


def class_labels(class_names, model):
    """The name of each class: the given names, or the class numbers as text."""
    classes = class_count(model)
    if class_names is None:
        return [str(c) for c in range(classes)]
    if len(class_names) != classes:
        raise CommandError(f"--class-names gives {len(class_names)} names, the model has {classes} classes",
                           EXIT_USAGE)
    return class_names


def class_names_list(text):
    """'fashion' (Fashion-MNIST's ten names) or comma-separated names."""
    from .datasets import FASHION_CLASSES
    names = list(FASHION_CLASSES) if text == "fashion" else [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names or 'fashion', got {text!r}")
    return names


# ---- explain ------------------------------------------------------------------------------------------
def command_explain(args):
    model = open_model(args.model)
    names, x, pictures = read_inputs([args.input], model, args.invert)
    if not 0 <= args.index < len(x):
        raise CommandError(f"--index {args.index} is out of range: {args.input} holds {len(x)} sample(s)",
                           EXIT_USAGE)
    sample = x[args.index]
    probabilities = class_probabilities(model, model.predict(sample[None]))[0]
    outputs = math.prod(model.output_shape)
    if args.target is not None:
        target = args.target
    else:
        target = int(probabilities.argmax()) if outputs > 1 else 0
    if not 0 <= target < outputs:
        raise CommandError(f"--target {target} is out of range: the model has {outputs} output(s)", EXIT_USAGE)
    attributions, note = attribute(args.method, model, sample, target, args.steps)
    write_attributions(args.out, attributions, sample, pictures[args.index], f"{args.method}, class {target}")
    explained = f"class {target} (probability {probabilities[target]:.4f})" if outputs > 1 else \
        f"the output (probability of class 1: {probabilities[1]:.4f})"
    print(f"{names[args.index]}: {explained} explained with {args.method}{note}")
    print(f"attributions written to {args.out}")
    return 0


def attribute(method, model, sample, target, steps):
    """The attributions of one sample by the chosen method, and a note on their quality (or "")."""
    from . import explain
    if method == "integrated-gradients":
        attributions, delta = explain.integrated_gradients(model, sample, target=target, steps=steps,
                                                           return_delta=True)
        return attributions, f"; completeness gap {float(delta):.2e} (sum of attributions minus the change " \
                             "of the output)"
    if method == "saliency":
        return explain.saliency(model, sample, target=target), ""
    return explain.occlusion(model, sample, target=target), ""


def write_attributions(out, attributions, sample, picture, title):
    """A .npy of the raw attributions; else a heat map over the picture, or bars for rows of features."""
    with atomic_path(out) as temporary:
        if Path(out).suffix.lower() == ".npy":
            with open(temporary, "wb") as stream:
                np.save(stream, attributions)
            return
        plot = import_plot()
        if picture is None:
            figure = plot.plot_attributions(attributions.reshape(-1), title=title, path=temporary)
        else:
            figure = plot.plot_attributions(attributions.reshape(picture), image=sample.reshape(picture),
                                            title=title, path=temporary)
        close_figure(figure)


def import_plot():
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CommandError("figures need matplotlib: pip install 'scratchnn[plot]' (or write a .npy)") from None
    from . import plot
    return plot


def close_figure(figure):
    import matplotlib.pyplot as pyplot
    pyplot.close(figure)


# ---- summary, export, plot ------------------------------------------------------------------------------
def command_summary(args):
    model = open_model(args.model)
    if args.config:
        print_json(model.get_config())
        return 0
    model.summary()
    print(f"input: {(None, *model.input_shape)} {model.dtype.name}")
    if model.loss is not None:
        from . import optim
        described = optim.serialize(model.optimizer)
        rate = described["config"].get("learning_rate")
        rate = rate["class_name"] if isinstance(rate, dict) else rate
        print(f"loss: {type(model.loss).__name__}"
              f"{' (from logits)' if getattr(model.loss, 'from_logits', False) else ''}; "
              f"optimizer: {described['class_name']} (learning rate {rate}), "
              f"{model.optimizer.iterations:,} steps taken; metrics: {', '.join(model.metric_names) or 'none'}")
    return 0


def command_export(args):
    model = open_model(args.model)
    try:
        from . import onnx
        with atomic_path(args.out) as temporary:
            onnx.export(model, temporary, opset=args.opset)
            report = verify_onnx(model, temporary)
    except ImportError as error:
        raise CommandError(str(error)) from None
    print(f"ONNX model written to {args.out} (opset {args.opset}, input {(None, *model.input_shape)})")
    print(report)
    return 0


def verify_onnx(model, path, samples=8):
    """Run the exported file with onnxruntime on random inputs; a mismatch fails the export."""
    try:
        import onnxruntime
    except ImportError:
        return "not verified: onnxruntime is not installed (pip install onnxruntime)"
    x = np.random.default_rng(0).random((samples, *model.input_shape)).astype(model.dtype)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    expected = model.predict(x)
    difference = float(np.max(np.abs(got - expected)))
    tolerance = 1e-4 if model.dtype == np.float32 else 1e-10
    if not np.allclose(got, expected, rtol=tolerance, atol=tolerance):
        raise CommandError(f"the ONNX model disagrees with the scratchnn model: max |difference| "
                           f"{difference:.3g} on {samples} random inputs; nothing written")
    return (f"verified with onnxruntime {onnxruntime.__version__}: max |difference| {difference:.3g} "
            f"on {samples} random inputs")


def command_plot(args):
    if args.model is None and args.history is None:
        raise CommandError("plot needs a MODEL file, --history FILE, or both", EXIT_USAGE)
    plot = import_plot()
    written = []
    if args.model is not None:
        model = open_model(args.model)
        with atomic_path(args.out) as temporary:
            close_figure(plot.plot_model(model, style=args.style, path=temporary))
        written.append(args.out)
    if args.history is not None:
        out = args.out if args.model is None else str(Path(args.out).with_stem(Path(args.out).stem + "-history"))
        logs = read_history(args.history)
        with atomic_path(out) as temporary:
            close_figure(plot.plot_history(logs, path=temporary))
        written.append(out)
    print("figure written to " + " and ".join(written))
    return 0


def read_history(path):
    """The columns of a history CSV (`train --history`) as lists, without the epoch column."""
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such history file")
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows or "loss" not in rows[0]:
        raise CommandError(f"{path}: expected a history CSV with a 'loss' column (from train --history)")
    try:
        return {key: [float(row[key]) for row in rows] for key in rows[0] if key != "epoch"}
    except (TypeError, ValueError):
        raise CommandError(f"{path}: the history holds values that are not numbers") from None


# ---- datasets -----------------------------------------------------------------------------------------
def command_datasets(args):
    if args.export_digits:
        return export_digits(args.export_digits, args.count)
    from .datasets import digits, mnist
    embedded = Path(digits.__file__).parent / "data" / "mnist-10k.npz"
    rows = [["digits", "available", "10,000 MNIST digits (8,000 train / 2,000 test), embedded", str(embedded)]]
    for name, folder in (("mnist", mnist.default_cache_dir("mnist")), ("fashion", Path(mnist.FASHION_DIR))):
        found = all((folder / stem).is_file() or (folder / f"{stem}.gz").is_file() for stem in mnist.FILES)
        rows.append([name, "available" if found else "not found", "four IDX files (raw or .gz)", str(folder)])
    rows.append(["csv", "any file", "--data csv:FILE: feature columns, integer label last", ""])
    print(table(rows, ["dataset", "status", "what", "where"]))
    print("\nUse a folder elsewhere with --data mnist:DIR or --data fashion:DIR; "
          "`make fashion` installs Fashion-MNIST (Debian's dataset-fashion-mnist).")
    return 0


def export_digits(folder, count):
    """The first ``count`` embedded test digits as PNGs (with Pillow), one .npy of them and their labels."""
    from .datasets import load_digits
    _, (images, labels) = load_digits()
    if count > len(images):
        raise CommandError(f"--count {count}: the embedded test split holds {len(images)} digits", EXIT_USAGE)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, array in (("digits.npy", images[:count]), ("labels.npy", labels[:count])):
        with atomic_path(folder / name) as temporary, open(temporary, "wb") as stream:
            np.save(stream, array)
        written.append(folder / name)
    try:
        from PIL import Image
    except ImportError:
        print("Pillow is not installed: no PNGs written (pip install 'scratchnn[image]')", file=sys.stderr)
    else:
        for index in range(count):
            path = folder / f"digit-{index}-label-{labels[index]}.png"
            with atomic_path(path) as temporary:
                Image.fromarray(images[index]).save(temporary, format="PNG")
            written.append(path)
    print("\n".join(f"wrote {path}" for path in written))
    return 0


# ---- the parser ------------------------------------------------------------------------------------------
def build_parser():
    from . import __version__, optim
    common = ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    parser = ArgumentParser(prog="scratchnn", parents=[common],
                            description="Neural networks from scratch on NumPy: train, evaluate, predict, "
                                        "explain, plot and export from the shell.")
    parser.add_argument("--version", action="version", version=f"scratchnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, handler, help_text):
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    train = command("train", command_train, "train a classifier and write it to a model file")
    train.add_argument("--data", type=dataset_spec, default=("digits", None), help=DATA_HELP + " (default: digits)")
    train.add_argument("--download", action="store_true", help=DOWNLOAD_HELP)
    train.add_argument("--model", default="mlp", help="mlp (two ReLU layers of 256 with 20%% dropout), cnn (two "
                       "convolutions and max poolings, 128 ReLU units, dropout), or CONFIG.json: the JSON of "
                       "model.get_config(), e.g. from `scratchnn summary MODEL --config` (default: mlp)")
    train.add_argument("--epochs", type=positive_int, default=10, help="passes over the data (default: 10)")
    train.add_argument("--batch-size", type=positive_int, default=64, help="samples per step (default: 64)")
    train.add_argument("--optimizer", choices=sorted(optim.OPTIMIZERS), default="adam", help="(default: adam)")
    train.add_argument("--lr", type=positive_float, default=1e-3,
                       help="learning rate (the peak rate with --schedule cosine) (default: 1e-3)")
    train.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                       help="cosine: warm up from lr/10 to lr over the first epoch, then a half cosine down "
                            "to 0 by the last (default: constant)")
    train.add_argument("--validation-split", type=fraction, default=0.1,
                       help="fraction of the (shuffled) training data held out for validation (default: 0.1)")
    train.add_argument("--seed", type=int, default=0, help="initialisation and shuffling (default: 0)")
    train.add_argument("--out", default="model.snn", help="the model file to write (default: model.snn)")
    train.add_argument("--early-stopping", type=positive_int, metavar="PATIENCE",
                       help="stop after PATIENCE epochs without a better val_loss; keep the best weights")
    train.add_argument("--checkpoint", metavar="DIR", help="write the model to DIR/epoch-NNN.snn after each epoch")
    train.add_argument("--history", metavar="CSV", help="write the loss and metrics of each epoch to CSV")
    train.add_argument("--limit", type=positive_int, help="use only the first N training and test samples")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="1: a live bar per epoch (one line per epoch when not a terminal), 2: one line "
                            "per epoch, 0: quiet")

    evaluate = command("evaluate", command_evaluate, "loss, accuracy, precision, recall, F1 and the confusion "
                       "matrix of a model on a dataset's test split (a CSV: all its rows)")
    evaluate.add_argument("model", metavar="MODEL")
    evaluate.add_argument("--data", type=dataset_spec, default=("digits", None), help=DATA_HELP)
    evaluate.add_argument("--download", action="store_true", help=DOWNLOAD_HELP)
    evaluate.add_argument("--limit", type=positive_int, help="use only the first N test samples")
    evaluate.add_argument("--batch-size", type=positive_int, default=256)
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.add_argument("--class-names", type=class_names_list, metavar="NAMES",
                          help="names for the classes in the per-class report: comma-separated or 'fashion'")

    invert_help = ("MNIST draws bright ink on a dark ground: auto inverts an image whose border is on average "
                   "lighter than mid-grey (dark ink on light paper); yes / no force it (default: auto)")
    predict = command("predict", command_predict, "class, probability and top-3 classes for each input")
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument("inputs", metavar="INPUT", nargs="+",
                         help="a .npy of samples (uint8 is scaled to [0, 1]), a CSV of feature rows, or images "
                              "(PNG, JPEG...; grayscale, resized to the model's input with Pillow)")
    predict.add_argument("--invert", choices=("auto", "yes", "no"), default="auto", help=invert_help)
    predict.add_argument("--batch-size", type=positive_int, default=256)
    predict.add_argument("--json", action="store_true", help="print the predictions as JSON")
    predict.add_argument("--class-names", type=class_names_list, metavar="NAMES",
                         help="names for the classes: comma-separated (cat,dog,...) or 'fashion' "
                              "(Fashion-MNIST's ten)")

    summary = command("summary", command_summary, "the layers, shapes and parameter counts of a model file")
    summary.add_argument("model", metavar="MODEL")
    summary.add_argument("--config", action="store_true",
                         help="print the architecture as JSON instead (edit it and pass it to train --model)")

    export = command("export", command_export, "write a model as ONNX, checked with onnxruntime when installed")
    export.add_argument("model", metavar="MODEL")
    export.add_argument("out", metavar="OUT.onnx")
    export.add_argument("--opset", type=positive_int, default=17)

    explain = command("explain", command_explain, "which pixels or features a prediction rests on, as a heat map")
    explain.add_argument("model", metavar="MODEL")
    explain.add_argument("input", metavar="INPUT", help="an image, a .npy or a CSV (see predict)")
    explain.add_argument("--method", choices=EXPLAIN_METHODS, default="integrated-gradients")
    explain.add_argument("--out", default="attributions.png",
                         help="the heat map (.png, .pdf, .svg) or the raw attributions (.npy)")
    explain.add_argument("--target", type=int, help="the class to explain (default: the predicted class)")
    explain.add_argument("--index", type=int, default=0, help="which sample of INPUT to explain (default: 0)")
    explain.add_argument("--steps", type=positive_int, default=50, help="integrated-gradients steps (default: 50)")
    explain.add_argument("--invert", choices=("auto", "yes", "no"), default="auto", help=invert_help)

    plot = command("plot", command_plot, "draw a model's network and/or the training curves of a history CSV")
    plot.add_argument("model", metavar="MODEL", nargs="?")
    plot.add_argument("--out", default="model.png", help="the figure file (default: model.png); with both a "
                      "MODEL and --history the curves go to OUT with -history before the suffix")
    plot.add_argument("--history", metavar="CSV", help="a history CSV written by train --history")
    plot.add_argument("--style", choices=("auto", "neurons", "layers"), default="auto")

    data = command("datasets", command_datasets, "the datasets available on this machine and where they are")
    data.add_argument("--export-digits", metavar="DIR",
                      help="write the first embedded test digits to DIR (PNGs, digits.npy, labels.npy)")
    data.add_argument("--count", type=positive_int, default=3, help="how many digits to export (default: 3)")
    return parser


def describe_error(error):
    """One line for an error: the message for expected failures, the type too for anything else."""
    if isinstance(error, OSError) and error.filename is not None:
        message = f"{error.filename}: {error.strerror or error}"
    elif isinstance(error, (CommandError, ValueError, TypeError, ImportError, OSError)):
        message = str(error)
    else:
        message = f"internal error ({type(error).__name__}: {error}); run again with --debug for the traceback"
    return " ".join(message.split())


def main(argv=None):
    """Run the command in argv (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return stop.code
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"scratchnn {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:                   # the reader of stdout went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_RUNTIME
    except Exception as error:
        if getattr(args, "debug", False):
            raise
        print(f"scratchnn {args.command}: error: {describe_error(error)}", file=sys.stderr)
        return error.code if isinstance(error, CommandError) else EXIT_RUNTIME
