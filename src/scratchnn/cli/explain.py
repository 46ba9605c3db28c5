"""scratchnn explain: which pixels or features a prediction rests on, as a heat map (or a .npy)."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from ..saving.files import atomic_file
from .common import EXIT_USAGE, CommandError, check_folder, close_figure, import_plot, positive_int
from .inputs import INVERT_HELP, read_inputs
from .model import class_probabilities, open_model

NAME = "explain"
HELP = "which pixels or features a prediction rests on, as a heat map"
EXPLAIN_METHODS = ("integrated-gradients", "saliency", "occlusion")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("input", metavar="INPUT", help="an image, a .npy or a CSV (see predict)")
    parser.add_argument("--method", choices=EXPLAIN_METHODS, default="integrated-gradients")
    parser.add_argument("--out", default="attributions.png",
                        help="the heat map (.png, .pdf, .svg) or the raw attributions (.npy)")
    parser.add_argument("--target", type=int, help="the class to explain (default: the predicted class)")
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


def attribute(method: str, model, sample: np.ndarray, target: int, steps: int) -> tuple[np.ndarray, str]:
    """The attributions of one sample by the chosen method, and a note on their quality (or "")."""
    from .. import explain
    if method == "integrated-gradients":
        attributions, delta = explain.integrated_gradients(model, sample, target=target, steps=steps,
                                                           return_delta=True)
        return attributions, f"; completeness gap {float(delta):.2e} (sum of attributions minus the change " \
                             "of the output)"
    if method == "saliency":
        return explain.saliency(model, sample, target=target), ""
    return explain.occlusion(model, sample, target=target), ""


def write_attributions(out: str, attributions: np.ndarray, sample: np.ndarray, picture: tuple[int, ...] | None,
                       title: str) -> None:
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
        figure = plot.plot_attributions(attributions.reshape(-1), title=title, path=out)
    else:
        figure = plot.plot_attributions(attributions.reshape(picture), image=sample.reshape(picture),
                                        title=title, path=out)
    close_figure(figure)
