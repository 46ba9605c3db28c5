"""The container of model and weights files: a zip of config.json and .npy members, read defensively.

Members are stored uncompressed. On reading, config.json may hold at most ``MAX_CONFIG_BYTES``, and each
array member exactly the bytes its expected shape and dtype imply (plus a header of at most
``MAX_NPY_HEADER_BYTES``), never more, so a crafted file cannot exhaust memory; arrays of Python objects
are refused, so nothing is ever unpickled. What the members mean is model_file.py's business.
"""
from __future__ import annotations

import contextlib
import json
import lzma
import os
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from typing import IO, Any, Union

import numpy as np

from .files import atomic_file, open_regular

PathOrStream = Union[str, os.PathLike, IO[bytes]]

CONFIG_MEMBER = "config.json"
MAX_CONFIG_BYTES = 16 * 2 ** 20
MAX_NPY_HEADER_BYTES = 2 ** 16
_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}
ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError, RuntimeError,
                  ValueError, KeyError, RecursionError, OSError, OverflowError)
# what reading a crafted file can raise anywhere in a loader: each becomes a ModelFileError naming the file
READ_ERRORS = (*ARCHIVE_ERRORS, TypeError, IndexError, AttributeError, MemoryError, ArithmeticError, AssertionError)


class ModelFileError(ValueError):
    """A model or weights file that cannot be read: the message names the file and the problem."""


# ---- writing -------------------------------------------------------------------------------------
def write_archive(path: PathOrStream, config: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """config.json then every array as an uncompressed .npy member (zip64 for members over 1 GiB).

    An array holding NaN or inf is refused (ValueError naming it): a model file never holds a diverged model.
    """
    for member, array in arrays.items():
        array = np.asarray(array)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int(array.size - np.isfinite(array).sum())
            raise ValueError(f"refusing to write {member[:-4]}: {bad} of its {array.size} values are NaN or "
                             "infinite (training diverged?); nothing was written")
    text = json.dumps(config, indent=1, allow_nan=False)
    with _output(path) as stream, zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(CONFIG_MEMBER, text)
        for member, array in arrays.items():
            with archive.open(member, "w", force_zip64=array.nbytes > 2 ** 30) as out:
                np.lib.format.write_array(out, np.asarray(array), allow_pickle=False)


@contextlib.contextmanager
def _output(path: PathOrStream) -> Iterator[IO[bytes]]:
    """A stream given by the caller as it is (the caller owns it); a file name through the atomic writer."""
    if hasattr(path, "write"):
        yield path
        return
    with atomic_file(path) as stream:
        yield stream


# ---- reading -------------------------------------------------------------------------------------
@contextlib.contextmanager
def problems(path, what, errors=(ValueError, TypeError, KeyError, IndexError, AttributeError)):
    """Turn an error raised while reading into a ModelFileError that names the file."""
    try:
        yield
    except ModelFileError:
        raise
    except errors as exc:
        raise ModelFileError(f"{path}: {what}: {exc}") from None


@contextlib.contextmanager
def reading(path, what="cannot be read"):
    """Around a whole loader: any error a crafted file provokes becomes a ModelFileError naming the file
    (a missing or unreadable file keeps its OSError, which names it)."""
    try:
        yield
    except (ModelFileError, FileNotFoundError, PermissionError):
        raise
    except READ_ERRORS as exc:
        raise ModelFileError(f"{path}: {what}: {type(exc).__name__}: {exc}") from None


@contextlib.contextmanager
def open_archive(path) -> Iterator[zipfile.ZipFile]:
    """The zip archive at ``path`` (a regular file only: a device or a FIFO is refused unread), or in a
    seekable binary stream the caller owns."""
    if hasattr(path, "read"):
        size = path.seek(0, os.SEEK_END)
        path.seek(0)
        stream = contextlib.nullcontext(path)
    else:
        try:
            stream = open_regular(path, "a model file")
        except ValueError as exc:
            raise ModelFileError(str(exc)) from None
        size = os.fstat(stream.fileno()).st_size
    with stream as stream:
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, EOFError, ValueError, OSError, NotImplementedError, OverflowError) as exc:
            raise ModelFileError(f"{path}: not a scratchnn model file (not a complete zip archive: {exc}); "
                                 "the file may be truncated or of another kind") from None
        archive.file_size = size
        with archive:
            yield archive


def read_config_json(archive, path):
    """The parsed config.json (any JSON value: the caller checks what it holds)."""
    with problems(path, f"cannot read {CONFIG_MEMBER}", ARCHIVE_ERRORS):
        try:
            info = archive.getinfo(CONFIG_MEMBER)
        except KeyError:
            raise ModelFileError(f"{path}: not a scratchnn model file (no {CONFIG_MEMBER} inside)") from None
        with archive.open(info) as stream:
            text = stream.read(MAX_CONFIG_BYTES + 1)
        if len(text) > MAX_CONFIG_BYTES:
            raise ModelFileError(f"{path}: {CONFIG_MEMBER} is larger than {MAX_CONFIG_BYTES} bytes")
        return json.loads(text)


def read_array(archive, member, shape, dtype, path):
    """One .npy member, accepted only with exactly the expected shape and dtype; never unpickled."""
    shape, dtype = tuple(shape), np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    with problems(path, f"member {member!r} is not a valid array", ARCHIVE_ERRORS):
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise ModelFileError(f"{path}: member {member!r} is missing") from None
        if info.file_size > nbytes + MAX_NPY_HEADER_BYTES:
            raise ModelFileError(f"{path}: member {member!r} declares {info.file_size} bytes, more than the "
                                 f"{nbytes} bytes of its shape {shape} {dtype.name} plus a header: refused")
        with archive.open(info) as stream:
            header_reader = _NPY_HEADER_READERS.get(np.lib.format.read_magic(stream))
            if header_reader is None:
                raise ModelFileError(f"{path}: member {member!r} uses an unsupported .npy version")
            shape_in_file, fortran_order, dtype_in_file = header_reader(stream)
            if dtype_in_file.hasobject:
                raise ModelFileError(f"{path}: member {member!r} holds Python objects ({dtype_in_file}); "
                                     "refused, since reading them would need pickle")
            if (tuple(shape_in_file), dtype_in_file) != (shape, dtype):
                raise ModelFileError(f"{path}: member {member!r} holds an array of shape {tuple(shape_in_file)} "
                                     f"{dtype_in_file}, the model expects shape {shape} {dtype.name}")
            data = stream.read(nbytes + 1)
    if len(data) != nbytes:
        raise ModelFileError(f"{path}: member {member!r} holds {len(data)}{'+' if len(data) > nbytes else ''} "
                             f"bytes of data, its shape {shape} {dtype.name} needs {nbytes}: refused")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return np.ascontiguousarray(array).copy()
