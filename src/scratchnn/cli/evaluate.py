"""scratchnn evaluate: loss, accuracy, precision, recall, F1 and the confusion matrix of a model file."""
from __future__ import annotations

import argparse

from .common import check_folder, close_figure, import_plot, positive_int, print_json, table
from .data import DATA_HELP, DOWNLOAD_HELP, add_csv_arguments, check_labels, csv_options, dataset_spec, \
    fit_to_model, limit_dataset, load_dataset
from .inputs import check_scale
from .model import class_count, class_labels, class_names_list, class_probabilities, compile_for_classes, open_model

NAME = "evaluate"
HELP = ("loss, accuracy, precision, recall, F1 and the confusion matrix of a model on a dataset's test split "
        "(a CSV: all its rows)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("--data", type=dataset_spec, default=("digits", None), help=DATA_HELP)
    parser.add_argument("--download", action="store_true", help=DOWNLOAD_HELP)
    add_csv_arguments(parser, trained=False)
    parser.add_argument("--limit", type=positive_int, help="use only the first N test samples")
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--class-names", type=class_names_list, metavar="NAMES",
                        help="names for the classes in the per-class report: comma-separated or 'fashion'")
    parser.add_argument("--plot", metavar="FILE", help="also draw the confusion matrix to FILE (.png, .pdf, .svg)")


def run(args: argparse.Namespace) -> int:
    from .. import metrics, optim
    model = open_model(args.model)
    labels = class_labels(args.class_names, model)
    if args.plot is not None:
        check_folder(args.plot)
        plot = import_plot()                 # before the work: a missing matplotlib fails at once
    data = limit_dataset(load_dataset(args.data, args.download, **csv_options(args, model)), args.limit)
    x, y = (data.x_test, data.y_test) if data.x_test is not None else (data.x_train, data.y_train)
    x = fit_to_model(x, model.input_shape, data.name)
    check_scale(x, model, data.name, data.is_image)
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
    if args.plot is not None:                # written atomically by scratchnn.plot (saving.files.atomic_file)
        close_figure(plot.plot_confusion_matrix(y, predicted, class_names=labels, path=args.plot))
    if args.json:
        print_json({"model": args.model, "data": data.name, "split": split, "samples": len(x), **results,
                    **macro, "confusion_matrix": matrix.tolist()})
        return 0
    print(f"{args.model} on {data.name} ({split}, {len(x):,} samples)")
    print(table([[name, f"{value:.4f}"] for name, value in {**results, **macro}.items()], ["metric", "value"]))
    print("\nconfusion matrix (rows: true class, columns: predicted class)")
    print(table([[f"{c}", *row] for c, row in enumerate(matrix.tolist())], ["", *range(classes)]))
    print("\n" + metrics.classification_report(y, predicted, num_classes=classes, digits=4, target_names=labels))
    if args.plot is not None:
        print(f"confusion matrix drawn to {args.plot}")
    return 0
