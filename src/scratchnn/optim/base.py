"""The Optimizer base: the learning rate (a float or a schedule), clipping, the state per parameter, configs.

A subclass writes ``create_slots(param)`` and ``update(param, grad, slots, lr, scratch)``; everything else
(clipping, the scratch buffers, the schedule, checking loaded state, configs) is here.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from .. import schedules
from ..backend import errstate, kernels_optim
from ..backend.namespace import namespace
from ..validation import check_non_negative_int, check_number

LearningRate = float | Callable[[int], float]      # a float or a schedule: step -> learning rate


def _checked(owner, name, value, expected, **bounds):
    """check_number's rule, with the optimizer's own wording of what was expected."""
    try:
        return check_number(name, value, owner, **bounds)
    except ValueError:
        raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}") from None


def _check_lr(owner, learning_rate):
    if callable(learning_rate):
        return learning_rate
    return _checked(owner, "learning_rate", learning_rate, "a positive number or a schedule", low=0, low_open=True)


def _check_fraction(owner, name, value):
    return check_number(name, value, owner, low=0, high=1, high_open=True)          # "must be in [0, 1)"


def _check_non_negative(owner, name, value):
    return _checked(owner, name, value, "a number >= 0", low=0)


def _check_clip(owner, name, value):
    if value is None:
        return None
    _checked(owner, name, value, "a positive number or None", low=0, low_open=True)
    return value


def _finite(array) -> bool:
    """No NaN and no inf in array. A NaN or an inf makes the sum of squares NaN or inf, so a finite one
    settles it in one pass with nothing allocated (BLAS's dot product: a third of the time of ``sum``, 24
    against 82 µs on a 784 x 500 float32 kernel); only one that overflowed from finite values (a value
    beyond about 1e19 in float32) needs the elementwise test."""
    xp = namespace(array)
    flat = array.reshape(-1)
    total = xp.vdot(flat, flat) if hasattr(xp, "vdot") else xp.sum(flat * flat)
    return math.isfinite(float(total)) or bool(xp.all(xp.isfinite(array)))


class Staging(NamedTuple):
    """Where a staged optimizer's ``update`` writes one parameter's new values: ``param`` (the new
    parameter), ``slots`` (the new slots, by name, arrays beside the current ones) and ``work`` (its
    ``work_buffers`` scratch arrays, plus one for the L2 weight-decay gradient)."""
    param: Any
    slots: dict[str, Any]
    work: Any


def _clip_coefficient(norm, max_norm):
    return min(1.0, max_norm / (norm + 1e-6))          # torch: max_norm / (norm + 1e-6), at most 1


class Optimizer:
    """Base class: clipping, the learning rate (a float or a schedule of the step) and the state.

    A subclass writes ``create_slots(param)`` (its state arrays for one parameter) and
    ``update(param, grad, slots, lr, scratch)``, which changes ``param`` in place; ``scratch`` holds
    ``work_buffers`` preallocated arrays shaped like param (plus one for the L2 weight-decay gradient),
    so that a step allocates no parameter-sized temporaries. A subclass with ``staged = True`` leaves
    ``param`` and ``slots`` as they are and writes the new values into ``scratch``, a ``Staging``
    (``scratch.param``, ``scratch.slots``, and ``scratch.work`` for its work buffers): the step then needs
    no backup copy to stay all or nothing. The arrays come from the parameter's own
    array module (``backend.namespace(param)``): NumPy arrays get NumPy state, CuPy arrays CuPy state.
    """

    work_buffers = 1
    decoupled_weight_decay = False
    staged = False                # True: update() writes the new values into a Staging, see step()

    def __init__(self, learning_rate: LearningRate = 0.01, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None,
                 weight_decay: float = 0.0) -> None:
        owner = type(self).__name__
        self.learning_rate = _check_lr(owner, learning_rate)
        clipping = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        for name, value in clipping.items():
            _check_clip(owner, name, value)
        chosen = [name for name, value in clipping.items() if value is not None]
        if len(chosen) > 1:
            raise ValueError(f"{owner}: set at most one of clipnorm, clipvalue and global_clipnorm, got {chosen}")
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.weight_decay = _check_non_negative(owner, "weight_decay", weight_decay)
        self.iterations = 0
        self.slots: list[dict[str, Any]] = []
        self._scratch: list[Any] = []
        self._checked_for: int | None = None   # the number of parameters the slots were last checked against
        self.stepping = False                 # True during step(): fit's signal handlers wait for its end
        self.last_step_finite = True          # False: the last step made a value NaN or inf and was undone

    def current_learning_rate(self) -> float:
        """The learning rate of the next step: the float, or the schedule at ``iterations``."""
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    def clip(self, grads: list) -> list:
        """Clip the gradients in place (clipvalue, clipnorm per parameter or global_clipnorm); return them."""
        if self.clipvalue is not None:
            for grad in grads:
                namespace(grad).clip(grad, -self.clipvalue, self.clipvalue, out=grad)
        elif self.clipnorm is not None:
            for grad in grads:
                coefficient = _clip_coefficient(float(namespace(grad).linalg.norm(grad)), self.clipnorm)
                if coefficient < 1.0:
                    grad *= coefficient                                   # g <- g * clipnorm / (||g|| + 1e-6)
        elif self.global_clipnorm is not None:
            total = math.sqrt(sum(float(namespace(grad).linalg.norm(grad)) ** 2 for grad in grads))
            coefficient = _clip_coefficient(total, self.global_clipnorm)
            if coefficient < 1.0:
                for grad in grads:
                    grad *= coefficient                                   # g <- g * clip / (sqrt(sum ||g||^2) + 1e-6)
        return grads

    def step(self, parameters: Iterable[tuple[Any, Any]]) -> bool:
        """One update of every (param, grad) pair, in place, all or nothing; returns whether it was applied.

        An update that would leave a parameter or a slot NaN or infinite is not applied (returns False;
        ``last_step_finite`` is False); an exception raised during the update (a KeyboardInterrupt) leaves
        everything as it was and propagates. While ``stepping`` is True, fit's Ctrl-C and SIGTERM handlers
        wait for the step to end.

        A ``staged`` optimizer (all of scratchnn's) computes the new values beside the old ones (``update``
        gets a ``Staging`` as its scratch), checks them, then commits them: a copy of each parameter, the
        slots swapped with their spares; nothing to undo. Any other subclass updates in place, after a copy
        of the parameters, the slots and the scalar state (into buffers kept between steps) that a
        non-finite result or an exception restores.
        """
        parameters = list(parameters)
        params = [p for p, _ in parameters]
        grads = self.clip([g for _, g in parameters])
        if not self.slots:
            self.slots = [self.create_slots(p) for p in params]
        if self._checked_for != len(params):
            self._check_slots(params)
            self._checked_for = len(params)
        lr = self.current_learning_rate()
        self.stepping = True
        try:
            calls = self.in_place_calls(params, grads, lr) if self.staged else None
            if calls is not None:
                return self._in_place_step(calls)
            self._make_scratch(params)
            if self.staged:
                return self._staged_step(params, grads, lr)
            return self._backed_up_step(params, grads, lr)
        finally:
            self.stepping = False

    def in_place_calls(self, params, grads, lr):
        """A fast path (SGD's): the backend calls that make this step in place, planned only once every value
        they write is proven finite; None (here, always) runs the staged ``update`` instead."""
        return None

    def _in_place_step(self, calls):
        try:
            kernels_optim.run(calls)
        finally:
            self.iterations += 1                                   # the calls always complete
        self.last_step_finite = True
        return True

    def _make_scratch(self, params):
        count = self.work_buffers + (self.weight_decay > 0 and not self.decoupled_weight_decay) + self.staged
        if len(self._scratch) != len(params) or any(len(buffers) != count for buffers in self._scratch[:1]):
            self._scratch = [namespace(p).empty((count, *p.shape), dtype=p.dtype) for p in params]

    def _staged_step(self, params, grads, lr):
        scalars = self._scalars()
        spares = self._spares()
        try:
            with errstate(over="ignore", invalid="ignore"):     # a non-finite result is not committed
                self.begin_step()
                staged = []
                for param, grad, slots, scratch, spare in zip(params, grads, self.slots, self._scratch, spares):
                    staging = Staging(scratch[0], spare, scratch[1:])
                    self.update(param, grad, slots, lr, staging)
                    staged.append(staging)
                finite = all(_finite(staging.param) and all(_finite(a) for a in staging.slots.values())
                             for staging in staged)
        except BaseException:
            vars(self).update(scalars)                             # begin_step's shared state
            raise
        self.last_step_finite = finite
        if not finite:
            vars(self).update(scalars)
            return False
        try:
            self._commit(params, staged)
        finally:
            self.iterations += 1                                   # the commit always completes
        return True

    def _commit(self, params, staged):
        """New values in: each parameter copied, its slots swapped with the spares. Only copies run here; an
        exception arriving in the middle (a signal) finishes the commit before it propagates."""
        pending = list((param, staging, slots, dict(staging.slots))    # each item's new slot arrays, fixed
                       for param, staging, slots in zip(params, staged, self.slots))     # before any swap

        def commit(param, staging, slots, new_slots):           # idempotent: a slot already swapped is left
            param[...] = staging.param
            for name, new in new_slots.items():
                if slots[name] is not new:
                    staging.slots[name], slots[name] = slots[name], new
        try:
            while pending:
                commit(*pending[0])
                pending.pop(0)
        except BaseException:
            for item in pending:
                commit(*item)
            raise

    def _spares(self):
        """Per parameter, an array beside each slot (same shape, dtype and module) that receives its new value."""
        spares = getattr(self, "_spare", None)
        if spares is None or len(spares) != len(self.slots) or any(
                spare.keys() != slots.keys() or any(type(spare[k]) is not type(a) or spare[k].shape != a.shape
                                                    or spare[k].dtype != a.dtype for k, a in slots.items())
                for spare, slots in zip(spares, self.slots)):
            spares = self._spare = [{k: namespace(a).empty_like(a) for k, a in slots.items()} for slots in self.slots]
        return spares

    def _backed_up_step(self, params, grads, lr):
        arrays = [*params, *(array for slots in self.slots for array in slots.values())]
        scalars = self._save(arrays)
        try:
            with errstate(over="ignore", invalid="ignore"):     # a non-finite result is undone below
                self.begin_step()
                for param, grad, slots, scratch in zip(params, grads, self.slots, self._scratch):
                    self.update(param, grad, slots, lr, scratch)
                self.last_step_finite = all(_finite(array) for array in arrays)
        except BaseException:
            self._restore(arrays, scalars)
            raise
        if not self.last_step_finite:
            self._restore(arrays, scalars)
            return False
        self.iterations += 1
        return True

    def _scalars(self):
        return {key: value for key, value in vars(self).items()
                if isinstance(value, (int, float)) and key not in ("stepping", "last_step_finite")}

    def _save(self, arrays):
        """Copy the arrays into the backup buffers (made once) and return the scalar state."""
        backup = getattr(self, "_backup", [])
        if len(backup) != len(arrays) or any(b.shape != a.shape or b.dtype != a.dtype for b, a in zip(backup, arrays)):
            backup = self._backup = [namespace(a).empty_like(a) for a in arrays]
        for saved, array in zip(backup, arrays):
            saved[...] = array
        return self._scalars()

    def _restore(self, arrays, scalars):
        for saved, array in zip(self._backup, arrays):
            array[...] = saved
        vars(self).update(scalars)

    def _check_slots(self, params):
        owner = type(self).__name__
        if len(self.slots) != len(params):
            raise ValueError(f"{owner} holds state for {len(self.slots)} parameters but was given {len(params)}: "
                             "an optimizer steps the parameters of one model; create a new one for another")
        for i, (param, slots) in enumerate(zip(params, self.slots)):
            expected = sorted(self.create_slots(namespace(param).empty(0, dtype=param.dtype)))   # the names only
            if sorted(slots) != expected:
                raise ValueError(f"{owner}: the state of parameter {i} holds {sorted(slots)}, but this optimizer "
                                 f"keeps {expected}: load the state of an optimizer with the same settings")
            for name, array in slots.items():
                if array.shape != param.shape:
                    raise ValueError(f"{owner}: state {name!r} of parameter {i} has shape {array.shape}, "
                                     f"but the parameter has shape {param.shape}")
                slots[name] = namespace(param).asarray(array, dtype=param.dtype)   # loaded state: param's module

    def begin_step(self) -> None:
        """Hook for state shared by all parameters (Nadam's momentum product)."""

    def create_slots(self, param) -> dict[str, Any]:
        """The state arrays of one parameter, by name (none for plain SGD)."""
        return {}

    def update(self, param, grad, slots: dict[str, Any], lr: float, scratch) -> None:
        """Change ``param`` in place from ``grad``, its ``slots`` and the learning rate ``lr``."""
        raise NotImplementedError

    def l2_gradient(self, param, grad, scratch):
        """g + weight_decay * p in the last scratch buffer (torch's weight_decay), or g itself."""
        if self.weight_decay == 0 or self.decoupled_weight_decay:
            return grad
        xp = namespace(param)
        decayed = scratch[-1]
        xp.multiply(param, self.weight_decay, out=decayed)                  # g' = g + wd * p
        decayed += grad
        return decayed

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments; a schedule as {"class_name", "config"} (a plain function stays as is)."""
        lr = self.learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        return {"learning_rate": lr, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "weight_decay": self.weight_decay}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """A new optimizer of this class from ``get_config()``'s output (a schedule dict is rebuilt)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def state_dict(self) -> dict[str, Any]:
        """{"iterations": int, "slots": [{name: array}, ...]} (copies), plus any shared state."""
        return {"iterations": self.iterations, "slots": [{k: a.copy() for k, a in s.items()} for s in self.slots]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``'s output; the arrays move to the parameters' module at the next step.

        ``iterations`` must be an integer >= 0 and every slot array finite (ValueError otherwise)."""
        iterations = state["iterations"]
        if isinstance(iterations, float) and iterations.is_integer():
            iterations = int(iterations)
        self.iterations = check_non_negative_int("iterations", iterations, type(self).__name__)
        for index, slots in enumerate(state["slots"]):
            for name, array in slots.items():
                if not _finite(array):
                    raise ValueError(f"{type(self).__name__}: state {name!r} of parameter {index} holds NaN or "
                                     "infinite values")
        self.slots = [{k: namespace(a).array(a, copy=True) for k, a in s.items()} for s in state["slots"]]
        self._scratch, self._checked_for = [], None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"
