"""The losses Keras has beyond the crossentropies and squared errors: Huber, LogCosh, KLDivergence, Poisson,
Hinge, SquaredHinge, CosineSimilarity, CategoricalFocalCrossentropy. Each: float64 central differences (with
and without sample weights), PyTorch's value and gradient, its name in compile, the model file, the
reductions, a second array namespace, extreme inputs. Then a loss of one's own through the subclass API."""
import warnings

import numpy as np
import pytest

import scratchnn as snn
import strict_namespace
from scratchnn import gradcheck, layers, losses

from conftest import require


def scores_away_from_the_hinge(rng, shape):
    """Scores with t y never within 1e-2 of 1 (the hinge's kink), for targets of either sign."""
    y = rng.standard_normal(shape) * 2
    y[np.abs(np.abs(y) - 1) < 1e-2] = 0.5
    return y


def away_from_delta(rng, shape):
    y = rng.standard_normal(shape) * 2
    y[np.abs(np.abs(y) - 1.0) < 1e-2] = 0.3               # |y - 0| near delta = 1 (the targets below are 0)
    return y


def signs(rng, shape):
    return rng.choice([-1.0, 1.0], shape)


def probabilities(rng, shape):
    """Rows that sum to 1, each value >= 0.05 (near 0 the curvature of log p is beyond central differences)."""
    return 0.8 * rng.dirichlet(np.ones(shape[1]), shape[0]) + 0.2 / shape[1]


# name: (make, predictions, targets, torch reference (torch, p, t) -> mean loss)
def _focal_reference(alpha, gamma, logits, smoothing=0.0):
    def reference(torch, p, t):
        t = t * (1 - smoothing) + smoothing / t.shape[1]
        if logits:
            q, log_q = torch.softmax(p, 1), torch.log_softmax(p, 1)
        else:
            q = torch.clamp(p / p.sum(1, keepdim=True), 1e-7, 1 - 1e-7)
            log_q = torch.log(q)
        return (-alpha * t * (1 - q) ** gamma * log_q).sum(1).mean()
    return reference


LOSSES = {
    "huber": (losses.Huber, away_from_delta, lambda r, s: np.zeros(s),
              lambda torch, p, t: torch.nn.functional.huber_loss(p, t, delta=1.0)),
    "huber_delta_0.5": (lambda: losses.Huber(0.5), lambda r, s: r.standard_normal(s), lambda r, s: r.standard_normal(s),
                        lambda torch, p, t: torch.nn.functional.huber_loss(p, t, delta=0.5)),
    "log_cosh": (losses.LogCosh, lambda r, s: 3 * r.standard_normal(s), lambda r, s: r.standard_normal(s),
                 lambda torch, p, t: torch.log(torch.cosh(p - t)).mean()),
    "kl_divergence": (losses.KLDivergence, probabilities, probabilities,
                      lambda torch, p, t: torch.nn.functional.kl_div(torch.log(p), t, reduction="batchmean")),
    "poisson": (losses.Poisson, lambda r, s: r.uniform(0.1, 3.0, s), lambda r, s: r.poisson(1.5, s).astype(float),
                lambda torch, p, t: torch.nn.functional.poisson_nll_loss(p, t, log_input=False, eps=1e-7)),
    "hinge": (losses.Hinge, scores_away_from_the_hinge, signs,
              lambda torch, p, t: torch.clamp(1 - t * p, min=0).mean()),
    "hinge_01_targets": (losses.Hinge, scores_away_from_the_hinge, lambda r, s: (signs(r, s) + 1) / 2,
                         lambda torch, p, t: torch.clamp(1 - (2 * t - 1) * p, min=0).mean()),
    "squared_hinge": (losses.SquaredHinge, scores_away_from_the_hinge, signs,
                      lambda torch, p, t: (torch.clamp(1 - t * p, min=0) ** 2).mean()),
    "cosine_similarity": (losses.CosineSimilarity, lambda r, s: r.standard_normal(s), lambda r, s: r.standard_normal(s),
                          lambda torch, p, t: -torch.nn.functional.cosine_similarity(p, t, dim=-1).mean()),
    "focal": (losses.CategoricalFocalCrossentropy, probabilities, lambda r, s: np.eye(s[1])[r.integers(0, s[1], s[0])],
              _focal_reference(0.25, 2.0, logits=False)),
    "focal_unnormalised": (losses.CategoricalFocalCrossentropy, lambda r, s: r.uniform(0.1, 2.0, s),
                           lambda r, s: np.eye(s[1])[r.integers(0, s[1], s[0])], _focal_reference(0.25, 2.0, False)),
    "focal_logits": (lambda: losses.CategoricalFocalCrossentropy(alpha=0.5, gamma=1.5, from_logits=True),
                     lambda r, s: 2 * r.standard_normal(s), lambda r, s: np.eye(s[1])[r.integers(0, s[1], s[0])],
                     _focal_reference(0.5, 1.5, logits=True)),
    "focal_logits_smoothing_gamma_0.5": (
        lambda: losses.CategoricalFocalCrossentropy(gamma=0.5, from_logits=True, label_smoothing=0.1),
        lambda r, s: 2 * r.standard_normal(s), lambda r, s: np.eye(s[1])[r.integers(0, s[1], s[0])],
        _focal_reference(0.25, 0.5, logits=True, smoothing=0.1)),
    "crossentropy_logits_smoothing": (
        lambda: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda r, s: 2 * r.standard_normal(s), lambda r, s: r.integers(0, s[1], s[0]),
        lambda torch, p, t: torch.nn.functional.cross_entropy(p, t.long(), label_smoothing=0.1)),
    "crossentropy_smoothing_one_hot": (
        lambda: losses.CategoricalCrossentropy(label_smoothing=0.2), probabilities,
        lambda r, s: np.eye(s[1])[r.integers(0, s[1], s[0])],
        lambda torch, p, t: -((t * 0.8 + 0.2 / t.shape[1]) * torch.log(p)).sum(1).mean()),
}
SHAPE = (6, 4)


def data(name, seed=0):
    make, pred, true, _ = LOSSES[name]
    rng = np.random.default_rng(seed)
    return make, pred(rng, SHAPE), true(rng, SHAPE)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_matches_central_differences_with_and_without_weights(name):
    make, y_pred, y_true = data(name)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, SHAPE[0])
    for sample_weight in (None, weights):
        error = gradcheck.check_loss(make(), y_pred, y_true, sample_weight)
        assert error < 1e-8, f"{name} (weights={sample_weight is not None}): relative error {error:.3g}"


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_value_and_gradient_match_torch(name):
    torch = require("torch")
    make, y_pred, y_true = data(name)
    reference = LOSSES[name][3]
    loss = make()
    value = loss.forward(y_pred, y_true)
    grad = loss.backward()
    p = torch.tensor(y_pred, requires_grad=True)
    expected = reference(torch, p, torch.tensor(y_true))
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_cosine_similarity_on_another_axis_matches_torch():
    torch = require("torch")
    rng = np.random.default_rng(3)
    y_pred, y_true = rng.standard_normal((3, 5, 2)), rng.standard_normal((3, 5, 2))
    loss = losses.CosineSimilarity(axis=1)
    value, grad = loss.forward(y_pred, y_true), loss.backward()
    p = torch.tensor(y_pred, requires_grad=True)
    expected = -torch.nn.functional.cosine_similarity(p, torch.tensor(y_true), dim=1).mean()
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-10)
    assert gradcheck.check_loss(losses.CosineSimilarity(axis=1), y_pred, y_true) < 1e-8


def test_known_values():
    """Numbers worked by hand from Keras's definitions."""
    assert losses.Huber()(np.array([[0.0, 3.0]]), np.array([[0.5, 0.0]])) == pytest.approx((0.125 + 2.5) / 2)
    assert losses.LogCosh()(np.array([[0.0]]), np.array([[1.0]])) == pytest.approx(np.log(np.cosh(1.0)))
    assert losses.KLDivergence()(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]])) == pytest.approx(0.0, abs=1e-15)
    assert losses.KLDivergence()(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])) == pytest.approx(  # t clipped
        np.log(2) + 1e-7 * np.log(1e-7 / 0.5), rel=1e-12)
    assert losses.Poisson()(np.array([[2.0]]), np.array([[1.0]])) == pytest.approx(1 - 2 * np.log(1 + 1e-7))
    assert losses.Hinge()(np.array([[1.0, -1.0]]), np.array([[0.5, 0.5]])) == pytest.approx((0.5 + 1.5) / 2)
    assert losses.Hinge()(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])) == pytest.approx(1.0)   # 0 is -1
    assert losses.SquaredHinge()(np.array([[1.0, -1.0]]), np.array([[0.5, 0.5]])) == pytest.approx(1.25)
    assert losses.CosineSimilarity()(np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]])) == pytest.approx(-1.0)
    assert losses.CosineSimilarity()(np.array([[1.0, 0.0]]), np.array([[0.0, 3.0]])) == pytest.approx(0.0)
    # focal: alpha (1 - p)^gamma times the crossentropy; gamma 0, alpha 1 is the crossentropy itself
    p = np.array([[0.7, 0.2, 0.1]])
    assert losses.CategoricalFocalCrossentropy()(np.array([0]), p) == pytest.approx(-0.25 * 0.3 ** 2 * np.log(0.7))
    plain = losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=0.0)(np.array([0]), p)
    assert plain == pytest.approx(losses.CategoricalCrossentropy()(np.array([0]), p))


def test_reductions_sum_and_none():
    make, y_pred, y_true = data("huber")
    mean = losses.Huber()(y_true, y_pred)
    total = losses.Huber(reduction="sum")
    assert total(y_true, y_pred) == pytest.approx(mean * SHAPE[0])
    np.testing.assert_allclose(total.backward(), _grad(losses.Huber(), y_pred, y_true) * SHAPE[0], rtol=1e-12)
    per_sample = losses.Huber(reduction="none")(y_true, y_pred)
    assert per_sample.shape == (SHAPE[0],) and per_sample.mean() == pytest.approx(mean)
    model = snn.Sequential([layers.Dense(4)], input_shape=(3,), seed=0)
    with pytest.raises(ValueError, match=r"reduction='none'\) returns one loss per sample"):
        model.compile(loss=losses.Huber(reduction="none"), optimizer="sgd")
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.Huber(reduction="mean")


def _grad(loss, y_pred, y_true):
    loss.forward(y_pred, y_true)
    return loss.backward()


@pytest.mark.parametrize("name", ["huber", "log_cosh", "kl_divergence", "poisson", "hinge", "squared_hinge",
                                  "cosine_similarity", "categorical_focal_crossentropy", "kld"])
def test_compile_by_name_trains_and_the_model_file_keeps_the_loss(name, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3))
    last = {"kl_divergence": "softmax", "kld": "softmax", "categorical_focal_crossentropy": "softmax",
            "poisson": "softplus"}.get(name)
    y = rng.dirichlet(np.ones(4), 32) if last == "softmax" else np.abs(rng.standard_normal((32, 4)))
    model = snn.Sequential([layers.Dense(4, activation=last)], input_shape=(3,), seed=0, dtype="float64")
    model.compile(loss=name, optimizer=snn.optim.SGD(0.1))
    assert isinstance(model.loss, losses.LOSSES[name])
    before = model.evaluate(x, y)["loss"]
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert model.evaluate(x, y)["loss"] < before
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    assert type(loaded.loss) is type(model.loss) and loaded.loss.get_config() == model.loss.get_config()
    assert loaded.evaluate(x, y)["loss"] == pytest.approx(model.evaluate(x, y)["loss"], rel=1e-12)


def test_settings_survive_the_model_file(tmp_path):
    model = snn.Sequential([layers.Dense(3)], input_shape=(2,), seed=0)
    focal = losses.CategoricalFocalCrossentropy(alpha=0.5, gamma=3.0, from_logits=True, label_smoothing=0.1,
                                                reduction="sum")
    for loss in (losses.Huber(delta=0.3), losses.CosineSimilarity(axis=1), focal):
        model.compile(loss=loss, optimizer="adam")
        model.save(tmp_path / "m.snn")
        loaded = snn.load_model(tmp_path / "m.snn").loss
        assert type(loaded) is type(loss) and loaded.get_config() == loss.get_config()
    assert focal.get_config() == {"reduction": "sum", "from_logits": True, "alpha": 0.5, "gamma": 3.0,
                                  "label_smoothing": 0.1}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_second_array_namespace_gives_the_same_loss_and_gradient(name):
    make, y_pred, y_true = data(name)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, SHAPE[0])
    plain = make()
    expected = plain.forward(y_pred, y_true, weights), plain.backward()
    strict = make()
    got = strict.forward(strict_namespace.as_strict(y_pred), strict_namespace.as_strict(y_true), weights)
    grad = strict.backward()
    assert isinstance(grad, strict_namespace.StrictArray)
    assert got == pytest.approx(expected[0], rel=1e-12)
    np.testing.assert_allclose(strict_namespace.to_plain(grad), expected[1], rtol=1e-12)


def test_extreme_inputs_give_finite_values_and_gradients_without_warnings():
    big = np.array([[-1000.0, 1000.0, 0.0], [500.0, -500.0, 1e-3]])
    cases = [(losses.Huber(), np.zeros_like(big)), (losses.LogCosh(), np.zeros_like(big)),
             (losses.Hinge(), np.sign(big) + (big == 0)), (losses.SquaredHinge(), -np.sign(big) - (big == 0)),
             (losses.CosineSimilarity(), big[::-1].copy()),
             (losses.CategoricalFocalCrossentropy(from_logits=True), np.array([1, 0])),
             (losses.CategoricalFocalCrossentropy(from_logits=True, gamma=0.5), np.array([1, 2]))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for loss, target in cases:
            value = loss.forward(big, target)
            assert np.isfinite(value) and np.isfinite(loss.backward()).all(), type(loss).__name__
        zero = losses.CosineSimilarity()
        assert zero.forward(np.zeros((1, 2)), np.ones((1, 2))) == 0.0 and np.isfinite(zero.backward()).all()
    assert losses.LogCosh()(np.zeros((1, 1)), np.array([[1000.0]])) == pytest.approx(1000 - np.log(2))


def test_invalid_arguments_and_inputs_are_refused():
    with pytest.raises(ValueError, match="Poisson expected rates >= 0, got predictions down to -0.5"):
        losses.Poisson()(np.ones((1, 2)), np.array([[1.0, -0.5]]))
    with pytest.raises(ValueError, match="delta must be > 0"):
        losses.Huber(delta=0)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        losses.CategoricalFocalCrossentropy(gamma=-1)
    with pytest.raises(ValueError, match=r"expected predictions \(N, \.\.\., features\) with the vectors on axis 0"):
        losses.CosineSimilarity(axis=0)(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="from_logits=True applies to the crossentropy losses, not to 'huber'"):
        losses.get("huber", from_logits=True)
    assert isinstance(losses.get("categorical_focal_crossentropy", from_logits=True).from_logits, bool)
    with pytest.raises(ValueError, match="is a plain function; subclass scratchnn.losses.ElementwiseLoss"):
        losses.get(lambda y_true, y_pred: (y_true - y_pred) ** 2)


# ---- a loss of one's own --------------------------------------------------------------------------------
@losses.register
class MeanSixthPower(losses.ElementwiseLoss):
    """loss = mean of (y_pred - y_true)^6: a user's loss as docs/guide/keras_extras.md writes one (under another
    name: the docs' blocks register theirs in the same test process)."""

    def fn(self, y_true, y_pred):
        return (y_pred - y_true) ** 6

    def grad(self, y_true, y_pred):
        return 6 * (y_pred - y_true) ** 5


def test_a_registered_subclass_is_checked_compiled_by_name_and_saved(tmp_path):
    rng = np.random.default_rng(0)
    y_pred, y_true = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    assert gradcheck.check_loss(MeanSixthPower(), y_pred, y_true, rng.uniform(0.5, 2, 5)) < 1e-8
    assert MeanSixthPower()(y_true, y_pred) == pytest.approx(np.mean((y_pred - y_true) ** 6))
    model = snn.Sequential([layers.Dense(3)], input_shape=(2,), seed=0)
    model.compile(loss="mean_sixth_power", optimizer="sgd")
    model.save(tmp_path / "m.snn")
    assert type(snn.load_model(tmp_path / "m.snn").loss) is MeanSixthPower
    with pytest.raises(TypeError, match="expected a subclass of losses.Loss"):
        losses.register(int)


# ---- metrics: functions, and names checked at compile ---------------------------------------------------
def _regression(seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    model = snn.Sequential([layers.Dense(2)], input_shape=(3,), seed=0, dtype="float64")
    return model, x, y


def test_a_function_is_a_metric_named_after_it():
    model, x, y = _regression()

    def max_error(y_true, y_pred):                     # one value per sample
        return np.abs(y_pred - y_true).max(axis=1)

    def squared(y_true, y_pred):                       # one per element: averaged per sample
        return (y_pred - y_true) ** 2

    model.compile(loss="mse", optimizer="sgd", metrics=[max_error, squared, "mae",
                                                        lambda y_true, y_pred: float(np.mean(y_pred))])
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert {"max_error", "squared", "mae", "<lambda>"} <= set(history.history)
    result = model.evaluate(x, y, batch_size=7)
    prediction = model.predict(x)
    assert result["max_error"] == pytest.approx(np.abs(prediction - y).max(axis=1).mean(), rel=1e-12)
    assert result["squared"] == pytest.approx(result["loss"], rel=1e-12)
    assert result["<lambda>"] == pytest.approx(prediction.mean(), rel=1e-12)   # batch means, weighted by size


def test_metric_names_are_checked_at_compile():
    model, x, y = _regression()
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'; valid names: \[.*'accuracy'"):
        model.compile(loss="mse", optimizer="sgd", metrics=["acuracy"])
    with pytest.raises(ValueError, match="a metric is a name .* a Metric or a function"):
        model.compile(loss="mse", optimizer="sgd", metrics=[3])
    model.compile(loss="mse", optimizer="sgd", metrics="mae")      # a single name: a list of one
    assert model.metric_names == ["mae"] and "mae" in model.evaluate(x, y)


def test_a_function_metric_that_returns_the_wrong_length_says_so(tmp_path):
    model, x, y = _regression()
    model.compile(loss="mse", optimizer="sgd", metrics=[lambda y_true, y_pred: y_pred[:2, 0]])
    with pytest.raises(ValueError, match="returned 2 values for a batch of 20: return one value per sample"):
        model.evaluate(x, y, batch_size=20)


def test_a_model_with_a_function_metric_saves_without_it(tmp_path):
    model, x, y = _regression()

    def bias(y_true, y_pred):
        return (y_pred - y_true).mean(axis=1)

    model.compile(loss="huber", optimizer="sgd", metrics=["mae", bias])
    with pytest.warns(UserWarning, match=r"the metrics \['bias'\] were given as objects and are not saved"):
        model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn")
    assert loaded.metric_names == ["mae"] and isinstance(loaded.loss, losses.Huber)


def test_label_smoothing_is_saved_with_the_model_and_zero_is_not_written(tmp_path):
    model = snn.Sequential([layers.Dense(3)], input_shape=(2,), seed=0)
    smoothed = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    assert losses.CategoricalCrossentropy(from_logits=True).get_config() == {"from_logits": True}
    model.compile(loss=smoothed, optimizer="adam")
    model.save(tmp_path / "m.snn")
    loaded = snn.load_model(tmp_path / "m.snn").loss
    assert loaded.label_smoothing == 0.1 and loaded.get_config() == smoothed.get_config()
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
