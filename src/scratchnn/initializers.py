"""Weight initializers, by name or as objects, all drawing from the generator they are given."""
import numpy as np


def compute_fans(shape):
    """(fan_in, fan_out) as Keras computes them: Dense (in, out); Conv2D (kh, kw, c_in, c_out)."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    """Callable: initializer(shape, rng, dtype) -> array."""

    def __call__(self, shape, rng, dtype="float32"):
        raise NotImplementedError

    def get_config(self):
        return {}


class Zeros(Initializer):
    def __call__(self, shape, rng=None, dtype="float32"):
        return np.zeros(shape, dtype=dtype)


class GlorotUniform(Initializer):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""

    def __call__(self, shape, rng, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(dtype)


INITIALIZERS = {"zeros": Zeros, "glorot_uniform": GlorotUniform}


def get(identifier):
    """An Initializer from a name ("glorot_uniform"), an Initializer, or a callable(shape, rng, dtype)."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in INITIALIZERS:
            raise ValueError(f"Unknown initializer {identifier!r}; valid names: {sorted(INITIALIZERS)}")
        return INITIALIZERS[key]()
    if callable(identifier):
        return identifier
    raise ValueError(f"initializer must be a name or a callable(shape, rng, dtype), got {identifier!r}")


def serialize(initializer):
    for name, cls in INITIALIZERS.items():
        if type(initializer) is cls:
            config = initializer.get_config()
            return name if not config else {"class_name": name, "config": config}
    raise ValueError(f"Cannot serialize initializer {initializer!r}: use one of {sorted(INITIALIZERS)}")


def deserialize(config):
    if isinstance(config, dict):
        return INITIALIZERS[config["class_name"]](**config["config"])
    return get(config)
