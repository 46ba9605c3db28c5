"""Models: Sequential (structure), the Trainer (compile, fit, evaluate, predict) and build-time plans."""
from .sequential import Sequential

__all__ = ["Sequential"]
