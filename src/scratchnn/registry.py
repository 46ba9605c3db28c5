"""Classes known by name, so that a config or a model file can name them without importing their modules.

Layers register with ``@register_layer``, models with ``@register_model``; saving and ONNX import look them
up here and never import a model module (which is what removed the model <-> io import cycle).
"""
from __future__ import annotations

LAYERS: dict[str, type] = {}
MODELS: dict[str, type] = {}


def register_layer(cls: type) -> type:
    """Class decorator: make a layer known by its class name (for configs and model files)."""
    LAYERS[cls.__name__] = cls
    return cls


def register_model(cls: type) -> type:
    """Class decorator: make a model class (Sequential, Model) known by its class name."""
    MODELS[cls.__name__] = cls
    return cls


def layer_class(name: str) -> type:
    if name not in LAYERS:
        raise ValueError(f"Unknown layer type {name!r}; known layers: {sorted(LAYERS)}")
    return LAYERS[name]


def model_class(name: str) -> type:
    if name not in MODELS:
        raise ValueError(f"Unknown model type {name!r}; known models: {sorted(MODELS)}")
    return MODELS[name]
