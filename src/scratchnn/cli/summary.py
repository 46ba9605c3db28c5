"""scratchnn summary: the layers, shapes and parameter counts of a model file (or its config as JSON)."""
from __future__ import annotations

import argparse

from .common import print_json
from .model import open_model

NAME = "summary"
HELP = "the layers, shapes and parameter counts of a model file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("--config", action="store_true",
                        help="print the architecture as JSON instead (edit it and pass it to train --model)")


def run(args: argparse.Namespace) -> int:
    model = open_model(args.model)
    if args.config:
        print_json(model.get_config())
        return 0
    model.summary()
    print(f"input: {(None, *model.input_shape)} {model.dtype.name}")
    if model.loss is not None:
        from .. import optim
        described = optim.serialize(model.optimizer)
        rate = described["config"].get("learning_rate")
        rate = rate["class_name"] if isinstance(rate, dict) else rate
        print(f"loss: {type(model.loss).__name__}"
              f"{' (from logits)' if getattr(model.loss, 'from_logits', False) else ''}; "
              f"optimizer: {described['class_name']} (learning rate {rate}), "
              f"{model.optimizer.iterations:,} steps taken; metrics: {', '.join(model.metric_names) or 'none'}")
    return 0
