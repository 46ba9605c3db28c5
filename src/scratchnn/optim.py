"""Optimizers: update (param, grad) pairs in place, keeping their state per parameter.

An optimizer is handed ``model.parameters()`` (a list of (param, grad) pairs, always in the same order)
at every step. ``slots[i]`` holds the state arrays of parameter i (momentum, moments, ...), created on
the first step; ``iterations`` counts the steps taken. Both go into the model file.
"""
import numpy as np


def _check_lr(name, learning_rate):
    if callable(learning_rate):
        return learning_rate
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.floating)) \
            or not learning_rate > 0:
        raise ValueError(f"{name}: learning_rate must be a positive number or a schedule, got {learning_rate!r}")
    return float(learning_rate)


class Optimizer:
    """Base class: clipping, the learning rate (a float or a schedule of the step) and the state."""

    def __init__(self, learning_rate=0.01, clipnorm=None, clipvalue=None, global_clipnorm=None):
        self.learning_rate = _check_lr(type(self).__name__, learning_rate)
        for name, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if value is not None and not value > 0:
                raise ValueError(f"{type(self).__name__}: {name} must be positive or None, got {value!r}")
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.iterations = 0
        self.slots = []

    def current_learning_rate(self):
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    def clip(self, grads):
        """Return the gradients after clipvalue, clipnorm (per parameter) and global_clipnorm."""
        if self.clipvalue is not None:
            grads = [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            grads = [g * min(1.0, self.clipnorm / (np.linalg.norm(g) + 1e-12)) for g in grads]
        if self.global_clipnorm is not None:
            total = np.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            scale = min(1.0, self.global_clipnorm / (total + 1e-12))
            grads = [g * scale for g in grads] if scale < 1.0 else grads
        return grads

    def step(self, parameters):
        """One update of every (param, grad) pair, in place."""
        params = [p for p, _ in parameters]
        grads = self.clip([g for _, g in parameters])
        if not self.slots:
            self.slots = [self.create_slots(p) for p in params]
        lr = self.current_learning_rate()
        for param, grad, slots in zip(params, grads, self.slots):
            self.update(param, grad, slots, lr)
        self.iterations += 1

    def create_slots(self, param):
        return {}

    def update(self, param, grad, slots, lr):
        raise NotImplementedError

    def get_config(self):
        lr = self.learning_rate
        return {"learning_rate": lr.get_config() if hasattr(lr, "get_config") else lr,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    def state_dict(self):
        return {"iterations": self.iterations, "slots": [dict(s) for s in self.slots]}

    def load_state_dict(self, state):
        self.iterations = int(state["iterations"])
        self.slots = [dict(s) for s in state["slots"]]


class SGD(Optimizer):
    """param <- param - lr * grad (plain stochastic gradient descent, as in seeds 000-004)."""

    def __init__(self, learning_rate=0.01, **kwargs):
        super().__init__(learning_rate, **kwargs)

    def update(self, param, grad, slots, lr):
        param -= lr * grad                                   # w <- w - lr dL/dw


OPTIMIZERS = {"sgd": SGD}


def get(identifier):
    """An optimizer from a name ("sgd", "adam", ...) with its defaults, or an Optimizer instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in OPTIMIZERS:
        return OPTIMIZERS[identifier.lower()]()
    raise ValueError(f"Unknown optimizer {identifier!r}; valid names: {sorted(OPTIMIZERS)}")
