"""Weight penalties: added to the reported loss and, through gradient(), to the parameter's gradient."""
import math
import numbers

from .backend.namespace import namespace


class Regularizer:
    """Callable: penalty(weights) -> float; gradient(weights) -> d penalty / d weights (same dtype)."""

    def __call__(self, weights):
        raise NotImplementedError

    def gradient(self, weights):
        raise NotImplementedError

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"


def _check_factor(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}")
    return float(value)


class L1L2(Regularizer):
    """penalty = l1 * sum|w| + l2 * sum w^2 (Keras's definition: no 1/2 factor)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _check_factor(type(self).__name__, "l1", l1)
        self.l2 = _check_factor(type(self).__name__, "l2", l2)

    def __call__(self, weights):
        xp, penalty = namespace(weights), 0.0
        if self.l1:
            penalty += self.l1 * float(xp.abs(weights).sum())              # l1 sum|w|
        if self.l2:
            flat = weights.reshape(-1)
            penalty += self.l2 * float(xp.vdot(flat, flat))                # l2 sum w^2
        return penalty

    def gradient(self, weights):
        xp = namespace(weights)
        grad = xp.zeros_like(weights)
        if self.l1:
            grad += self.l1 * xp.sign(weights)                              # d/dw l1|w| = l1 sign(w)
        if self.l2:
            grad += 2 * self.l2 * weights                                   # d/dw l2 w^2 = 2 l2 w
        return grad

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """penalty = l1 * sum|w|."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """penalty = l2 * sum w^2 (Keras's; torch's weight_decay = 2 * l2 gives the same gradient)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


REGULARIZERS = {"l1": L1, "l2": L2, "l1_l2": L1L2}


def get(identifier):
    """None, a Regularizer, a name ("l1", "l2", "l1_l2" with Keras's defaults) or a serialized dict."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in REGULARIZERS:
        return REGULARIZERS[identifier.lower()]()
    raise ValueError(f"Unknown regularizer {identifier!r}; valid names: {sorted(REGULARIZERS)}")


def serialize(regularizer):
    """{"class_name": "l1_l2", "config": {"l1": ..., "l2": ...}}."""
    names = {cls: key for key, cls in REGULARIZERS.items()}
    if type(regularizer) not in names:
        raise ValueError(f"Cannot serialize regularizer {regularizer!r}: use one of {sorted(REGULARIZERS)}")
    return {"class_name": names[type(regularizer)], "config": regularizer.get_config()}


def deserialize(config):
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in REGULARIZERS:
        raise ValueError(f"Unknown regularizer {config!r}; valid class names: {sorted(REGULARIZERS)}")
    return REGULARIZERS[name](**config.get("config", {}))
