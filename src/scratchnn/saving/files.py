"""The one atomic writer: every file scratchnn writes (models, ONNX, CSV logs, plots, digits) goes through it."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", **open_args) -> Iterator[IO]:
    """A temporary file next to ``path``, moved over it with ``os.replace`` once fully written.

    A crash (or kill -9) while writing leaves either the old complete file or the new complete file,
    never a part of one. ``mode`` is ``"wb"`` (bytes) or ``"w"`` (text; ``open_args`` such as
    ``newline=""`` or ``encoding=`` go to ``open``). The file gets the permissions a plain ``open``
    would give it (0666 less the umask).

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_file(target, "w") as stream:
    ...     _ = stream.write("done")
    >>> target.read_text()
    'done'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file: mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, mode, **open_args) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
