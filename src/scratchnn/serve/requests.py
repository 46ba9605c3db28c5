"""What a request body holds, as samples for the model: JSON arrays, a .npy, an image, or a multipart upload.

The files are read by the command line's own readers (``scratchnn.cli.inputs``, which read files by path:
an upload is written to a temporary file first): a .npy upload follows the rules of ``scratchnn predict
x.npy`` (one sample or a batch, values as stored) and an image the rules of ``scratchnn predict
digit.png`` (grayscale pixels 0..255, ink made bright on a dark ground, framed as MNIST's digits). Values
reach the model as sent: its first layer (a Rescaling) does any scaling. Every problem is an
``ApiError``: an HTTP status and one line, which the app sends as ``{"error": "..."}``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections import namedtuple
from pathlib import Path

import numpy as np

from ..cli.common import CommandError
from ..cli.data import fit_to_model
from ..cli.inputs import IMAGE_SUFFIXES, read_image, read_npy

JSON_TYPES = ("application/json",)
NPY_TYPES = ("application/x-npy", "application/npy", "application/octet-stream")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/bmp", "image/gif", "image/tiff", "image/webp")
MULTIPART = "multipart/form-data"
INVERT_CHOICES = ("auto", "yes", "no")

Part = namedtuple("Part", "filename content_type data")       # one file of a multipart form, read


class ApiError(Exception):
    """A request the server refuses: ``status`` (4xx) and a one-line message naming what to send instead."""

    def __init__(self, status: int, message: str):
        super().__init__(" ".join(str(message).split()))
        self.status = status


def media_type(content_type: str | None) -> str:
    """'image/png; charset=x' -> 'image/png' (lower case); '' when the header is missing."""
    return (content_type or "").split(";")[0].strip().lower()


def accepted_types() -> str:
    return ", ".join(JSON_TYPES + NPY_TYPES[:1] + ("image/*", MULTIPART))


def samples_from_body(body: bytes, content_type: str | None, model, invert: str = "auto",
                      form: dict | None = None, key: str = "inputs") -> np.ndarray:
    """(N, *model.input_shape) samples in the model's dtype from a request body, checked finite.

    ``form`` is the parsed multipart form when the body was one (the app parses it); ``key`` is the JSON
    field that holds the arrays.
    """
    if invert not in INVERT_CHOICES:
        raise ApiError(422, f"invert must be one of {', '.join(INVERT_CHOICES)}, got {invert!r}")
    kind = media_type(content_type)
    if not body and form is None:
        raise ApiError(400, f"empty request body: send {accepted_types()}")
    if kind in JSON_TYPES:
        x = from_json(body, model, key)
    elif kind in NPY_TYPES:
        x = from_file(body, "the .npy body", ".npy", model, invert)
    elif kind in IMAGE_TYPES:
        x = from_file(body, f"the {kind} body", ".png", model, invert)
    elif kind == MULTIPART and form is not None:
        x = from_form(form, model, invert)
    else:
        shown = kind or "no Content-Type"
        raise ApiError(415, f"unsupported content type {shown!r}: send {accepted_types()}")
    return check_samples(x, model)


def from_json(body: bytes, model, key: str = "inputs") -> np.ndarray:
    """{"inputs": one sample or a list of samples} as samples (the shape rules of a .npy file)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, f"the body is not valid JSON ({error})") from None
    if not isinstance(document, dict) or key not in document:
        raise ApiError(422, f'expected a JSON object {{"{key}": [...]}} holding one sample of shape '
                            f"{tuple(model.input_shape)} or a list of them")
    try:
        array = np.array(document[key], dtype=np.float64)
    except (ValueError, TypeError):
        raise ApiError(422, f'"{key}" must be a (nested) list of numbers with equal lengths at each level, '
                            f"as one sample of shape {tuple(model.input_shape)} or a list of them") from None
    if not np.isfinite(array).all():
        raise ApiError(422, f'"{key}" holds NaN or infinite values: send finite numbers')
    return as_samples(array, model.input_shape, f'"{key}"')


def as_samples(array: np.ndarray, input_shape: tuple[int, ...], source: str) -> np.ndarray:
    """An array as (N, *input_shape): one sample (of the model's shape, or flat) or a batch of them.

    The rule ``read_npy`` applies to a .npy file: an array holding exactly one sample's values, and not
    already a batch of samples of that size, is one sample; otherwise the first axis counts the samples.
    """
    size = math.prod(input_shape)
    if array.size == size and (array.ndim < 2 or math.prod(array.shape[1:]) != size):
        array = array.reshape(1, *input_shape)
    elif array.ndim < 2:
        raise ApiError(422, f"{source}: expected one sample of shape {tuple(input_shape)} ({size} values) or a "
                            f"list of them, got an array of shape {array.shape}")
    try:
        return fit_to_model(array, input_shape, source)
    except CommandError as error:
        raise ApiError(422, str(error)) from None


def from_file(data: bytes, name: str, suffix: str, model, invert: str) -> np.ndarray:
    """A .npy or an image upload as samples, read from a temporary file by the command line's readers."""
    with tempfile.TemporaryDirectory(prefix="scratchnn-serve-") as folder:
        path = os.path.join(folder, f"upload{suffix}")
        with open(path, "wb") as stream:
            stream.write(data)
        try:
            if suffix == ".npy":
                return fit_to_model(read_npy(path, model.input_shape), model.input_shape, name)
            return read_image(path, model.input_shape, invert)[None]
        except CommandError as error:
            raise ApiError(422, str(error).replace(path, name)) from None
        except ImportError as error:                  # no Pillow: the server lacks the image extra
            raise ApiError(415, f"this server cannot read images: {error}") from None
        except (ValueError, OSError, EOFError) as error:       # a reader that let a malformed file through
            raise ApiError(422, f"{name}: cannot read it ({str(error).replace(path, name)})") from None


def from_form(form: dict, model, invert: str) -> np.ndarray:
    """The first file of a multipart form: a .npy (by name or content type) or an image."""
    for name, part in form.items():
        if isinstance(part, Part):
            filename = part.filename or name
            suffix = Path(filename).suffix.lower()
            kind = media_type(part.content_type)
            if suffix == ".npy" or kind in NPY_TYPES[:2]:
                return from_file(part.data, filename, ".npy", model, invert)
            if suffix in IMAGE_SUFFIXES or kind.startswith("image/"):
                return from_file(part.data, filename, suffix if suffix in IMAGE_SUFFIXES else ".png", model, invert)
            raise ApiError(415, f"{filename}: unknown upload kind (content type {kind or 'none'!r}): upload a "
                                f".npy or an image ({', '.join(IMAGE_SUFFIXES)})")
    raise ApiError(422, "the multipart form holds no file: upload one field with a .npy or an image")


def check_samples(x: np.ndarray, model) -> np.ndarray:
    """Samples in the model's dtype; NaN, infinity and empty batches refused (predict would raise)."""
    if len(x) == 0:
        raise ApiError(422, "no samples in the request: send at least one")
    if x.dtype.kind not in "iuf":
        raise ApiError(422, f"expected numbers, got an array of dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = int((~np.isfinite(x.reshape(len(x), -1))).any(axis=1).argmax())
        raise ApiError(422, f"sample {bad} holds NaN or infinite values: send finite numbers")
    return x.astype(model.dtype, copy=False)


def query_int(params, name: str, default: int | None, low: int = 0, high: int | None = None) -> int | None:
    """An integer query parameter in [low, high], or the default when it is absent."""
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(422, f"{name} must be an integer, got {text!r}") from None
    if value < low or (high is not None and value > high):
        span = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ApiError(422, f"{name} must be in {span}, got {value}")
    return value


def query_float(params, name: str, default: float, low: float, high: float) -> float:
    """A finite number query parameter in [low, high], or the default when it is absent."""
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise ApiError(422, f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ApiError(422, f"{name} must be a number in [{low:g}, {high:g}], got {text!r}")
    return value


def query_choice(params, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = params.get(name) or default
    if value not in choices:
        raise ApiError(422, f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
