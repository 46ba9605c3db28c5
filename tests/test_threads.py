"""Work split over threads (backend.parallel_rows, matmul, matmul_at): every block done once, the same
numbers as in one thread, the gradients still right, errors still raised."""
import numpy as np
import pytest
from threadpoolctl import threadpool_info

import scratchnn as snn
from scratchnn import backend, gradcheck, layers

from test_conv import CONV_CASES, POOL_CASES


@pytest.fixture
def split(monkeypatch):
    """Every job, however small, split into blocks over three threads (uneven blocks, as on any machine)."""
    monkeypatch.setattr(backend, "_MIN_BLOCK_WORK", 1)
    previous = backend.get_num_threads()
    backend.set_num_threads(3)
    with backend.shared_work(1):
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


def test_small_work_or_work_outside_shared_work_runs_in_one_call_here(monkeypatch):
    calls = []
    backend.parallel_rows(calls.append, 128, 1 << 30)                  # outside shared_work
    with backend.shared_work(1 << 30):
        backend.parallel_rows(calls.append, 128, 100)                  # too small to split
    assert calls == [slice(0, 128)] * 2


def test_shared_work_runs_blas_in_one_thread_and_restores_it(monkeypatch):
    monkeypatch.setattr(backend, "_num_threads", 2)
    blas_threads = lambda: [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    before = blas_threads()
    with backend.shared_work(1 << 30):
        assert blas_threads() == [1] * len(before)
        with backend.shared_work(1 << 30):                             # nested: no change
            assert blas_threads() == [1] * len(before)
        assert backend._sharing
    assert blas_threads() == before and not backend._sharing


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


@pytest.mark.parametrize("rows", [1, 2, 7, 10])
def test_split_products_equal_numpy(split, rng, rows):
    a, b, c = rng.standard_normal((rows, 5)), rng.standard_normal((5, 4)), rng.standard_normal((rows, 4))
    np.testing.assert_allclose(backend.matmul(a, b, np.empty((rows, 4))), a @ b, rtol=1e-14)
    out = np.empty((5, 4)).T                                          # a transposed view, as Conv2D passes
    np.testing.assert_allclose(backend.matmul_at(c, a, out), c.T @ a, rtol=1e-13)


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv2d_gradients_when_split(split, rng, name):
    args, shape = CONV_CASES[name]
    gradcheck.assert_gradients_close(gradcheck.check_layer(layers.Conv2D(*args), rng.standard_normal(shape)), 1e-7)


@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_pooling_gradients_when_split(split, rng, name):
    make, shape = POOL_CASES[name]
    gradcheck.assert_gradients_close(gradcheck.check_layer(make(), rng.standard_normal(shape)), 1e-7)


@pytest.mark.parametrize("make", [layers.ReLU, lambda: layers.Dense(4), layers.BatchNormalization],
                         ids=["relu", "dense", "batchnorm"])
def test_gradients_when_split(split, rng, make):
    gradcheck.assert_gradients_close(gradcheck.check_layer(make(), rng.standard_normal((5, 6))), 1e-7)


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_of_images_when_split(split, rng, training):
    layer = layers.BatchNormalization(momentum=0.5)
    x = rng.standard_normal((7, 4, 3, 5)) * 3 + 1
    gradcheck.assert_gradients_close(gradcheck.check_layer(layer, x, training=training), 1e-7)
    backend.set_num_threads(1)
    alone = layers.BatchNormalization(momentum=0.5, dtype="float64")
    alone.build(x.shape[1:])
    for built in (layer, alone):
        built.buffers["moving_mean"][...], built.buffers["moving_variance"][...] = 0.5, 2.0
    np.testing.assert_allclose(layer.forward(x, training=training), alone.forward(x, training=training),
                               rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["moving_variance"], alone.buffers["moving_variance"], rtol=1e-12)


def small_cnn():
    model = snn.Sequential([layers.Conv2D(4, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                            layers.Conv2D(6, 3, strides=2), layers.ReLU(), layers.Flatten(), layers.Dense(3)],
                           input_shape=(9, 9, 2), seed=0, dtype="float64")
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=snn.optim.SGD(0.1, momentum=0.9))
    return model


def test_training_split_over_threads_follows_the_one_thread_run(rng, monkeypatch):
    x, y = rng.standard_normal((11, 9, 9, 2)), rng.integers(0, 3, 11)
    alone = small_cnn()
    alone_losses = [alone.train_on_batch(x, y) for _ in range(3)]
    monkeypatch.setattr(backend, "_MIN_BLOCK_WORK", 1)
    previous = backend.get_num_threads()
    backend.set_num_threads(3)
    try:
        shared = small_cnn()
        shared_losses = [shared.train_on_batch(x, y) for _ in range(3)]
    finally:
        backend.set_num_threads(previous)
    np.testing.assert_allclose(shared_losses, alone_losses, rtol=1e-12)
    for mine, theirs in zip(shared.get_weights(), alone.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-13)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_splits_work_on_threads_of_its_own(monkeypatch):
    import os
    import signal
    import time

    monkeypatch.setattr(backend, "_MIN_BLOCK_WORK", 1)
    previous = backend.get_num_threads()
    backend.set_num_threads(2)
    try:
        with backend.shared_work(1):
            backend.parallel_rows(lambda rows: None, 7, 7)             # the parent's pool has a worker,
            time.sleep(0.1)                                            # idle now
            pid = os.fork()
            if pid == 0:                                               # the child must not wait forever
                signal.alarm(20)
                seen = np.zeros(7, dtype=int)

                def count(rows):
                    seen[rows] += 1

                with backend.shared_work(1):
                    backend.parallel_rows(count, 7, 7)
                os._exit(0 if seen.tolist() == [1] * 7 else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        backend.set_num_threads(previous)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
