"""Datasets: the embedded digits (offline default) and loaders."""
from .digits import load_digits

__all__ = ["load_digits"]
