"""scratchnn predict: the class, its probability and the top-3 classes of each input."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from .common import EXIT_USAGE, CommandError, check_folder, positive_int, print_json, table
from .data import add_delimiter_argument
from .inputs import INVERT_HELP, read_inputs, write_pictures
from .model import class_labels, class_names_list, class_probabilities, open_model

NAME = "predict"
HELP = "class, probability and top-3 classes for each input"
TOP_K = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("inputs", metavar="INPUT", nargs="+",
                        help="a .npy of samples, a CSV of feature rows (a header naming the model's features "
                             "selects them), or images (PNG, JPEG...: grayscale pixels 0..255, framed as MNIST "
                             "was: cropped to the ink, its longer side scaled to 20 pixels, centred by its "
                             "centre of mass in 28x28). Values reach the model as given: its first layer does "
                             "any scaling")
    parser.add_argument("--invert", choices=("auto", "yes", "no"), default="auto", help=INVERT_HELP)
    add_delimiter_argument(parser)
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")
    parser.add_argument("--show-input", metavar="PNG",
                        help="write the picture each input was fed as (PNG; several inputs: PNG's name "
                             "numbered, e.g. input-0.png, input-1.png)")
    parser.add_argument("--class-names", type=class_names_list, metavar="NAMES",
                        help="names for the classes: comma-separated (cat,dog,...) or 'fashion' "
                             "(Fashion-MNIST's ten) (default: the names a CSV's label column gave in training, "
                             "else the class numbers)")


def run(args: argparse.Namespace) -> int:
    if args.show_input is not None:
        if not args.show_input.lower().endswith(".png"):
            raise CommandError(f"--show-input {args.show_input}: expected a .png file name", EXIT_USAGE)
        check_folder(args.show_input)
    model = open_model(args.model)
    labels = class_labels(args.class_names, model)
    notes = []
    names, x, pictures = read_inputs(args.inputs, model, args.invert, notes, args.delimiter)
    for note in notes:                           # stderr: stdout stays the table (or the JSON)
        print(note, file=sys.stderr)
    if args.show_input is not None:
        written = write_pictures(args.show_input, x, pictures, names)
        print(f"input{'s' if len(written) > 1 else ''} as fed written to {', '.join(written)}", file=sys.stderr)
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
