"""The inputs of predict and explain: .npy arrays, CSV feature rows and images, shaped for the model."""
from __future__ import annotations

import csv
import math
import os
import tokenize
import warnings
from pathlib import Path

import numpy as np

from .._optional import require
from ..saving.files import open_regular
from .common import CommandError
from .data import fit_to_model, read_numeric_csv, scale_pixels

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_IMAGE_PIXELS = 2 ** 25        # 33.5 million pixels (e.g. 8192 x 4096); a larger image is refused unread
READ_ERRORS = (ValueError, TypeError, OSError, EOFError, SyntaxError, OverflowError, MemoryError, csv.Error,
               UnicodeDecodeError, RecursionError, tokenize.TokenError)
INVERT_HELP = ("MNIST draws bright ink on a dark ground: auto inverts an image whose border is on average "
               "lighter than mid-grey (dark ink on light paper); yes / no force it (default: auto)")


def read_inputs(paths: list[str], model, invert: str) -> tuple[list[str], np.ndarray, list]:
    """Samples from .npy files, CSV feature rows and images, shaped for the model, with a name each, and
    for each the (H, W[, C]) shape to draw it as a picture in (None for rows of features)."""
    names, blocks, pictures = [], [], []
    for path in paths:
        if not os.path.exists(path):
            raise CommandError(f"{path}: no such file")
        suffix = Path(path).suffix.lower()
        readers = {".npy": lambda: read_npy(path, model.input_shape), ".csv": lambda: read_feature_rows(path,
                   model.input_shape), **dict.fromkeys(IMAGE_SUFFIXES, lambda: read_image(path, model.input_shape,
                                                                                           invert)[None])}
        readers[".txt"] = readers[".csv"]
        if suffix not in readers:
            raise CommandError(f"{path}: unknown input kind {suffix!r}: expected .npy, .csv or an image "
                               f"({', '.join(IMAGE_SUFFIXES)})")
        block = read_checked(path, readers[suffix])
        check_values(block, model.dtype, path)
        blocks.append(fit_to_model(block, model.input_shape, path))
        names += [path] if len(block) == 1 else [f"{path}[{i}]" for i in range(len(block))]
        pictures += [picture_shape(block, suffix, model.input_shape)] * len(block)
    return names, np.concatenate(blocks).astype(model.dtype, copy=False), pictures


def check_values(block: np.ndarray, dtype, path: str) -> None:
    """Every value finite and within the model's float type (NaN, inf or 1e39 for float32 are refused)."""
    if block.dtype.kind != "f" or not block.size:
        return
    finite = np.isfinite(block)
    if not finite.all():
        raise CommandError(f"{path}: {int(block.size - finite.sum())} of its {block.size} values are NaN or infinite")
    largest = float(np.abs(block).max())
    if largest > float(np.finfo(dtype).max):
        raise CommandError(f"{path}: holds {largest:g}, beyond the model's {np.dtype(dtype).name} range")


def read_checked(path: str, reader):
    """reader() for a regular file; whatever a malformed file makes it raise becomes a CommandError naming it."""
    try:
        open_regular(path, "an input file").close()
        return reader()
    except CommandError:
        raise
    except READ_ERRORS as error:
        if isinstance(error, (FileNotFoundError, PermissionError)):
            raise CommandError(f"{path}: {error.strerror or error}") from None
        message = str(error) if str(error).startswith(path) else f"{path}: cannot read it ({error})"
        raise CommandError(" ".join(message.split())[:400]) from None


def picture_shape(block: np.ndarray, suffix: str, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """Images, arrays of 2-D or 3-D samples and the inputs of image models are pictures; rows are not."""
    if suffix in IMAGE_SUFFIXES:
        return image_size(input_shape)
    if block.ndim in (3, 4):
        return block.shape[1:]
    return tuple(input_shape) if len(input_shape) in (2, 3) else None


def read_feature_rows(path: str, input_shape: tuple[int, ...]) -> np.ndarray:
    """The rows of a CSV as samples; one column more than the model takes is named as a likely label."""
    rows = read_numeric_csv(path)
    if len(input_shape) == 1 and rows.shape[1] == input_shape[0] + 1:
        raise CommandError(f"{path}: rows of {rows.shape[1]} values, the model takes {input_shape[0]} features: "
                           "drop the label column (predict reads feature columns only)")
    return rows


def read_npy(path: str, input_shape: tuple[int, ...]) -> np.ndarray:
    """An array of samples (or one sample); uint8 pixels are scaled to [0, 1] as in training."""
    try:                                # mapped first: a header declaring more than the file holds fails here
        array = np.array(np.load(path, mmap_mode="r", allow_pickle=False))
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, OverflowError, tokenize.TokenError) as error:
        raise CommandError(f"{path}: not a readable .npy array ({type(error).__name__}: {error})") from None
    if array.dtype.kind not in "biuf":
        raise CommandError(f"{path}: expected a numeric array, got dtype {array.dtype}")
    size = math.prod(input_shape)
    if array.size == size and (array.ndim < 2 or math.prod(array.shape[1:]) != size):
        array = array.reshape(1, *input_shape)
    elif array.ndim < 2:
        raise CommandError(f"{path}: expected samples of shape {tuple(input_shape)} for the model, got an array "
                           f"of shape {array.shape}")
    return scale_pixels(array)


def image_size(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """(height, width, channels) an image must have for a model taking input_shape."""
    if len(input_shape) == 3 and input_shape[-1] in (1, 3):
        return input_shape
    if len(input_shape) == 2:
        return (*input_shape, 1)
    side = math.isqrt(input_shape[0]) if len(input_shape) == 1 else 0
    if side * side != math.prod(input_shape) or side == 0:
        raise CommandError(f"the model takes input of shape {tuple(input_shape)}, which is not an image")
    return side, side, 1


def read_image(path: str | os.PathLike, input_shape: tuple[int, ...], invert: str = "auto") -> np.ndarray:
    """An image as the model's input: grayscale (or RGB), resized, ink bright on a dark ground, in [0, 1].

    MNIST draws bright ink on a dark ground. With invert="auto" the image is inverted when its border
    (the outermost row and column of pixels on each side) is on average lighter than mid-grey, i.e.
    when it looks like dark ink on light paper. Transparent pixels count as white paper.
    """
    try:
        Image = require("PIL.Image", "reading images")
    except ImportError as error:
        raise CommandError(str(error)) from None
    height, width, channels = image_size(input_shape)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)      # the cap below is lower
            with Image.open(path) as opened:
                if opened.width * opened.height > MAX_IMAGE_PIXELS:
                    raise CommandError(f"{path}: the image has {opened.width} x {opened.height} pixels, more than "
                                       f"the {MAX_IMAGE_PIXELS:,} read (shrink it first)")
                image = as_rgba(opened)
    except (Image.UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as error:
        raise CommandError(f"{path}: cannot read the image ({error})") from None
    paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
    image = Image.alpha_composite(paper, image).convert("L" if channels == 1 else "RGB")
    pixels = np.asarray(image, dtype=np.float32)
    if invert == "yes" or (invert == "auto" and border_mean(pixels) > 127.5):
        image = Image.fromarray((255 - pixels).astype(np.uint8))
    resized = np.asarray(image.resize((width, height), Image.Resampling.LANCZOS), dtype=np.float32) / 255
    return resized.reshape(input_shape)


def as_rgba(image):
    """The image in 8-bit RGBA; 16-bit and 32-bit grayscale (PNG's I;16, TIFF's I and F) scaled, not clipped.

    Pillow's convert() clips those modes at 255 (a 16-bit mid-grey would become white), so they are
    scaled here: 16-bit values by 255 / 65535, 32-bit integers the same when they exceed 255, floats in
    [0, 1] by 255.
    """
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = float(values.max()) if values.size else 0.0
        if image.mode.startswith("I;16") or (image.mode == "I" and top > 255):
            values = values * (255 / 65535)
        elif image.mode == "F" and top <= 1:
            values = values * 255
        image = _image_module().fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8))
    return image.convert("RGBA")


def _image_module():
    return require("PIL.Image", "reading images")


def border_mean(pixels: np.ndarray) -> float:
    edges = (pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1])
    return float(np.mean(np.concatenate([edge.reshape(-1) for edge in edges])))
