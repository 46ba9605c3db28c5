"""Learning-rate schedules: callables step -> learning rate, usable as any optimizer's learning_rate.

The optimizer calls ``schedule(optimizer.iterations)`` before each update, so step 0 gives the rate of the
first update. That is the rate PyTorch's scheduler gives when ``scheduler.step()`` is called after every
``optimizer.step()`` (per batch, not per epoch).
"""
from __future__ import annotations

import bisect
import math

from .validation import check_non_negative_int, check_number, check_positive_int


def _check_rate(owner: str, name: str, value, strict: bool = False) -> float:
    """A finite number >= 0 (> 0 with strict): "ExponentialDecay: decay_rate must be > 0, got 0"."""
    return check_number(name, value, owner, low=0, low_open=strict)


def _check_step(owner: str, step):
    check_number("step", step, owner, low=0)
    return step


class LearningRateSchedule:
    """Base class: ``schedule(step) -> float`` and ``get_config()`` (the constructor arguments)."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"


class ExponentialDecay(LearningRateSchedule):
    """lr = initial_learning_rate * decay_rate ** (step / decay_steps) (Keras's ExponentialDecay).

    With ``staircase=True`` the exponent is ``floor(step / decay_steps)``: the rate drops every
    decay_steps steps (torch's StepLR with step_size=decay_steps, gamma=decay_rate); decay_steps=1
    is torch's ExponentialLR(gamma=decay_rate).
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        owner = "ExponentialDecay"
        self.initial_learning_rate = _check_rate(owner, "initial_learning_rate", initial_learning_rate, strict=True)
        self.decay_steps = check_positive_int("decay_steps", decay_steps, owner)
        self.decay_rate = _check_rate(owner, "decay_rate", decay_rate, strict=True)
        self.staircase = bool(staircase)

    def __call__(self, step):
        exponent = _check_step("ExponentialDecay", step) / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return self.initial_learning_rate * self.decay_rate ** exponent

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


class StepDecay(LearningRateSchedule):
    """lr = initial_learning_rate * gamma ** (step // step_size) (torch's StepLR)."""

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        self.initial_learning_rate = _check_rate("StepDecay", "initial_learning_rate", initial_learning_rate,
                                                   strict=True)
        self.step_size = check_positive_int("step_size", step_size, "StepDecay")
        self.gamma = _check_rate("StepDecay", "gamma", gamma, strict=True)

    def __call__(self, step):
        return self.initial_learning_rate * self.gamma ** (_check_step("StepDecay", step) // self.step_size)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "step_size": self.step_size,
                "gamma": self.gamma}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i],
    values[-1] after the last boundary (Keras's PiecewiseConstantDecay).

    torch's MultiStepLR(milestones) changes the rate one step later: milestone m is boundary m - 1 here.
    """

    def __init__(self, boundaries, values):
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: expected len(values) == len(boundaries) + 1, got "
                             f"{len(values)} values for {len(boundaries)} boundaries")
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase strictly, got {boundaries}")
        self.boundaries = [_check_rate("PiecewiseConstantDecay", "boundary", b) for b in boundaries]
        self.values = [_check_rate("PiecewiseConstantDecay", "value", v) for v in values]

    def __call__(self, step):
        return self.values[bisect.bisect_left(self.boundaries, _check_step("PiecewiseConstantDecay", step))]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


class CosineDecay(LearningRateSchedule):
    """Cosine annealing with an optional linear warmup (Keras's CosineDecay).

    Without warmup: lr = initial_learning_rate * ((1 - alpha) * c + alpha) with
    c = (1 + cos(pi * min(step, decay_steps) / decay_steps)) / 2, which is torch's
    CosineAnnealingLR(T_max=decay_steps, eta_min=alpha * initial_learning_rate) for step <= decay_steps
    (torch's rate rises again past T_max; this one stays at its floor).
    With ``warmup_target``: lr rises linearly from initial_learning_rate to warmup_target over
    warmup_steps steps, then decays from warmup_target as above over decay_steps more steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        owner = "CosineDecay"
        self.initial_learning_rate = _check_rate(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = check_positive_int("decay_steps", decay_steps, owner)
        self.alpha = check_number("alpha", alpha, owner, low=0, high=1)
        self.warmup_target = None if warmup_target is None else _check_rate(owner, "warmup_target",
                                                                              warmup_target, strict=True)
        self.warmup_steps = check_non_negative_int("warmup_steps", warmup_steps, owner)
        if self.warmup_steps and self.warmup_target is None:
            raise ValueError("CosineDecay: warmup_steps needs warmup_target (the rate reached after warmup)")

    def __call__(self, step):
        step = _check_step("CosineDecay", step)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return (self.warmup_target - self.initial_learning_rate) * fraction + self.initial_learning_rate
        return self._decay(min(step - self.warmup_steps, self.decay_steps), self.warmup_target)

    def _decay(self, step, peak):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PolynomialDecay(LearningRateSchedule):
    """lr = (initial - end) * (1 - step / decay_steps) ** power + end (Keras's PolynomialDecay).

    The step is held at decay_steps afterwards; with ``cycle=True`` decay_steps is instead stretched to
    the next multiple of itself. end_learning_rate=0 gives torch's PolynomialLR(total_iters=decay_steps).
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
        owner = "PolynomialDecay"
        self.initial_learning_rate = _check_rate(owner, "initial_learning_rate", initial_learning_rate,
                                                   strict=True)
        self.decay_steps = check_positive_int("decay_steps", decay_steps, owner)
        self.end_learning_rate = _check_rate(owner, "end_learning_rate", end_learning_rate)
        self.power = _check_rate(owner, "power", power, strict=True)
        self.cycle = bool(cycle)

    def __call__(self, step):
        step = _check_step("PolynomialDecay", step)
        decay_steps = self.decay_steps
        if self.cycle:
            decay_steps *= max(1, math.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        remaining = (1.0 - step / decay_steps) ** self.power
        return (self.initial_learning_rate - self.end_learning_rate) * remaining + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle}


class OneCycle(LearningRateSchedule):
    """The 1cycle policy (Smith & Topin, 2018), as torch's OneCycleLR computes the learning rate.

    The rate anneals from max_learning_rate / div_factor up to max_learning_rate over the first
    pct_start of total_steps, then down to (max_learning_rate / div_factor) / final_div_factor.
    With ``three_phase=True`` it first comes back to the initial rate, then falls to the minimum.
    ``anneal_strategy`` is "cos" (half a cosine between the two rates) or "linear".
    (torch's OneCycleLR also cycles the momentum; this schedule sets only the learning rate.)
    """

    def __init__(self, max_learning_rate, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
                 anneal_strategy="cos", three_phase=False):
        owner = "OneCycle"
        self.max_learning_rate = _check_rate(owner, "max_learning_rate", max_learning_rate, strict=True)
        self.total_steps = check_positive_int("total_steps", total_steps, owner)
        self.pct_start = check_number("pct_start", pct_start, owner, low=0, high=1, high_open=True)
        self.div_factor = _check_rate(owner, "div_factor", div_factor, strict=True)
        self.final_div_factor = _check_rate(owner, "final_div_factor", final_div_factor, strict=True)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycle: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        initial = self.max_learning_rate / self.div_factor
        minimum = initial / self.final_div_factor
        warm_end = self.pct_start * self.total_steps - 1
        if self.three_phase:
            self.phases = [(warm_end, initial, self.max_learning_rate),
                           (2 * self.pct_start * self.total_steps - 2, self.max_learning_rate, initial),
                           (self.total_steps - 1, initial, minimum)]
        else:
            self.phases = [(warm_end, initial, self.max_learning_rate),
                           (self.total_steps - 1, self.max_learning_rate, minimum)]

    def __call__(self, step):
        if _check_step("OneCycle", step) > self.total_steps:
            raise ValueError(f"OneCycle: step {step} is past total_steps={self.total_steps}; "
                             "give total_steps = epochs * batches per epoch")
        start_step = 0.0
        for i, (end_step, start_lr, end_lr) in enumerate(self.phases):
            if step <= end_step or i == len(self.phases) - 1:
                fraction = (step - start_step) / (end_step - start_step)
                return self._anneal(start_lr, end_lr, fraction)
            start_step = end_step

    def _anneal(self, start_lr, end_lr, fraction):
        if self.anneal_strategy == "linear":
            return (end_lr - start_lr) * fraction + start_lr
        return end_lr + (start_lr - end_lr) / 2.0 * (math.cos(math.pi * fraction) + 1)

    def get_config(self):
        return {"max_learning_rate": self.max_learning_rate, "total_steps": self.total_steps,
                "pct_start": self.pct_start, "div_factor": self.div_factor,
                "final_div_factor": self.final_div_factor, "anneal_strategy": self.anneal_strategy,
                "three_phase": self.three_phase}


def warmup_cosine(peak_learning_rate, epochs, steps_per_epoch):
    """The recipe of the digits examples and ``scratchnn train --schedule cosine``: a linear warmup from
    peak / 10 to peak over the first epoch, then a half cosine down to 0 by the end of the last epoch
    (a CosineDecay, so it saves and loads like one)."""
    return CosineDecay(peak_learning_rate / 10, decay_steps=max(1, (epochs - 1) * steps_per_epoch),
                       warmup_target=peak_learning_rate, warmup_steps=steps_per_epoch)


SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, StepDecay, PiecewiseConstantDecay, CosineDecay,
                                           PolynomialDecay, OneCycle)}


def serialize(schedule):
    """{"class_name": ..., "config": ...} for a schedule of this module (JSON-serialisable)."""
    if type(schedule) not in SCHEDULES.values():
        raise ValueError(f"Cannot serialize learning-rate schedule {schedule!r}: use one of {sorted(SCHEDULES)}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    """The schedule described by ``serialize``'s output."""
    if not isinstance(config, dict) or config.get("class_name") not in SCHEDULES:
        raise ValueError(f"Unknown learning-rate schedule {config!r}; valid class names: {sorted(SCHEDULES)}")
    return SCHEDULES[config["class_name"]].from_config(config.get("config", {}))
