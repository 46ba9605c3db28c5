"""A model's architecture as JSON text (Keras's to_json / model_from_json): class_name and config, no weights."""
from __future__ import annotations

import json

from .. import registry


def to_json(model, **json_args) -> str:
    """``{"class_name": ..., "config": model.get_config(), "scratchnn_version": ...}`` as JSON text.

    ``json_args`` go to ``json.dumps`` (``indent=2``, ...). The text names no weight: a model rebuilt from it
    has freshly initialised ones (copy them with ``set_weights``, or save the whole model with ``save``).
    """
    from .._version import __version__
    return json.dumps({"class_name": type(model).__name__, "config": model.get_config(),
                       "scratchnn_version": __version__}, **json_args)


def model_from_json(json_string: str, seed=None):
    """The model (built, not compiled) that ``to_json`` text describes; ``seed`` overrides the saved seed.

    >>> import scratchnn as snn
    >>> model = snn.Sequential([snn.layers.Dense(3)], input_shape=(4,), seed=0)
    >>> snn.model_from_json(model.to_json()).get_config() == model.get_config()
    True
    """
    try:
        spec = json.loads(json_string)
    except (TypeError, ValueError) as error:
        raise ValueError(f"model_from_json expected the JSON text of model.to_json(), got {json_string!r:.60}: "
                         f"{error}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) \
            or not isinstance(spec.get("config"), dict):
        raise ValueError("model_from_json expected {\"class_name\": ..., \"config\": {...}} (model.to_json()'s "
                         f"text), got {json_string!r:.60}")
    return registry.model_class(spec["class_name"]).from_config(spec["config"], seed=seed)


__all__ = ["to_json", "model_from_json"]
