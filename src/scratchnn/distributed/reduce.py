"""Averaging the gradients of W workers through Ray's object store: a reduce-scatter, then an all-gather.

Each worker flattens its gradients into one vector g_r (float32 or float64, as the parameters), computed
as the mean over its n_r samples, and multiplies it by n_r, so that the global gradient is

    g = (sum_r n_r g_r) / (sum_r n_r)

which is the gradient of the mean loss over the whole global batch even when the parts are unequal (the
last batch of an epoch, or a batch smaller than W). Averaging the workers' means would weight the samples of
a short part more.

The vector is cut into W chunks. Step one (reduce-scatter): worker j fetches chunk j of every worker and
sums them, in rank order, then divides by the total count. Step two (all-gather): every worker fetches
the W reduced chunks and puts them back together. Each worker sends and receives 2 (W-1)/W times the
gradient's bytes, the volume of a ring all-reduce, but in two rounds of W-1 concurrent fetches instead of
2 (W-1) sequential ones; a reduction through the driver would move W times the bytes through one
process. Each chunk is reduced once, in one order, so every worker gets bit-identical gradients and the
weights stay identical.
"""
from __future__ import annotations

import numpy as np

from .data import part


def flatten(grads, scale: float, dtype) -> np.ndarray:
    """scale * concatenation of every gradient (raveled), in parameters() order."""
    flat = np.concatenate([np.asarray(g).ravel() for g in grads]) if grads else np.zeros(0, dtype)
    flat = flat.astype(dtype, copy=False)
    flat *= dtype.type(scale)
    return flat


def chunks(flat: np.ndarray, parts: int) -> list[np.ndarray]:
    """The W contiguous chunks of the flat gradient (sizes differ by at most one element)."""
    return [flat[part(len(flat), index, parts)] for index in range(parts)]


def reduce_chunk(counts, pieces) -> np.ndarray:
    """sum_r piece_r / sum_r n_r, summed in rank order (the same on every worker)."""
    total = float(sum(counts))
    reduced = np.array(pieces[0], copy=True)
    for piece in pieces[1:]:
        reduced += piece
    if total > 0:
        reduced /= reduced.dtype.type(total)
    return reduced


def unflatten(flat: np.ndarray, shapes) -> list[np.ndarray]:
    """Views of the flat vector with the parameters' shapes."""
    out, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        out.append(flat[offset:offset + size].reshape(shape))
        offset += size
    return out
