"""Streaming metrics and the whole-array functions, checked against scikit-learn's."""
import numpy as np
import pytest

import scratchnn as snn
from conftest import require
from scratchnn import layers, metrics


@pytest.fixture
def skm():
    return require("sklearn.metrics")


def _streamed(metric, y_true, y_pred, sample_weight=None, batch=7):
    """Feed a metric in uneven batches, as fit() does, and return its result."""
    metric.reset()
    for start in range(0, len(y_true), batch):
        sl = slice(start, start + batch)
        metric.update(y_true[sl], y_pred[sl], None if sample_weight is None else sample_weight[sl])
    return metric.result()


def _multiclass(rng, n=60, k=4):
    y_true = rng.integers(0, k, n)
    scores = rng.standard_normal((n, k)) + 1.5 * np.eye(k)[y_true]
    return y_true, scores, rng.uniform(0.2, 2.0, n)


@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_and_top_k_match_sklearn(skm, rng, weighted):
    y_true, scores, weights = _multiclass(rng, k=6)
    w = weights if weighted else None
    accuracy = metrics.get("accuracy", output_dim=6)
    assert _streamed(accuracy, y_true, scores, w) == pytest.approx(
        skm.accuracy_score(y_true, scores.argmax(1), sample_weight=w), rel=1e-12)
    assert _streamed(accuracy, np.eye(6)[y_true], scores, w) == pytest.approx(
        skm.accuracy_score(y_true, scores.argmax(1), sample_weight=w), rel=1e-12)
    for k in (1, 2, 3):
        expected = skm.top_k_accuracy_score(y_true, scores, k=k, labels=range(6), sample_weight=w)
        assert _streamed(metrics.TopKAccuracy(k), y_true, scores, w) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name, fn", [("precision", "precision_score"), ("recall", "recall_score"),
                                      ("f1", "f1_score")])
@pytest.mark.parametrize("weighted", [False, True])
def test_precision_recall_f1_macro_match_sklearn(skm, rng, name, fn, weighted):
    y_true, scores, weights = _multiclass(rng)
    w = weights if weighted else None
    metric = metrics.get(name, output_dim=4)
    expected = getattr(skm, fn)(y_true, scores.argmax(1), average="macro", sample_weight=w)
    assert _streamed(metric, y_true, scores, w) == pytest.approx(expected, rel=1e-12)


def test_macro_averages_over_classes_seen_and_zero_division(skm):
    y_true = np.array([0, 0, 1, 1, 1])
    scores = np.eye(5)[[0, 3, 1, 1, 0]]
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        expected = fn(y_true, scores.argmax(1), average="macro", zero_division=0)
        assert _streamed(metrics.get(name, output_dim=5), y_true, scores) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("name, fn", [("precision", "precision_score"), ("recall", "recall_score"),
                                      ("f1", "f1_score")])
def test_binary_scores_match_sklearn(skm, rng, from_logits, name, fn):
    y_true = rng.integers(0, 2, 50).astype(float)
    logits = rng.standard_normal((50, 1)) + (y_true[:, None] - 0.5)
    outputs = logits if from_logits else 1 / (1 + np.exp(-logits))
    weights = rng.uniform(0.5, 1.5, 50)
    metric = metrics.get(name, output_dim=1, from_logits=from_logits)
    expected = getattr(skm, fn)(y_true, (logits[:, 0] > 0).astype(int), sample_weight=weights)
    assert _streamed(metric, y_true, outputs, weights) == pytest.approx(expected, rel=1e-12)


def test_binary_two_softmax_outputs_score_class_one(skm, rng):
    y_true = rng.integers(0, 2, 40)
    scores = rng.standard_normal((40, 2))
    assert _streamed(metrics.Precision(), y_true, scores) == pytest.approx(
        skm.precision_score(y_true, scores.argmax(1)), rel=1e-12)
    with pytest.raises(ValueError, match="average='binary' needs two classes, got 3"):
        _streamed(metrics.Recall(average="binary"), y_true, rng.standard_normal((40, 3)))


@pytest.mark.parametrize("weighted", [False, True])
def test_auc_matches_sklearn_with_ties(skm, rng, weighted):
    y_true = rng.integers(0, 2, 80)
    scores = np.round(rng.standard_normal(80) + y_true, 1)
    w = rng.uniform(0.1, 3.0, 80) if weighted else None
    expected = skm.roc_auc_score(y_true, scores, sample_weight=w)
    assert _streamed(metrics.get("auc", output_dim=1), y_true, scores[:, None], w) == pytest.approx(expected, rel=1e-12)
    two = np.stack([np.zeros(80), scores], axis=1)
    assert _streamed(metrics.AUC(), np.eye(2)[y_true], two, w) == pytest.approx(expected, rel=1e-12)


def test_auc_needs_both_classes():
    metric = metrics.AUC()
    metric.update(np.ones(3), np.array([0.2, 0.4, 0.9]))
    with pytest.raises(ValueError, match="auc needs both classes among the labels seen; got only positives"):
        metric.result()


def test_mse_mae_match_sklearn(skm, rng):
    y_true, y_pred = rng.standard_normal((30, 3)), rng.standard_normal((30, 3))
    assert _streamed(metrics.get("mse"), y_true, y_pred) == pytest.approx(skm.mean_squared_error(y_true, y_pred),
                                                                          rel=1e-12)
    assert _streamed(metrics.get("mae"), y_true, y_pred) == pytest.approx(skm.mean_absolute_error(y_true, y_pred),
                                                                          rel=1e-12)


def test_confusion_matrix_matches_sklearn(skm, rng):
    y_true, scores, weights = _multiclass(rng, n=100, k=5)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, scores),
                                  skm.confusion_matrix(y_true, scores.argmax(1)))
    np.testing.assert_allclose(metrics.confusion_matrix(y_true, scores.argmax(1), sample_weight=weights),
                               skm.confusion_matrix(y_true, scores.argmax(1), sample_weight=weights), rtol=1e-12)
    assert metrics.confusion_matrix([0, 1], [1, 1], num_classes=4).tolist() == [[0, 1, 0, 0], [0, 1, 0, 0],
                                                                                [0, 0, 0, 0], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="label 4 does not fit num_classes=3"):
        metrics.confusion_matrix([0, 4], [0, 1], num_classes=3)


def test_classification_report_matches_sklearn(skm, rng):
    y_true, scores, _ = _multiclass(rng, n=200, k=4)
    y_pred = scores.argmax(1)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress"]
    for digits in (2, 4):
        assert metrics.classification_report(y_true, y_pred, target_names=names, digits=digits) == \
            skm.classification_report(y_true, y_pred, target_names=names, digits=digits)
    assert metrics.classification_report(y_true, y_pred) == skm.classification_report(y_true, y_pred)
    ours = metrics.classification_report(y_true, y_pred, output_dict=True)
    theirs = skm.classification_report(y_true, y_pred, output_dict=True)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, dict):
            assert ours[key] == pytest.approx(value, rel=1e-12)
        else:
            assert ours[key] == pytest.approx(value, rel=1e-12)


def test_metrics_in_compile_equal_sklearn_on_predictions(skm, rng):
    x = rng.standard_normal((120, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
    model = snn.Sequential([layers.Dense(1)], input_shape=(5,), seed=0, dtype="float64")
    model.compile(loss="binary_crossentropy", from_logits=True, optimizer=snn.optim.SGD(0.5),
                  metrics=["accuracy", "precision", "recall", "f1", "auc", metrics.Precision(name="p2")])
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    result = model.evaluate(x, y, batch_size=32)
    logits = model.predict(x)[:, 0]
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y, logits > 0), rel=1e-12)
    assert result["precision"] == result["p2"] == pytest.approx(skm.precision_score(y, logits > 0), rel=1e-12)
    assert result["recall"] == pytest.approx(skm.recall_score(y, logits > 0), rel=1e-12)
    assert result["f1"] == pytest.approx(skm.f1_score(y, logits > 0), rel=1e-12)
    assert result["auc"] == pytest.approx(skm.roc_auc_score(y, logits), rel=1e-12)


def test_metric_instances_are_copied_per_use():
    shared = metrics.Recall()
    first, second = metrics.get(shared, output_dim=1), metrics.get(shared, output_dim=1)
    first.update(np.array([1.0]), np.array([[0.9]]))
    assert first.result() == 1.0 and second.matrix is None and shared.matrix is None


def test_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown metric 'precison'; valid names: \[.*'precision'"):
        metrics.get("precison")
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        metrics.TopKAccuracy(0)


# ---- one label decoder (labels.class_indices) and a second array namespace ------------------------------------
def test_every_metric_reads_labels_by_class_indices(rng):
    """Integer labels, (N, 1) labels, one-hot rows and whole floats give the same figures everywhere."""
    y_true, scores, _ = _multiclass(rng, n=40, k=3)
    forms = [y_true, y_true[:, None], np.eye(3)[y_true], y_true.astype(np.float32)]
    for make in (lambda: metrics.get("accuracy", output_dim=3), lambda: metrics.TopKAccuracy(2),
                 lambda: metrics.get("precision", output_dim=3), lambda: metrics.get("f1", output_dim=3)):
        figures = [_streamed(make(), form, scores) for form in forms]
        assert figures == [figures[0]] * len(forms)
    matrices = [metrics.confusion_matrix(form, scores) for form in forms]
    assert all((m == matrices[0]).all() for m in matrices)


def test_a_probability_of_one_half_is_class_1_in_every_metric():
    """class_indices's rule: a fraction in [0, 1] is the probability of class 1, and >= 0.5 is class 1."""
    soft = np.array([0.5, 0.2, 0.9, 0.5])
    logits = np.array([[1.0], [-1.0], [2.0], [-2.0]])
    accuracy = metrics.get("accuracy", output_dim=1, from_logits=True)
    assert _streamed(accuracy, soft, logits) == 0.75                 # targets 1, 0, 1, 1 vs predictions 1, 0, 1, 0
    recall = metrics.get("recall", output_dim=1, from_logits=True)
    assert _streamed(recall, soft, logits) == pytest.approx(2 / 3)
    assert metrics.confusion_matrix(soft, [1, 0, 1, 0]).tolist() == [[1, 0], [1, 2]]
    assert metrics.roc_auc(soft, logits.ravel()) == pytest.approx(metrics.roc_auc([1, 0, 1, 1], logits.ravel()))


def test_labels_that_do_not_fit_the_outputs_are_refused():
    with pytest.raises(ValueError, match="accuracy: labels go up to 3 but there are 3 classes"):
        metrics.get("accuracy", output_dim=3).update(np.array([0, 3]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="precision: expected class labels >= 0, got -1"):
        metrics.get("precision", output_dim=1).update(np.array([-1, 1]), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="auc: labels go up to 2 but there are 2 classes"):
        metrics.AUC().update(np.array([0, 2]), np.zeros(2))
    with pytest.raises(ValueError, match=r"confusion_matrix: y_pred: expected whole class labels >= 0 or "
                                         r"probabilities in \[0, 1\], got 1\.5"):
        metrics.confusion_matrix([0, 1], [1.5, 0.0])


def test_mean_metrics_run_in_the_namespace_of_the_predictions(rng):
    strict_namespace = pytest.importorskip("strict_namespace")
    y_true, scores, weights = _multiclass(rng, n=20, k=4)
    for make in (lambda: metrics.get("accuracy", output_dim=4), lambda: metrics.TopKAccuracy(2),
                 lambda: metrics.get("mse"), lambda: metrics.get("mae")):
        target = np.eye(4)[y_true] if make().name in ("mse", "mae") else y_true
        expected = _streamed(make(), target, scores, weights)
        got = _streamed(make(), target, strict_namespace.as_strict(scores), weights)
        assert got == pytest.approx(expected, rel=1e-12)


def test_accuracy_of_sequence_outputs_is_the_mean_over_every_position(rng):
    """(N, T, K) outputs (a class per time step) with labels (N, T) or one-hot (N, T, K): Keras's token accuracy."""
    scores = rng.normal(size=(6, 5, 4))
    labels = rng.integers(0, 4, size=(6, 5))
    expected = float((scores.argmax(axis=-1) == labels).mean())
    assert _streamed(metrics.get("accuracy", output_dim=4), labels, scores) == pytest.approx(expected, abs=1e-15)
    assert _streamed(metrics.get("accuracy", output_dim=4), np.eye(4)[labels], scores) == pytest.approx(
        expected, abs=1e-15)
    top2 = np.argsort(-scores, axis=-1)[..., :2]
    expected_top2 = float((top2 == labels[..., None]).any(axis=-1).mean())
    assert _streamed(metrics.TopKAccuracy(2), labels, scores) == pytest.approx(expected_top2, abs=1e-15)
    with pytest.raises(ValueError, match=r"accuracy: outputs \(6, 5, 4\) need labels of shape \(6, 5\) or "
                                         r"\(6, 5, 4\), got \(6, 4\)"):
        metrics.get("accuracy", output_dim=4).update(labels[:, :4], scores)


def test_a_sequence_model_reports_accuracy_in_fit_and_evaluate(rng):
    model = snn.Sequential([layers.Embedding(12, 8), layers.LSTM(8, return_sequences=True), layers.Dense(12)],
                           input_shape=(5,), seed=0)
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer="adam", metrics=["accuracy"])
    x = rng.integers(0, 12, size=(40, 5))
    y = np.roll(x, -1, axis=1)
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    expected = float((model.predict(x).argmax(axis=-1) == y).mean())
    assert model.evaluate(x, y)["accuracy"] == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= history.history["accuracy"][0] <= 1.0
