"""The classifier a command works on: its file, its classes, and probabilities from its outputs."""
from __future__ import annotations

import argparse
import os

import numpy as np

from ..backend.special import sigmoid, softmax
from .common import EXIT_USAGE, CommandError

PROBABILITY_LAYERS = ("Softmax", "Sigmoid")


def open_model(path: str):
    from ..saving import ModelFileError, load_model
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such model file")
    try:
        return load_model(path)
    except ModelFileError as error:
        raise CommandError(str(error)) from None


def class_count(model) -> int:
    outputs = model.output_shape[-1]
    return 2 if outputs == 1 else outputs


def outputs_probabilities(model) -> bool:
    """Whether the model ends in a Softmax or a Sigmoid (a layer of its own, or an Activation layer of one)."""
    last = model.layers[-1] if model.layers else None
    return last is not None and type(getattr(last, "function", last)).__name__ in PROBABILITY_LAYERS


def compile_for_classes(model, optimizer) -> None:
    """Crossentropy on the model's outputs: logits unless the last layer is a Softmax or Sigmoid."""
    loss = "binary_crossentropy" if model.output_shape[-1] == 1 else "categorical_crossentropy"
    model.compile(loss=loss, optimizer=optimizer, metrics=["accuracy"], from_logits=not outputs_probabilities(model))


def class_probabilities(model, outputs: np.ndarray) -> np.ndarray:
    """(N, K) class probabilities (float64) from the model's outputs: the stable sigmoid / softmax of
    logits (no overflow at any logit), or the outputs themselves after a Softmax / Sigmoid layer."""
    outputs = outputs.reshape(len(outputs), -1).astype(np.float64)
    if outputs.shape[1] == 1:
        positive = outputs[:, 0] if outputs_probabilities(model) else sigmoid(outputs[:, 0])
        return np.stack([1 - positive, positive], axis=1)
    return outputs if outputs_probabilities(model) else softmax(outputs, axis=1)


def class_labels(class_names: list[str] | None, model) -> list[str]:
    """The name of each class: the given names, the model file's (``metadata["class_names"]``, from a CSV's
    label column), or the class numbers as text."""
    classes = class_count(model)
    if class_names is None:
        kept = (getattr(model, "metadata", None) or {}).get("class_names")
        if isinstance(kept, list) and len(kept) == classes:
            return [str(name) for name in kept]
        return [str(c) for c in range(classes)]
    if len(class_names) != classes:
        raise CommandError(f"--class-names gives {len(class_names)} names, the model has {classes} classes",
                           EXIT_USAGE)
    return class_names


def class_names_list(text: str) -> list[str]:
    """argparse type: 'fashion' (Fashion-MNIST's ten names) or comma-separated names."""
    from ..datasets import FASHION_CLASSES
    names = list(FASHION_CLASSES) if text == "fashion" else [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names or 'fashion', got {text!r}")
    return names
