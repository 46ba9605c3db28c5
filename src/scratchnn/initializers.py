"""Weight initializers, by name or as objects, all drawing from the generator they are given."""
import math
import numbers

import numpy as np

from . import backend

TRUNCATED_NORMAL_STDDEV = 0.87962566103423978   # std of a standard normal truncated to [-2, 2]


def compute_fans(shape):
    """(fan_in, fan_out) as Keras computes them: Dense (in, out); Conv2D (kh, kw, c_in, c_out)."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def truncated_standard_normal(rng, shape):
    """Standard normal draws with every value outside [-2, 2] drawn again (Keras's truncation)."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return values


def _check_real(owner, name, value, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{owner}: {name} must be > 0, got {value!r}")
    return float(value)


class Initializer:
    """Callable: initializer(shape, rng, dtype) -> array of that shape and dtype, drawn from rng only."""

    def __call__(self, shape, rng=None, dtype=None):
        shape = tuple(int(d) for d in shape)
        return np.asarray(self.sample(shape, backend.make_rng(rng)), dtype=backend.as_dtype(dtype))

    def sample(self, shape, rng):
        raise NotImplementedError

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"


class Zeros(Initializer):
    """All zeros."""

    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """Every value equal to ``value``."""

    def __init__(self, value=0.0):
        self.value = _check_real("Constant", "value", value)

    def sample(self, shape, rng):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """N(mean, stddev^2)."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean = _check_real("RandomNormal", "mean", mean)
        self.stddev = _check_real("RandomNormal", "stddev", stddev, positive=True)

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class RandomUniform(Initializer):
    """U(minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval = _check_real("RandomUniform", "minval", minval)
        self.maxval = _check_real("RandomUniform", "maxval", maxval)
        if not self.minval < self.maxval:
            raise ValueError(f"RandomUniform: minval must be < maxval, got minval={minval!r}, maxval={maxval!r}")

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class TruncatedNormal(Initializer):
    """mean + stddev * z, z standard normal redrawn outside [-2, 2] (values within 2 stddev of the mean)."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean = _check_real("TruncatedNormal", "mean", mean)
        self.stddev = _check_real("TruncatedNormal", "stddev", stddev, positive=True)

    def sample(self, shape, rng):
        return self.mean + self.stddev * truncated_standard_normal(rng, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class VarianceScaling(Initializer):
    """Values of variance scale / n, n = fan_in, fan_out or (fan_in + fan_out) / 2 by ``mode`` (Keras).

    distribution "truncated_normal": stddev sqrt(scale / n) / 0.8796... before truncation to 2 stddev,
    so that the truncated values have variance scale / n; "untruncated_normal": N(0, scale / n);
    "uniform": U(-limit, limit) with limit = sqrt(3 scale / n).
    """

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        owner = type(self).__name__
        self.scale = _check_real(owner, "scale", scale, positive=True)
        if mode not in self.MODES:
            raise ValueError(f"{owner}: mode must be one of {self.MODES}, got {mode!r}")
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"{owner}: distribution must be one of {self.DISTRIBUTIONS}, got {distribution!r}")
        self.mode, self.distribution = mode, distribution

    def variance(self, shape):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def sample(self, shape, rng):
        variance = self.variance(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return math.sqrt(variance) * rng.standard_normal(shape)
        return math.sqrt(variance) / TRUNCATED_NORMAL_STDDEV * truncated_standard_normal(rng, shape)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class _NamedVarianceScaling(VarianceScaling):
    """A VarianceScaling with fixed arguments, configured by its name alone."""

    ARGS = {}

    def __init__(self):
        super().__init__(**self.ARGS)

    def get_config(self):
        return {}


class GlorotUniform(_NamedVarianceScaling):
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    ARGS = {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform"}


class GlorotNormal(_NamedVarianceScaling):
    """Truncated normal with variance 2 / (fan_in + fan_out)."""
    ARGS = {"scale": 1.0, "mode": "fan_avg", "distribution": "truncated_normal"}


class HeUniform(_NamedVarianceScaling):
    """U(-limit, limit), limit = sqrt(6 / fan_in) (He et al., 2015)."""
    ARGS = {"scale": 2.0, "mode": "fan_in", "distribution": "uniform"}


class HeNormal(_NamedVarianceScaling):
    """Truncated normal with variance 2 / fan_in (He et al., 2015)."""
    ARGS = {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"}


class LecunUniform(_NamedVarianceScaling):
    """U(-limit, limit), limit = sqrt(3 / fan_in)."""
    ARGS = {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}


class LecunNormal(_NamedVarianceScaling):
    """Truncated normal with variance 1 / fan_in (LeCun et al., 1998)."""
    ARGS = {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}


class Orthogonal(Initializer):
    """gain * Q, Q orthogonal from the QR decomposition of a normal matrix (Saxe et al., 2014; Keras).

    The shape is read as a (prod(shape[:-1]), shape[-1]) matrix: its columns are orthonormal when there
    are at least as many rows as columns, its rows otherwise.
    """

    def __init__(self, gain=1.0):
        self.gain = _check_real("Orthogonal", "gain", gain, positive=True)

    def sample(self, shape, rng):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape with at least 2 dimensions, got {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        normal = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(normal)
        q *= np.sign(np.diag(r))                     # make Q unique: R gets a positive diagonal
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain}


INITIALIZERS = {"zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
                "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
                "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
                "he_uniform": HeUniform, "he_normal": HeNormal, "lecun_uniform": LecunUniform,
                "lecun_normal": LecunNormal, "orthogonal": Orthogonal}
_CLASS_NAMES = {cls.__name__.lower(): name for name, cls in INITIALIZERS.items()}


def _lookup(identifier):
    key = identifier.lower()
    key = _CLASS_NAMES.get(key, key)
    if key not in INITIALIZERS:
        raise ValueError(f"Unknown initializer {identifier!r}; valid names: {sorted(INITIALIZERS)}")
    return INITIALIZERS[key]


def get(identifier):
    """An Initializer from a name ("he_normal" or "HeNormal"), a serialized dict, an Initializer, or a
    callable(shape, rng, dtype)."""
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"initializer must be a name or a callable(shape, rng, dtype), got {identifier!r}")


def serialize(initializer):
    """The name ("he_normal"), or {"class_name": name, "config": {...}} when it has arguments."""
    for name, cls in INITIALIZERS.items():
        if type(initializer) is cls:
            config = initializer.get_config()
            return name if not config else {"class_name": name, "config": config}
    raise ValueError(f"Cannot serialize initializer {initializer!r}: use one of {sorted(INITIALIZERS)}")


def deserialize(config):
    if isinstance(config, dict):
        if not isinstance(config.get("class_name"), str):
            raise ValueError(f"An initializer config needs a 'class_name', got {config!r}")
        return _lookup(config["class_name"])(**config.get("config", {}))
    return get(config)
