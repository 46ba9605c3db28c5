"""The CPU kernels' shortcuts (backend/kernels_cpu.py) against the layers' reference code, in float64."""
import numpy as np
import pytest

from scratchnn import layers
from scratchnn.backend import kernels_cpu
from scratchnn.layers.base import recording


def _pool(pool_size, strides, padding, rng):
    layer = layers.MaxPooling2D(pool_size, strides=strides, padding=padding)
    layer.build((9, 8, 3), rng)
    x = rng.standard_normal((5, 9, 8, 3))
    x[0, :2, :2] = 1.0                                           # ties: the first maximum wins
    return layer, x


@pytest.mark.parametrize("pool_size, strides, padding", [(2, 2, "valid"), (3, 2, "same"), (2, 1, "valid")])
def test_max_pool_inference_skips_the_mask_and_gives_the_reference_values(pool_size, strides, padding, rng):
    layer, x = _pool(pool_size, strides, padding, rng)
    y_fast, mask = kernels_cpu.max_pool_forward(layer, layer.pad(x), with_mask=False)
    assert mask is None
    y_masked, _ = kernels_cpu.max_pool_forward(layer, layer.pad(x), with_mask=True)
    with kernels_cpu.disabled("max_pool"):
        y_reference = layer.forward(x, training=False)
    np.testing.assert_allclose(y_fast, y_reference, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(y_fast, y_masked)
    np.testing.assert_array_equal(layer.forward(x, training=False), y_reference)
    assert not layer.tape                                        # inference recorded nothing


@pytest.mark.parametrize("pool_size, strides, padding", [(2, 2, "valid"), (3, 2, "same")])
def test_max_pool_recording_an_inference_call_keeps_the_mask_for_backward(pool_size, strides, padding, rng):
    layer, x = _pool(pool_size, strides, padding, rng)
    grad_out = rng.standard_normal((5, *layer.output_shape))
    with recording(True):
        y = layer.forward(x, training=False)
    grad = layer.backward(grad_out)
    with kernels_cpu.disabled("max_pool"):
        y_reference = layer.forward(x, training=True)
        grad_reference = layer.backward(grad_out)
    np.testing.assert_allclose(y, y_reference, rtol=0, atol=1e-12)
    np.testing.assert_allclose(grad, grad_reference, rtol=0, atol=1e-12)


def test_strided_views_equal_as_strided_and_stay_inside_the_array(rng):
    from numpy.lib.stride_tricks import as_strided
    x = rng.standard_normal((2, 5, 5, 3))
    s_n, s_h, s_w, s_c = x.strides
    shape, strides = (2, 3, 3, 3, 3, 3), (s_n, s_h, s_w, s_h, s_w, s_c)            # 3x3 windows, stride 1
    view = kernels_cpu._strided(x, shape, strides)
    np.testing.assert_array_equal(view, as_strided(x, shape=shape, strides=strides))
    assert view.strides == strides and not view.flags.writeable and np.shares_memory(view, x)
    writeable = kernels_cpu._strided(x, (2, 5, 5, 3), x.strides, writeable=True)
    writeable[1, 4, 4, 2] = 7.0                                                     # writes reach the array
    assert x[1, 4, 4, 2] == 7.0
    strided_input = x[:, ::2]                                                       # not contiguous: as_strided
    s_n, s_h, s_w, s_c = strided_input.strides
    pairs = kernels_cpu._strided(strided_input, (2, 3, 4, 2, 3), (s_n, s_h, s_w, s_w, s_c))   # 2-wide windows
    np.testing.assert_array_equal(pairs[:, :, :, 1], strided_input[:, :, 1:])
    with pytest.raises((ValueError, TypeError)):                                    # past the end: refused
        kernels_cpu._strided(x, (2, 6, 5, 3), x.strides)
