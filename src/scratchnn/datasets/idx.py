"""The IDX file format of MNIST and Fashion-MNIST: a strict reader and a writer, raw or gzip.

Layout (all integers big-endian): two zero bytes, one dtype code, one byte with the number of
dimensions d, then d uint32 sizes, then the values in C order. Every field is checked on reading.
"""
import gzip
import math
import os
import zlib

import numpy as np

from ..saving.files import open_regular

DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"
MAX_BYTES = 2 ** 30              # the most read_idx unpacks by default (MNIST's largest file: 47 MB)
_COUNT_EXTRA = 2 ** 16           # bytes past the end read to say how many there are
_CHUNK = 2 ** 22                 # a compressed file is unpacked 4 MB at a time


def read_idx(path, max_bytes=MAX_BYTES):
    """The array stored in an IDX file (raw or .gz), in native byte order.

    Raises ValueError naming the file when it is not a regular file, when the magic number, the dtype
    code, the dimensions or the file length are wrong, when the gzip stream is corrupt, or when the
    header declares more than ``max_bytes`` of values (default 1 GiB). The header is checked before
    the values are read, and a .gz file is decompressed only up to the size its header declares, so a
    file never costs more memory than the array it declares (at most ``max_bytes``).
    """
    path = os.fspath(path)
    with open_regular(path, "an IDX file") as raw:
        try:
            if raw.read(2) != GZIP_MAGIC:
                raw.seek(0)
                return _read(path, raw, max_bytes, os.fstat(raw.fileno()).st_size)
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) as stream:
                return _read(path, stream, max_bytes, None)
        except (OSError, EOFError, zlib.error) as error:
            if isinstance(error, (FileNotFoundError, PermissionError)):
                raise
            raise ValueError(f"{path}: not a valid gzip file ({type(error).__name__}: {error})") from None


def _read_exactly(stream, count, known_size):
    """Up to ``count`` bytes (fewer only at the end of the stream). A raw file whose size was checked is
    read into one buffer allocated once; a compressed stream in chunks, so that the buffer grows only
    with the data that is really there (a header may declare more)."""
    if known_size:
        buffer = bytearray(count)
        view, done = memoryview(buffer), 0
        while done < count:
            got = stream.readinto(view[done:])
            if not got:
                break
            done += got
        del view
        return buffer if done == count else buffer[:done]
    buffer = bytearray()
    while len(buffer) < count:
        chunk = stream.read(min(count - len(buffer), _CHUNK))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _read(path, stream, max_bytes, file_size):
    head = stream.read(4)
    if len(head) < 4:
        raise ValueError(f"{path}: too short for an IDX header (expected at least 4 bytes, got {len(head)})")
    if head[0] != 0 or head[1] != 0:
        raise ValueError(f"{path}: bad magic number 0x{head[:4].hex()}: an IDX file starts with two zero "
                         "bytes (0x0000, then the dtype code and the number of dimensions)")
    code, ndim = head[2], head[3]
    if code not in DTYPES:
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02X}; expected one of "
                         f"{', '.join(f'0x{c:02X}' for c in DTYPES)}")
    if ndim == 0:
        raise ValueError(f"{path}: the header declares 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    sizes = stream.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise ValueError(f"{path}: truncated header: {ndim} dimensions need {header} bytes, the file has "
                         f"{4 + len(sizes)}")
    shape = tuple(int(d) for d in np.frombuffer(sizes, dtype=">u4"))
    dtype = DTYPES[code]
    nbytes = math.prod(shape) * dtype.itemsize
    native = dtype.newbyteorder("=")
    if nbytes > max_bytes:
        raise ValueError(f"{path}: the header declares a {native.name} array of shape {shape} ({nbytes:,} bytes), "
                         f"more than the {max_bytes:,} bytes read_idx reads (max_bytes=)")
    if math.prod(d for d in shape if d) * dtype.itemsize >= 2 ** 63:     # NumPy cannot even describe the shape
        raise ValueError(f"{path}: the header declares the shape {shape}, too large for any array")
    expected = header + nbytes
    if file_size is not None and file_size != expected:         # a raw file: its size says it all
        _size_error(path, shape, native, expected, file_size)
    data = _read_exactly(stream, nbytes, known_size=file_size is not None)
    if len(data) < nbytes:
        _size_error(path, shape, native, expected, header + len(data))
    extra = len(stream.read(_COUNT_EXTRA))
    if extra:
        _size_error(path, shape, native, expected, expected + extra, more=extra == _COUNT_EXTRA)
    values = np.frombuffer(data, dtype=dtype).reshape(shape)
    if dtype.itemsize > 1 and dtype != native:
        values = values.byteswap(inplace=True).view(native)             # in place: no second copy
    return values.view(native)


def _size_error(path, shape, native, expected, found, more=False):
    problem = "truncated" if found < expected else \
        f"{'at least ' if more else ''}{found - expected} extra bytes at the end"
    raise ValueError(f"{path}: {problem}: a {native.name} array of shape {shape} needs {expected} bytes, "
                     f"the file has {'at least ' if more else ''}{found}")


def write_idx(path, array):
    """Write an array as an IDX file; gzip-compressed when path ends with ``.gz``."""
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("=")
    if dtype not in CODES:
        raise TypeError(f"write_idx: IDX stores uint8, int8, int16, int32, float32 or float64, got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: expected an array with 1 to 255 dimensions, got {array.ndim}")
    code = CODES[dtype]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
