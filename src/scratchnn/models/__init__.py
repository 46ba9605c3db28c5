"""Models: Sequential (a stack), Model and Input (graphs), the Trainer (compile, fit, evaluate, predict), plans."""
from .architecture import model_from_json
from .functional import Input, Model
from .sequential import Sequential

__all__ = ["Sequential", "Model", "Input", "model_from_json"]
