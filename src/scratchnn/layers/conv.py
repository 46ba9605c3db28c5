"""Conv2D: a 2-D convolution over channels-last images, as one matrix multiply over an im2col view."""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import backend
from .base import KernelLayer, check_positive_int, register

PADDINGS = ("valid", "same")
_SMALL_PRODUCT = 1 << 19                      # multiply-adds in a product OpenBLAS makes without packing (under 10^6)
_MIN_SPLIT_ROWS = 1024                        # shorter pieces of a sum are not worth a product each
_CHUNK_ELEMENTS = 1 << 19                     # patches gathered at a time: 2 MB of float32, a core's L2 here


def as_pair(name, value, owner):
    """An int or a pair of ints -> a pair of positive ints (kernel_size=3 means (3, 3))."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"{owner}: {name} must be a positive integer or a pair of them, got {value!r}")
    return tuple(check_positive_int(name, v, owner) for v in pair)


def check_padding(padding, owner):
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"{owner}: padding must be one of {PADDINGS}, got {padding!r}")
    return padding.lower()


def check_image_shape(input_shape, owner):
    """Image layers take (N, H, W, C); a missing channel axis gets a hint on how to add it."""
    if len(input_shape) != 3:
        hint = ": add a channel axis, x[..., None]" if len(input_shape) == 2 else ""
        raise ValueError(f"{owner} expected input of shape (N, height, width, channels), got "
                         f"(N, {', '.join(map(str, input_shape))}){hint}")


def window_geometry(size, window, stride, padding, owner, what="kernel"):
    """(output length, pad before, pad after) along one axis; "same" follows TensorFlow's rule.

    valid: out = floor((size - window) / stride) + 1, no padding.
    same:  out = ceil(size / stride), pad_total = max((out - 1) * stride + window - size, 0),
           with the odd element of padding at the end (bottom / right).
    """
    if padding == "valid":
        if window > size:
            raise ValueError(f"{owner}: the {what} spans {window} pixels, more than the input's {size}: "
                             f"use padding='same' or a smaller {what}")
        return (size - window) // stride + 1, 0, 0
    out = -(-size // stride)
    pad_total = max((out - 1) * stride + window - size, 0)
    return out, pad_total // 2, pad_total - pad_total // 2


def offset_slice(offset, stride, count):
    """The positions offset, offset + stride, ... (count of them) along one axis."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


@register
class Conv2D(KernelLayer):
    r"""2-D convolution (cross-correlation, as in Keras and PyTorch) of channels-last images.

    .. math:: y[n, i, j, f] = b[f] + \sum_{u, v, c} x_p[n, i s_h + u d_h, j s_w + v d_w, c]\, W[u, v, c, f]

    where x_p is x zero-padded ("same") or not ("valid"). Computed as one matrix multiply,
    ``[patches, 1] @ [W.reshape(kh * kw * C_in, filters); b]``, with the patches gathered from a strided view
    (im2col) and a column of ones that carries the bias: the product adds it, and the kernel-gradient
    product ``[patches, 1].T @ dY`` sums it, at no cost next to separate passes over Y and dY.

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate: an int or a pair (height, width).
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ceil(in / stride), TensorFlow's rule:
            the extra row / column of padding goes at the bottom / right).
        activation: optional activation; ``Sequential`` appends it as its own layer.
        use_bias, kernel_initializer (default ``"glorot_uniform"``), bias_initializer (``"zeros"``),
        kernel_regularizer: as in Dense.

    Shapes: input (N, H, W, C_in), output (N, H_out, W_out, filters); kernel (kh, kw, C_in, filters).

    Example::

        >>> layer = Conv2D(8, 3, padding="same"); layer.build((28, 28, 1), rng=0)
        (28, 28, 8)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, name=None, dtype=None):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, name, dtype)
        self.filters = check_positive_int("filters", filters, "Conv2D")
        self.kernel_size = as_pair("kernel_size", kernel_size, "Conv2D")
        self.strides = as_pair("strides", strides, "Conv2D")
        self.padding = check_padding(padding, "Conv2D")
        self.dilation_rate = as_pair("dilation_rate", dilation_rate, "Conv2D")

    def compute_output_shape(self, input_shape):
        check_image_shape(input_shape, "Conv2D")
        span = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate)]
        rows = window_geometry(input_shape[0], span[0], self.strides[0], self.padding, "Conv2D")
        cols = window_geometry(input_shape[1], span[1], self.strides[1], self.padding, "Conv2D")
        self.pads = (rows[1:], cols[1:])
        return rows[0], cols[0], self.filters

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        self.add_kernel_and_bias((*self.kernel_size, input_shape[2], self.filters))
        self.workspace = {}
        return self.output_shape

    def shape_hint(self, got):
        return ": add a channel axis, x[..., None]" if len(got) == 2 else ""

    def scratch(self, name, shape, dtype):
        """An array kept between calls for intermediate results (reallocated when the batch size changes).

        Writing into the same memory at every step is faster than a fresh allocation of megabytes.
        """
        array = self.workspace.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self.workspace[name] = np.zeros(shape, dtype=dtype)
        return array

    def clear_cache(self):
        """Forget the cached patches and the kept arrays (predict and evaluate call this when done)."""
        super().clear_cache()
        self.workspace = {}

    def pad(self, x):
        """x inside a zero border (written into a kept array whose border stays zero)."""
        (top, bottom), (left, right) = self.pads
        if top == bottom == left == right == 0:
            return x
        n, h, w, c = x.shape
        padded = self.scratch("padded", (n, h + top + bottom, w + left + right, c), x.dtype)
        backend.parallel_rows(lambda rows: np.copyto(padded[rows, top:top + h, left:left + w], x[rows]), n, x.size)
        return padded

    def chunks(self, rows):
        """Consecutive slices of `rows` of a few samples each, the first the longest: their patches (about
        _CHUNK_ELEMENTS values) stay in cache between the gather and the products that read them."""
        out_h, out_w, _ = self.output_shape
        step = max(_CHUNK_ELEMENTS // (out_h * out_w * self.depth), 1)
        if step >= rows.stop - rows.start:
            return [rows]
        return [slice(i, min(i + step, rows.stop)) for i in range(rows.start, rows.stop, step)]

    @property
    def depth(self):
        """Columns of the patch matrix: kh * kw * C_in values of a window, and a 1 for the bias."""
        return self.kernel_size[0] * self.kernel_size[1] * self.input_shape[2] + self.use_bias

    def im2col(self, x_padded, samples, buffer):
        """Patches of the given samples, (samples * H_out * W_out, depth), written into buffer: row (n, i, j)
        holds the window under output (i, j), then a 1 when the layer has a bias (the bias is the last row
        of the weights, so the product adds it and the kernel-gradient product sums it)."""
        n = samples.stop - samples.start
        out_h, out_w, _ = self.output_shape
        (sh, sw), (dh, dw), (kh, kw) = self.strides, self.dilation_rate, self.kernel_size
        channels = x_padded.shape[3]
        s_n, s_h, s_w, s_c = x_padded.strides
        windows = as_strided(x_padded[samples], shape=(n, out_h, out_w, kh, kw, channels),
                             strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c), writeable=False)
        patches = buffer[:n * out_h * out_w]
        if len(patches) < n * out_h * out_w:                            # as_strided below must stay inside
            raise RuntimeError(f"Conv2D: a patch buffer of {len(buffer)} rows for {n} samples")
        if self.use_bias and not patches[:1, -1].all():
            buffer[:, -1] = 1                                           # written once per kept buffer
        target = patches[:, :kh * kw * channels].reshape(windows.shape)  # a view: the axes are only split
        if channels == 1 and len(patches) >= 4096:   # one channel: a copy per kernel offset runs along
            for a in range(kh):                      # whole image rows (for a large copy, it is faster)
                for b in range(kw):
                    np.copyto(target[:, :, :, a, b], windows[:, :, :, a, b])
        else:                         # several: one copy, whose innermost runs are kw * channels long
            np.copyto(target, windows)
        return patches

    def patch_buffer(self, rows, dtype):
        """A kept array for the patches of one chunk, one per block of rows (each thread has its own)."""
        out_h, out_w, _ = self.output_shape
        first = self.chunks(rows)[0]
        return self.scratch(("patches", rows.start), ((first.stop - first.start) * out_h * out_w, self.depth), dtype)

    def weights(self):
        """The kernel as a (kh * kw * C_in, filters) matrix, with the bias as one more row if there is one."""
        kernel = self.params["kernel"].reshape(-1, self.filters)
        if not self.use_bias:
            return kernel
        weights = self.scratch("weights", (len(kernel) + 1, self.filters), kernel.dtype)
        weights[:-1] = kernel
        weights[-1] = self.params["bias"]
        return weights

    def forward(self, x, training=False):
        self.check_input(x)
        x_padded = self.pad(x)
        weights = self.weights()
        y = np.empty((len(x), *self.output_shape), x_padded.dtype)
        rows_per_sample = self.output_shape[0] * self.output_shape[1]
        # patches no larger than the output (a first layer: few input channels), or small, are kept for backward
        keep = training and (self.depth <= self.filters or len(x) * rows_per_sample * self.depth <= _CHUNK_ELEMENTS)
        kept = self.scratch("kept_patches", (len(x) * rows_per_sample, self.depth), x_padded.dtype) if keep else None

        def convolve(rows):
            buffer = self.patch_buffer(rows, x_padded.dtype) if kept is None else None
            for samples in self.chunks(rows):                           # Y = [patches, 1] @ [W; b]
                if kept is not None:
                    buffer = kept[samples.start * rows_per_sample:]
                np.matmul(self.im2col(x_padded, samples, buffer), weights,
                          out=y[samples].reshape(-1, self.filters))

        backend.parallel_rows(convolve, len(x), y.size * self.depth // 8)
        self.cache = {"x_padded": x_padded, "patches": kept}
        return y

    def backward(self, grad_out, input_grad=True):
        """Unless forward kept them, the patches are gathered again, a chunk at a time: that costs one more
        gather but keeps them in cache for both products, and memory is not spent on them."""
        x_padded, kept = self.cache["x_padded"], self.cache["patches"]
        rows_per_sample = self.output_shape[0] * self.output_shape[1]
        kernel = self.params["kernel"]
        kh, kw, channels, _ = kernel.shape
        if input_grad:                                                  # W[a, b].T for each kernel offset
            offsets_kernel = kernel.reshape(kh * kw, channels, self.filters).transpose(0, 2, 1)
        grad_padded = np.empty(x_padded.shape, grad_out.dtype) if input_grad else None

        def convolve_back(rows):
            buffer = self.patch_buffer(rows, x_padded.dtype) if kept is None else None
            grad_weights = np.zeros((self.depth, self.filters), grad_out.dtype)
            for samples in self.chunks(rows):
                if kept is None:
                    patches = self.im2col(x_padded, samples, buffer)
                else:
                    patches = kept[samples.start * rows_per_sample:samples.stop * rows_per_sample]
                grad_rows = grad_out[samples].reshape(-1, self.filters)
                self.add_weight_grads(grad_weights, patches, grad_rows)  # [dW; db] += [patches, 1].T @ dY
                if input_grad:                                          # dP[a, b] = dY @ W[a, b].T
                    self.col2im(np.matmul(grad_rows, offsets_kernel), grad_padded[samples])
            return grad_weights

        grad_weights = backend.parallel_sum(convolve_back, len(grad_out), grad_out.size * self.depth // 4)
        np.copyto(self.grads["kernel"].reshape(-1, self.filters), grad_weights[:kernel.size // self.filters])
        if self.use_bias:
            np.copyto(self.grads["bias"], grad_weights[-1])
        if not input_grad:
            return None
        (top, _), (left, _) = self.pads
        height, width, _ = self.input_shape
        return grad_padded[:, top:top + height, left:left + width]

    def add_weight_grads(self, grad_weights, patches, grad_rows):
        """grad_weights += patches.T @ grad_rows. When the result is small (a first layer's 10 x 32) and the
        sum long, the sum is split into a stack of products: OpenBLAS multiplies products of up to about
        10^6 multiply-adds without packing them, and measured 0.73 ms for 16 products of 2,704 rows against
        1.66 ms for one of 43,264 (pieces of 3,276 rows, just over the limit, took as long as one product).
        One stacked matmul makes them all without coming back to Python."""
        step = _SMALL_PRODUCT // grad_weights.size
        count = len(patches) // max(step, 1)
        if step < _MIN_SPLIT_ROWS or count < 2:
            grad_weights += patches.T @ grad_rows
            return
        whole = count * step
        stacked = np.matmul(patches[:whole].reshape(count, step, -1).transpose(0, 2, 1),
                            grad_rows[:whole].reshape(count, step, -1))
        grad_weights += stacked.sum(axis=0)
        if whole < len(patches):
            grad_weights += patches[whole:].T @ grad_rows[whole:]

    def col2im(self, grad_patches, grad_padded):
        """dX_p of some samples from their patch gradients, laid out by kernel offset (kh * kw, samples *
        H_out * W_out, C_in): each offset's block is added back where its windows read x."""
        out_h, out_w, _ = self.output_shape
        (sh, sw), (dh, dw), (kh, kw) = self.strides, self.dilation_rate, self.kernel_size
        grad_patches = grad_patches.reshape(kh, kw, len(grad_padded), out_h, out_w, -1)
        grad_padded.fill(0)
        for a in range(kh):
            for b in range(kw):                                         # dX_p[window (a, b)] += dP[a, b]
                grad_padded[:, offset_slice(a * dh, sh, out_h), offset_slice(b * dw, sw, out_w)] += \
                    grad_patches[a, b]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "dilation_rate": list(self.dilation_rate)}
