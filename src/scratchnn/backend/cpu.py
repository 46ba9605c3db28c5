"""The CPU's threads: large elementwise passes and products split along the batch axis over a pool.

NumPy runs elementwise work on one core, and OpenBLAS's threads keep spinning for a while after each
product, taking the cores from whatever runs next. For work large enough to gain, scratchnn splits it
itself, along the batch axis, over a pool of threads: elementwise passes through ``parallel_rows``, sums
(kernel gradients, batch statistics) through ``parallel_sum``, with BLAS at one thread per call. NumPy and
BLAS release the GIL inside their loops, so the blocks run at the same time.

Splitting happens only inside ``shared_work()``, which the model's forward and backward enter. Whether a
caller is inside it is per context (a ``contextvars.ContextVar``): a second thread that predicts while
another trains runs with its own setting and its own results. The settings are a small dataclass
(``CPUSettings``) that tests pass in.
"""
from __future__ import annotations

import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from ..validation import check_positive_int


@dataclass(frozen=True)
class CPUSettings:
    """How large work is shared: ``num_threads`` threads, blocks of at least ``min_block_work`` elements
    (about a megabyte: below it a hand-off to another thread costs more than it saves)."""
    num_threads: int = 1
    min_block_work: int = 1 << 18


_settings: CPUSettings | None = None
_sharing: contextvars.ContextVar[CPUSettings | None] = contextvars.ContextVar("scratchnn_sharing", default=None)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_blas_lock = threading.Lock()
_blas_users = 0
_blas_limit = None
_blas_controller = None                       # threadpoolctl's view of the loaded BLAS, found once


def _forget_threads_in_child():
    """A forked child has none of its parent's threads: it starts its own pool when it needs one."""
    global _pool, _blas_users, _blas_limit, _pool_lock, _blas_lock
    _pool, _blas_users, _blas_limit = None, 0, None
    _pool_lock, _blas_lock = threading.Lock(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads_in_child)


def usable_cores() -> int:
    """The cores this process may run on (its CPU allotment, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                    # not on Linux
        return os.cpu_count() or 1


def settings() -> CPUSettings:
    """The current settings: SCRATCHNN_NUM_THREADS, else the usable cores, unless set_num_threads was called."""
    global _settings
    if _settings is None:
        _settings = CPUSettings(int(os.environ.get("SCRATCHNN_NUM_THREADS", 0) or 0) or usable_cores())
    return _settings


def get_num_threads() -> int:
    """Threads that share scratchnn's large work."""
    return settings().num_threads


def set_num_threads(n: int) -> None:
    """Share large work among n threads (1: everything in the calling thread, BLAS as NumPy set it up)."""
    global _settings, _pool
    n = check_positive_int("the number of threads", n, "set_num_threads")
    _settings = CPUSettings(n, settings().min_block_work)
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None


def sharing() -> CPUSettings | None:
    """The settings in force when the calling context is inside shared_work(), else None."""
    return _sharing.get()


def shared_work(work: int, config: CPUSettings | None = None):
    """Inside this context, jobs of parallel_rows and parallel_sum are split over the
    threads, and BLAS runs each call in its calling thread. ``work`` (elements, e.g. the batch size times
    the largest layer output) below the split size, or one thread, leaves everything as it is."""
    config = config or settings()
    if _sharing.get() is not None or work < config.min_block_work or config.num_threads == 1:
        return nullcontext()
    return _sharing_threads(config)


@contextmanager
def _sharing_threads(config):
    _enter_blas_limit()
    token = _sharing.set(config)
    try:
        yield
    finally:
        _sharing.reset(token)
        _leave_blas_limit()


def _enter_blas_limit():
    """BLAS at one thread per call while any context shares work (the limit is process-wide)."""
    global _blas_users, _blas_limit, _blas_controller
    with _blas_lock:
        if _blas_users == 0:
            if _blas_controller is None:      # scanning the loaded libraries costs about a millisecond
                from threadpoolctl import ThreadpoolController
                _blas_controller = ThreadpoolController().select(user_api="blas")
            libraries = _blas_controller.lib_controllers
            _blas_limit = [(library, library.num_threads) for library in libraries]   # as they are now
            for library in libraries:
                library.set_num_threads(1)
        _blas_users += 1


def _leave_blas_limit():
    global _blas_users, _blas_limit
    with _blas_lock:
        _blas_users -= 1
        if _blas_users == 0 and _blas_limit is not None:
            for library, threads in _blas_limit:
                library.set_num_threads(threads)
            _blas_limit = None


def _blocks(rows: int, work: int) -> int:
    """How many blocks a job of this size is split into (1 outside shared_work())."""
    config = _sharing.get()
    if config is None:
        return 1
    return min(config.num_threads, rows, max(work // config.min_block_work, 1))


def _run_blocks(fn, rows, blocks):
    """fn(slice) on `blocks` consecutive slices of range(rows): the first in this thread, the rest in the pool."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(get_num_threads() - 1, 1), thread_name_prefix="scratchnn")
        pool = _pool
    bounds = [rows * i // blocks for i in range(blocks + 1)]
    futures = [pool.submit(fn, slice(bounds[i], bounds[i + 1])) for i in range(1, blocks)]
    try:
        fn(slice(bounds[0], bounds[1]))
    finally:
        for future in futures:
            future.result()                  # waits, and raises what the block raised


def parallel_rows(fn, rows: int, work: int) -> None:
    """Call fn(block) on slices that cover range(rows), at the same time on several threads.

    ``work`` is the size of the job (the number of array elements it touches). Outside shared_work(),
    for small jobs, or with one thread, this is the single call fn(slice(0, rows)). fn must write only
    to its own rows of its outputs.
    """
    blocks = _blocks(rows, work)
    if blocks <= 1:
        fn(slice(0, rows))
    else:
        _run_blocks(fn, rows, blocks)


def parallel_sum(fn, rows: int, work: int):
    """The sum of fn(block) over slices that cover range(rows), computed as parallel_rows does and added
    in the order of the blocks (the same result for the same number of threads)."""
    blocks = _blocks(rows, work)
    if blocks <= 1:
        return fn(slice(0, rows))
    partial = {}

    def block(part):
        partial[part.start] = fn(part)

    _run_blocks(block, rows, blocks)
    starts = sorted(partial)
    total = partial[starts[0]]
    for start in starts[1:]:
        total += partial[start]
    return total
