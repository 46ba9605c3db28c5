"""Files: the one atomic writer (every file scratchnn writes goes through it) and the one guarded opener.

Writing: ``atomic_file`` writes one temporary next to the target, named ``.<name>.<pid>-<random>.tmp``,
and moves it over the target with ``os.replace``; a temporary left by a process that was killed (kill -9,
a power cut) is removed by the next write to the same target, once its process no longer runs.

Reading: ``open_regular`` opens a regular file only: a device (``/dev/zero``), a FIFO or a folder is
refused with a ValueError naming the path, without blocking and without reading a byte of it.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp")
_live_lock = threading.Lock()
_live: set[str] = set()                       # this process's temporaries being written right now


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:                           # EPERM: it runs, as another user
        return False
    return False


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove the temporaries of earlier writes to ``path`` whose writer is gone; returns their paths.

    Only names of atomic_file's own pattern for this very target are touched; a temporary of a write
    still running (in this process or another) is left alone.
    """
    path = os.fspath(path)
    folder, name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry)
        if match is None or match["name"] != name:
            continue
        candidate = os.path.join(folder, entry)
        pid = int(match["pid"])
        with _live_lock:
            running_here = candidate in _live
        if running_here or (pid != os.getpid() and not _process_is_gone(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(candidate)
            removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", **open_args) -> Iterator[IO]:
    """A temporary file next to ``path``, moved over it with ``os.replace`` once fully written.

    A crash (or kill -9) while writing leaves either the old complete file or the new complete file,
    never a part of one; the temporary such a crash leaves is removed by the next write to ``path``.
    ``mode`` is ``"wb"`` (bytes) or ``"w"`` (text; ``open_args`` such as ``newline=""`` or
    ``encoding=`` go to ``open``). The file gets the permissions a plain ``open`` would give it (0666
    less the umask).

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_file(target, "w") as stream:
    ...     _ = stream.write("done")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('done', ['note.txt'])
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file: mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(path)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.{os.getpid()}-",
                                             suffix=".tmp")
    with _live_lock:
        _live.add(temporary)
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
    finally:
        with _live_lock:
            _live.discard(temporary)


def open_regular(path: str | os.PathLike, what: str = "a file") -> IO[bytes]:
    """``open(path, "rb")`` for a regular file; anything else is refused (ValueError naming the path).

    The file is opened without blocking (a FIFO would wait for a writer for ever) and checked on the
    open descriptor (no window between the check and the open). A missing file raises FileNotFoundError.
    """
    shown = os.fspath(path)
    try:
        descriptor = os.open(shown, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise ValueError(f"{shown}: is a folder, not {what}") from None
    except OSError as error:
        if error.errno == errno.ENXIO:        # a FIFO or socket without a reader
            raise ValueError(f"{shown}: not a regular file (a FIFO or socket); {what} must be a "
                             "regular file") from None
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket")
            raise ValueError(f"{shown}: not a regular file ({kind}); {what} must be a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
