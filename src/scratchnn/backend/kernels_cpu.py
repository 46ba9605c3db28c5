"""Tuned NumPy kernels for the layers whose reference code costs the most on a CPU.

Each function computes what the layer's own forward / backward computes (the reference, in
``scratchnn/layers``), with the same inputs and results, and is tested equal to it in float64 (1e-12),
with its work split over threads and not. A layer calls these only when its array module is NumPy and
``enabled()``; ``disabled()`` turns them off in a context (the reference runs instead). What each kernel
earns end to end is measured in benchmarks/ and stated in docs/performance.md; one that stops earning 5%
is removed.

The levers: work split along the batch over the threads (``cpu.parallel_rows`` / ``parallel_sum``, only
inside ``cpu.shared_work``); patches gathered in chunks that stay in cache between the gather and the
products that read them; a column of ones in the patches that carries the bias through the product; the
input gradient of a stride-1 convolution that keeps its input's size computed as a convolution of dY with
the turned kernel (no scatter of patch gradients); max pooling's winner kept as a mask over the windows.

``KERNELS`` names every switch ``disabled()`` takes: the layers' kernels here, and "sgd", SGD's step in
place through BLAS (``kernels_optim.py``; ``optim.SGD.in_place_calls`` checks the switch).
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .cpu import parallel_rows, parallel_sum

KERNELS = ("conv2d", "max_pool", "batch_norm", "sgd")
_disabled: contextvars.ContextVar[frozenset] = contextvars.ContextVar("scratchnn_slow", default=frozenset())
CHUNK_ELEMENTS = 1 << 19              # patches gathered at a time: 2 MB of float32, a core's L2 cache
SMALL_PRODUCT = 1 << 19               # multiply-adds OpenBLAS makes without packing its operands (under 10^6)
MIN_SPLIT_ROWS = 1024                 # shorter pieces of a sum are not worth a product each


def enabled(kernel: str) -> bool:
    """Whether layers use this kernel on NumPy arrays (True unless inside ``disabled()``)."""
    return kernel not in _disabled.get()


@contextlib.contextmanager
def disabled(*kernels: str) -> Iterator[None]:
    """Run the layers' reference code instead of these kernels (all of them if none is named) in this
    context: for tests, and for measuring what each kernel earns (benchmarks/kernels.py)."""
    unknown = set(kernels) - set(KERNELS)
    if unknown:
        raise ValueError(f"unknown kernels {sorted(unknown)}; the kernels are {KERNELS}")
    token = _disabled.set(_disabled.get() | frozenset(kernels or KERNELS))
    try:
        yield
    finally:
        _disabled.reset(token)


def _strided(array, shape, strides, writeable=False):
    """A view of array's memory with these shape and strides, as ``as_strided`` makes it. The ndarray
    constructor makes it in a third of the time (about 4 µs less, paid a few times by each single-sample
    predict) and raises for a view that would reach past the array (where as_strided reads past it); an
    array that is not C-contiguous (its memory not one buffer) goes to as_strided."""
    if not array.flags.c_contiguous:
        return as_strided(array, shape=shape, strides=strides, writeable=writeable)
    view = np.ndarray(shape, array.dtype, buffer=array, strides=strides)
    if not writeable:
        view.flags.writeable = False
    return view


# ---- Conv2D --------------------------------------------------------------------------------------
def _depth(layer):
    """Columns of the patch matrix: kh * kw * C_in values of a window, and a 1 for the bias."""
    return layer.kernel_size[0] * layer.kernel_size[1] * layer.input_shape[2] + layer.use_bias


def _chunks(layer, rows):
    """Consecutive slices of `rows` of a few samples each (about CHUNK_ELEMENTS patch values)."""
    out_h, out_w, _ = layer.output_shape
    step = max(CHUNK_ELEMENTS // (out_h * out_w * _depth(layer)), 1)
    if step >= rows.stop - rows.start:
        return [rows]
    return [slice(i, min(i + step, rows.stop)) for i in range(rows.start, rows.stop, step)]


def _pad(layer, x):
    (top, bottom), (left, right) = layer.pads
    if top == bottom == left == right == 0:
        return x
    n, h, w, c = x.shape
    padded = np.zeros((n, h + top + bottom, w + left + right, c), x.dtype)
    parallel_rows(lambda rows: np.copyto(padded[rows, top:top + h, left:left + w], x[rows]), n, x.size)
    return padded


def _im2col(layer, x_padded, samples, buffer):
    """Patches of the given samples written into buffer, then a 1 when the layer has a bias."""
    n = samples.stop - samples.start
    out_h, out_w, _ = layer.output_shape
    (sh, sw), (dh, dw), (kh, kw) = layer.strides, layer.dilation_rate, layer.kernel_size
    channels = x_padded.shape[3]
    s_n, s_h, s_w, s_c = x_padded.strides
    windows = _strided(x_padded[samples], (n, out_h, out_w, kh, kw, channels),
                       (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c))
    patches = buffer[:n * out_h * out_w]
    if len(patches) < n * out_h * out_w:                                # as_strided must stay inside
        raise RuntimeError(f"conv2d: a patch buffer of {len(buffer)} rows for {n} samples")
    if layer.use_bias:
        patches[:, -1] = 1
    target = patches[:, :kh * kw * channels].reshape(windows.shape)     # a view: the axes are only split
    if channels == 1 and len(patches) >= 4096:      # one channel: a copy per kernel offset runs along
        for a in range(kh):                         # whole image rows (faster for a large copy)
            for b in range(kw):
                np.copyto(target[:, :, :, a, b], windows[:, :, :, a, b])
    else:                                           # several: one copy, innermost runs kw * C long
        np.copyto(target, windows)
    return patches


def _weights(layer):
    """The kernel as a (kh * kw * C_in, filters) matrix, with the bias as one more row if there is one."""
    kernel = layer.params["kernel"].reshape(-1, layer.filters)
    if not layer.use_bias:
        return kernel
    return np.concatenate([kernel, layer.params["bias"][None, :]])


def _chunk_buffer(layer, rows, dtype):
    out_h, out_w, _ = layer.output_shape
    first = _chunks(layer, rows)[0]
    return np.empty(((first.stop - first.start) * out_h * out_w, _depth(layer)), dtype)


def conv2d_forward(layer, x, training):
    """Conv2D.forward's convolution (before the activation) -> (y, saved for conv2d_backward).

    Patches no larger than the output (a first layer: few input channels), or small, are kept for
    backward when training; otherwise backward gathers them again, chunk by chunk."""
    x_padded = _pad(layer, x)
    depth = _depth(layer)
    per_sample = layer.output_shape[0] * layer.output_shape[1]
    keep = training and (depth <= layer.filters or len(x) * per_sample * depth <= CHUNK_ELEMENTS)
    kept = np.empty((len(x) * per_sample, depth), x_padded.dtype) if keep else None
    return _convolve(layer, x_padded, _weights(layer), kept), (x_padded, kept)


def _convolve(geometry, x_padded, weights, kept=None):
    """Y = [P, 1] @ [W; b] over the samples of x_padded, chunk by chunk (P written into kept if given)."""
    per_sample = geometry.output_shape[0] * geometry.output_shape[1]
    y = np.empty((len(x_padded), *geometry.output_shape), x_padded.dtype)

    def convolve(rows):
        buffer = _chunk_buffer(geometry, rows, x_padded.dtype) if kept is None else None
        for samples in _chunks(geometry, rows):
            if kept is not None:
                buffer = kept[samples.start * per_sample:]
            np.matmul(_im2col(geometry, x_padded, samples, buffer), weights,
                      out=y[samples].reshape(-1, weights.shape[1]))

    parallel_rows(convolve, len(x_padded), y.size * len(weights) // 8)
    return y


class _Window(NamedTuple):
    """What the patch functions read of a Conv2D layer, for a convolution that is not the layer's own."""
    kernel_size: tuple
    strides: tuple
    dilation_rate: tuple
    pads: tuple
    input_shape: tuple
    output_shape: tuple
    use_bias: bool = False


def _input_grad_window(layer):
    """dL/dx of a stride-1 convolution is itself a stride-1 convolution: of dL/dy, padded by k - 1 - p on
    each side, with the kernel turned half a turn and its channels swapped (dX = dY_p * rot180(W).T). The
    window of that convolution, or None when the layer's is not of this kind: strided, dilated, or with an
    output smaller than its input ("valid": dY padded by k - 1 makes more patches than the product of dY with
    W.T, and measured slower, 0.94x a digits-CNN step at batch 64)."""
    (kh, kw), ((top, bottom), (left, right)) = layer.kernel_size, layer.pads
    pads = ((kh - 1 - top, kh - 1 - bottom), (kw - 1 - left, kw - 1 - right))
    if layer.strides != (1, 1) or layer.dilation_rate != (1, 1) or min(min(pads[0]), min(pads[1])) < 0 \
            or tuple(layer.output_shape[:2]) != tuple(layer.input_shape[:2]):
        return None
    return _Window(layer.kernel_size, (1, 1), (1, 1), pads, layer.output_shape, layer.input_shape)


def _input_grad_by_convolution(layer, window, grad_out):
    kernel = layer.params["kernel"]                                    # (kh, kw, C_in, F) -> (kh, kw, F, C_in)
    turned = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(-1, kernel.shape[2])
    return _convolve(window, _pad(window, grad_out), turned)


def conv2d_backward(layer, grad_out, saved, input_grad):
    """(dL/dx or None, dL/dkernel, dL/dbias or None) from dL/dy (after the activation's backward)."""
    x_padded, kept = saved
    per_sample = layer.output_shape[0] * layer.output_shape[1]
    kernel = layer.params["kernel"]
    kh, kw, channels, filters = kernel.shape
    depth = _depth(layer)
    offsets_kernel = kernel.reshape(kh * kw, channels, filters).transpose(0, 2, 1)   # W[a, b].T
    window = _input_grad_window(layer) if input_grad else None
    patch_grads = input_grad and window is None                       # else dX is a convolution of dY
    grad_padded = np.empty(x_padded.shape, grad_out.dtype) if patch_grads else None

    def convolve_back(rows):
        buffer = _chunk_buffer(layer, rows, x_padded.dtype) if kept is None else None
        grad_weights = np.zeros((depth, filters), grad_out.dtype)
        for samples in _chunks(layer, rows):
            if kept is None:
                patches = _im2col(layer, x_padded, samples, buffer)
            else:
                patches = kept[samples.start * per_sample:samples.stop * per_sample]
            grad_rows = grad_out[samples].reshape(-1, filters)
            _add_weight_grads(grad_weights, patches, grad_rows)          # [dW; db] += [P, 1].T @ dY
            if patch_grads:                                              # dP[a, b] = dY @ W[a, b].T
                _col2im(layer, np.matmul(grad_rows, offsets_kernel), grad_padded[samples])
        return grad_weights

    grad_weights = parallel_sum(convolve_back, len(grad_out), grad_out.size * depth // 4)
    grad_kernel = grad_weights[:kernel.size // filters].reshape(kernel.shape)
    grad_bias = grad_weights[-1] if layer.use_bias else None
    if not input_grad:
        return None, grad_kernel, grad_bias
    if window is not None:
        return _input_grad_by_convolution(layer, window, grad_out), grad_kernel, grad_bias
    (top, _), (left, _) = layer.pads
    height, width, _ = layer.input_shape
    return grad_padded[:, top:top + height, left:left + width], grad_kernel, grad_bias


def _add_weight_grads(grad_weights, patches, grad_rows):
    """grad_weights += patches.T @ grad_rows. When the result is small (a first layer's 10 x 32) and the
    sum long, the sum is split into a stack of products of about SMALL_PRODUCT multiply-adds, which
    OpenBLAS makes without packing (16 products of 2,704 rows: 0.73 ms; one of 43,264: 1.66 ms)."""
    step = SMALL_PRODUCT // grad_weights.size
    count = len(patches) // max(step, 1)
    if step < MIN_SPLIT_ROWS or count < 2:
        grad_weights += patches.T @ grad_rows
        return
    whole = count * step
    stacked = np.matmul(patches[:whole].reshape(count, step, -1).transpose(0, 2, 1),
                        grad_rows[:whole].reshape(count, step, -1))
    grad_weights += stacked.sum(axis=0)
    if whole < len(patches):
        grad_weights += patches[whole:].T @ grad_rows[whole:]


def _col2im(layer, grad_patches, grad_padded):
    """dX_p of some samples from patch gradients laid out by kernel offset (kh * kw, rows, C_in)."""
    out_h, out_w, _ = layer.output_shape
    (sh, sw), (dh, dw), (kh, kw) = layer.strides, layer.dilation_rate, layer.kernel_size
    grad_patches = grad_patches.reshape(kh, kw, len(grad_padded), out_h, out_w, -1)
    grad_padded.fill(0)
    for a in range(kh):
        for b in range(kw):                                              # dX_p[window (a, b)] += dP[a, b]
            grad_padded[:, _offset(a * dh, sh, out_h), _offset(b * dw, sw, out_w)] += grad_patches[a, b]


def _offset(offset, stride, count):
    return slice(offset, offset + stride * (count - 1) + 1, stride)


# ---- MaxPooling2D --------------------------------------------------------------------------------
def _window_view(layer, array, writeable=False):
    """(N, H_out, ph, W_out, pw, C): element [n, i, a, j, b, c] is at offset (a, b) of window (i, j)."""
    (ph, pw), (sh, sw) = layer.pool_size, layer.strides
    out_h, out_w, _ = layer.output_shape
    s_n, s_h, s_w, s_c = array.strides
    return _strided(array, (len(array), out_h, ph, out_w, pw, array.shape[3]),
                    (s_n, s_h * sh, s_h, s_w * sw, s_w, s_c), writeable)


def max_pool_forward(layer, x_padded, with_mask=True):
    """MaxPooling2D's y and the first maximum of each window as a mask in the windows' shape (None when
    not ``with_mask``: inference needs no mask, and making it is half of the work)."""
    windows = _window_view(layer, x_padded)
    ph, pw = layer.pool_size
    later = [(a, b) for a in range(ph) for b in range(pw)][1:]
    y = np.empty((len(x_padded), *layer.output_shape), dtype=x_padded.dtype)
    mask = np.empty(windows.shape, dtype=bool) if with_mask else None

    def pool(rows):
        window_rows, y_rows = windows[rows], y[rows]
        np.copyto(y_rows, window_rows[:, :, 0, :, 0])
        for a, b in later:
            np.maximum(y_rows, window_rows[:, :, a, :, b], out=y_rows)  # y = max over the window
        if mask is None:
            return
        mask_rows = mask[rows]
        np.equal(window_rows, y_rows[:, :, None, :, None], out=mask_rows)
        if np.count_nonzero(mask_rows) == y_rows.size and not np.isnan(y_rows).any():
            return                                                       # one maximum per window
        seen = mask_rows[:, :, 0, :, 0].copy()
        for k, (a, b) in enumerate(later):                               # keep the first maximum
            winner = mask_rows[:, :, a, :, b]
            np.greater(winner, seen, out=winner)
            if k < len(later) - 1:
                seen |= winner

    parallel_rows(pool, len(x_padded), x_padded.size)
    return y, mask


def max_pool_backward(layer, grad_out, mask, padded_shape):
    """dX_p: each output's gradient routed to its window's first maximum (overlapping windows add up)."""
    grad_padded = np.empty(padded_shape, dtype=grad_out.dtype)
    (ph, pw), (out_h, out_w, _) = layer.pool_size, layer.output_shape
    tiled = layer.strides == layer.pool_size
    windows = _window_view(layer, grad_padded, writeable=True)
    (sh, sw) = layer.strides

    def route(rows):
        grad_rows, grad_in = grad_out[rows][:, :, None, :, None], grad_padded[rows]
        if tiled:                                                        # dX = dY * mask over the windows
            np.multiply(grad_rows, mask[rows], out=windows[rows])
            grad_in[:, out_h * ph:] = 0                                  # rows and columns no window covers
            grad_in[:, :, out_w * pw:] = 0
            return
        grad_in.fill(0)
        for a in range(ph):
            for b in range(pw):
                grad_in[:, _offset(a, sh, out_h), _offset(b, sw, out_w)] += \
                    grad_rows[:, :, 0, :, 0] * mask[rows][:, :, a, :, b]

    parallel_rows(route, len(grad_out), grad_padded.size)
    return grad_padded


# ---- BatchNormalization --------------------------------------------------------------------------
def batch_norm_statistics(layer, x):
    """The batch's per-feature mean and variance (float64-exact sums, block by block over the threads)."""
    n, count = len(x), x.size // x.shape[layer.feature_axis]
    mean = parallel_sum(lambda rows: np.einsum("ij->j", layer.rows(x[rows])), n, x.size) / count
    centered = np.empty_like(x)

    def center(rows):                                                    # var = mean (x - mu)^2
        np.subtract(x[rows], mean.reshape(layer.broadcast_shape), out=centered[rows])
        centered_rows = layer.rows(centered[rows])
        return np.einsum("ij,ij->j", centered_rows, centered_rows)

    var = parallel_sum(center, n, 2 * x.size) / count
    return mean, var, centered


def batch_norm_normalize(layer, x, mean, inv_std, centered=None):
    """x_hat = (x - mu) inv_std and y = gamma x_hat + beta, in place where it can be."""
    n = len(x)
    if centered is None:
        centered = np.empty_like(x)
        parallel_rows(lambda rows: np.subtract(x[rows], mean, out=centered[rows]), n, x.size)
    gamma, beta = layer.per_feature("gamma", None), layer.per_feature("beta", None)
    x_hat, y = centered, np.empty_like(x)

    def normalize(rows):
        x_hat[rows] *= inv_std
        if gamma is None:
            np.copyto(y[rows], x_hat[rows])
        else:
            np.multiply(x_hat[rows], gamma, out=y[rows])
        if beta is not None:
            y[rows] += beta

    parallel_rows(normalize, n, 2 * x.size)
    return x_hat, y


def batch_norm_backward(layer, grad_out, x_hat, inv_std, training, input_grad):
    """(dx or None, sum of dy, sum of dy x_hat) per feature, as BatchNormalization.backward."""
    n, shape = len(grad_out), layer.broadcast_shape

    def sums(rows):
        grad_rows, x_hat_rows = layer.rows(grad_out[rows]), layer.rows(x_hat[rows])
        return np.stack([np.einsum("ij->j", grad_rows), np.einsum("ij,ij->j", grad_rows, x_hat_rows)])

    sum_grad, sum_grad_x_hat = parallel_sum(sums, n, 2 * grad_out.size)
    if not input_grad:
        return None, sum_grad, sum_grad_x_hat
    scaled = inv_std * layer.per_feature("gamma", 1)
    grad_input = np.empty_like(grad_out)
    if not training:
        parallel_rows(lambda rows: np.multiply(grad_out[rows], scaled, out=grad_input[rows]), n, grad_out.size)
        return grad_input, sum_grad, sum_grad_x_hat
    count = grad_out.size // grad_out.shape[layer.feature_axis]
    mean_grad = (sum_grad / count).reshape(shape)
    mean_grad_x_hat = (-sum_grad_x_hat / count).reshape(shape)

    def combine(rows):
        block = grad_input[rows]
        np.multiply(x_hat[rows], mean_grad_x_hat, out=block)
        block += grad_out[rows]
        block -= mean_grad
        block *= scaled

    parallel_rows(combine, n, 3 * grad_out.size)
    return grad_input, sum_grad, sum_grad_x_hat
