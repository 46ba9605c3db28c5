"""Central-difference gradient checks, in float64, for a layer, a loss and a whole model.

Each check compares the analytic gradient (from backward) with
    dL/dtheta_i ~ (L(theta_i + eps) - L(theta_i - eps)) / (2 eps)
and reports the relative error ||analytic - numeric|| / (||analytic|| + ||numeric||) per array.
Values around 1e-8 or less mean agreement; a wrong backward gives errors near 1.
"""
from __future__ import annotations

import numpy as np

from .layers.base import recording


def numerical_gradient(f, array, eps=1e-6):
    """dF/darray by central differences, perturbing ``array`` in place one element at a time."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = f()
        flat[i] = original - eps
        minus = f()
        flat[i] = original
        flat_grad[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic, numeric):
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / denominator) if denominator > 0 else 0.0


def _require_float64(*arrays):
    for a in arrays:
        if a.dtype != np.float64:
            raise ValueError(f"gradient checks need float64 arrays (float32 is too coarse), got {a.dtype}")


def _restoring_rng(layer):
    """Dropout-like layers draw from layer.rng: replay the same draws at every evaluation."""
    rng = getattr(layer, "rng", None)
    state = None if rng is None else rng.bit_generator.state

    def restore():
        if state is not None:
            rng.bit_generator.state = state
    return restore


def check_layer(layer, x, training=True, eps=1e-6, seed=0):
    """Relative errors of dL/dx and of every dL/dparam for L = sum(layer(x) * R), R random.

    The layer must be built in float64 (``build(x.shape[1:], rng)`` is called if it is not).
    Returns {"input": err, "kernel": err, ...}.
    """
    x = np.array(x, dtype=np.float64)
    if not layer.built:
        layer.dtype = np.dtype("float64")
        layer.build(x.shape[1:], np.random.default_rng(seed))
    _require_float64(x, *layer.params.values())
    restore = _restoring_rng(layer)
    restore()
    y = layer.forward(x, training=training)
    projection = np.random.default_rng(seed + 1).standard_normal(y.shape)

    def loss():
        restore()
        with recording(False):                  # finite differences record nothing for backward
            return float((layer.forward(x, training=training) * projection).sum())

    restore()
    layer.clear_cache()
    layer.zero_grad()
    with recording(True):
        layer.forward(x, training=training)
    grad_input = layer.backward(projection.copy())
    analytic = {"input": grad_input, **{k: g.copy() for k, g in layer.grads.items()}}
    errors = {"input": relative_error(analytic["input"], numerical_gradient(loss, x, eps))}
    for name, param in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, param, eps))
    return errors


def check_loss(loss, y_pred, y_true, sample_weight=None, eps=1e-6):
    """Relative error of the loss's backward against central differences in y_pred."""
    y_pred = np.array(y_pred, dtype=np.float64)
    _require_float64(y_pred)
    loss.forward(y_pred, y_true, sample_weight)
    analytic = loss.backward().copy()
    numeric = numerical_gradient(lambda: loss.forward(y_pred, y_true, sample_weight), y_pred, eps)
    return relative_error(analytic, numeric)


def check_model(model, x, y, sample_weight=None, training=True, eps=1e-6):
    """Relative errors of dLoss/dx and of every parameter's gradient for a compiled float64 model.

    Returns {"input": err, "0.Dense.kernel": err, ...}; the loss includes regularization penalties.
    """
    x = np.array(x, dtype=np.float64)
    if not model.built:
        model.build(x.shape[1:])
    _require_float64(x, *(p for p, _ in model.parameters()))
    restores = [_restoring_rng(layer) for layer in model.layers]

    def total_loss():
        for restore in restores:
            restore()
        value = model.loss.forward(model.forward(x, training=training), y, sample_weight)
        return value + model.regularization_loss()

    model.clear_cache()
    model.zero_grad()
    with recording(True):
        total_loss()
    grad_input = model.backward(model.loss.backward())
    for layer in model.unique_layers():
        if layer.regularizers and layer.trainable:
            layer.add_regularization_grads()
    analytic = [g.copy() for _, g in model.parameters()]

    def quiet_loss():
        with recording(False):
            return total_loss()

    errors = {"input": relative_error(grad_input, numerical_gradient(quiet_loss, x, eps))}
    for (name, param), grad in zip(model.named_parameters(), analytic):
        errors[name] = relative_error(grad, numerical_gradient(quiet_loss, param, eps))
    return errors


def assert_gradients_close(errors, tol=1e-6):
    """Raise AssertionError naming every array whose relative error exceeds tol."""
    bad = {k: v for k, v in errors.items() if not v <= tol}
    if bad:
        raise AssertionError(f"gradient check failed (tolerance {tol:g}): " +
                             ", ".join(f"{k}: {v:.3g}" for k, v in bad.items()))
