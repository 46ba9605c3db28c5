"""SGD's in-place step through NumPy's BLAS (backend/kernels_optim.py, backend/blas.py) against the staged
reference (optim/sgd.py's ``update``): the same values, the same refusals, and a step applied whole."""
import numpy as np
import pytest

from scratchnn import optim
from scratchnn.backend import blas, kernels_cpu, kernels_optim

pytestmark = pytest.mark.skipif(not blas.available(), reason="NumPy's BLAS not found: the reference runs")

CONFIGS = [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}, {"weight_decay": 0.01},
           {"momentum": 0.8, "weight_decay": 0.01}, {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
           {"clipnorm": 1.0, "momentum": 0.5}]
SHAPES = [(30, 20), (20,), (4, 3, 3, 2)]


def problem(dtype, seed=0, steps=20):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    grads = [[rng.standard_normal(shape).astype(dtype) for shape in SHAPES] for _ in range(steps)]
    return params, grads


def train(optimizer, params, grads_sequence, fast=True):
    params = [p.copy() for p in params]
    with kernels_cpu.disabled() if not fast else kernels_cpu.disabled("conv2d"):
        for grads in grads_sequence:
            assert optimizer.step(list(zip(params, [g.copy() for g in grads])))
    return params


@pytest.mark.parametrize("kwargs", CONFIGS)
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-13), (np.float32, 1e-5)])      # after 20 steps
def test_the_blas_step_equals_the_reference_to_rounding(kwargs, dtype, tolerance):
    params, grads = problem(dtype)
    fast_optimizer = optim.SGD(0.05, **kwargs)
    fast = train(fast_optimizer, params, grads)
    reference = train(optim.SGD(0.05, **kwargs), params, grads, fast=False)
    assert fast_optimizer._scratch == [] and fast_optimizer.iterations == len(grads)    # no staging buffers
    for got, want in zip(fast, reference):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
    assert any(not np.array_equal(got, want) for got, want in zip(fast, reference)) or dtype is np.float32
    if kwargs.get("momentum"):
        staged = optim.SGD(0.05, **kwargs)
        train(staged, params, grads, fast=False)
        for got, want in zip(fast_optimizer.slots, staged.slots):
            np.testing.assert_allclose(got["momentum"], want["momentum"], rtol=tolerance, atol=tolerance)


def test_a_non_finite_gradient_is_refused_as_by_the_reference():
    params, grads = problem(np.float32, steps=1)
    optimizer = optim.SGD(0.1, momentum=0.9)
    train(optimizer, params, grads)
    before, velocity = [p.copy() for p in params], [s["momentum"].copy() for s in optimizer.slots]
    for bad in (np.nan, np.inf, -np.inf):
        broken = [g.copy() for g in grads[0]]
        broken[1][3] = bad
        assert not optimizer.step(list(zip(params, broken))) and not optimizer.last_step_finite
        for old, new in zip(before + velocity, params + [s["momentum"] for s in optimizer.slots]):
            np.testing.assert_array_equal(old, new)
    assert optimizer.iterations == 1 and optimizer._scratch != []         # the staged reference refused them


def test_a_finite_gradient_too_large_to_bound_goes_to_the_reference():
    params, grads = problem(np.float32, steps=2)
    grads[1][1][3] = 3e38                                  # finite, but over half of float32's largest value
    fast = train(optim.SGD(0.1, momentum=0.9), params, grads)
    reference = train(optim.SGD(0.1, momentum=0.9), params, grads, fast=False)
    for got, want in zip(fast, reference):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.isclose(fast[1][3], params[1][3] - 0.1 * 0.9 * grads[0][1][3] - 0.1 * 3e38, rtol=1e-6)


def test_a_step_not_proven_finite_runs_the_staged_reference():
    """A parameter near float32's largest value: the bound cannot prove the result finite, so the staged
    step computes it (and applies it, since it is finite) or refuses it (when it overflows)."""
    optimizer = optim.SGD(1.0)
    param, grad = np.full(4, 3e38, np.float32), np.full(4, -1e37, np.float32)
    assert kernels_optim.sgd_calls([param], [grad], [None], 1.0, 0.0, False, 0.0) is None
    assert optimizer.step([(param, grad)])
    assert optimizer._scratch != []                                     # the staged step ran
    np.testing.assert_array_equal(param, np.float32(3e38) + np.float32(1e37))
    assert not optimizer.step([(param, np.full(4, -1e38, np.float32))])     # 3.1e38 + 1e38 overflows
    np.testing.assert_array_equal(param, np.float32(3e38) + np.float32(1e37))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [0, 1, 7, 1000, 4099])
def test_the_bound_is_above_every_value_and_the_exact_sum(dtype, size, monkeypatch):
    monkeypatch.setattr(kernels_optim, "PIECE", 1024)                  # several pieces for the larger arrays
    rng = np.random.default_rng(size)
    array = (rng.standard_normal(size) * 10.0 ** rng.integers(-20, 20, size)).astype(dtype)
    exact = float(np.abs(array.astype(np.float64)).sum())
    bound = kernels_optim._bound(array.reshape(-1, 1) if size else array)
    assert bound >= exact and bound >= float(np.abs(array).max(initial=0))
    assert bound <= exact * (1 + 1e-3) + 1e-300                       # and close to it


@pytest.mark.parametrize("position", [0, 1023, 1024, 2500, 4098])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_the_bound_is_inf_for_a_nan_or_an_inf_in_any_piece(monkeypatch, position, bad):
    monkeypatch.setattr(kernels_optim, "PIECE", 1024)
    array = np.ones(4099, np.float32)
    array[position] = bad
    assert kernels_optim._bound(array) == np.inf


def test_the_bound_is_inf_when_the_sum_overflows():
    assert kernels_optim._bound(np.full(8, np.finfo(np.float32).max / 2, np.float32)) == np.inf
    assert kernels_optim._bound(np.full(8, 1e38, np.float32)) == np.inf      # 8e38 > float32's largest


@pytest.mark.parametrize("size", [1000, 1 << 20, 3 << 20])
def test_the_bound_allows_for_the_rounding_of_a_float32_sum(monkeypatch, size):
    """BLAS's float32 sum of n non-negative values may fall short of the exact one by a factor 1 - gamma_n
    (Higham): the bound still lies above the exact sum when every piece's sum falls that far short."""
    eps = float(np.finfo(np.float32).eps)
    exact_sum = {}

    def worst_asum(piece):                                           # as low as a correct float32 sum may be
        exact = float(np.abs(piece.astype(np.float64)).sum())
        exact_sum[piece.size] = exact_sum.get(piece.size, 0) + exact
        n_u = (piece.size - 1) * eps / 2
        return exact * (1 - n_u / (1 - n_u))

    monkeypatch.setattr(blas, "asum", worst_asum)
    values = np.full(size, 1.0 + 2.0 ** -23, np.float32)
    exact = float(values.astype(np.float64).sum())
    assert kernels_optim._bound(values) >= exact
    assert sum(exact_sum.values()) == pytest.approx(exact)           # every piece was summed


@pytest.mark.parametrize("make", [
    lambda p: np.broadcast_to(np.float32(0), p.shape),                 # a zeroed gradient's read-only view
    lambda p: np.ones((p.shape[0], 2 * p.shape[1]), np.float32)[:, ::2],    # not contiguous
    lambda p: np.ones(p.shape, np.float64),                            # another dtype
])
def test_arrays_blas_cannot_take_run_the_reference(make):
    param = np.ones((3, 4), np.float32)
    grad = make(param)
    assert kernels_optim.sgd_calls([param], [grad], [None], 0.5, 0.0, False, 0.0) is None
    optimizer = optim.SGD(0.5)
    optimizer.step([(param, grad)])
    np.testing.assert_allclose(param, 1 - 0.5 * np.asarray(grad, np.float32))
    assert optimizer._scratch != []


def test_arrays_of_another_shape_and_the_same_size_are_not_read_flat():
    param, grad = np.ones((3, 4), np.float32), np.ones((4, 3), np.float32)
    assert kernels_optim.sgd_calls([param], [grad], [None], 0.5, 0.0, False, 0.0) is None
    velocity = np.zeros((2, 6), np.float32)
    assert kernels_optim.sgd_calls([param], [param.copy()], [velocity], 0.5, 0.9, False, 0.0) is None
    assert kernels_optim.sgd_calls([param], [param.copy()], [np.zeros((3, 4), np.float32)], 0.5, 0.9, False,
                                   0.0) is not None


def test_without_numpys_blas_the_reference_runs(monkeypatch):
    monkeypatch.setattr(blas, "available", lambda: False)
    params, grads = problem(np.float64, steps=3)
    optimizer = optim.SGD(0.05, momentum=0.9)
    got = train(optimizer, params, grads)
    assert optimizer._scratch != []
    for a, b in zip(got, train(optim.SGD(0.05, momentum=0.9), params, grads, fast=False)):
        np.testing.assert_array_equal(a, b)


def test_an_exception_during_the_calls_finishes_the_step_before_propagating(monkeypatch):
    """A KeyboardInterrupt right after the second BLAS call returns (where CPython raises a signal's
    exception): every call is made exactly once, the step counts, and the exception propagates."""
    params, grads = problem(np.float64, steps=2)
    expected = train(optim.SGD(0.05, momentum=0.9), params, grads)
    optimizer = optim.SGD(0.05, momentum=0.9)
    params = [p.copy() for p in params]
    optimizer.step(list(zip(params, grads[0])))
    made = []
    real = blas.prepare_axpy

    def interrupting_axpy(alpha, x, y):
        function, arguments = real(alpha, x, y)

        def call(*args):
            function(*args)
            made.append(args)
            if len(made) == 2:
                raise KeyboardInterrupt
        return call, arguments

    monkeypatch.setattr(blas, "prepare_axpy", interrupting_axpy)
    with pytest.raises(KeyboardInterrupt):
        optimizer.step(list(zip(params, grads[1])))
    assert len(made) == 2 * len(params) and len(set(made)) == len(made)     # v += g and p -= lr v, once each
    assert optimizer.iterations == 2 and not optimizer.stepping and optimizer.last_step_finite
    for got, want in zip(params, expected):
        np.testing.assert_array_equal(got, want)


def test_run_counts_a_call_that_returned_and_finishes_the_rest():
    order = []

    def record(name, fail=False):
        order.append(name)
        if fail:
            raise KeyboardInterrupt

    calls = [(record, ("a",)), (record, ("b", True)), (record, ("c",)), (record, ("d",))]
    with pytest.raises(KeyboardInterrupt):
        kernels_optim.run(calls)
    assert order == ["a", "b", "c", "d"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_functions_equal_numpy(dtype, rng):
    x, y = rng.standard_normal(1000).astype(dtype), rng.standard_normal(1000).astype(dtype)
    want = y + dtype(-0.3) * x
    function, arguments = blas.prepare_axpy(-0.3, x, y)
    function(*arguments)
    np.testing.assert_allclose(y, want, atol=1e-6 if dtype is np.float32 else 1e-15)
    function, arguments = blas.prepare_scal(0.5, y)
    function(*arguments)
    np.testing.assert_allclose(y, want * dtype(0.5), atol=1e-6 if dtype is np.float32 else 1e-15)
    assert blas.asum(y) == pytest.approx(float(np.abs(y).sum()), rel=1e-5)
    assert blas.usable(x, y) and not blas.usable(x[::2], y[:500]) and not blas.usable(x.astype(np.float16))
    assert not blas.usable(x, y.astype(np.float32 if dtype is np.float64 else np.float64))


def test_the_sgd_kernel_can_be_turned_off():
    params, grads = problem(np.float64, steps=2)
    optimizer = optim.SGD(0.05)
    with kernels_cpu.disabled("sgd"):
        assert optimizer.in_place_calls(params, grads[0], 0.05) is None
    assert optimizer.in_place_calls(params, grads[0], 0.05) is not None


@pytest.mark.parametrize("batch, shared", [(512, True), (8, False)])
def test_the_step_shares_the_cores_as_the_batchs_passes_do(monkeypatch, batch, shared):
    """A batch large enough for scratchnn's own threads runs its step inside the same shared work (BLAS at one
    thread): a step on BLAS's threads would leave them spinning, taking the cores the next forward needs."""
    import scratchnn as snn
    from scratchnn.backend import cpu

    monkeypatch.setattr(cpu, "_settings", cpu.CPUSettings(num_threads=2))
    model = snn.Sequential([snn.layers.Dense(600, activation="relu"), snn.layers.Dense(3)], input_shape=(5,),
                           seed=0)
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.1))
    seen = []
    step = model.optimizer.step
    monkeypatch.setattr(model.optimizer, "step", lambda pairs: (seen.append(cpu.sharing()), step(pairs))[1])
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.standard_normal((batch, 5)).astype(np.float32), rng.integers(0, 3, batch))
    assert len(seen) == 1 and (seen[0] is not None) is shared
    assert cpu.sharing() is None                                     # and left after it


def test_a_functional_model_fed_a_dict_shares_its_step_too(monkeypatch):
    import scratchnn as snn
    from scratchnn.backend import cpu

    monkeypatch.setattr(cpu, "_settings", cpu.CPUSettings(num_threads=2))
    a, b = snn.Input((5,), name="a"), snn.Input((5,), name="b")
    hidden = snn.layers.Dense(600, activation="relu")(snn.layers.Concatenate()([a, b]))
    model = snn.Model([a, b], snn.layers.Dense(3)(hidden))
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.1))
    seen = []
    step = model.optimizer.step
    monkeypatch.setattr(model.optimizer, "step", lambda pairs: (seen.append(cpu.sharing()), step(pairs))[1])
    x = np.random.default_rng(0).standard_normal((512, 5)).astype(np.float32)
    model.train_on_batch({"a": x, "b": x}, np.zeros(512, dtype=int))     # two keys, 512 samples
    assert len(seen) == 1 and seen[0] is not None
