"""scratchnn explain: which pixels or features a prediction rests on, as a heat map, bars (or a .npy).

``--target`` is a class. A one-output model gives the probability p of class 1 (or its logit, for a model
file without a final sigmoid); class 0 is then explained through 1 - p (or the logit's negative, the
log-odds of class 0), so its attributions are those of class 1 with the opposite sign (saliency, |d/dx|,
is the same for both). The console line and the figure's title name the same quantity.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..saving.files import atomic_file
from .common import EXIT_USAGE, CommandError, check_folder, close_figure, import_plot, positive_int
from .inputs import INVERT_HELP, read_inputs
from .model import class_probabilities, open_model, outputs_probabilities

NAME = "explain"
HELP = "which pixels or features a prediction rests on, as a heat map"
EXPLAIN_METHODS = ("integrated-gradients", "saliency", "occlusion")
TOP_FEATURES = 3                                   # the attributions of a row of features named on the console


class Explained(NamedTuple):
    """What the attributions of a class are attributions of: the model's output ``output`` times ``sign``."""
    output: int
    sign: int
    subject: str                                   # "the probability of class 1", "the logit of class 3"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("input", metavar="INPUT", help="an image, a .npy or a CSV (see predict)")
    parser.add_argument("--method", choices=EXPLAIN_METHODS, default="integrated-gradients")
    parser.add_argument("--out", default="attributions.png",
                        help="the heat map (.png, .pdf, .svg) or the raw attributions (.npy)")
    parser.add_argument("--target", type=int, help="the class to explain (default: the predicted class); a "
                        "model with one output takes 0 or 1 (class 0's probability is 1 - p)")
    parser.add_argument("--index", type=int, default=0, help="which sample of INPUT to explain (default: 0)")
    parser.add_argument("--steps", type=positive_int, default=50, help="integrated-gradients steps (default: 50)")
    parser.add_argument("--invert", choices=("auto", "yes", "no"), default="auto", help=INVERT_HELP)


def run(args: argparse.Namespace) -> int:
    model = open_model(args.model)
    names, x, pictures = read_inputs([args.input], model, args.invert)
    if not 0 <= args.index < len(x):
        raise CommandError(f"--index {args.index} is out of range: {args.input} holds {len(x)} sample(s)",
                           EXIT_USAGE)
    sample = x[args.index]
    probabilities = class_probabilities(model, model.predict(sample[None]))[0]
    target = int(probabilities.argmax()) if args.target is None else args.target
    if not 0 <= target < len(probabilities):
        raise CommandError(f"--target {target} is out of range: the model has {len(probabilities)} classes "
                           f"(0 to {len(probabilities) - 1})", EXIT_USAGE)
    explained = explained_output(model, target)
    attributions, note = class_attributions(args.method, model, sample, explained, args.steps)
    headline = f"{args.method} attributions of {explained.subject}"
    predicted = f"class {target} (probability {probabilities[target]:.4f})"
    title = f"{headline}\n{names[args.index]}: {predicted}"
    feature_names = model_feature_names(model)
    write_attributions(args.out, attributions, sample, pictures[args.index], title, feature_names,
                       label=f"attribution to {explained.subject}")
    print(f"{names[args.index]}: {predicted}; {headline}{note}")
    if pictures[args.index] is None:
        print("largest: " + top_features(attributions.reshape(-1), feature_names))
    print(f"attributions written to {args.out}")
    return 0


def explained_output(model, target: int) -> Explained:
    """The output whose attributions (times ``sign``) are those of class ``target``, and what it is."""
    kind = "probability" if outputs_probabilities(model) else "logit"
    if math.prod(model.output_shape) > 1:
        return Explained(target, 1, f"the {kind} of class {target}")
    if target == 1:
        return Explained(0, 1, f"the {kind} of class 1")
    return Explained(0, -1, "the probability of class 0 (1 - p)" if kind == "probability" else
                     "the log-odds of class 0 (minus the logit of class 1)")


def class_attributions(method: str, model, sample: np.ndarray, explained: Explained,
                       steps: int) -> tuple[np.ndarray, str]:
    """The attributions of the explained class, and a note on their quality (or "")."""
    attributions, gap = attribute(method, model, sample, explained.output, steps)
    if explained.sign < 0 and method != "saliency":          # saliency is |d output / dx|: the same for 1 - p
        attributions, gap = -attributions, (None if gap is None else -gap)
    if gap is None:
        return attributions, ""
    return attributions, f"; completeness gap {gap:.2e} (the sum of the attributions minus the change from the " \
                         "all-zero input)"


def attribute(method: str, model, sample: np.ndarray, target: int, steps: int) -> tuple[np.ndarray, float | None]:
    """The attributions of one sample's output ``target`` by the chosen method and, for integrated gradients,
    the completeness gap (the sum of the attributions minus the change of the output from the baseline)."""
    from .. import explain
    if method == "integrated-gradients":
        attributions, delta = explain.integrated_gradients(model, sample, target=target, steps=steps,
                                                           return_delta=True)
        return attributions, float(delta)
    if method == "saliency":
        return explain.saliency(model, sample, target=target), None
    return explain.occlusion(model, sample, target=target), None


def model_feature_names(model) -> list[str] | None:
    """The names of the input features kept in the model file (``metadata["feature_names"]``, from a CSV
    header), when they are as many as the model's inputs; else None (the figure says X_1..X_n)."""
    names = (getattr(model, "metadata", None) or {}).get("feature_names")
    if isinstance(names, list) and len(names) == math.prod(model.input_shape) and all(
            isinstance(name, str) for name in names):
        return names
    return None


def top_features(values: np.ndarray, feature_names: list[str] | None) -> str:
    """The largest attributions by size, named: "petal_width +0.4121, sepal_length -0.1083, ..."."""
    order = np.argsort(-np.abs(values), kind="stable")[:TOP_FEATURES]
    names = feature_names or [f"X_{i + 1}" for i in range(len(values))]
    return ", ".join(f"{names[i]} {values[i]:+.4f}" for i in order)


def write_attributions(out: str, attributions: np.ndarray, sample: np.ndarray, picture: tuple[int, ...] | None,
                       title: str, feature_names: list[str] | None = None, label: str = "attribution") -> None:
    """A .npy of the raw attributions; else a heat map over the picture, or bars for rows of features.

    Both are written atomically: the .npy through ``atomic_file``, a figure by scratchnn.plot (which uses it).
    """
    check_folder(out)
    if Path(out).suffix.lower() == ".npy":
        with atomic_file(out) as stream:
            np.save(stream, attributions)
        return
    plot = import_plot()
    if picture is None:
        figure = plot.plot_attributions(attributions.reshape(-1), feature_names=feature_names,
                                        features=sample.reshape(-1), title=title, label=label, path=out)
    else:
        figure = plot.plot_attributions(attributions.reshape(picture), image=sample.reshape(picture),
                                        title=title, label=label, path=out)
    close_figure(figure)
