"""Models: Sequential (a stack), Model and Input (graphs), the Trainer (compile, fit, evaluate, predict), plans."""
from .functional import Input, Model
from .sequential import Sequential

__all__ = ["Sequential", "Model", "Input"]
