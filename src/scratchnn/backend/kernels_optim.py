"""SGD's step in place through NumPy's BLAS, when its result is proven finite beforehand.

The reference (``optim.SGD.update`` and ``Optimizer._staged_step``) writes the new parameters beside the old
ones, checks them for NaN and inf, then copies them in: about eight passes over every parameter per step,
on one core. Here the same step is BLAS's ``axpy`` (and ``scal``) in place, split over the BLAS threads: for
plain SGD one pass that reads p and g and writes p. It stays all or nothing because it runs only after a
proof that every value it writes is finite:

- the sum of squares of each gradient, parameter and velocity is computed first (BLAS's dot product, one
  read). A finite sum means no NaN and no inf in the array, and bounds every element: |x_i| <= ||x||;
- the norms then bound every value the step writes (triangle inequality): the velocity mu v + g' by
  mu ||v|| + ||g'||, the parameter by ||p|| + lr ||d||, with g' = g + wd p and d the step's direction;
- only when every bound is under half the dtype's largest value does the step run; otherwise nothing was
  written and the caller runs the staged reference, which checks the values it computes.

The results equal the reference's to rounding (BLAS fuses a * x + y into one rounding where NumPy rounds
twice); tests/test_optim_fast.py checks them to 1e-13 after 20 float64 steps, and the refusals.
"""
from __future__ import annotations

import math

import numpy as np

from . import blas


def _norm(array) -> float:
    """sqrt(sum of squares) of array, inf when it holds NaN or inf (or its sum of squares overflows)."""
    flat = array.reshape(-1)
    total = float(np.vdot(flat, flat))
    return math.sqrt(total) if math.isfinite(total) else math.inf


def _plan(param, grad, velocity, lr, momentum, nesterov, weight_decay):
    """The BLAS calls of one parameter's step, in order, or None when a value it writes might overflow."""
    axpy, scal = blas.prepare_axpy, blas.prepare_scal
    g, p = _norm(grad), _norm(param)
    decayed = g + weight_decay * p if weight_decay else g            # ||g'||, g' = g + wd p
    calls = []
    if momentum:
        v = momentum * _norm(velocity) + decayed                     # ||v_new|| <= mu ||v|| + ||g'||
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
        if not blas.usable(param, grad, *([velocity] if momentum else [])):
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
