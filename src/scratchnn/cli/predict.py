"""scratchnn predict: the class, its probability and the top-3 classes of each input."""
from __future__ import annotations

import argparse

import numpy as np

from .common import positive_int, print_json, table
from .inputs import INVERT_HELP, read_inputs
from .model import class_labels, class_names_list, class_probabilities, open_model

NAME = "predict"
HELP = "class, probability and top-3 classes for each input"
TOP_K = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("inputs", metavar="INPUT", nargs="+",
                        help="a .npy of samples (uint8 is scaled to [0, 1]), a CSV of feature rows, or images "
                             "(PNG, JPEG...; grayscale, resized to the model's input with Pillow)")
    parser.add_argument("--invert", choices=("auto", "yes", "no"), default="auto", help=INVERT_HELP)
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")
    parser.add_argument("--class-names", type=class_names_list, metavar="NAMES",
                        help="names for the classes: comma-separated (cat,dog,...) or 'fashion' "
                             "(Fashion-MNIST's ten)")


def run(args: argparse.Namespace) -> int:
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
