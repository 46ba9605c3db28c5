"""Inference from 4 threads at once on every registered layer gives what lone calls give (issue 19).

The layers and their inputs come from the harness's cases (tests/layer_cases.py, the first case of each
registered class), so a new layer is covered as soon as it has cases."""
import threading

import numpy as np
import pytest

from scratchnn.registry import LAYERS

import harness
from layer_cases import CASES

THREADS, CALLS = 4, 25


def first_case_per_layer():
    seen = {}
    for case in CASES:
        seen.setdefault(type(case.make()).__name__, case)
    return seen


def test_every_registered_layer_is_covered():
    assert sorted(set(LAYERS) - set(first_case_per_layer())) == []


@pytest.mark.parametrize("case", list(first_case_per_layer().values()), ids=lambda case: case.id)
def test_inference_from_four_threads_equals_lone_calls(case):
    layer = harness.build(case, "float64")
    rng = harness.case_rng(case, "threads")
    inputs = [harness.make_input(case, rng) for _ in range(THREADS)]
    alone = [np.array(layer.forward(x, training=False), copy=True) for x in inputs]
    start = threading.Barrier(THREADS)
    wrong, errors = [], []

    def work(index):
        try:
            start.wait()
            for _ in range(CALLS):
                y = layer.forward(inputs[index], training=False)
                if not np.array_equal(y, alone[index], equal_nan=True):
                    wrong.append(index)
        except Exception as error:                   # reported below, with the layer's name
            errors.append(repr(error))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[:3]
    assert not wrong, f"{len(wrong)} of {THREADS * CALLS} concurrent calls differ from lone calls"
    assert all(not tape for tape in harness.tapes(layer))              # inference recorded nothing
