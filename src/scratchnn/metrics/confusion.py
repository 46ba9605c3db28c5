"""Metrics from counts of (true class, predicted class), kept on the host: Precision, Recall, F1Score and AUC
(streaming), and confusion_matrix, classification_report and roc_auc on whole arrays."""
from __future__ import annotations

import numpy as np

from ..backend.namespace import to_numpy
from ..labels import class_indices
from .mean import Metric, _labels, _weights


# ---- counts of (true class, predicted class) ------------------------------------------------------
def _predicted_classes(y_pred, from_logits):
    """Class indices from outputs: argmax for (N, K), a threshold (0 for logits, else 0.5) for (N, 1)."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        return y_pred.argmax(axis=1)
    return (y_pred.reshape(-1) > (0.0 if from_logits else 0.5)).astype(np.intp)


def _confusion(true, pred, num_classes, sample_weight=None):
    """(num_classes, num_classes) weighted counts: rows are true classes, columns predicted ones."""
    flat = true.astype(np.intp) * num_classes + pred.astype(np.intp)
    return np.bincount(flat, weights=sample_weight, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def _ratio(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=float), where=denominator > 0)


def _per_class_scores(matrix):
    """Precision, recall, F1 and support of every class from a confusion matrix."""
    true_pos = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision, recall = _ratio(true_pos, predicted), _ratio(true_pos, actual)
    f1 = _ratio(2 * true_pos, predicted + actual)                     # F1 = 2 TP / (2 TP + FP + FN)
    return precision, recall, f1, actual


class ConfusionMetric(Metric):
    """Base of Precision, Recall and F1Score: a confusion matrix accumulated over batches.

    average="binary" scores class 1 (one sigmoid output, or two classes); "macro" is the unweighted
    mean over the classes seen in y_true or y_pred (scikit-learn's default labels); None picks binary
    for one or two outputs and macro otherwise.
    """
    score = None

    def __init__(self, average=None, name=None):
        if average not in (None, "binary", "macro"):
            raise ValueError(f"{type(self).__name__}: average must be 'binary', 'macro' or None, got {average!r}")
        self.average, self.name = average, name or self.score
        self.reset()

    def reset(self):
        self.matrix = None

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = to_numpy(y_pred)
        one_output = y_pred.ndim == 1 or y_pred.shape[1] == 1
        num_classes = 2 if one_output else y_pred.shape[1]
        pred = _predicted_classes(y_pred, self.from_logits)
        true = _labels(y_true, num_classes, self.name)
        counts = _confusion(true, pred, num_classes, _weights(sample_weight, len(pred)))
        self.matrix = counts if self.matrix is None else self.matrix + counts

    def result(self):
        if self.matrix is None:
            return 0.0
        precision, recall, f1, _ = _per_class_scores(self.matrix)
        scores = {"precision": precision, "recall": recall, "f1": f1}[self.score]
        average = self.average or ("binary" if len(self.matrix) == 2 else "macro")
        if average == "binary":
            if len(self.matrix) != 2:
                raise ValueError(f"{self.name}: average='binary' needs two classes, got {len(self.matrix)}; "
                                 "use average='macro'")
            return float(scores[1])
        seen = (self.matrix.sum(axis=0) + self.matrix.sum(axis=1)) > 0
        return float(scores[seen].mean())


class Precision(ConfusionMetric):
    """Streaming precision TP / (TP + FP); binary for one output, macro-averaged for several."""
    score = "precision"


class Recall(ConfusionMetric):
    """Streaming recall TP / (TP + FN); binary for one output, macro-averaged for several."""
    score = "recall"


class F1Score(ConfusionMetric):
    """Streaming F1 = 2 TP / (2 TP + FP + FN) per class; binary for one output, macro-averaged for several."""
    score = "f1"


def _binary_scores(y_pred):
    """One score per sample that ranks the positive class: the output itself, or z1 - z0 for two outputs."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2 and y_pred.shape[1] == 2:
        return y_pred[:, 1] - y_pred[:, 0]
    if y_pred.ndim == 1 or y_pred.shape[1] == 1:
        return y_pred.reshape(-1)
    raise ValueError(f"auc is binary: expected outputs of shape (N,), (N, 1) or (N, 2), got {y_pred.shape}")


def roc_auc(y_true, scores, sample_weight=None) -> float:
    """Exact area under the ROC curve (ties in the scores give the diagonal, as scikit-learn).

    y_true: labels 0 / 1, (N, 2) one-hot rows, or probabilities of class 1 (>= 0.5 is positive).
    """
    positive = class_indices(y_true, "roc_auc", num_classes=2) == 1
    weights = _weights(sample_weight, len(positive))
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    sorted_scores = np.asarray(scores, dtype=float)[order]
    true_pos = np.cumsum(weights[order] * positive[order])
    false_pos = np.cumsum(weights[order] * ~positive[order])
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    tpr = np.r_[0.0, true_pos[last_of_tie]] / true_pos[-1]
    fpr = np.r_[0.0, false_pos[last_of_tie]] / false_pos[-1]
    return float(np.trapezoid(tpr, fpr))


class AUC(Metric):
    """Area under the ROC curve of a binary classifier, exact: scores are kept until result()."""

    def __init__(self, name="auc"):
        self.name = name
        self.reset()

    def reset(self):
        self.true, self.scores, self.weights = [], [], []

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        scores = _binary_scores(to_numpy(y_pred))
        self.true.append(_labels(y_true, 2, self.name))
        self.scores.append(scores)
        self.weights.append(_weights(sample_weight, len(scores)))

    def result(self):
        if not self.true:
            return 0.0
        true = np.concatenate(self.true) == 1
        if true.all() or not true.any():
            raise ValueError("auc needs both classes among the labels seen; got only "
                             f"{'positives' if true.all() else 'negatives'}")
        return roc_auc(true, np.concatenate(self.scores), np.concatenate(self.weights))


# ---- whole-array functions ---------------------------------------------------------------------
def confusion_matrix(y_true, y_pred, num_classes: int | None = None, sample_weight=None) -> np.ndarray:
    """Counts C[i, j] of samples of true class i predicted as class j (scikit-learn's layout).

    y_true and y_pred are read by ``labels.class_indices``: integer labels, one-hot / per-class scores
    (argmax is taken), or probabilities of class 1 (>= 0.5 is class 1).
    """
    true = class_indices(to_numpy(y_true), "confusion_matrix: y_true")
    pred = class_indices(to_numpy(y_pred), "confusion_matrix: y_pred")
    if len(true) != len(pred):
        raise ValueError(f"confusion_matrix: y_true and y_pred need the same length, got {len(true)} and {len(pred)}")
    largest = int(max(true.max(initial=-1), pred.max(initial=-1)))
    if num_classes is None:
        num_classes = largest + 1
    elif largest >= num_classes:
        raise ValueError(f"confusion_matrix: label {largest} does not fit num_classes={num_classes}")
    counts = _confusion(true, pred, num_classes, None if sample_weight is None else _weights(sample_weight, len(true)))
    return counts if sample_weight is not None else counts.astype(np.int64)


def classification_report(y_true, y_pred, num_classes: int | None = None, target_names=None, digits: int = 2,
                          output_dict: bool = False) -> str | dict:
    """Per-class precision, recall, F1 and support, then accuracy and macro / weighted averages.

    The text (and, with output_dict=True, the dict) has scikit-learn's layout, over classes 0..K-1.
    """
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    precision, recall, f1, support = _per_class_scores(matrix)
    names = [str(c) for c in range(len(matrix))] if target_names is None else [str(n) for n in target_names]
    if len(names) != len(matrix):
        raise ValueError(f"classification_report: {len(matrix)} classes but {len(names)} target_names")
    total = int(support.sum())
    rows = {name: (p, r, f, int(s)) for name, p, r, f, s in zip(names, precision, recall, f1, support)}
    accuracy = float(np.trace(matrix) / total)
    averages = {"macro avg": (precision.mean(), recall.mean(), f1.mean(), total),
                "weighted avg": tuple(np.average(v, weights=support) for v in (precision, recall, f1)) + (total,)}
    headers = ("precision", "recall", "f1-score", "support")
    if output_dict:
        report = {name: dict(zip(headers, map(float, row))) for name, row in rows.items()}
        report["accuracy"] = accuracy
        report.update({name: dict(zip(headers, map(float, row))) for name, row in averages.items()})
        return report
    width = max(*(len(n) for n in names), len("weighted avg"), digits)
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    text = "{:>{width}s} ".format("", width=width) + "".join(f" {h:>9}" for h in headers) + "\n\n"
    text += "".join(row_fmt.format(name, *row, width=width, digits=digits) for name, row in rows.items()) + "\n"
    text += ("{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}\n").format(
        "accuracy", "", "", accuracy, total, width=width, digits=digits)
    text += "".join(row_fmt.format(name, *row, width=width, digits=digits) for name, row in averages.items())
    return text
