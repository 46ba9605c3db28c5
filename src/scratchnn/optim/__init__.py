"""Optimizers: update (param, grad) pairs in place, keeping their state per parameter.

An optimizer is handed ``model.parameters()`` (a list of (param, grad) pairs, always in the same order)
at every step. ``slots[i]`` holds the state arrays of parameter i (momentum, moments, ...), created on
the first step; ``iterations`` counts the steps taken. Both go into the model file (``state_dict``).

Names and defaults are Keras's; the arithmetic is torch.optim's (2.13), so that the same gradients give
the same parameters to 1e-10 in float64. Where the two differ:
- Adam, Nadam, RMSprop, Adagrad: epsilon is added to the bias-corrected sqrt(v) (torch), not to the raw
  sqrt(v) (Keras's "epsilon hat"); RMSprop and Adagrad add it outside the square root, Keras inside.
- SGD momentum: v = momentum * v + g; p -= lr * v (torch). Keras keeps v = momentum * v - lr * g;
  p += v. The two agree while the learning rate is constant and differ when a schedule changes it.
- weight_decay adds weight_decay * p to the gradient (torch's L2 form) in SGD, Adam, RMSprop, Adagrad and
  Nadam; AdamW decays the parameter itself, p -= lr * weight_decay * p (torch and Keras alike).
- Nadam: torch's momentum schedule mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * momentum_decay)) with
  momentum_decay = 0.004 (Dozat's paper, Keras 2); Keras 3 uses 0.96 ** t, i.e. momentum_decay = 1.
- Clipping: clipnorm scales each gradient by min(1, clipnorm / (norm + 1e-6)) and global_clipnorm all
  of them by min(1, global_clipnorm / (global norm + 1e-6)), as torch.nn.utils.clip_grad_norm_ does
  (Keras has no 1e-6); clipvalue clamps to [-clipvalue, clipvalue]. Only one of the three may be set
  (Keras's rule). Clipping rewrites the gradient arrays in place, as torch's clip functions do.

The learning rate is a float (a plain attribute a callback may set) or a schedule from
``scratchnn.schedules``, evaluated at ``iterations`` before each step.

Files: ``base.py`` (the Optimizer base: state, clipping, the schedule, configs), ``sgd.py`` (SGD),
``adaptive.py`` (Adam, AdamW, RMSprop, Adagrad, Nadam).
"""

from __future__ import annotations

from typing import Any

from .. import schedules
from .adaptive import Adagrad, Adam, AdamW, Nadam, RMSprop, update_moments
from .base import Optimizer
from .sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {cls.__name__.lower(): cls
                                          for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Nadam)}


def get(identifier: str | dict[str, Any] | Optimizer) -> Optimizer:
    """An optimizer from a name ("sgd", "adam", ...) with its defaults, a serialized dict, or an instance.

    >>> get("adam").learning_rate, get("SGD").learning_rate
    (0.001, 0.01)
    >>> sgd = get({"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9}})
    >>> sgd.get_config()["momentum"], get(sgd) is sgd
    (0.9, True)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return from_config(identifier)
    if isinstance(identifier, str) and identifier.lower() in OPTIMIZERS:
        return OPTIMIZERS[identifier.lower()]()
    raise ValueError(f"Unknown optimizer {identifier!r}; valid names: {sorted(OPTIMIZERS)}")


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """{"class_name": "Adam", "config": {...}}: what ``from_config`` rebuilds (the state is state_dict())."""
    if type(optimizer) not in OPTIMIZERS.values():
        raise ValueError(f"Cannot serialize optimizer {optimizer!r}: use one of {sorted(OPTIMIZERS)}")
    config = optimizer.get_config()
    if callable(config["learning_rate"]):
        raise ValueError(f"Cannot serialize the learning rate {config['learning_rate']!r} of "
                         f"{type(optimizer).__name__}: use a float or a schedule from scratchnn.schedules "
                         f"({sorted(schedules.SCHEDULES)})")
    return {"class_name": type(optimizer).__name__, "config": config}


def from_config(config: dict[str, Any]) -> Optimizer:
    """The optimizer described by ``serialize``'s output (a fresh one: load its state with load_state_dict)."""
    name = config.get("class_name") if isinstance(config, dict) else None
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer config {config!r}; valid class names: "
                         f"{sorted(cls.__name__ for cls in OPTIMIZERS.values())}")
    return OPTIMIZERS[name.lower()].from_config(config.get("config", {}))


deserialize = from_config

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam", "OPTIMIZERS", "get", "serialize",
           "from_config", "deserialize", "update_moments"]
