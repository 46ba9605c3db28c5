"""Attributions: which inputs a prediction rests on (our own backward pass, occlusion, and SHAP).

Gradient methods run ``model.forward(x, training=False)`` and then ``model.backward`` of a one-hot
``dL/dy`` on the explained output, so what comes back is ``d y_target / dx`` computed by the same
backward code that trains the network. They overwrite each layer's ``grads`` (as any backward pass
does) and clear the layers' caches afterwards. Every function returns an array of the shape of ``x``
(one sample or a batch) and explains, per sample, the output ``target``: an int, one int per sample,
or None for the predicted class (the single output of a one-output model). The output explained is
what ``predict`` returns: logits for a model compiled with ``from_logits=True``.
"""
import numpy as np

from . import backend
from .layers.base import recording, shape_str


def saliency(model, x, target=None, absolute=True, batch_size=256):
    """|d y_target / dx| (Simonyan et al., 2014); ``absolute=False`` keeps the sign of the gradient."""
    x, single = _as_batch(model, x, "saliency")
    target = _resolve_target(model, x, target, "saliency")
    grads = _gradients(model, x, target, batch_size)
    return _unbatch(np.abs(grads) if absolute else grads, single)


def gradient_x_input(model, x, target=None, batch_size=256):
    """x * d y_target / dx: the first-order share of each input in y_target (exact for linear models)."""
    x, single = _as_batch(model, x, "gradient_x_input")
    target = _resolve_target(model, x, target, "gradient_x_input")
    return _unbatch(x * _gradients(model, x, target, batch_size), single)


def integrated_gradients(model, x, baseline=None, steps=50, target=None, method="gausslegendre",
                         return_delta=False, batch_size=256):
    r"""Integrated gradients (Sundararajan et al., 2017), all steps of the path in one batched pass.

    :math:`IG_i = (x_i - b_i) \int_0^1 \partial y / \partial x_i (b + \alpha (x - b)) d\alpha`, the
    integral taken with ``steps`` Gauss-Legendre nodes (``method="gausslegendre"``) or midpoints
    (``"riemann_middle"``). Completeness: the attributions sum to ``y(x) - y(baseline)`` as steps grow.

    Args:
        baseline: None (zeros), or an array of the shape of one sample or of ``x``.
        return_delta: also return, per sample, ``sum(IG) - (y(x) - y(baseline))``.
    """
    steps = _check_count("steps", steps, "integrated_gradients")
    x, single = _as_batch(model, x, "integrated_gradients")
    baseline = _as_baseline(x, baseline, "integrated_gradients")
    target = _resolve_target(model, x, target, "integrated_gradients")
    alphas, weights = (values.astype(x.dtype) for values in _path(steps, method))
    path_shape = (steps,) + (1,) * x.ndim
    points = baseline + alphas.reshape(path_shape) * (x - baseline)          # b + a_k (x - b)
    grads = _gradients(model, points.reshape(-1, *x.shape[1:]), np.tile(target, steps), batch_size)
    mean_grad = np.tensordot(weights, grads.reshape(steps, *x.shape), axes=1)   # sum_k w_k dy/dx(point_k)
    attributions = ((x - baseline) * mean_grad).astype(x.dtype)              # IG = (x - b) * mean gradient
    if not return_delta:
        return _unbatch(attributions, single)
    ends = _outputs(model, np.concatenate([x, baseline]), batch_size)
    rows = np.arange(len(x))
    gap = ends[rows, target] - ends[len(x) + rows, target]
    delta = attributions.reshape(len(x), -1).sum(axis=1) - gap
    return _unbatch(attributions, single), (delta[0] if single else delta)


def gradient_shap(model, x, background, samples=200, target=None, seed=None, batch_size=256):
    r"""Expected gradients (SHAP's GradientExplainer): SHAP values of a differentiable model.

    :math:`\phi_i = E_{b \sim background, \alpha \sim U(0, 1)}[(x_i - b_i) \partial y / \partial x_i
    (b + \alpha (x - b))]`, estimated from ``samples`` draws of (b, alpha) per sample of x, the alphas
    stratified (one in each 1/samples of [0, 1]); the attributions sum to ``y(x) - E[y(background)]``
    in expectation. ``seed`` makes the draws reproducible.
    """
    samples = _check_count("samples", samples, "gradient_shap")
    x, single = _as_batch(model, x, "gradient_shap")
    background = _as_background(model, x, background, "gradient_shap")
    target = _resolve_target(model, x, target, "gradient_shap")
    rng = backend.make_rng(seed)
    references = background[rng.integers(0, len(background), size=(samples, len(x)))]   # (s, N, ...)
    strata = rng.permuted(np.broadcast_to(np.arange(samples)[:, None], (samples, len(x))), axis=0)
    alphas = ((strata + rng.uniform(size=strata.shape)) / samples).astype(x.dtype)   # one alpha per 1/s of [0, 1]
    alphas = alphas.reshape(alphas.shape + (1,) * (x.ndim - 1))
    points = references + alphas * (x - references)                         # b + a (x - b)
    grads = _gradients(model, points.reshape(-1, *x.shape[1:]), np.tile(target, samples), batch_size)
    attributions = ((x - references) * grads.reshape(points.shape)).mean(axis=0)   # E[(x - b) dy/dx]
    return _unbatch(attributions.astype(x.dtype), single)


def occlusion(model, x, target=None, window=None, stride=None, baseline=0.0, batch_size=256):
    """How much y_target drops when a window of the input is replaced by ``baseline`` (Zeiler and Fergus).

    Model-agnostic: ``model`` is a Sequential (its ``predict`` is used) or any function of a batch.
    Each input element gets the mean drop over the windows that cover it.

    Args:
        window: window size per input axis; axes left out are covered whole (the channels of an image);
            an int is a square over the first two axes. Default: 1 (each feature alone) for 1-D inputs,
            4 x 4 pixels for images.
        stride: step per axis, given the same way (default: half the window, at least 1).
        baseline: the value put in the window: a number, or an array of the shape of one sample.
    """
    predict = model.predict if hasattr(model, "predict") else model
    if not callable(predict):
        raise TypeError(f"occlusion expected a model or a function of a batch, got {type(model).__name__}")
    x = np.asarray(x)
    single = x.shape == getattr(model, "input_shape", None)
    if single:
        x = x[None]
    if x.ndim < 2:
        raise ValueError(f"occlusion expected a batch of shape (N, ...), got shape {x.shape}")
    sample_shape = x.shape[1:]
    reference = _flat(predict(x))
    target = _check_target(target, reference, "occlusion")
    masks = _window_masks(sample_shape, window, stride)
    fill = np.broadcast_to(_as_fill(baseline, sample_shape), sample_shape).astype(x.dtype)
    drops = np.empty((len(masks), len(x)), dtype=reference.dtype)
    rows = np.arange(len(x))
    chunk = max(1, batch_size // len(x))
    for start in range(0, len(masks), chunk):
        block = masks[start:start + chunk]
        occluded = np.where(block[:, None], fill, x)                            # (windows, N, ...)
        scores = _flat(predict(occluded.reshape(-1, *sample_shape))).reshape(len(block), len(x), -1)
        drops[start:start + len(block)] = reference[rows, target] - scores[:, rows, target]
    coverage = masks.sum(axis=0)
    summed = np.tensordot(drops, masks.astype(drops.dtype), axes=([0], [0]))   # sum of drops over windows
    return _unbatch((summed / coverage).astype(drops.dtype), single)


def shap_values(model, x, background, target=None, feature_names=None, algorithm="auto", max_evals=None,
                seed=0):
    """SHAP values of ``model.predict`` from the shap package's model-agnostic explainer.

    The explainer only sees predictions, with ``background`` (a sample of training rows) standing in
    for missing features (``shap.maskers.Independent``). Returns a ``shap.Explanation`` so that shap's
    plots work (``shap.plots.waterfall(explanation[0])``). ``target`` picks one output column; None
    explains the single output of a one-output model, or every output of a larger one.
    Tabular models only: x of shape (N, features). Needs the optional extra ``scratchnn[explain]``.
    """
    shap = _import_shap()
    _check_built(model, "shap_values")
    if len(model.input_shape) != 1:
        raise ValueError(f"shap_values explains tabular models with inputs (N, features), got a model "
                         f"with inputs {shape_str(model.input_shape)}: use gradient_shap for images")
    x, single = _as_batch(model, x, "shap_values")
    background = _as_background(model, x, background, "shap_values")
    outputs = int(np.prod(model.output_shape))
    if target is not None:
        if np.ndim(target) != 0:
            raise ValueError(f"shap_values expected one output index for all samples, got {target!r}")
        _check_target(target, np.zeros((1, outputs)), "shap_values")

    def predict(rows):
        scores = _flat(model.predict(np.asarray(rows, dtype=model.dtype)))
        if target is not None:
            return scores[:, int(target)]
        return scores[:, 0] if outputs == 1 else scores

    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.Explainer(predict, masker, algorithm=algorithm, feature_names=feature_names, seed=seed)
    explanation = explainer(x, **({} if max_evals is None else {"max_evals": max_evals}))
    return explanation[0] if single else explanation


def _import_shap():
    from ._optional import require
    return require("shap", "shap_values")


# ---- shared machinery -------------------------------------------------------------------------------
def _check_built(model, method):
    if not getattr(model, "built", False):
        raise ValueError(f"{method} needs a built (and trained) model: pass input_shape=... to Sequential "
                         "or fit it first; got a model that was never built")


def _as_batch(model, x, method):
    """x as a batch in the model's dtype, and whether it was a single sample."""
    _check_built(model, method)
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{method} expected a numeric array, got dtype {x.dtype}")
    single = x.shape == model.input_shape
    if single:
        x = x[None]
    if x.shape[1:] != model.input_shape:
        raise ValueError(f"{method}: the model takes inputs of shape {shape_str(model.input_shape)} "
                         f"or {model.input_shape}, got {x.shape}")
    return x.astype(model.dtype, copy=False), single


def _unbatch(values, single):
    return values[0] if single else values


def _check_count(name, value, method):
    from .validation import check_positive_int
    return check_positive_int(name, value, method)


def _as_baseline(x, baseline, method):
    if baseline is None:
        return np.zeros_like(x)
    baseline = np.asarray(baseline, dtype=x.dtype)
    if baseline.shape not in (x.shape[1:], x.shape):
        raise ValueError(f"{method}: baseline must have the shape of one sample {x.shape[1:]} or of the "
                         f"batch {x.shape}, got {baseline.shape}")
    return np.broadcast_to(baseline, x.shape)


def _as_background(model, x, background, method):
    background = np.asarray(background)
    if background.ndim != x.ndim or background.shape[1:] != x.shape[1:] or len(background) == 0:
        raise ValueError(f"{method}: background must be a non-empty batch of samples of shape "
                         f"{shape_str(x.shape[1:])}, got {background.shape}")
    return background.astype(model.dtype, copy=False)


def _as_fill(baseline, sample_shape):
    fill = np.asarray(baseline)
    if fill.ndim and fill.shape != sample_shape:
        raise ValueError(f"occlusion: baseline must be a number or an array of the shape of one sample "
                         f"{sample_shape}, got {fill.shape}")
    return fill


def _flat(outputs):
    outputs = np.asarray(outputs)
    return outputs.reshape(len(outputs), -1)


def _check_target(target, outputs, method):
    """One output index per row of outputs (N, K); None picks the largest output (0 when K == 1)."""
    count, classes = outputs.shape
    if target is None:
        return outputs.argmax(axis=1) if classes > 1 else np.zeros(count, dtype=np.intp)
    target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{method}: target must be an int class index or one per sample, got {target!r}")
    if target.ndim > 1 or (target.ndim == 1 and len(target) != count):
        raise ValueError(f"{method}: target must be one int or {count} ints (one per sample), "
                         f"got shape {target.shape}")
    outside = target[(target < 0) | (target >= classes)]
    if outside.size:
        raise ValueError(f"{method}: target must be a class index in [0, {classes}) for a model with "
                         f"{classes} output(s), got {outside.tolist()}")
    return np.broadcast_to(target, (count,)).astype(np.intp)


def _resolve_target(model, x, target, method):
    classes = int(np.prod(model.output_shape))
    if target is None and classes > 1:
        return _flat(model.predict(x)).argmax(axis=1)
    return _check_target(target, np.zeros((len(x), classes)), method)


def _outputs(model, x, batch_size):
    return _flat(model.predict(x, batch_size=batch_size))


def _gradients(model, x, target, batch_size):
    """d y[n, target[n]] / d x[n] for every row, through model.backward, in chunks of batch_size rows."""
    grads = np.empty_like(x)
    try:
        for start in range(0, len(x), batch_size):
            rows = slice(start, start + batch_size)
            with recording(True):                                           # inference mode, recorded
                outputs = model.forward(x[rows], training=False)
            seed = np.zeros_like(_flat(outputs))
            seed[np.arange(len(seed)), target[rows]] = 1                    # dL/dy = one-hot on the target
            grads[rows] = model.backward(seed.reshape(outputs.shape), input_grad=True)   # dL/dx = dy_t/dx
    finally:
        model.clear_cache()
    return grads


def _path(steps, method):
    """Points alpha_k in (0, 1) and weights w_k with sum_k w_k g(alpha_k) ~ integral_0^1 g."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1) / 2, weights / 2
    if method == "riemann_middle":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1 / steps)
    raise ValueError(f"integrated_gradients: method must be 'gausslegendre' or 'riemann_middle', got {method!r}")


def _window_masks(sample_shape, window, stride):
    """Boolean masks (windows, *sample_shape), one per window position, the outer product of axis masks."""
    if window is None:
        window = 1 if len(sample_shape) == 1 else tuple(min(4, size) for size in sample_shape[:2])
    window = _as_sizes("window", window, sample_shape)
    stride = tuple(max(1, w // 2) for w in window) if stride is None else _as_sizes("stride", stride, sample_shape)
    axis_masks = []
    for size, width, step in zip(sample_shape, window, stride):
        starts = np.arange(0, size - width + 1, step)
        if starts[-1] != size - width:
            starts = np.append(starts, size - width)                          # the last window reaches the edge
        cells = np.arange(size)
        axis_masks.append((cells >= starts[:, None]) & (cells < starts[:, None] + width))
    letters = "abcdefgh"[:len(axis_masks)]
    spec = ",".join(f"{p}{p.upper()}" for p in letters) + "->" + letters + letters.upper()
    masks = np.einsum(spec, *[m.astype(np.uint8) for m in axis_masks]).astype(bool)
    return masks.reshape(-1, *sample_shape)


def _as_sizes(name, value, sample_shape):
    """Per-axis sizes: an int covers the first two axes (the first of 1-D samples); axes left out are whole."""
    scalar = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    values = (value,) * min(2, len(sample_shape)) if scalar else tuple(value)
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in values) \
            or len(values) > len(sample_shape) or any(v > s for v, s in zip(values, sample_shape)):
        raise ValueError(f"occlusion: {name} must be positive ints, one per axis, that fit samples of shape "
                         f"{sample_shape}, got {value!r}")
    return tuple(int(v) for v in values) + tuple(sample_shape[len(values):])
