"""POST /v1/explain: the attributions of one sample (scratchnn.explain), as JSON or as a PNG heat map.

The methods are those of ``scratchnn explain`` (the same function computes them). Gradient methods run the
layers' own backward pass, which writes into the layers' tapes and grads, so the app runs one explanation at
a time (``EXPLAIN_LOCK``); predictions, which record nothing, go on beside it.
"""
from __future__ import annotations

import io
import threading

import numpy as np

from ..cli.explain import EXPLAIN_METHODS, class_attributions, explained_output
from ..cli.inputs import image_size
from ..cli.model import class_probabilities
from .requests import ApiError

EXPLAIN_LOCK = threading.Lock()
PNG_SIDE = 280                                        # the heat map's longer side, in pixels
POSITIVE, NEGATIVE = (230, 40, 30), (30, 90, 230)     # red: pushes the output up; blue: down


def explain_sample(model, sample: np.ndarray, method: str, target: int | None, steps: int) -> dict:
    """The prediction for one sample and the attributions of class ``target`` (default: the predicted class),
    as ``scratchnn explain`` computes them: a model of one sigmoid output takes class 0 (1 - p) and 1."""
    if method not in EXPLAIN_METHODS:
        raise ApiError(422, f"method must be one of {', '.join(EXPLAIN_METHODS)}, got {method!r}")
    with EXPLAIN_LOCK:
        probabilities = class_probabilities(model, model.predict(sample[None]))[0]
        if target is None:
            target = int(probabilities.argmax())
        if not 0 <= target < len(probabilities):
            raise ApiError(422, f"target {target} is out of range: the model has {len(probabilities)} classes "
                                f"(0 to {len(probabilities) - 1})")
        explained = explained_output(model, target)
        attributions, _ = class_attributions(method, model, sample, explained, steps)
    return {"method": method, "target": target, "class": int(probabilities.argmax()),
            "of": explained.subject, "probabilities": [round(float(p), 6) for p in probabilities],
            "shape": list(sample.shape), "attributions": [float(a) for a in attributions.reshape(-1)]}


def picture_of(input_shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(height, width, channels) when the model's input is an image, else None (rows of features)."""
    try:
        return tuple(image_size(tuple(input_shape)))
    except Exception:                                 # CommandError: not an image
        return None


def heat_map_png(result: dict, sample: np.ndarray, input_shape: tuple[int, ...]) -> bytes:
    """The attributions as a PNG: over the picture for image models, as bars for rows of features."""
    from .._optional import require
    try:
        Image = require("PIL.Image", "drawing a PNG heat map")
    except ImportError as error:
        raise ApiError(406, f"{error}; ask for format=json instead") from None
    attributions = np.asarray(result["attributions"], dtype=np.float64)
    picture = picture_of(input_shape)
    image = _over_picture(Image, attributions, sample, picture) if picture else _bars(Image, attributions)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _over_picture(Image, attributions: np.ndarray, sample: np.ndarray, picture: tuple[int, int, int]):
    """The input in grey, each pixel tinted red (positive) or blue (negative) by |attribution| / max."""
    height, width, channels = picture
    grey = sample.reshape(height, width, channels).mean(axis=-1)
    values = attributions.reshape(height, width, channels).sum(axis=-1)
    strength = np.abs(values) / max(float(np.abs(values).max()), 1e-12)             # in [0, 1]
    lo, hi = float(grey.min()), float(grey.max())
    base = (grey - lo) / (hi - lo) if hi > lo else np.zeros_like(grey)
    base = (0.25 + 0.5 * base)[..., None] * 255                                      # the input, dimmed
    tint = np.where((values >= 0)[..., None], np.array(POSITIVE), np.array(NEGATIVE))
    alpha = strength[..., None] ** 0.7
    rgb = (base * (1 - alpha) + tint * alpha).clip(0, 255).astype(np.uint8)
    scale = max(1, PNG_SIDE // max(height, width))
    return Image.fromarray(rgb, "RGB").resize((width * scale, height * scale), Image.Resampling.NEAREST)


def _bars(Image, attributions: np.ndarray):
    """One horizontal bar per feature, from a centre line: red to the right, blue to the left."""
    from PIL import ImageDraw
    row, label, half = 18, 60, 200
    image = Image.new("RGB", (label + 2 * half + 10, row * len(attributions) + 10), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    largest = max(float(np.abs(attributions).max()), 1e-12)
    centre = label + half
    for i, value in enumerate(attributions):
        top = 5 + i * row
        length = int(round(half * abs(value) / largest))
        left, right = (centre, centre + length) if value >= 0 else (centre - length, centre)
        draw.rectangle((left, top + 3, right, top + row - 3), fill=POSITIVE if value >= 0 else NEGATIVE)
        draw.text((4, top + 3), f"x{i}", fill=(0, 0, 0))
    draw.line((centre, 0, centre, image.height), fill=(0, 0, 0))
    return image
