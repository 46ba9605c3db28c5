"""The array module, the default float type and the random generators every layer draws from."""
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext

import numpy as np

xp = np
_FLOATX = np.dtype("float32")
_FLOAT_TYPES = ("float32", "float64")


def floatx():
    """The default float dtype of new layers and models (float32 unless changed)."""
    return _FLOATX


def set_floatx(dtype):
    """Change the default float dtype: "float32" or "float64"."""
    global _FLOATX
    _FLOATX = as_dtype(dtype)


def as_dtype(dtype=None):
    """Resolve a dtype argument: None gives floatx(); only float32 and float64 are accepted."""
    if dtype is None:
        return _FLOATX
    resolved = np.dtype(dtype)
    if resolved.name not in _FLOAT_TYPES:
        raise ValueError(f"dtype must be one of {_FLOAT_TYPES}, got {resolved.name!r}")
    return resolved


def make_rng(seed=None):
    """A numpy Generator from None, an int seed or an existing Generator (returned as is).

    The global NumPy random state is never used, so one seed reproduces a whole run.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a non-negative int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(seed)


# NumPy runs elementwise work on one core, and OpenBLAS's threads keep spinning for a while after each
# product, taking the cores from whatever runs next. For work large enough to gain, scratchnn splits it
# itself, along the batch axis, over a pool of threads: elementwise passes (ReLU, pooling, im2col copies)
# through parallel_rows, matrix products through matmul / matmul_at, with BLAS at one thread per call.
# NumPy and BLAS release the GIL inside their loops, so the blocks run at the same time. This happens only
# inside shared_work(); outside it (and for small batches, where BLAS's own threads hand over faster than a
# Python pool) everything runs as NumPy does by default.
_MIN_BLOCK_WORK = 1 << 18                     # about a megabyte of elements: below it a hand-off costs more
_num_threads = None
_pool = None
_blas = None
_sharing = False


def _forget_threads_in_child():
    """A forked child has none of its parent's threads: it starts its own pool when it needs one."""
    global _pool, _sharing
    _pool, _sharing = None, False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads_in_child)


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                    # not on Linux
        return os.cpu_count() or 1


def get_num_threads():
    """Threads that share scratchnn's large work (default: SCRATCHNN_NUM_THREADS, else the usable cores)."""
    global _num_threads
    if _num_threads is None:
        _num_threads = int(os.environ.get("SCRATCHNN_NUM_THREADS", 0)) or _usable_cores()
    return _num_threads


def set_num_threads(n):
    """Share large work among n threads (1: everything in the calling thread, BLAS as NumPy set it up)."""
    global _num_threads, _pool
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of threads must be a positive integer, got {n!r}")
    _num_threads = int(n)
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None


def shared_work(work):
    """Inside this context, jobs of parallel_rows, matmul and matmul_at are split over the threads, and
    BLAS runs each call in its calling thread; ``work`` (elements, e.g. batch size times the largest
    layer output) below the split size, or one thread, leaves everything as it is. Sequential enters
    this for each forward and backward pass."""
    if _sharing or work < _MIN_BLOCK_WORK or get_num_threads() == 1:
        return nullcontext()
    return _sharing_threads()


@contextmanager
def _sharing_threads():
    global _sharing, _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController
        _blas = ThreadpoolController().select(user_api="blas")
    with _blas.limit(limits=1):
        _sharing = True
        try:
            yield
        finally:
            _sharing = False


def _blocks(rows, work):
    """How many blocks a job of this size is split into inside shared_work()."""
    return min(get_num_threads(), rows, max(work // _MIN_BLOCK_WORK, 1))


def _run_blocks(fn, rows, blocks):
    """fn(slice) on `blocks` consecutive slices of range(rows): the first in this thread, the rest in the pool."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(get_num_threads() - 1, thread_name_prefix="scratchnn")
    bounds = [rows * i // blocks for i in range(blocks + 1)]
    futures = [_pool.submit(fn, slice(bounds[i], bounds[i + 1])) for i in range(1, blocks)]
    try:
        fn(slice(bounds[0], bounds[1]))
    finally:
        for future in futures:
            future.result()                  # waits, and raises what the block raised


def parallel_rows(fn, rows, work):
    """Call fn(block) on slices that cover range(rows), at the same time on several threads.

    ``work`` is the size of the job (the number of array elements it touches). Outside shared_work(),
    for small jobs, or with one thread, this is the single call fn(slice(0, rows)). fn must write only
    to its own rows of its outputs. (Walking each thread's rows in cache-sized blocks measured slower.)
    """
    blocks = _blocks(rows, work) if _sharing else 1
    if blocks <= 1:
        fn(slice(0, rows))
    else:
        _run_blocks(fn, rows, blocks)


def _product_work(a, b):
    return a.shape[0] * a.shape[1] * b.shape[-1] // 32     # multiply-adds, scaled to elementwise work


def matmul(a, b, out=None):
    """a @ b for 2-D arrays (into out if given), the rows of a (and out) split over the threads."""
    blocks = _blocks(len(a), _product_work(a, b)) if _sharing else 1
    if blocks <= 1:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((len(a), b.shape[1]), np.result_type(a, b))
    _run_blocks(lambda rows: np.matmul(a[rows], b, out=out[rows]), len(a), blocks)
    return out


def parallel_sum(fn, rows, work):
    """The sum of fn(block) over slices ``block`` that cover range(rows), computed as parallel_rows does
    and added in the order of the blocks (the same result for the same number of threads)."""
    if not _sharing:
        return fn(slice(0, rows))
    partial = {}

    def block(part):
        partial[part.start] = fn(part)

    parallel_rows(block, rows, work)
    starts = sorted(partial)
    total = partial[starts[0]]
    for start in starts[1:]:
        total += partial[start]
    return total


def matmul_at(a, b, out):
    """out = a.T @ b for 2-D arrays: the sum over row blocks of a[rows].T @ b[rows]."""
    if not _sharing or _blocks(len(a), _product_work(a.T, b)) <= 1:
        return np.matmul(a.T, b, out=out)
    np.copyto(out, parallel_sum(lambda rows: a[rows].T @ b[rows], len(a), _product_work(a.T, b)))
    return out
