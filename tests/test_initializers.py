"""Initializers: Keras's definitions checked by shape, exact values, moments within 5 standard errors,
truncation and uniform bounds, orthogonality, Conv2D fans, determinism under a seed and configs."""
import json
import math

import numpy as np
import pytest

from scratchnn import initializers, layers

Z_BOUND = 5.0                     # accept an estimate within 5 standard errors of its expected value


def truncated_moments(c=2.0):
    """E[z^2] and E[z^4] of a standard normal truncated to [-c, c] (integration by parts)."""
    density = math.exp(-c * c / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(c / math.sqrt(2))
    return 1 - 2 * c * density / mass, 3 - (2 * c ** 3 + 6 * c) * density / mass


def expected_moments(distribution, variance):
    """(variance, fourth central moment) of the named zero-mean distribution with that variance."""
    if distribution == "uniform":
        return variance, 9 / 5 * variance ** 2
    if distribution == "untruncated_normal":
        return variance, 3 * variance ** 2
    m2, m4 = truncated_moments()
    return variance, m4 / m2 ** 2 * variance ** 2


def assert_moments(values, mean, variance, fourth_moment):
    """Sample mean and variance within Z_BOUND standard errors (se of s^2: sqrt((mu4 - var^2) / n))."""
    values = values.astype(np.float64).ravel()
    n = values.size
    assert abs(values.mean() - mean) <= Z_BOUND * math.sqrt(variance / n)
    assert abs(values.var() - variance) <= Z_BOUND * math.sqrt((fourth_moment - variance ** 2) / n)


def test_keras_truncation_constant_is_the_truncated_standard_deviation():
    assert math.sqrt(truncated_moments()[0]) == pytest.approx(initializers.TRUNCATED_NORMAL_STDDEV, abs=1e-15)


VARIANCE_SCALING = {
    "glorot_uniform": ("uniform", lambda fan_in, fan_out: 2 / (fan_in + fan_out)),
    "glorot_normal": ("truncated_normal", lambda fan_in, fan_out: 2 / (fan_in + fan_out)),
    "he_uniform": ("uniform", lambda fan_in, fan_out: 2 / fan_in),
    "he_normal": ("truncated_normal", lambda fan_in, fan_out: 2 / fan_in),
    "lecun_uniform": ("uniform", lambda fan_in, fan_out: 1 / fan_in),
    "lecun_normal": ("truncated_normal", lambda fan_in, fan_out: 1 / fan_in),
}
SHAPES = {"dense": ((300, 500), 300, 500), "conv2d": ((3, 3, 32, 64), 9 * 32, 9 * 64)}


@pytest.mark.parametrize("shape_name", sorted(SHAPES))
@pytest.mark.parametrize("name", sorted(VARIANCE_SCALING))
def test_variance_scaling_moments_and_bounds(name, shape_name):
    distribution, variance_of = VARIANCE_SCALING[name]
    shape, fan_in, fan_out = SHAPES[shape_name]
    variance = variance_of(fan_in, fan_out)
    values = initializers.get(name)(shape, np.random.default_rng(0), "float64")
    assert values.shape == shape and values.dtype == np.float64
    assert_moments(values, 0.0, *expected_moments(distribution, variance))
    bound = (math.sqrt(3 * variance) if distribution == "uniform"
             else 2 * math.sqrt(variance) / initializers.TRUNCATED_NORMAL_STDDEV)
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.99 * bound                    # the bound is reached: truncation, not shrinkage


@pytest.mark.parametrize("mode, n", [("fan_in", 300), ("fan_out", 500), ("fan_avg", 400)])
@pytest.mark.parametrize("distribution", initializers.VarianceScaling.DISTRIBUTIONS)
def test_variance_scaling_modes(mode, n, distribution):
    initializer = initializers.VarianceScaling(scale=3.0, mode=mode, distribution=distribution)
    values = initializer((300, 500), np.random.default_rng(1), "float64")
    assert_moments(values, 0.0, *expected_moments(distribution, 3.0 / n))


@pytest.mark.parametrize("initializer, mean, variance, fourth_moment", [
    (initializers.RandomNormal(0.5, 2.0), 0.5, 4.0, 3 * 16.0),
    (initializers.RandomUniform(-1.0, 3.0), 1.0, 16 / 12, 9 / 5 * (16 / 12) ** 2),
    (initializers.TruncatedNormal(-1.0, 0.5), -1.0, truncated_moments()[0] * 0.25, truncated_moments()[1] / 16),
])
def test_random_initializers_moments(initializer, mean, variance, fourth_moment):
    values = initializer((200_000,), np.random.default_rng(2), "float64")
    assert_moments(values, mean, variance, fourth_moment)


def test_truncated_normal_stays_within_two_standard_deviations():
    values = initializers.TruncatedNormal(mean=1.0, stddev=0.1)((100_000,), np.random.default_rng(3), "float64")
    assert np.abs(values - 1.0).max() <= 0.2 and np.abs(values - 1.0).max() > 0.199
    uniform = initializers.RandomUniform(2.0, 3.0)((10_000,), np.random.default_rng(3))
    assert uniform.min() >= 2.0 and uniform.max() <= 3.0


@pytest.mark.parametrize("shape, gain", [((40, 30), 1.0), ((30, 40), 1.0), ((3, 3, 4, 8), 2.0), ((16, 16), 0.5)])
def test_orthogonal(shape, gain):
    values = initializers.Orthogonal(gain)(shape, np.random.default_rng(4), "float64")
    matrix = values.reshape(-1, shape[-1])
    gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(len(gram)), rtol=0, atol=1e-13)


def test_constant_initializers_are_exact():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(initializers.get("zeros")((2, 3), rng), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(initializers.get("ones")((4,), rng, "float64"), np.ones(4))
    np.testing.assert_array_equal(initializers.Constant(0.25)((2, 2), rng), np.full((2, 2), 0.25, np.float32))


@pytest.mark.parametrize("name", sorted(initializers.INITIALIZERS))
def test_seeded_draws_are_deterministic_and_use_only_the_given_generator(name):
    initializer = initializers.get(name)
    np.random.seed(123)
    global_state = np.random.get_state()[1].copy()
    first = initializer((6, 5), np.random.default_rng(7))
    second = initializer((6, 5), np.random.default_rng(7))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)
    assert first.shape == (6, 5) and first.dtype == np.float32
    if name not in ("zeros", "ones", "constant"):
        assert not np.array_equal(first, initializer((6, 5), np.random.default_rng(8)))
        np.testing.assert_allclose(initializer((6, 5), np.random.default_rng(7), "float64"), first, rtol=1e-6)


def test_glorot_uniform_limit_on_a_conv_kernel():
    """Conv2D kernel (kh, kw, c_in, c_out): fan_in = kh kw c_in, fan_out = kh kw c_out."""
    assert initializers.compute_fans((3, 3, 16, 32)) == (144, 288)
    values = initializers.GlorotUniform()((3, 3, 16, 32), np.random.default_rng(5), "float64")
    assert np.abs(values).max() <= math.sqrt(6 / (144 + 288)) and np.abs(values).max() > 0.99 * math.sqrt(6 / 432)


@pytest.mark.parametrize("initializer", [
    initializers.HeNormal(), initializers.Zeros(), initializers.Constant(0.5), initializers.RandomNormal(1.0, 0.2),
    initializers.RandomUniform(-0.1, 0.2), initializers.TruncatedNormal(stddev=0.3), initializers.Orthogonal(2.0),
    initializers.VarianceScaling(0.5, "fan_out", "uniform"),
])
def test_serialize_round_trip(initializer):
    config = json.loads(json.dumps(initializers.serialize(initializer)))
    rebuilt = initializers.deserialize(config)
    assert type(rebuilt) is type(initializer) and rebuilt.get_config() == initializer.get_config()
    np.testing.assert_array_equal(rebuilt((4, 3), np.random.default_rng(0)),
                                  initializer((4, 3), np.random.default_rng(0)))


def test_names_and_class_names():
    assert initializers.serialize(initializers.get("HeNormal")) == "he_normal"
    assert isinstance(initializers.get({"class_name": "constant", "config": {"value": 2.0}}), initializers.Constant)
    layer = layers.Dense(3, kernel_initializer=initializers.Orthogonal(gain=3.0), bias_initializer="ones")
    rebuilt = layers.Dense.from_config(layer.get_config())
    rebuilt.build((5,), np.random.default_rng(0))
    np.testing.assert_allclose(rebuilt.params["kernel"].T @ rebuilt.params["kernel"], 9 * np.eye(3), atol=1e-5)
    np.testing.assert_array_equal(rebuilt.params["bias"], np.ones(3, np.float32))


@pytest.mark.parametrize("make, message", [
    (lambda: initializers.get("xavier"), r"Unknown initializer 'xavier'; valid names: \['constant', 'glorot_normal'"),
    (lambda: initializers.get(3), r"initializer must be a name or a callable\(shape, rng, dtype\), got 3"),
    (lambda: initializers.VarianceScaling(mode="fan_sum"), r"VarianceScaling: mode must be one of \('fan_in', "
                                                            r"'fan_out', 'fan_avg'\), got 'fan_sum'"),
    (lambda: initializers.VarianceScaling(distribution="normal"), r"distribution must be one of"),
    (lambda: initializers.VarianceScaling(scale=0), r"VarianceScaling: scale must be > 0, got 0"),
    (lambda: initializers.RandomNormal(stddev=-1), r"RandomNormal: stddev must be > 0, got -1"),
    (lambda: initializers.RandomUniform(1.0, 1.0), r"RandomUniform: minval must be < maxval"),
    (lambda: initializers.Orthogonal()((5,), np.random.default_rng(0)),
     r"Orthogonal needs a shape with at least 2 dimensions, got \(5,\)"),
    (lambda: initializers.Zeros()((2,), None, "int32"), r"dtype must be one of \('float32', 'float64'\)"),
    (lambda: initializers.serialize(lambda shape, rng, dtype: None), r"Cannot serialize initializer"),
])
def test_invalid_arguments_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()
