"""Work split over threads (backend.cpu): every block done once, the same numbers as in one thread, errors
still raised; the sharing mode is per context, so a thread that predicts while another trains gets its
own, correct results. (Fast kernels equal to their reference, split and unsplit: tests/test_layers.py.)"""
import os
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import scratchnn as snn
from scratchnn import backend, layers
from scratchnn.backend import cpu

THREE = cpu.CPUSettings(num_threads=3, min_block_work=1)   # every job, however small, in three blocks


@pytest.fixture
def split():
    previous = backend.get_num_threads()
    backend.set_num_threads(3)
    with backend.shared_work(1, THREE):
        yield
    backend.set_num_threads(previous)


def test_parallel_rows_covers_every_row_once(split):
    seen = np.zeros(7, dtype=int)
    blocks = []

    def count(rows):
        seen[rows] += 1
        blocks.append((rows.start, rows.stop))

    backend.parallel_rows(count, 7, 7)
    assert seen.tolist() == [1] * 7
    assert sorted(blocks) == [(0, 2), (2, 4), (4, 7)]


def test_small_work_or_work_outside_shared_work_runs_in_one_call_here():
    calls = []
    backend.parallel_rows(calls.append, 128, 1 << 30)                  # outside shared_work
    with backend.shared_work(1 << 30, cpu.CPUSettings(2)):
        backend.parallel_rows(calls.append, 128, 100)                  # too small to split
    assert calls == [slice(0, 128)] * 2


def test_shared_work_runs_blas_in_one_thread_and_restores_it():
    """NumPy's BLAS (the libraries loaded when scratchnn first shares work) runs one thread per call inside,
    and gets back the thread count it had when the outermost shared_work began."""
    def numpy_blas_threads():
        paths = {library.filepath for library in cpu._blas_controller.lib_controllers}
        return [i["num_threads"] for i in threadpool_info() if i["filepath"] in paths]

    with backend.shared_work(1 << 30, cpu.CPUSettings(2)):
        pass                                                           # finds the libraries once
    before = numpy_blas_threads()
    assert before
    with backend.shared_work(1 << 30, cpu.CPUSettings(2)):
        assert numpy_blas_threads() == [1] * len(before)
        with backend.shared_work(1 << 30, cpu.CPUSettings(2)):         # nested: no change
            assert numpy_blas_threads() == [1] * len(before)
        assert cpu.sharing() is not None
    assert numpy_blas_threads() == before and cpu.sharing() is None


def test_sharing_is_per_thread():
    """Another thread does not run inside this thread's shared_work (the mode is a ContextVar)."""
    seen = {}
    with backend.shared_work(1, THREE):
        worker = threading.Thread(target=lambda: seen.setdefault("other", cpu.sharing()))
        worker.start()
        worker.join()
        seen["this"] = cpu.sharing()
    assert seen == {"other": None, "this": THREE}


@pytest.mark.parametrize("failing_block", [0, 2])
def test_an_exception_in_any_block_is_raised(split, failing_block):
    def work(rows):
        if rows.start == [0, 2, 4][failing_block]:
            raise RuntimeError("block failed")

    with pytest.raises(RuntimeError, match="block failed"):
        backend.parallel_rows(work, 7, 7)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_non_positive_integers(bad):
    with pytest.raises(ValueError, match="positive integer"):
        backend.set_num_threads(bad)


def test_default_threads_follow_the_cpu_allotment_and_the_environment(monkeypatch):
    monkeypatch.setattr(cpu, "_settings", None)
    monkeypatch.delenv("SCRATCHNN_NUM_THREADS", raising=False)
    if hasattr(os, "sched_getaffinity"):
        assert cpu.get_num_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setattr(cpu, "_settings", None)
    monkeypatch.setenv("SCRATCHNN_NUM_THREADS", "5")
    assert cpu.get_num_threads() == 5
    monkeypatch.setattr(cpu, "_settings", None)


@pytest.mark.parametrize("rows", [1, 2, 7, 10])
def test_split_sums_equal_one_sum(split, rng, rows):
    a, c = rng.standard_normal((rows, 5)), rng.standard_normal((rows, 4))
    total = backend.parallel_sum(lambda block: a[block].T @ c[block], rows, rows)
    np.testing.assert_allclose(total, a.T @ c, rtol=1e-13)


def small_cnn(seed=0):
    model = snn.Sequential([layers.Conv2D(4, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                            layers.Conv2D(6, 3, strides=2), layers.ReLU(), layers.Flatten(), layers.Dense(3)],
                           input_shape=(9, 9, 2), seed=seed, dtype="float64")
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=snn.optim.SGD(0.1, momentum=0.9))
    return model


def test_training_split_over_threads_follows_the_one_thread_run(rng, monkeypatch):
    x, y = rng.standard_normal((11, 9, 9, 2)), rng.integers(0, 3, 11)
    alone = small_cnn()
    alone_losses = [alone.train_on_batch(x, y) for _ in range(3)]
    previous = backend.get_num_threads()
    backend.set_num_threads(3)
    monkeypatch.setattr(cpu, "_settings", THREE)
    try:
        shared = small_cnn()
        shared_losses = [shared.train_on_batch(x, y) for _ in range(3)]
    finally:
        backend.set_num_threads(previous)
    np.testing.assert_allclose(shared_losses, alone_losses, rtol=1e-12)
    for mine, theirs in zip(shared.get_weights(), alone.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-13)


def _run_threads(*targets):
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as error:          # reported to the test below
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_predict_from_a_second_thread_while_another_trains(rng, monkeypatch):
    """The training thread shares its work over threads (its own context); a model predicting in a second
    thread meanwhile gets exactly the outputs it gets alone."""
    monkeypatch.setattr(cpu, "_settings", cpu.CPUSettings(2, min_block_work=1))
    trained, watched = small_cnn(0), small_cnn(1)
    x, y = rng.standard_normal((32, 9, 9, 2)), rng.integers(0, 3, 32)
    probe = rng.standard_normal((16, 9, 9, 2))
    expected = watched.predict(probe)
    results = []

    def train():
        for _ in range(20):
            trained.train_on_batch(x, y)

    def predict():
        for _ in range(40):
            results.append(watched.predict(probe))

    _run_threads(train, predict)
    assert len(results) == 40
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_two_threads_predicting_with_one_conv_model_get_right_answers(rng):
    """Conv2D keeps nothing between calls, so concurrent predicts cannot overwrite each other.

    Two predicts at once share the machine's threads (scratchnn's pool and OpenBLAS's), so a concurrent call
    may split its sums differently from a lone one: float32's last digits may differ (docs/guide/models.md,
    "Threads and float64"), measured at 3.6e-7 with numpy 2.4.6 / OpenBLAS 0.3.31. Overwritten scratch
    buffers, the defect this guards against, gave errors up to 0.41: far outside float32 rounding."""
    model = snn.Sequential([layers.Conv2D(8, 3, padding="same", activation="relu"), layers.Flatten(),
                            layers.Dense(10)], input_shape=(28, 28, 1), seed=0)
    batches = [rng.standard_normal((64, 28, 28, 1)).astype("float32") for _ in range(2)]
    expected = [model.predict(b) for b in batches]
    wrong = []

    def predict(k):
        def run():
            for _ in range(50):
                got = model.predict(batches[k])
                scale = np.abs(expected[k]).max()
                if not np.allclose(got, expected[k], rtol=0, atol=1e-5 * scale):    # ~100 float32 ulps
                    wrong.append((k, float(np.abs(got - expected[k]).max())))
        return run

    _run_threads(predict(0), predict(1))
    assert wrong == []
    assert all(not layer.tape for layer in model.layers)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_splits_work_on_threads_of_its_own():
    import signal
    import time

    previous = backend.get_num_threads()
    backend.set_num_threads(2)
    two = cpu.CPUSettings(2, min_block_work=1)
    try:
        with backend.shared_work(1, two):
            backend.parallel_rows(lambda rows: None, 7, 7)             # the parent's pool has a worker,
            time.sleep(0.1)                                            # idle now
            pid = os.fork()
            if pid == 0:                                               # the child must not wait forever
                signal.alarm(20)
                seen = np.zeros(7, dtype=int)

                def count(rows):
                    seen[rows] += 1

                backend.parallel_rows(count, 7, 7)
                os._exit(0 if seen.tolist() == [1] * 7 else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        backend.set_num_threads(previous)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
