"""Learning-rate schedules over 1,000 steps against torch's schedulers (or Keras's formulas), configs, errors."""
import json
import math

import numpy as np
import pytest

from conftest import require
from scratchnn import optim, schedules

STEPS = 1000
TOL = 1e-12


def torch_rates(make_scheduler, base_lr=0.1, steps=STEPS):
    """The learning rate of each of `steps` optimizer steps, stepping the scheduler after every one."""
    torch = require("torch")
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=base_lr)
    scheduler = make_scheduler(torch.optim.lr_scheduler, optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


def our_rates(schedule, steps=STEPS):
    return np.array([schedule(step) for step in range(steps)])


TORCH_CASES = {
    "exponential_per_step": (schedules.ExponentialDecay(0.1, 1, 0.995),
                             lambda s, o: s.ExponentialLR(o, gamma=0.995)),
    "exponential_staircase": (schedules.ExponentialDecay(0.1, 100, 0.5, staircase=True),
                              lambda s, o: s.StepLR(o, step_size=100, gamma=0.5)),
    "step": (schedules.StepDecay(0.1, 150, gamma=0.3), lambda s, o: s.StepLR(o, step_size=150, gamma=0.3)),
    "piecewise_constant": (schedules.PiecewiseConstantDecay([299, 599, 899], [0.1, 0.01, 0.001, 0.0001]),
                           lambda s, o: s.MultiStepLR(o, milestones=[300, 600, 900], gamma=0.1)),
    "cosine": (schedules.CosineDecay(0.1, STEPS), lambda s, o: s.CosineAnnealingLR(o, T_max=STEPS)),
    "cosine_alpha": (schedules.CosineDecay(0.1, STEPS, alpha=0.05),
                     lambda s, o: s.CosineAnnealingLR(o, T_max=STEPS, eta_min=0.005)),
    "polynomial_linear": (schedules.PolynomialDecay(0.1, STEPS, end_learning_rate=0.0),
                          lambda s, o: s.PolynomialLR(o, total_iters=STEPS, power=1.0)),
    "polynomial_square_held": (schedules.PolynomialDecay(0.1, 600, end_learning_rate=0.0, power=2.0),
                               lambda s, o: s.PolynomialLR(o, total_iters=600, power=2.0)),
    "one_cycle_cos": (schedules.OneCycle(0.1, STEPS),
                      lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=STEPS, cycle_momentum=False)),
    "one_cycle_linear": (schedules.OneCycle(0.3, STEPS, pct_start=0.25, div_factor=10.0, final_div_factor=100.0,
                                            anneal_strategy="linear"),
                         lambda s, o: s.OneCycleLR(o, max_lr=0.3, total_steps=STEPS, pct_start=0.25,
                                                   div_factor=10.0, final_div_factor=100.0,
                                                   anneal_strategy="linear", cycle_momentum=False)),
    "one_cycle_three_phase": (schedules.OneCycle(0.1, STEPS, three_phase=True),
                              lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=STEPS, three_phase=True,
                                                        cycle_momentum=False)),
}


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_matches_torch_scheduler(name):
    schedule, make_scheduler = TORCH_CASES[name]
    ours, theirs = our_rates(schedule), torch_rates(make_scheduler)
    assert np.ptp(ours) > 0.01                                     # the rate really changes over the run
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOL)


def test_cosine_warmup_matches_torch_linear_then_cosine():
    schedule = schedules.CosineDecay(0.01, 900, alpha=0.1, warmup_target=0.1, warmup_steps=100)
    theirs = torch_rates(lambda s, o: s.SequentialLR(o, [s.LinearLR(o, start_factor=0.1, total_iters=100),
                                                         s.CosineAnnealingLR(o, T_max=900, eta_min=0.01)],
                                                     milestones=[100]))
    np.testing.assert_allclose(our_rates(schedule), theirs, rtol=0, atol=TOL)


KERAS_FORMULAS = {
    "exponential_smooth": (schedules.ExponentialDecay(0.1, 100, 0.5),
                           lambda step: 0.1 * 0.5 ** (step / 100)),
    "cosine_warmup_past_end": (schedules.CosineDecay(0.0, 500, alpha=0.2, warmup_target=0.1, warmup_steps=200),
                               lambda step: 0.1 * step / 200 if step < 200 else
                               0.1 * (0.8 * 0.5 * (1 + math.cos(math.pi * min(step - 200, 500) / 500)) + 0.2)),
    "polynomial_end_rate": (schedules.PolynomialDecay(0.1, 400, end_learning_rate=0.01, power=0.5),
                            lambda step: 0.09 * (1 - min(step, 400) / 400) ** 0.5 + 0.01),
    "polynomial_cycle": (schedules.PolynomialDecay(0.1, 300, end_learning_rate=0.01, cycle=True),
                         lambda step: 0.09 * (1 - step / (300 * max(1, math.ceil(step / 300)))) + 0.01),
}


@pytest.mark.parametrize("name", sorted(KERAS_FORMULAS))
def test_matches_keras_formula(name):
    schedule, formula = KERAS_FORMULAS[name]
    np.testing.assert_allclose(our_rates(schedule), [formula(step) for step in range(STEPS)], rtol=0, atol=TOL)


def test_exact_values_at_the_boundaries():
    piecewise = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [piecewise(s) for s in (0, 10, 11, 20, 21, 10 ** 6)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    cosine = schedules.CosineDecay(0.2, 100, alpha=0.25)
    assert cosine(0) == 0.2 and cosine(100) == pytest.approx(0.05, abs=1e-17) and cosine(5000) == cosine(100)
    assert schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4)(2) == 0.5
    assert schedules.StepDecay(1.0, 3, gamma=0.5)(6) == 0.25
    assert schedules.ExponentialDecay(1.0, 10, 0.5, staircase=True)(29) == 0.25
    cycle = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True)
    assert (cycle(0), cycle(10), cycle(15), cycle(20)) == (1.0, 0.0, 0.25, 0.0)
    one_cycle = schedules.OneCycle(1.0, 100, pct_start=0.3, div_factor=4.0, final_div_factor=10.0)
    assert one_cycle(0) == 0.25 and one_cycle(29) == 1.0 and one_cycle(99) == pytest.approx(0.025, abs=1e-16)


@pytest.mark.parametrize("name", sorted(TORCH_CASES) + sorted(KERAS_FORMULAS))
def test_serialize_round_trip(name):
    schedule = {**TORCH_CASES, **KERAS_FORMULAS}[name][0]
    rebuilt = schedules.deserialize(json.loads(json.dumps(schedules.serialize(schedule))))
    assert type(rebuilt) is type(schedule) and rebuilt.get_config() == schedule.get_config()
    np.testing.assert_array_equal(our_rates(rebuilt, 50), our_rates(schedule, 50))


def test_schedule_drives_an_optimizer_and_survives_its_config():
    adam = optim.Adam(schedules.OneCycle(0.01, 100))
    rebuilt = optim.from_config(json.loads(json.dumps(optim.serialize(adam))))
    assert isinstance(rebuilt.learning_rate, schedules.OneCycle)
    adam.iterations = rebuilt.iterations = 30
    assert adam.current_learning_rate() == rebuilt.current_learning_rate() == schedules.OneCycle(0.01, 100)(30)


@pytest.mark.parametrize("make, message", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), r"ExponentialDecay: decay_steps must be a positive integer, "
                                                      r"got 0"),
    (lambda: schedules.ExponentialDecay(-0.1, 10, 0.5), r"ExponentialDecay: initial_learning_rate must be > 0, "
                                                        r"got -0\.1"),
    (lambda: schedules.StepDecay(0.1, 2.5), r"StepDecay: step_size must be a positive integer, got 2\.5"),
    (lambda: schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5]),
     r"expected len\(values\) == len\(boundaries\) \+ 1, got 2 values for 2 boundaries"),
    (lambda: schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]), r"boundaries must increase strictly"),
    (lambda: schedules.CosineDecay(0.1, 100, alpha=1.5), r"CosineDecay: alpha must be in \[0, 1\], got 1\.5"),
    (lambda: schedules.CosineDecay(0.1, 100, warmup_steps=10), r"warmup_steps needs warmup_target"),
    (lambda: schedules.PolynomialDecay(0.1, 100, power=0), r"PolynomialDecay: power must be > 0, got 0"),
    (lambda: schedules.OneCycle(0.1, 100, pct_start=1.0), r"OneCycle: pct_start must be in \[0, 1\), got 1\.0"),
    (lambda: schedules.OneCycle(0.1, 100, anneal_strategy="exp"),
     r"OneCycle: anneal_strategy must be 'cos' or 'linear', got 'exp'"),
    (lambda: schedules.OneCycle(0.1, 100)(101), r"OneCycle: step 101 is past total_steps=100"),
    (lambda: schedules.StepDecay(0.1, 10)(-1), r"StepDecay: step must be >= 0, got -1"),
    (lambda: schedules.deserialize({"class_name": "Warmup", "config": {}}), r"Unknown learning-rate schedule"),
    (lambda: schedules.serialize(lambda step: 0.1), r"Cannot serialize learning-rate schedule"),
])
def test_invalid_arguments_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_warmup_cosine_rises_over_the_first_epoch_and_ends_at_zero():
    schedule = schedules.warmup_cosine(2e-3, epochs=3, steps_per_epoch=10)
    assert schedule(0) == pytest.approx(2e-4)
    assert schedule(5) == pytest.approx(1.1e-3)                     # halfway up the warmup
    assert schedule(10) == pytest.approx(2e-3)                      # the peak, after one epoch
    assert schedule(20) == pytest.approx(1e-3)                      # halfway down the cosine
    assert schedule(30) == pytest.approx(0.0, abs=1e-15)
    assert schedules.deserialize(schedules.serialize(schedule))(20) == schedule(20)
