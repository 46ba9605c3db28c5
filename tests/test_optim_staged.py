"""The staged optimizer step: new values computed beside the old ones, checked, then committed (optim/base.py)."""
import numpy as np
import pytest

from scratchnn import optim

CONFIGS = [
    ("sgd", {}), ("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("adam", {}), ("adam", {"amsgrad": True, "weight_decay": 0.1}), ("adamw", {}),
    ("rmsprop", {}), ("rmsprop", {"centered": True, "momentum": 0.5}), ("adagrad", {}), ("nadam", {}),
]


def _arrays(rng, dtype=np.float64):
    params = [rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)]
    grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
    return params, grads


@pytest.mark.parametrize("name, kwargs", CONFIGS)
def test_a_step_that_would_overflow_changes_nothing_and_the_next_one_runs(name, kwargs, rng):
    optimizer = optim.OPTIMIZERS[name](learning_rate=0.1, **kwargs)
    assert optimizer.staged
    params, grads = _arrays(rng, np.float32)
    assert optimizer.step(list(zip(params, grads)))
    before, state = [p.copy() for p in params], optimizer.state_dict()
    huge = [np.full_like(g, 3e38) for g in grads]                      # g^2 and lr g overflow float32
    optimizer.learning_rate = 1e38
    assert not optimizer.step(list(zip(params, huge))) and not optimizer.last_step_finite
    optimizer.learning_rate = 0.1
    for old, new in zip(before, params):
        np.testing.assert_array_equal(old, new)
    after = optimizer.state_dict()
    assert after["iterations"] == state["iterations"] == 1
    for old, new in zip(state["slots"], after["slots"]):
        assert old.keys() == new.keys()
        for key in old:
            np.testing.assert_array_equal(old[key], new[key])
    assert optimizer.step(list(zip(params, grads))) and optimizer.iterations == 2
    assert all(np.isfinite(p).all() for p in params) and not hasattr(optimizer, "_backup")


@pytest.mark.parametrize("name, kwargs", CONFIGS)
def test_staged_steps_match_the_same_optimizer_restarted_from_its_state(name, kwargs, rng):
    """Swapping slots with their spares keeps the state a state_dict() reads and a fresh optimizer continues."""
    make = lambda: optim.OPTIMIZERS[name](learning_rate=0.05, **kwargs)            # noqa: E731
    params, grads = _arrays(rng)
    first = make()
    for _ in range(3):
        first.step(list(zip(params, grads)))
    copies = [p.copy() for p in params]
    second = make()
    second.load_state_dict(first.state_dict())
    if name == "nadam":
        second.mu_product = first.mu_product
    for _ in range(2):
        first.step(list(zip(params, grads)))
        second.step(list(zip(copies, grads)))
    for a, b in zip(params, copies):
        np.testing.assert_array_equal(a, b)


def test_an_in_place_subclass_is_backed_up_and_rolled_back(rng):
    class Halving(optim.Optimizer):
        """p <- p / 2 - lr g, in place (not staged)."""

        def update(self, param, grad, slots, lr, scratch):
            param *= 0.5
            param -= lr * grad

    optimizer = Halving(learning_rate=1e38)
    assert not optimizer.staged
    params, grads = _arrays(rng, np.float32)
    grads[1] = np.full_like(grads[1], 1e10)                           # only the second parameter overflows
    before = [p.copy() for p in params]
    assert not optimizer.step(list(zip(params, grads)))
    for old, new in zip(before, params):
        np.testing.assert_array_equal(old, new)
    optimizer.learning_rate = 0.1
    assert optimizer.step(list(zip(params, grads)))
    np.testing.assert_array_equal(params[0], before[0] * np.float32(0.5) - np.float32(0.1) * grads[0])


def _adam_after_one_step(rng):
    """(optimizer, params, grads, what a second step gives: params and an optimizer that made it)."""
    optimizer = optim.Adam(learning_rate=0.1)
    params, grads = _arrays(rng)
    optimizer.step(list(zip(params, grads)))
    expected_params = [p.copy() for p in params]
    reference = optim.Adam(learning_rate=0.1)
    reference.load_state_dict(optimizer.state_dict())
    reference.step(list(zip(expected_params, grads)))
    return optimizer, params, grads, expected_params, reference


def _assert_second_step_done(optimizer, params, expected_params, reference):
    assert optimizer.iterations == 2 and not optimizer.stepping
    for got, want in zip(params, expected_params):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(optimizer.slots, reference.slots):
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_a_signal_during_the_commit_finishes_it_before_propagating(rng, monkeypatch):
    optimizer, params, grads, expected_params, reference = _adam_after_one_step(rng)

    class Interrupting(list):
        """The list of pending commits: a KeyboardInterrupt (as a signal would) after the first one."""

        def pop(self, index=-1):
            item = super().pop(index)
            if len(self) == len(params) - 1:
                raise KeyboardInterrupt
            return item

    monkeypatch.setattr("scratchnn.optim.base.list", Interrupting, raising=False)
    with pytest.raises(KeyboardInterrupt):
        optimizer.step(list(zip(params, grads)))
    monkeypatch.undo()
    _assert_second_step_done(optimizer, params, expected_params, reference)


def test_a_signal_between_two_slot_swaps_of_one_parameter_leaves_each_slot_swapped_once(rng):
    """Adam's m and v are swapped one after the other; an interruption right after the first swap finishes the
    commit (v swapped, m not swapped back) before it propagates."""
    optimizer, params, grads, expected_params, reference = _adam_after_one_step(rng)

    class InterruptedAfterOneSwap(dict):
        """The first parameter's slots: a KeyboardInterrupt (as a signal would) right after the first swap."""
        swaps = []

        def __setitem__(self, key, value):
            super().__setitem__(key, value)
            self.swaps.append(key)
            if len(self.swaps) == 1:
                raise KeyboardInterrupt

    optimizer.slots[0] = InterruptedAfterOneSwap(optimizer.slots[0])
    with pytest.raises(KeyboardInterrupt):
        optimizer.step(list(zip(params, grads)))
    assert InterruptedAfterOneSwap.swaps == ["m", "v"]          # m once, then v when the commit finished
    _assert_second_step_done(optimizer, params, expected_params, reference)
