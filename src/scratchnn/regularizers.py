"""Weight penalties: added to the reported loss and, through gradient(), to the parameter's gradient."""
import numpy as np


class Regularizer:
    def __call__(self, weights):
        raise NotImplementedError

    def gradient(self, weights):
        raise NotImplementedError

    def get_config(self):
        return {}


class L1L2(Regularizer):
    """penalty = l1 * sum|w| + l2 * sum w^2 (Keras's definition: no 1/2 factor)."""

    def __init__(self, l1=0.0, l2=0.0):
        if l1 < 0 or l2 < 0:
            raise ValueError(f"L1L2: l1 and l2 must be >= 0, got l1={l1!r}, l2={l2!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weights):
        return self.l1 * float(np.abs(weights).sum()) + self.l2 * float((weights * weights).sum())

    def gradient(self, weights):
        return (self.l1 * np.sign(weights) + 2 * self.l2 * weights).astype(weights.dtype)   # d/dw

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


REGULARIZERS = {"l1": L1, "l2": L2, "l1_l2": L1L2}


def get(identifier):
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in REGULARIZERS:
        return REGULARIZERS[identifier.lower()]()
    raise ValueError(f"Unknown regularizer {identifier!r}; valid names: {sorted(REGULARIZERS)}")


def serialize(regularizer):
    name = {cls: key for key, cls in REGULARIZERS.items()}[type(regularizer)]
    return {"class_name": name, "config": regularizer.get_config()}


def deserialize(config):
    if config["class_name"] not in REGULARIZERS:
        raise ValueError(f"Unknown regularizer {config['class_name']!r}; valid names: {sorted(REGULARIZERS)}")
    return REGULARIZERS[config["class_name"]](**config["config"])
