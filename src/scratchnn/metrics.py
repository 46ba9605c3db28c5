"""Metrics: streaming (update per batch, result per epoch) and plain functions on whole arrays.

Labels are read by ``labels.class_indices`` (the one label decoder): integer labels (N,) / (N, 1), one-hot
or per-class scores (N, K) (argmax), or probabilities of class 1 (N,) (>= 0.5 is class 1). The per-sample
math of the mean metrics takes its array module from the predictions (``backend.namespace(y_pred)``); the
running totals, confusion counts and AUC scores are kept on the host in NumPy.
"""
from __future__ import annotations

import copy

import numpy as np

from .backend.namespace import namespace, to_numpy
from .labels import class_indices
from .validation import check_positive_int


def _labels(y_true, n_classes: int, name: str) -> np.ndarray:
    """Integer class labels in [0, n_classes) on the host, by class_indices's rules."""
    return class_indices(to_numpy(y_true), name, num_classes=n_classes)


def _weights(sample_weight, n):
    return np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(n)


class Metric:
    """update(y_true, y_pred, sample_weight=None) accumulates; result() -> float; reset() clears.

    A metric learns how to read the model's outputs from ``configure(output_dim, from_logits)``, which
    compile()'s metric list goes through, so ``metrics=[Precision()]`` works for any output layer.
    """
    name = "metric"
    output_dim = None
    from_logits = False

    def configure(self, output_dim=None, from_logits=False):
        """A fresh, reset copy that reads outputs of size output_dim (logits or probabilities)."""
        metric = copy.copy(self)
        metric.output_dim, metric.from_logits = output_dim, from_logits
        metric.reset()
        return metric

    def reset(self):
        raise NotImplementedError

    def update(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError


class MeanMetric(Metric):
    """Weighted mean of a per-sample value over everything seen since reset()."""

    def __init__(self, name, fn):
        self.name, self.fn = name, fn
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0.0

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        xp = namespace(y_pred)
        values = self.fn(y_true, xp.asarray(y_pred))
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += len(values)
        else:
            weights = xp.asarray(sample_weight, dtype=xp.float64).reshape(-1)
            self.total += float((values * weights).sum())
            self.count += float(weights.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


class FunctionMetric(MeanMetric):
    """A function fn(y_true, y_pred) -> one value per sample, as a metric: its mean over the samples seen.

    compile(metrics=[fn]) wraps a function in one (named fn.__name__, as Keras names it). Values of shape
    (N, ...) are averaged over each sample's elements first; a single number counts as the batch's mean.
    y_pred is what the model outputs (logits when the loss takes them).
    """

    def __init__(self, fn, name=None):
        if not callable(fn):
            raise ValueError(f"FunctionMetric expected a function (y_true, y_pred) -> values, got {fn!r}")
        self.function = fn
        super().__init__(name or getattr(fn, "__name__", type(fn).__name__), self.per_sample)

    def per_sample(self, y_true, y_pred):
        xp = namespace(y_pred)
        values = xp.asarray(self.function(y_true, y_pred), dtype=xp.float64)
        if values.ndim == 0:
            return values * xp.ones(len(y_pred), dtype=xp.float64)
        if len(values) != len(y_pred):
            raise ValueError(f"metric {self.name!r} returned {values.shape[0]} values for a batch of {len(y_pred)}: "
                             "return one value per sample (or one number for the batch)")
        return xp.reshape(values, (len(values), -1)).mean(axis=1)


def _per_position(metric):
    """A per-row class metric of (N, K) outputs, also for (N, ..., K) outputs (a class at every time step or
    pixel: labels (N, ...) or one-hot (N, ..., K)): each sample's value is its mean over the positions, so
    with the same number of positions per sample the epoch's mean is the mean over every position (Keras's)."""
    def per_sample(y_true, y_pred):
        if y_pred.ndim <= 2:
            return metric(y_true, y_pred)
        n, classes = len(y_pred), y_pred.shape[-1]
        y_true = namespace(y_pred).asarray(y_true) if not hasattr(y_true, "shape") else y_true
        rows = y_pred.reshape(-1, classes)
        labels = y_true.reshape(-1, classes) if y_true.shape == y_pred.shape else y_true.reshape(-1)
        if len(labels) != len(rows):
            raise ValueError(f"{metric.__name__}: outputs {tuple(y_pred.shape)} need labels of shape "
                             f"{tuple(y_pred.shape[:-1])} or {tuple(y_pred.shape)}, got {tuple(y_true.shape)}")
        return metric(labels, rows).reshape(n, -1).mean(axis=1)
    per_sample.__name__ = metric.__name__
    return per_sample


@_per_position
def categorical_accuracy(y_true, y_pred):
    """1 where the argmax of the (N, K) outputs is the true class, else 0 (float64)."""
    xp = namespace(y_pred)
    labels = xp.asarray(_labels(y_true, y_pred.shape[1], "accuracy"))
    return (y_pred.argmax(axis=1) == labels).astype(xp.float64)


def binary_accuracy_fn(threshold: float):
    def binary_accuracy(y_true, y_pred):
        """Per sample, the fraction of outputs on the side of ``threshold`` of their target (targets: >= 0.5
        is 1, as in class_indices; element by element, so several independent binary outputs work too)."""
        xp = namespace(y_pred)
        pred = (y_pred.reshape(len(y_pred), -1) > threshold)
        target = xp.asarray(y_true).reshape(len(y_true), -1) >= 0.5
        return (pred == target).astype(xp.float64).mean(axis=1)
    return binary_accuracy


def top_k_accuracy_fn(k: int):
    @_per_position
    def top_k_accuracy(y_true, y_pred):
        """1 where the true class scores among the k highest (ties counted in its favour, as Keras)."""
        xp = namespace(y_pred)
        labels = xp.asarray(_labels(y_true, y_pred.shape[1], "top_k_accuracy"))
        true_score = y_pred[xp.arange(len(y_pred)), labels]
        return ((y_pred > true_score[:, None]).sum(axis=1) < k).astype(xp.float64)
    return top_k_accuracy


def squared_error(y_true, y_pred):
    xp = namespace(y_pred)
    return ((y_pred.reshape(len(y_pred), -1) - xp.asarray(y_true).reshape(len(y_pred), -1)) ** 2).mean(axis=1)


def absolute_error(y_true, y_pred):
    xp = namespace(y_pred)
    return xp.abs(y_pred.reshape(len(y_pred), -1) - xp.asarray(y_true).reshape(len(y_pred), -1)).mean(axis=1)


class TopKAccuracy(MeanMetric):
    """Fraction of samples whose true class is among the k highest outputs (Keras's top_k_categorical_accuracy)."""

    def __init__(self, k: int = 5, name: str | None = None):
        self.k = check_positive_int("k", k, "TopKAccuracy")
        super().__init__(name or "top_k_accuracy", top_k_accuracy_fn(self.k))


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


MEAN_METRICS = ("accuracy", "acc", "mse", "mean_squared_error", "mae", "mean_absolute_error")
METRICS = {"top_k_accuracy": TopKAccuracy, "top_k_categorical_accuracy": TopKAccuracy, "precision": Precision,
           "recall": Recall, "f1": F1Score, "f1_score": F1Score, "auc": AUC}


def checked(spec):
    """compile()'s metrics, checked at once: names must be known (the error lists them), functions become
    FunctionMetric objects, Metric objects stay. Keeps the structure: a list (a single name or function is a
    list of one), a dict by output name, lists inside either."""
    if spec is None:
        return []
    if isinstance(spec, dict):
        return {key: checked(value) if isinstance(value, (list, tuple)) else _checked_one(value)
                for key, value in spec.items()}
    if isinstance(spec, str) or isinstance(spec, Metric) or callable(spec):
        return [_checked_one(spec)]
    return [checked(item) if isinstance(item, (list, tuple)) else _checked_one(item) for item in spec]


def _checked_one(item):
    if isinstance(item, str):
        get(item)                                   # raises for an unknown name, listing the known ones
        return item
    if isinstance(item, Metric):
        return item
    if callable(item) and not isinstance(item, type):
        return FunctionMetric(item)
    raise ValueError(f"compile: a metric is a name ({', '.join(sorted((*MEAN_METRICS, *METRICS)))}), a Metric or "
                     f"a function (y_true, y_pred) -> values; got {item!r}")


def get(identifier, output_dim: int | None = None, from_logits: bool = False) -> Metric:
    """A fresh Metric from a name or a Metric; "accuracy" picks binary (one output) or categorical accuracy.

    With from_logits the binary threshold is 0 (a logit), else 0.5 (a probability).
    """
    if isinstance(identifier, Metric):
        return identifier.configure(output_dim, from_logits)
    if callable(identifier) and not isinstance(identifier, type):
        return FunctionMetric(identifier)
    name = identifier.lower() if isinstance(identifier, str) else identifier
    if name in ("accuracy", "acc"):
        if output_dim == 1:
            return MeanMetric("accuracy", binary_accuracy_fn(0.0 if from_logits else 0.5))
        return MeanMetric("accuracy", categorical_accuracy)
    if name in ("mse", "mean_squared_error"):
        return MeanMetric("mse", squared_error)
    if name in ("mae", "mean_absolute_error"):
        return MeanMetric("mae", absolute_error)
    if name in METRICS:
        return METRICS[name]().configure(output_dim, from_logits)
    raise ValueError(f"Unknown metric {identifier!r}; valid names: {sorted((*MEAN_METRICS, *METRICS))}")
