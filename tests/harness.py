"""The layer harness: every check one layer configuration must pass (Keras's ``run_layer_test``, tinygrad's
``helper_test_op``).

``check_layer(case)`` runs them all; ``CHECKS`` names each, and tests/test_layers.py runs every check of every
case in tests/layer_cases.py as its own test. The checks:

contract    built shape == compute_output_shape; grads have the params' keys and shapes; inference records
            nothing; a training forward records at most one entry and backward pops it (a second backward
            raises); outputs differ between training and inference exactly where the case says so; the
            layer calls backend.kernels_cpu on NumPy exactly when the case says so.
float32     float32 in gives float32 out, in forward, backward, the gradients and the buffers, and the same
            numbers as float64 up to float32's precision.
gradients   float64 central differences for the input and every parameter (scratchnn.gradcheck), in
            training and, where it differs, inference mode.
config      get_config() -> JSON -> from_config builds a layer giving the same outputs with the same weights.
save_load   inside a Sequential, model.save / scratchnn.load_model give the same predictions.
twice       used twice, in training and recorded inference (two recorded forwards, two backwards in reverse
            order): the gradients are the sum of the two single uses, the input gradients each use's own
            (float64, 1e-12); input_grad=False adds the same gradients; no argument is written to.
step        one training step of Sequential([layer, Flatten, Dense]) changes the layer's parameters (leaves a
            frozen layer's alone) and lowers the loss.
torch       forward and backward equal PyTorch's (float64), where the case has a PyTorch builder.
fast        the fast NumPy kernel equals the reference code (float64, 1e-12), split over 2 threads and not,
            in training and recorded inference, with and without the input gradient.
namespace   the same forward and backward through a second array namespace (tests/strict_namespace.py) give
            NumPy's numbers, and the results stay in that namespace (training and recorded inference).
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import json
import os
import pathlib
import tempfile
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import gradcheck, layers
from scratchnn.backend import cpu, kernels_cpu
from scratchnn.layers.base import recording

import strict_namespace

BOTH_MODES = ("train", "infer")    # inference backward records inside recording(True) (explanations)
EXACT = 1e-12                      # float64 results that must agree up to rounding
FLOAT32 = 1e-4                     # float32 results against float64 ones (at the array's scale, at least 1:
                                   # y (1 - y) is 0 in float32 where sigmoid's derivative is below 6e-8)


@dataclass(frozen=True)
class Case:
    """One layer configuration.

    make     () -> a fresh, unbuilt layer.
    shape    the input's shape, batch first.
    torch    optional (layer, torch, training) -> (fn, params[, buffers]): fn maps an input tensor in our
             layout to the output in our layout; params maps each of our parameter names to (the torch leaf
             tensor that holds it, a function from that tensor's .grad to our layout); buffers, if given,
             maps buffer names to () -> the value PyTorch implies for it after fn ran.
    inputs   optional (rng, shape) -> x (default: standard normal).
    modes    ("train",) or ("train", "infer") where inference computes something else (Dropout, BatchNorm).
    tol      gradcheck tolerance (relative error, in float64 with eps 1e-6); torch_tol the PyTorch comparison's.
    fast     the layer dispatches to backend.kernels_cpu on NumPy.
    draws    training draws random numbers (Dropout): float32 and float64 draw different ones.
    skip     {check name: reason} for checks that do not apply to this configuration.
    shapes   a layer of several inputs (a merge layer): each input's shape, batch first (``shape`` is the
             first of them); the layer's forward takes a list, its backward returns a list.
    zero_grads  parameters whose gradient the math makes exactly 0 (MultiHeadAttention's key bias: a softmax
             ignores a shift of its logits): checked to be 0, left out of the difference and step checks.
    """
    id: str
    make: Callable
    shape: tuple
    torch: Callable | None = None
    inputs: Callable | None = None
    modes: tuple = ("train",)
    tol: float = 1e-8                  # the worst case today: 1.4e-9 (a strided "same" Conv2D)
    torch_tol: float = 1e-12            # measured today: 6e-16 at worst
    fast: bool = False
    draws: bool = False
    skip: dict = field(default_factory=dict)
    zero_grads: tuple = ()
    shapes: tuple = ()

    def __repr__(self):
        return self.id


# ---- helpers ---------------------------------------------------------------------------------------------
def case_rng(case, salt=0):
    return np.random.default_rng(zlib.crc32(f"{case.id}/{salt}".encode()))


def input_shape(case):
    """The shape (batch excluded) the layer is built for: a list of them for a layer of several inputs."""
    return [tuple(shape[1:]) for shape in case.shapes] if case.shapes else case.shape[1:]


def each(fn, x):
    """fn(x), or [fn(a) for a in x] for the inputs (or input gradients) of a layer of several inputs."""
    return [fn(a) for a in x] if isinstance(x, list) else fn(x)


def listed(x):
    """x as a list: itself for the several inputs of a merge layer, [x] for one array."""
    return x if isinstance(x, list) else [x]


def make_input(case, rng, dtype=np.float64):
    if case.shapes:
        return [make_input(Case(case.id, case.make, shape, inputs=case.inputs), rng, dtype) for shape in case.shapes]
    x = case.inputs(rng, case.shape) if case.inputs is not None else rng.standard_normal(case.shape)
    if np.asarray(x).dtype.kind in "iu":
        return np.asarray(x)                                        # integer ids (Embedding) stay integers
    return np.asarray(x, dtype=dtype)


def takes_ids(x):
    """Integer ids in: the layer returns no input gradient (None) and finite differences skip the input."""
    return not isinstance(x, list) and x.dtype.kind in "iu"


def check_several_inputs(layer, inputs, training):
    """gradcheck.check_layer's errors for a layer of several inputs: "input 0", "input 1", ... and the params."""
    projection = np.random.default_rng(1).standard_normal(layer.forward(inputs, training=training).shape)
    layer.zero_grad()
    with recording(True):
        layer.forward(inputs, training=training)
    grads = layer.backward(projection.copy())

    def loss():
        with recording(False):
            return float((layer.forward(inputs, training=training) * projection).sum())
    errors = {f"input {i}": gradcheck.relative_error(grad, gradcheck.numerical_gradient(loss, x))
              for i, (x, grad) in enumerate(zip(inputs, grads))}
    errors.update({name: gradcheck.relative_error(layer.grads[name], gradcheck.numerical_gradient(loss, param))
                   for name, param in layer.params.items()})
    return errors


def functional_model(case, layer, head=()):
    """scratchnn.Model(inputs, head(layer(inputs))) for a layer of several inputs (Sequential takes one)."""
    inputs = [snn.Input(shape) for shape in input_shape(case)]
    y = layer(inputs)
    for other in head:
        y = other(y)
    return snn.Model(inputs, y, dtype="float64", seed=0)


def check_params_with_ids(layer, ids, training):
    """gradcheck.check_layer's errors for a layer fed integer ids: every parameter, no input."""
    projection = np.random.default_rng(1).standard_normal(layer.forward(ids, training=training).shape)
    layer.zero_grad()
    with recording(True):
        layer.forward(ids, training=training)
    assert layer.backward(projection.copy()) is None, "integer ids have no gradient: backward returns None"

    def loss():
        with recording(False):
            return float((layer.forward(ids, training=training) * projection).sum())
    return {name: gradcheck.relative_error(layer.grads[name], gradcheck.numerical_gradient(loss, param))
            for name, param in layer.params.items()}


def perturb(layer, rng):
    """Weights away from their initial values (a zero bias or a unit gamma hides mistakes); an inner layer's
    "0.bias" (Residual) is a bias too."""
    for name, param in layer.params.items():
        name = name.rsplit(".", 1)[-1]
        if name in ("bias", "beta"):
            param[...] = 0.5 * rng.standard_normal(param.shape)
        elif name == "gamma":
            param[...] = 1 + 0.5 * rng.standard_normal(param.shape)
    for name, buffer in layer.buffers.items():
        name = name.rsplit(".", 1)[-1]
        if name == "moving_mean":
            buffer[...] = 0.5 * rng.standard_normal(buffer.shape)
        elif name == "moving_variance":
            buffer[...] = rng.uniform(0.5, 2.0, buffer.shape)


def build(case, dtype="float64"):
    """A built layer of the case, in dtype, with perturbed weights (the same ones at every call)."""
    layer = case.make()
    layer.dtype = np.dtype(dtype)
    layer.build(input_shape(case), np.random.default_rng(0))
    perturb(layer, case_rng(case, "weights"))
    return layer


def tapes(layer):
    """Every tape the layer's calls use (a Dense / Conv2D with an activation has two)."""
    inner = getattr(layer, "activation", None)
    return [layer.tape] + ([inner.tape] if inner is not None else [])


def rng_state(layer):
    rng = getattr(layer, "rng", None)
    return None if rng is None else copy.deepcopy(rng.bit_generator.state)


def set_rng_state(layer, state):
    if state is not None:
        layer.rng.bit_generator.state = copy.deepcopy(state)


def mode_context(training):
    """Inference-mode calls record only inside recording(True)."""
    return contextlib.nullcontext() if training else recording(True)


def forward_backward(layer, x, grad_out, training, input_grad=True):
    """(y, dx, grads, buffers) of one recorded forward and its backward, gradients zeroed first."""
    layer.zero_grad()
    with mode_context(training):
        y = layer.forward(x, training=training)
    dx = layer.backward(grad_out, input_grad=input_grad)
    grads = {k: np.array(g, copy=True) for k, g in layer.grads.items()}
    buffers = {k: np.array(b, copy=True) for k, b in layer.buffers.items()}
    return y, dx, grads, buffers


def assert_close(actual, expected, tol, what, floor=0.0):
    """|actual - expected| <= tol (|expected| + max(max |expected|, floor)): relative, with values near zero
    judged at the array's scale (or at ``floor`` when the whole array is smaller)."""
    if isinstance(expected, list):                                  # the inputs of a layer of several
        assert isinstance(actual, list) and len(actual) == len(expected), f"{what}: {len(expected)} arrays"
        for i, (got, wanted) in enumerate(zip(actual, expected)):
            assert_close(got, wanted, tol, f"{what} (input {i})", floor)
        return
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    scale = max(float(np.max(np.abs(expected))) if expected.size else 0.0, floor)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


def assert_same_results(got, expected, tol, what, floor=0.0):
    """Two forward_backward results (y, dx, grads, buffers) agree (assert_close)."""
    (y, dx, grads, buffers), (y0, dx0, grads0, buffers0) = got, expected
    assert_close(y, y0, tol, f"{what}: outputs", floor)
    if dx is not None or dx0 is not None:
        assert dx is not None and dx0 is not None, f"{what}: one input gradient is None"
        assert_close(dx, dx0, tol, f"{what}: input gradient", floor)
    assert set(grads) == set(grads0)
    for name in grads0:
        assert_close(grads[name], grads0[name], tol, f"{what}: gradient of {name}", floor)
    for name in buffers0:
        assert_close(buffers[name], buffers0[name], tol, f"{what}: buffer {name}", floor)


def random_grad(case, layer, rng):
    return rng.standard_normal((case.shape[0], *layer.output_shape))


@contextlib.contextmanager
def counting_kernels():
    """The names of the backend.kernels_cpu functions called inside this context, in order."""
    calls = []
    names = [name for name, fn in vars(kernels_cpu).items()
             if inspect.isfunction(fn) and fn.__module__ == kernels_cpu.__name__ and not name.startswith("_")
             and name not in ("enabled", "disabled")]
    originals = {name: getattr(kernels_cpu, name) for name in names}

    def counted(name, fn):
        def call(*args, **kwargs):
            calls.append(name)
            return fn(*args, **kwargs)
        return call

    for name, fn in originals.items():
        setattr(kernels_cpu, name, counted(name, fn))
    try:
        yield calls
    finally:
        for name, fn in originals.items():
            setattr(kernels_cpu, name, fn)


@contextlib.contextmanager
def counting_splits():
    """How many jobs were split over threads inside this context (backend.cpu._run_blocks calls)."""
    counter = [0]
    original = cpu._run_blocks

    def run_blocks(fn, rows, blocks):
        counter[0] += 1
        return original(fn, rows, blocks)

    cpu._run_blocks = run_blocks
    try:
        yield counter
    finally:
        cpu._run_blocks = original


# ---- the checks -------------------------------------------------------------------------------------------
def check_contract(case, tmp_path=None):
    layer = case.make()
    layer.dtype = np.dtype("float64")
    built_shape = layer.build(input_shape(case), np.random.default_rng(0))
    assert built_shape == tuple(layer.compute_output_shape(input_shape(case))) == layer.output_shape
    assert set(layer.grads) == set(layer.params), "grads must have the params' keys"
    for name, param in layer.params.items():
        assert layer.grads[name].shape == param.shape, f"grads[{name!r}] has the shape of params[{name!r}]"
    perturb(layer, case_rng(case, "weights"))
    rng = case_rng(case)
    x = make_input(case, rng)
    with counting_kernels() as calls:
        y = layer.forward(x)
        assert y.shape == (case.shape[0], *built_shape), "forward's output has the built shape"
        assert all(t == [] for t in tapes(layer)), "an inference call records nothing"
        y_train = layer.forward(x, training=True)
        recorded = len(layer.tape)
        assert recorded <= 1, f"one training forward pushed {recorded} entries"
        layer.zero_grad()
        grad_out = random_grad(case, layer, rng)
        dx = layer.backward(grad_out)
    if takes_ids(x):
        assert dx is None, "backward returns None for integer ids"
    else:
        assert each(np.shape, dx) == each(np.shape, x), "backward returns dLoss/dx in the input's shape"
    assert all(t == [] for t in tapes(layer)), "backward pops what its forward recorded"
    for name, param in layer.params.items():
        assert layer.grads[name].shape == param.shape, f"after backward, grads[{name!r}] keeps its shape"
    if recorded:
        with pytest.raises(RuntimeError, match="without a recorded forward"):
            layer.backward(grad_out)
    if "infer" in case.modes:
        assert not np.array_equal(y_train, y), \
            "the case says training and inference differ, and they give the same outputs"
    else:
        np.testing.assert_array_equal(y_train, y, err_msg="training and inference outputs differ: add "
                                      "modes=('train', 'infer') to the case")
    assert bool(calls) == case.fast, (f"the layer called the fast kernels {sorted(set(calls))}" if calls else
                                      "the case says fast=True and the layer called no kernel of kernels_cpu")


def check_float32(case, tmp_path=None):
    reference = build(case)                                         # float64, the same weights
    layer = case.make()
    layer.dtype = np.dtype("float32")
    layer.build(input_shape(case), np.random.default_rng(0))
    layer.set_weights(reference.get_weights())
    rng = case_rng(case)
    x = make_input(case, rng)
    grad_out = random_grad(case, layer, rng)
    x32 = x if takes_ids(x) else each(lambda a: a.astype(np.float32), x)
    grad_out32 = grad_out.astype(np.float32)
    assert layer.forward(x32).dtype == np.float32, "inference output"
    for mode in BOTH_MODES:
        training = mode == "train"
        y, dx, grads, buffers = forward_backward(layer, x32, grad_out32, training)
        assert y.dtype == np.float32, f"{mode}: output"
        assert takes_ids(x) or all(d.dtype == np.float32 for d in listed(dx)), f"{mode}: input gradient"
        for name, grad in grads.items():
            assert grad.dtype == np.float32 and layer.params[name].dtype == np.float32, f"{mode}: {name}"
        for name, buffer in buffers.items():
            assert buffer.dtype == np.float32, f"{mode}: buffer {name}"
        if training and case.draws:
            continue                                                # float32 and float64 draw other numbers
        expected = forward_backward(reference, x, grad_out, training)
        assert_same_results((y, dx, grads, buffers), expected, FLOAT32, f"float32 vs float64 ({mode})", floor=1.0)


def check_gradients(case, tmp_path=None):
    for mode in case.modes:
        layer = build(case)
        x = make_input(case, case_rng(case))
        if takes_ids(x):
            errors = check_params_with_ids(layer, x, training=mode == "train")
            assert set(errors) == set(layer.params)
        elif case.shapes:
            errors = check_several_inputs(layer, x, training=mode == "train")
            assert set(errors) == {*(f"input {i}" for i in range(len(x))), *layer.params}
        else:
            errors = gradcheck.check_layer(layer, x, training=mode == "train")
            assert set(errors) == {"input", *layer.params}
        for name in case.zero_grads:                                # differences there measure only rounding
            assert not np.any(layer.grads[name]), f"{mode} mode: the gradient of {name} must be exactly 0"
            del errors[name]
        try:
            gradcheck.assert_gradients_close(errors, case.tol)
        except AssertionError as error:
            raise AssertionError(f"{mode} mode: {error}") from None


def check_config(case, tmp_path=None):
    layer = build(case)
    config = layer.get_config()
    assert config["name"] == layer.name and config["dtype"] == "float64"
    assert config.get("trainable", True) is layer.trainable and ("trainable" in config) == (not layer.trainable)
    assert snn.registry.LAYERS[type(layer).__name__] is type(layer), "registered by its class name"
    restored = json.loads(json.dumps(config))
    clone = type(layer).from_config(restored)
    assert type(clone) is type(layer) and clone.name == layer.name and clone.trainable == layer.trainable
    assert json.loads(json.dumps(clone.get_config())) == restored, "from_config(get_config()) keeps the config"
    clone.build(input_shape(case), np.random.default_rng(1))
    clone.set_weights(layer.get_weights())
    x = make_input(case, case_rng(case))
    np.testing.assert_array_equal(clone.forward(x), layer.forward(x))
    set_rng_state(clone, rng_state(layer))
    np.testing.assert_array_equal(clone.forward(x, training=True), layer.forward(x, training=True))


def check_save_load(case, tmp_path):
    source = build(case)
    layer = type(source).from_config(source.get_config())
    model = (functional_model(case, layer) if case.shapes
             else snn.Sequential([layer], input_shape=case.shape[1:], dtype="float64", seed=0))
    layer.set_weights(source.get_weights())
    x = make_input(case, case_rng(case))
    expected = model.predict(x)
    np.testing.assert_array_equal(expected, source.forward(x), err_msg="the layer alone and inside a Sequential")
    path = tmp_path / f"{case.id}.snn"
    model.save(path)
    loaded = snn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), expected)
    for ours, theirs in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(theirs, ours)
    assert loaded.layers[0].get_config() == layer.get_config()


def check_twice(case, tmp_path=None):
    layer = build(case)
    rng = case_rng(case)
    x1, x2 = make_input(case, rng), make_input(case, rng)
    g1, g2 = random_grad(case, layer, rng), random_grad(case, layer, rng)
    originals = [copy.deepcopy(a) for a in (x1, x2, g1, g2)]
    for mode in BOTH_MODES:                                         # recorded inference too
        training = mode == "train"
        state1 = rng_state(layer)
        single1 = forward_backward(layer, x1, g1, training)
        single2 = forward_backward(layer, x2, g2, training)         # from the generator's state after x1

        set_rng_state(layer, state1)
        layer.zero_grad()
        with mode_context(training):
            y1 = layer.forward(x1, training=training)
            y2 = layer.forward(x2, training=training)
        dx2 = layer.backward(g2)                                    # the last call first
        dx1 = layer.backward(g1)
        assert all(t == [] for t in tapes(layer)), "two backwards pop both calls"
        what = f"used twice ({mode})"
        assert_close(y1, single1[0], EXACT, f"{what}: first output")
        assert_close(y2, single2[0], EXACT, f"{what}: second output")
        if not takes_ids(x1):
            assert_close(dx1, single1[1], EXACT, f"{what}: first input gradient")
            assert_close(dx2, single2[1], EXACT, f"{what}: second input gradient")
        for name in layer.params:
            assert_close(layer.grads[name], single1[2][name] + single2[2][name], EXACT,
                         f"{what}: gradient of {name} is the sum of both uses")

        set_rng_state(layer, state1)                                # input_grad=False adds the same gradients
        _, dx, grads, _ = forward_backward(layer, x1, g1, training, input_grad=False)
        if dx is not None:
            assert_close(dx, single1[1], EXACT, f"input_grad=False ({mode}): input gradient")
        for name in layer.params:
            assert_close(grads[name], single1[2][name], EXACT, f"input_grad=False ({mode}): gradient of {name}")
    for given, original in zip((x1, x2, g1, g2), originals):     # nothing the caller passed was written to
        for a, b in zip(listed(given), listed(original)):
            np.testing.assert_array_equal(a, b, err_msg="forward or backward changed its argument")


def check_step(case, tmp_path=None):
    layer = case.make()
    model = (functional_model(case, layer, [layers.Flatten(), layers.Dense(2)]) if case.shapes else
             snn.Sequential([layer, layers.Flatten(), layers.Dense(2)], input_shape=case.shape[1:], seed=0,
                            dtype="float64"))
    perturb(layer, case_rng(case, "weights"))
    model.compile(loss="mse", optimizer=snn.optim.SGD(0.01))
    rng = case_rng(case)
    x, y = make_input(case, rng), rng.standard_normal((case.shape[0], 2))
    state = rng_state(layer)

    def loss():
        set_rng_state(layer, state)                                 # the same dropout mask every time
        with recording(False):
            return model.loss.forward(model.forward(x, training=True), y) + model.regularization_loss()

    before = loss()
    set_rng_state(layer, state)
    _, grads = model.compute_gradients(x, y)
    squared = sum(float(np.sum(np.square(g))) for g in grads)
    assert squared > 0
    learning_rate = min(0.1, 0.01 * before / squared)               # a step that lowers the loss by ~1%
    model.compile(loss="mse", optimizer=snn.optim.SGD(learning_rate))
    params = {name: p.copy() for name, p in layer.params.items()}
    set_rng_state(layer, state)
    reported = model.train_on_batch(x, y)
    assert reported == pytest.approx(before, rel=1e-12), "train_on_batch reports the loss before its step"
    after = loss()
    assert after < before, f"one step did not lower the loss: {before} -> {after}"
    for name, old in params.items():
        moved = not np.array_equal(layer.params[name], old)
        should_move = layer.trainable and name not in case.zero_grads
        assert moved == should_move, (f"{name} {'did not change' if should_move else 'changed'} "
                                      f"in a training step (trainable={layer.trainable})")
    assert all(t == [] for lay in model.layers for t in tapes(lay)), "a training step leaves no tape behind"


def check_torch(case, tmp_path=None):
    from conftest import require
    torch = require("torch")
    for mode in case.modes:
        training = mode == "train"
        layer = build(case)
        rng = case_rng(case)
        x = make_input(case, rng)
        grad_out = random_grad(case, layer, rng)
        fn, torch_params, *torch_buffers = case.torch(layer, torch, training)   # before our forward moves
        torch_buffers = torch_buffers[0] if torch_buffers else {}                 # any statistics
        assert set(torch_params) == set(layer.params), "the builder maps every parameter"
        with warnings.catch_warnings():
            warnings.simplefilter("error")                          # no overflow, no invalid value
            y, dx, grads, buffers = forward_backward(layer, x, grad_out, training)
        assert np.isfinite(y).all() and (takes_ids(x) or all(np.isfinite(d).all() for d in listed(dx)))
        x_t = each(lambda a: torch.tensor(a, requires_grad=not takes_ids(a)), x)
        y_t = fn(x_t)
        y_t.backward(torch.tensor(grad_out))
        tol = case.torch_tol
        assert_close(y, y_t.detach().numpy(), tol, f"{mode}: outputs vs torch")
        if not takes_ids(x):
            assert_close(dx, each(lambda t: t.grad.numpy(), x_t), tol, f"{mode}: input gradient vs torch")
        for name, (tensor, to_ours) in torch_params.items():
            if name in case.zero_grads:
                assert not np.any(grads[name]), f"{mode}: the gradient of {name} must be exactly 0"
                continue
            assert_close(grads[name], to_ours(tensor.grad), tol, f"{mode}: gradient of {name} vs torch")
        for name, expected in torch_buffers.items():
            assert_close(buffers[name], expected(), tol, f"{mode}: buffer {name} vs torch")


def check_fast(case, tmp_path=None):
    base = build(case)
    rng = case_rng(case)
    x = make_input(case, rng)
    grad_out = random_grad(case, base, rng)
    split = cpu.CPUSettings(num_threads=2, min_block_work=1)
    for mode in BOTH_MODES:                                         # recorded inference too
        training = mode == "train"
        for input_grad in (True, False):
            with kernels_cpu.disabled(), counting_kernels() as calls:
                reference = forward_backward(copy.deepcopy(base), x, grad_out, training, input_grad)
            assert not calls, "kernels_cpu.disabled() leaves the kernels off"
            with counting_kernels() as calls:
                fast = forward_backward(copy.deepcopy(base), x, grad_out, training, input_grad)
            assert calls, "the layer used no fast kernel"
            with counting_kernels() as calls, counting_splits() as splits, cpu.shared_work(x.size, split):
                shared = forward_backward(copy.deepcopy(base), x, grad_out, training, input_grad)
            assert calls, "the layer used no fast kernel"
            if len(x) > 1:                                          # one sample is not split
                assert splits[0] > 0, "the work was not split over the 2 threads"
            what = f"{mode}, input_grad={input_grad}"
            assert_same_results(fast, reference, EXACT, f"fast kernel ({what})")
            assert_same_results(shared, reference, EXACT, f"fast kernel split over 2 threads ({what})")


def second_namespace():
    """What check_namespace runs through: (array type, host -> it, it -> NumPy, tolerance). The strict namespace
    by default; CuPy on a GPU with SCRATCHNN_TEST_DEVICE=cupy (tools/gpu_check.sh), where another BLAS and
    other kernels round differently, so float64 results agree to 1e-10 rather than 1e-12."""
    if os.environ.get("SCRATCHNN_TEST_DEVICE", "strict") == "cupy":
        import cupy
        return cupy.ndarray, cupy.asarray, cupy.asnumpy, 1e-10
    return strict_namespace.StrictArray, strict_namespace.as_strict, strict_namespace.to_plain, EXACT


def to_strict(layer, move=None):
    """The layer's parameters, gradients and buffers moved into the second namespace (in place)."""
    layer.to_device(move or second_namespace()[1])
    return layer


def check_namespace(case, tmp_path=None):
    StrictArray, as_second, to_host, tolerance = second_namespace()
    base = build(case)
    rng = case_rng(case)
    x = make_input(case, rng)
    grad_out = random_grad(case, base, rng)
    for mode in BOTH_MODES:                                         # recorded inference too
        training = mode == "train"
        with kernels_cpu.disabled():
            expected = forward_backward(copy.deepcopy(base), x, grad_out, training)
        strict = to_strict(copy.deepcopy(base), as_second)
        strict.zero_grad()
        with mode_context(training):
            y = strict.forward(each(as_second, x), training=training)
        dx = strict.backward(as_second(grad_out))
        assert isinstance(y, StrictArray), f"the output left the namespace: {type(y).__name__}"
        assert all(isinstance(d, StrictArray) for d in listed(dx)) or takes_ids(x) and dx is None, \
            f"the input gradient left the namespace: {type(dx).__name__}"
        for name, grad in strict.grads.items():
            assert isinstance(grad, StrictArray), f"the gradient of {name} left the namespace"
        got = (to_host(y), each(to_host, dx), {k: to_host(g) for k, g in strict.grads.items()},
               {k: to_host(b) for k, b in strict.buffers.items()})
        assert_same_results(got, expected, tolerance, f"{StrictArray.__name__} namespace ({mode})")


CHECKS = {
    "contract": check_contract, "float32": check_float32, "gradients": check_gradients, "config": check_config,
    "save_load": check_save_load, "twice": check_twice, "step": check_step, "torch": check_torch,
    "fast": check_fast, "namespace": check_namespace,
}


def applicable(case, name):
    """Whether check ``name`` applies to the case (torch needs a builder, fast a kernel)."""
    if name in case.skip:
        return False
    if name == "torch":
        return case.torch is not None
    if name == "fast":
        return case.fast
    return True


def check_layer(case, tmp_path=None, checks=None):
    """Run every applicable check (or the named ones) of the harness on one layer configuration; model files
    go to tmp_path (a temporary folder if None)."""
    if tmp_path is None:
        with tempfile.TemporaryDirectory() as folder:
            return check_layer(case, pathlib.Path(folder), checks)
    for name in checks or CHECKS:
        if applicable(case, name):
            CHECKS[name](case, tmp_path)
