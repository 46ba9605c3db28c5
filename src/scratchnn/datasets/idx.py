"""The IDX file format of MNIST and Fashion-MNIST: a strict reader and a writer, raw or gzip.

Layout (all integers big-endian): two zero bytes, one dtype code, one byte with the number of
dimensions d, then d uint32 sizes, then the values in C order. Every field is checked on reading.
"""
import gzip
import os

import numpy as np

DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a valid gzip file ({error})") from None


def read_idx(path):
    """The array stored in an IDX file (raw or .gz), in native byte order.

    Raises ValueError naming the file when the magic number, the dtype code, the dimensions or the
    file length are wrong.
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX header (expected at least 4 bytes, got {len(data)})")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: bad magic number 0x{data[:4].hex()}: an IDX file starts with two zero "
                         "bytes (0x0000, then the dtype code and the number of dimensions)")
    code, ndim = data[2], data[3]
    if code not in DTYPES:
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02X}; expected one of "
                         f"{', '.join(f'0x{c:02X}' for c in DTYPES)}")
    if ndim == 0:
        raise ValueError(f"{path}: the header declares 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated header: {ndim} dimensions need {header} bytes, the file has {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * DTYPES[code].itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else f"{len(data) - expected} extra bytes at the end"
        raise ValueError(f"{path}: {problem}: a {DTYPES[code].newbyteorder('=').name} array of shape {shape} "
                         f"needs {expected} bytes, the file has {len(data)}")
    values = np.frombuffer(data, dtype=DTYPES[code], offset=header).reshape(shape)
    return values.astype(DTYPES[code].newbyteorder("="))


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
