"""The inputs of predict and explain: .npy arrays, CSV feature rows and images, shaped for the model.

Values reach the model as given: a .npy as stored, CSV numbers as written, an image as pixels 0..255 (an
image is framed as MNIST's digits were, for a grayscale model). The scaling belongs to the model: those of
``scratchnn train`` begin with ``Rescaling(1 / 255)`` or a ``Normalization``. ``check_scale`` warns (one line)
when the values look scaled for another model.
"""
from __future__ import annotations

import csv
import math
import os
import sys
import tokenize
import warnings
from pathlib import Path

import numpy as np

from .._optional import require
from ..saving.files import open_regular
from .common import CommandError
from .data import fit_to_model, numeric_table, read_rows

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_IMAGE_PIXELS = 2 ** 25        # 33.5 million pixels (e.g. 8192 x 4096); a larger image is refused unread
READ_ERRORS = (ValueError, TypeError, OSError, EOFError, SyntaxError, OverflowError, MemoryError, csv.Error,
               UnicodeDecodeError, RecursionError, tokenize.TokenError)
INVERT_HELP = ("MNIST draws bright ink on a dark ground: auto inverts an image whose border is on average "
               "lighter than mid-grey (dark ink on light paper); yes / no force it (default: auto)")
PREPROCESSING_LAYERS = ("Rescaling", "Normalization")
BOX, FIELD = 20, 28              # MNIST: the digit fitted in a 20x20 box, centred by its mass in 28x28
INK_LEVEL = 0.2                  # the ink's bounding box: pixels above this fraction of the brightest


def read_inputs(paths: list[str], model, invert: str, notes: list | None = None,
                delimiter: str | None = None) -> tuple[list[str], np.ndarray, list]:
    """Samples from .npy files, CSV feature rows and images, shaped for the model, with a name each, and
    for each the (H, W[, C]) shape to draw it as a picture in (None for rows of features).

    ``notes``, when a list, receives one line per image saying how it was framed; a block of values that
    looks scaled for another model gets a warning on stderr (``check_scale``). A CSV's cells are split at
    ``delimiter``, by default the one the model was trained with (its model file's metadata), else a comma."""
    names, blocks, pictures = [], [], []
    metadata = getattr(model, "metadata", None) or {}
    framing, feature_names = {}, metadata.get("feature_names")
    delimiter = delimiter or metadata.get("delimiter", ",")
    for path in paths:
        if not os.path.exists(path):
            raise CommandError(f"{path}: no such file")
        suffix = Path(path).suffix.lower()

        def image():
            pixels, framing[path] = prepare_image(path, model.input_shape, invert)
            return pixels[None]

        readers = {".npy": lambda: read_npy(path, model.input_shape),
                   ".csv": lambda: read_feature_rows(path, model.input_shape, feature_names, delimiter),
                   **dict.fromkeys(IMAGE_SUFFIXES, image)}
        readers[".txt"] = readers[".csv"]
        if suffix not in readers:
            raise CommandError(f"{path}: unknown input kind {suffix!r}: expected .npy, .csv or an image "
                               f"({', '.join(IMAGE_SUFFIXES)})")
        block = read_checked(path, readers[suffix])
        if not len(block):
            raise CommandError(f"{path}: holds no samples")
        check_values(block, model.dtype, path)
        blocks.append(fit_to_model(block, model.input_shape, path))
        names += [path] if len(block) == 1 else [f"{path}[{i}]" for i in range(len(block))]
        picture = picture_shape(block, suffix, model.input_shape)
        pictures += [picture] * len(block)
        check_scale(block, model, path, picture is not None)
        if notes is not None and path in framing:
            notes.append(f"{path}: {framing[path]}")
    return names, np.concatenate(blocks).astype(model.dtype, copy=False), pictures


def expected_range(model) -> str | None:
    """What a model's inputs should look like: "0..255" when its first layer rescales pixels (Rescaling
    by 1/255, or by 2/255 to [-1, 1]); "[0, 1]" when it has no preprocessing layer (for images: how models
    without one are trained); None after any other preprocessing (a Normalization takes any values)."""
    first = next((layer for layer in getattr(model, "layers", ()) if type(layer).__name__ != "InputLayer"), None)
    kind = type(first).__name__
    if kind == "Rescaling":
        scale = np.abs(np.asarray(first.scale, dtype=float)) * 255
        return "0..255" if bool(np.all((scale > 0.99) & (scale < 2.01))) else None
    return None if kind in PREPROCESSING_LAYERS else "[0, 1]"


def check_scale(x: np.ndarray, model, source: str, pictures: bool) -> str | None:
    """Warn (one line on stderr, also returned) when values look scaled for another model:

    - the model rescales pixels 0..255 itself and every value lies in [0, 1] (already divided by 255);
    - the model has no preprocessing layer, the inputs are images, and values exceed 1 (pixels 0..255 for
      a model trained, as such models are, on [0, 1]).
    """
    if not x.size or x.dtype.kind not in "biuf":
        return None
    expected, low, high = expected_range(model), float(x.min()), float(x.max())
    if expected == "0..255" and 0 <= low and 0 < high <= 1:
        message = (f"{source}: every value lies in [0, 1], but the model rescales pixels 0..255 itself (its "
                   "first layer is a Rescaling): pass the raw pixel values")
    elif expected == "[0, 1]" and pictures and (high > 1 or low < 0):
        message = (f"{source}: values reach {high:g}, but the model has no preprocessing layer: a model trained "
                   "on pixels in [0, 1] (by most scripts, or by an earlier scratchnn train) needs them divided by 255 "
                   "(or a Rescaling(1/255) first layer)")
    else:
        return None
    print(f"warning: {message}", file=sys.stderr)
    return message


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


def read_feature_rows(path: str, input_shape: tuple[int, ...], feature_names: list[str] | None = None,
                      delimiter: str = ",") -> np.ndarray:
    """The rows of a CSV as samples. A header naming every feature the model was trained on (its model
    file's ``feature_names``) selects those columns, in that order (the label column and others are left
    out); else one column more than the model takes is named as a likely label."""
    header, rows = read_rows(path, delimiter)
    if header is not None and feature_names and set(feature_names) <= set(header):
        rows = [[row[header.index(name)] for name in feature_names] for row in rows]
    rows = numeric_table(rows, path)
    if len(input_shape) == 1 and rows.shape[1] == input_shape[0] + 1:
        raise CommandError(f"{path}: rows of {rows.shape[1]} values, the model takes {input_shape[0]} features: "
                           "drop the label column (predict reads feature columns only)")
    return rows


def read_npy(path: str, input_shape: tuple[int, ...]) -> np.ndarray:
    """An array of samples (or one sample), its values as stored (cast to the model's float type later)."""
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
    return array


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
    """An image as the model's input, pixels 0..255 float32 (see ``prepare_image``)."""
    return prepare_image(path, input_shape, invert)[0]


def prepare_image(path: str | os.PathLike, input_shape: tuple[int, ...],
                  invert: str = "auto") -> tuple[np.ndarray, str]:
    """An image as the model's input, pixels 0..255 float32, and a line saying what was done to it.

    Grayscale (or RGB for a model taking 3 channels), transparent pixels counted as white paper. MNIST
    draws bright ink on a dark ground: with invert="auto" the image is inverted when its border (the
    outermost row and column on each side) is on average lighter than mid-grey, i.e. dark ink on light
    paper. A grayscale image of another size than the model's is then framed as MNIST's digits were
    (``frame_digit``); one of the model's size is fed as it is; an RGB image is resized.
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
    pixels = np.asarray(Image.alpha_composite(paper, image).convert("L" if channels == 1 else "RGB"),
                        dtype=np.float32)
    done = []
    if invert == "yes" or (invert == "auto" and border_mean(pixels) > 127.5):
        pixels = 255 - pixels
        done.append("inverted (--invert yes)" if invert == "yes" else "inverted (dark ink on light paper)")
    size = f"{pixels.shape[1]}x{pixels.shape[0]}"
    if pixels.shape[:2] == (height, width):
        done.append(f"{size}, fed as it is")
    elif channels == 1:
        pixels, framing = frame_digit(pixels, height, width)
        done.append(framing)
    else:
        pixels = np.asarray(Image.fromarray(pixels.astype(np.uint8)).resize((width, height), Image.Resampling.LANCZOS),
                            dtype=np.float32)
        done.append(f"resized {size} -> {width}x{height}")
    return pixels.reshape(input_shape), ", ".join(done)


def frame_digit(ink: np.ndarray, height: int = FIELD, width: int = FIELD) -> tuple[np.ndarray, str]:
    """Bright ink on a dark ground (H, W) as MNIST framed its digits, and a line saying what was done.

    LeCun, Cortes and Burges: each digit was "size normalized to fit in a 20x20 pixel box while preserving
    its aspect ratio", then "centered in a 28x28 image by computing the center of mass of the pixels".
    Here: the ground's level (the border's median) is taken off; the image is cropped to the ink's bounding
    box (pixels brighter than a fifth of the brightest), its brightest ink raised to 255, its longer side
    scaled to 20 pixels (Lanczos when shrinking, bilinear when enlarging), and it is placed so its centre
    of mass falls on the field's centre (moved no further than keeps it whole). A model taking another
    size gets the same proportions (20/28).
    """
    resampling = _image_module().Resampling
    edges = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    ink = np.clip(ink - float(np.median(edges)), 0, None)
    brightest = float(ink.max())
    if brightest < 8:                                         # a blank page: nothing to crop to
        small = _image_module().fromarray(ink, "F").resize((width, height), resampling.LANCZOS)
        return (np.clip(np.asarray(small), 0, 255).astype(np.float32),
                f"no ink found, resized {ink.shape[1]}x{ink.shape[0]} -> {width}x{height}")
    rows = np.flatnonzero((ink > INK_LEVEL * brightest).any(axis=1))
    cols = np.flatnonzero((ink > INK_LEVEL * brightest).any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] * np.float32(255 / brightest)
    box_h, box_w = max(1, round(height * BOX / FIELD)), max(1, round(width * BOX / FIELD))
    factor = min(box_h / crop.shape[0], box_w / crop.shape[1])
    new_w, new_h = max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor))
    resample = resampling.LANCZOS if factor < 1 else resampling.BILINEAR      # Lanczos rings when enlarging
    small = np.clip(np.asarray(_image_module().fromarray(crop, "F").resize((new_w, new_h), resample)), 0, 255)
    mass = float(small.sum()) or 1.0
    centre_y = float(small.sum(axis=1) @ np.arange(new_h)) / mass
    centre_x = float(small.sum(axis=0) @ np.arange(new_w)) / mass
    top = min(max(round((height - 1) / 2 - centre_y), 0), height - new_h)
    left = min(max(round((width - 1) / 2 - centre_x), 0), width - new_w)
    frame = np.zeros((height, width), dtype=np.float32)
    frame[top:top + new_h, left:left + new_w] = small
    return frame, (f"cropped {ink.shape[1]}x{ink.shape[0]} -> {crop.shape[1]}x{crop.shape[0]} (the ink), scaled to "
                   f"{new_w}x{new_h}, centred by its centre of mass in {width}x{height}")


def write_pictures(path: str, x: np.ndarray, pictures: list, names: list[str]) -> list[str]:
    """Each picture sample of x as a grayscale (or RGB) PNG: ``path`` for one, ``STEM-I.png`` for several
    (I its position among the inputs); values above 1 are pixels 0..255, others [0, 1]. The paths written."""
    from ..saving.files import atomic_file
    Image = _image_module()
    chosen = [i for i, shape in enumerate(pictures) if shape is not None]
    if not chosen:
        raise CommandError(f"--show-input {path}: none of the inputs is a picture (rows of features are not)")
    stem, suffix = os.path.splitext(path)
    written = []
    for i in chosen:
        values = x[i].reshape(pictures[i]).astype(np.float64)
        values = values if values.max(initial=0) > 1 else values * 255
        values = np.clip(np.round(values), 0, 255).astype(np.uint8)
        values = values[..., 0] if values.ndim == 3 and values.shape[-1] == 1 else values
        target = path if len(chosen) == 1 else f"{stem}-{i}{suffix}"
        with atomic_file(target, "wb") as stream:
            Image.fromarray(values).save(stream, format="PNG")
        written.append(target)
    return written


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
