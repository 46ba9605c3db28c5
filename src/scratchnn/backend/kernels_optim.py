"""SGD's step in place through NumPy's BLAS, when its result is proven finite beforehand.

The reference (``optim.SGD.update`` and ``Optimizer._staged_step``) writes the new parameters beside the old
ones, checks them for NaN and inf, then copies them in: about eight passes over every parameter per step,
on one core. Here the same step is BLAS's ``axpy`` (and ``scal``) in place, split over the BLAS threads: for
plain SGD one pass that reads p and g and writes p. It stays all or nothing because it runs only after a
proof that every value it writes is finite:

- the sum of absolute values of each gradient, parameter and velocity is computed first (BLAS's ``asum``,
  one read, split over the BLAS threads). A finite sum means no NaN and no inf in the array, and bounds
  every element: |x_i| <= sum |x_j| = ||x||_1. The sum is rounded in the array's dtype: summed 2^20 values at
  a time, each partial sum is at least (1 - gamma) of the exact one (gamma = n u / (1 - n u) for n values
  and the unit roundoff u, Higham's bound for non-negative terms, here with eps for u: 1/7 in float32), so
  the partial sums, added in Python floats and divided by (1 - gamma), bound the exact sum from above;
- the bounds then bound every value the step writes (triangle inequality, element by element): the
  velocity mu v + g' by mu B(v) + B(g'), the parameter by B(p) + lr B(d), with g' = g + wd p and d the
  step's direction;
- only when every bound is under half the dtype's largest value does the step run; otherwise nothing was
  written and the caller runs the staged reference, which checks the values it computes.

The results equal the reference's to rounding (BLAS fuses a * x + y into one rounding where NumPy rounds
twice); tests/test_optim_fast.py checks them to 1e-13 after 20 float64 steps, and the refusals.
"""
from __future__ import annotations

import math

import numpy as np

from . import blas


PIECE = 1 << 20                  # values summed by one BLAS call (see the bound above)


def _bound(array) -> float:
    """An upper bound of every |x_i| of array (its sum of absolute values, rounded up past the rounding of
    that sum), inf when it holds NaN or inf or the sum overflows."""
    flat = array.reshape(-1)
    total = 0.0
    for start in range(0, flat.size, PIECE):
        total += blas.asum(flat[start:start + PIECE])
    if not math.isfinite(total):
        return math.inf
    roundoff = min(flat.size, PIECE) * float(np.finfo(flat.dtype).eps)
    return total / (1 - roundoff / (1 - roundoff))


def _plan(param, grad, velocity, lr, momentum, nesterov, weight_decay):
    """The BLAS calls of one parameter's step, in order, or None when a value it writes might overflow."""
    axpy, scal = blas.prepare_axpy, blas.prepare_scal
    g, p = _bound(grad), _bound(param)
    decayed = g + weight_decay * p if weight_decay else g            # B(g'), g' = g + wd p
    calls = []
    if momentum:
        v = momentum * _bound(velocity) + decayed                    # |v_new| <= mu B(v) + B(g')
        calls += [scal(momentum, velocity), axpy(1.0, grad, velocity)]                         # v = mu v + g
        if weight_decay:
            calls.append(axpy(weight_decay, param, velocity))                                  #   + wd p
        direction = decayed + momentum * v if nesterov else v        # d = g' + mu v_new, or v_new
    else:
        v, direction = 0.0, decayed                                  # d = g'
    limit = np.finfo(param.dtype).max / 2
    if not (v < limit and p + lr * direction < limit):                # NaN < limit is False too
        return None
    if weight_decay and (nesterov or not momentum):                  # d = g + wd p (+ mu v):
        calls.append(scal(1.0 - lr * weight_decay, param))            #   p = (1 - lr wd) p
    if momentum and not nesterov:
        calls.append(axpy(-lr, velocity, param))                                               # p = p - lr v
    else:
        calls.append(axpy(-lr, grad, param))                                                   #   - lr g
        if nesterov:
            calls.append(axpy(-lr * momentum, velocity, param))                                #   - lr mu v
    return calls


def sgd_calls(params, grads, velocities, lr, momentum, nesterov, weight_decay):
    """The BLAS calls of one SGD step of every (param, grad), in place, for ``run``; None when an array does
    not suit BLAS or a value the step writes cannot be proven finite (the staged reference runs instead).
    ``velocities`` holds each parameter's momentum buffer (None without momentum)."""
    calls = []
    for param, grad, velocity in zip(params, grads, velocities):
        arrays = [param, grad, *([velocity] if momentum else [])]
        if not blas.usable(*arrays) or any(a.shape != param.shape for a in arrays):   # BLAS reads them flat
            return None
        planned = _plan(param, grad, velocity, lr, momentum, nesterov, weight_decay)
        if planned is None:
            return None
        calls += planned
    return calls


def run(calls) -> None:
    """Make the calls, in order. An exception arriving during them (a signal) finishes them before it
    propagates, as the staged reference's commit does: a step is applied whole or not at all."""
    # CPython raises a signal's exception only at its checks between bytecodes: after a call returns and at
    # a loop's back edge, never between `done += 1` and the C function it counts (called directly, with no
    # Python function around it). So `done` is the number of calls made when an exception arrives.
    done = 0
    try:
        for function, arguments in calls:
            done += 1
            function(*arguments)
    except BaseException:
        for function, arguments in calls[done:]:
            function(*arguments)
        raise
