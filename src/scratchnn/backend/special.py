"""The numerically careful functions, written once: stable sigmoid, softmax, log-softmax, erf.

Every layer, loss, metric and command that needs one of these imports it from here. Each takes its array
module from the input (``namespace``), so the same code runs on NumPy, CuPy or another array namespace.
"""
from __future__ import annotations

import math

from .namespace import namespace


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp is only taken of -|x|.

    >>> import numpy as np; sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    xp = namespace(x)
    z = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, z) / (1 + z)


def softmax(x, axis: int = -1):
    """exp(x_i) / sum_j exp(x_j) along ``axis``, with the max subtracted first (no overflow)."""
    xp = namespace(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    e = xp.exp(shifted)
    return e / xp.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1):
    """x - logsumexp(x), computed with the max subtracted first so it never overflows."""
    xp = namespace(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 1969: three
# rational approximations (|x| <= 0.46875, <= 4, > 4) accurate to double precision.
_ERF_A = (3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153)
_ERF_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_ERFC_C = (0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131,
           881.95222124176909, 1712.04761263407058, 2051.07837782607147, 1230.33935479799725,
           2.15311535474403846e-8)
_ERFC_D = (15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019,
           3290.79923573345963, 4362.61909014324716, 3439.36767414372164, 1230.33935480374942)
_ERFC_P = (0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766,
           6.58749161529837803e-4, 0.0163153871373020978)
_ERFC_Q = (2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191,
           0.00233520497626869185)


def _rational(t, num_coeffs, den_coeffs, steps):
    """Cody's nested evaluation: (((c[-1] t + c0) t + c1) t ...) / (((t + d0) t + d1) t ...)."""
    num, den = num_coeffs[-1] * t, t
    for i in range(steps):
        num, den = (num + num_coeffs[i]) * t, (den + den_coeffs[i]) * t
    return (num + num_coeffs[steps]) / (den + den_coeffs[steps])


def _exp_minus_square(xp, y):
    """exp(-y^2) with y^2 split as (y16^2 + (y - y16)(y + y16)), y16 = y rounded down to 1/16, as Cody does."""
    y16 = xp.trunc(y * 16) / 16
    return xp.exp(-y16 * y16) * xp.exp(-(y - y16) * (y + y16))


def erf(x):
    """The error function of every element, vectorised, accurate to double precision (float64 out).

    >>> import numpy as np; round(float(erf(np.array(1.0))), 12)
    0.84270079295
    """
    xp = namespace(x)
    x = xp.asarray(x, dtype=xp.float64)
    y = xp.abs(x)
    small, large = y <= 0.46875, y > 4
    middle = ~small & ~large
    # each branch is evaluated on values clipped into its own range, then the right one is picked
    ys = xp.minimum(y, 0.46875)
    erf_small = ys * _rational(ys * ys, _ERF_A, _ERF_B, 3)
    ym = xp.clip(y, 0.46875, 4.0)
    erf_middle = 1 - _exp_minus_square(xp, ym) * _rational(ym, _ERFC_C, _ERFC_D, 7)
    yl = xp.maximum(y, 4.0)
    inv_square = 1 / (yl * yl)
    tail = (1 / math.sqrt(math.pi) - inv_square * _rational(inv_square, _ERFC_P, _ERFC_Q, 4)) / yl
    erf_large = 1 - _exp_minus_square(xp, yl) * tail
    result = xp.where(small, erf_small, xp.where(middle, erf_middle, erf_large))
    return xp.where(x < 0, -result, result)
