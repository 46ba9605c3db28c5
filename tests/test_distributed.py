"""scratchnn.distributed on a local Ray cluster of 2 CPUs started here (module fixture): data-parallel fit equal
to one process, fault recovery after a worker's process is killed, errors, threads, and parallel trials."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import scratchnn as snn
from scratchnn import backend, layers
from scratchnn.callbacks import Callback
from scratchnn.distributed import ASHA, MedianStopping, RayStrategy, grid, sample_space
from scratchnn.distributed.data import Plan
from scratchnn.distributed.reduce import chunks, flatten, reduce_chunk

from conftest import require


# ---- without a cluster ------------------------------------------------------------------------------------
def test_import_scratchnn_does_not_import_ray():
    code = "import sys, scratchnn, scratchnn.distributed; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_missing_ray_names_the_extra(monkeypatch):
    from scratchnn.distributed.cluster import ray_module
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'scratchnn\[ray\]'"):
        ray_module()


def test_unreachable_cluster_is_a_clear_error_within_the_timeout():
    require("ray")
    code = textwrap.dedent("""
        import time
        from scratchnn.distributed import ClusterError, connect
        for address in ("127.0.0.1:1", "ray://192.0.2.1:10001"):
            start = time.monotonic()
            try:
                connect(address, timeout=1.0)
            except ClusterError as error:
                print(round(time.monotonic() - start, 1) < 5, error)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 2, out
    assert lines[0].startswith("True cannot reach the Ray cluster at '127.0.0.1:1'")
    assert lines[1].startswith("True cannot reach the Ray cluster at 'ray://192.0.2.1:10001'")


def test_batch_plan_covers_every_row_once_with_unequal_last_batch():
    plans = [Plan(rank, 3, 0, 23, 8, "batch") for rank in range(3)]
    rng = np.random.default_rng(0)
    for plan in plans:
        plan.begin_epoch(True, np.random.default_rng(1), 0, 0)
    order = np.random.default_rng(1).permutation(23)
    for step in range(3):
        parts = [plan.rows(step) for plan in plans]
        np.testing.assert_array_equal(np.concatenate(parts), order[step * 8:(step + 1) * 8])
    assert [len(p) for p in (plan.rows(2) for plan in plans)] == [2, 2, 3]
    blocks = [Plan(rank, 2, 0, 23, 8, "block") for rank in range(2)]
    for plan in blocks:
        plan.begin_epoch(True, rng, 5, 0)
    seen = np.concatenate([plan.rows(step) for plan in blocks for step in range(plan.steps)])
    assert sorted(seen.tolist()) == list(range(23))
    assert set(blocks[0].rows(0).tolist()) <= set(range(11))


def test_reduce_weights_parts_by_their_sample_counts():
    grads = [[np.array([1.0, 2.0, 3.0])], [np.array([5.0, 6.0, 7.0])]]     # means over 3 and 1 samples
    counts = [3, 1]
    pieces = [chunks(flatten(g, n, np.dtype("float64")), 2) for g, n in zip(grads, counts)]
    reduced = np.concatenate([reduce_chunk(counts, [p[j] for p in pieces]) for j in range(2)])
    np.testing.assert_allclose(reduced, (3 * np.array([1.0, 2, 3]) + np.array([5.0, 6, 7])) / 4)


def test_grid_and_random_spaces():
    points = grid({"learning_rate": [0.1, 0.01], "width": [8, 16, 32], "dropout": 0.0})
    assert len(points) == 6 and points[0] == {"learning_rate": 0.1, "width": 8, "dropout": 0.0}
    drawn = sample_space({"learning_rate": {"loguniform": [1e-4, 1e-2]}, "width": [8, 16],
                          "dropout": {"uniform": [0.0, 0.5]}}, 20, seed=3)
    assert drawn == sample_space({"learning_rate": {"loguniform": [1e-4, 1e-2]}, "width": [8, 16],
                                  "dropout": {"uniform": [0.0, 0.5]}}, 20, seed=3)
    assert all(1e-4 <= p["learning_rate"] <= 1e-2 and p["width"] in (8, 16) and 0 <= p["dropout"] <= 0.5
               for p in drawn)
    with pytest.raises(ValueError, match="distribution"):
        grid({"learning_rate": {"uniform": [0, 1]}})
    with pytest.raises(ValueError, match="loguniform needs 0 < low < high"):
        sample_space({"learning_rate": {"loguniform": [0, 1]}}, 1)


def test_asha_keeps_the_best_third_at_each_rung_and_median_rule_stops_worse_trials():
    asha = ASHA(grace_epochs=1, reduction_factor=3)
    assert asha.rungs(9) == [1, 3] and asha.next_stop(0, 9) == 1 and asha.next_stop(1, 9) == 3
    kept = [asha.keep(i, 1, [value], minimize=True) for i, value in enumerate([0.5, 0.9, 0.2, 0.8, 0.7, 0.1])]
    assert kept == [True, False, True, False, False, True]
    median = MedianStopping(grace_epochs=1, min_trials=3)
    assert median.keep(0, 1, [0.5], True) and median.keep(1, 1, [0.4], True)
    assert not median.keep(2, 1, [0.9], True) and median.keep(3, 1, [0.1], True)


def _model(optimizer="sgd", dtype="float64", extra=(), seed=1):
    model = snn.Sequential([layers.Dense(16, activation="relu"), *extra, layers.Dense(3)], input_shape=(10,),
                           seed=seed, dtype=dtype)
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer=optimizer,
                  metrics=["accuracy"])
    return model


def _data(n=203):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 10))
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)


def _max_difference(a, b):
    return max(float(np.abs(p - q).max()) for p, q in zip(a.get_weights(), b.get_weights()))


def test_worker_dropout_draws_differ_by_rank_and_repeat_with_the_seed():
    from scratchnn.distributed.worker import Worker
    x, y = _data(64)
    train = {"x": x, "y": y, "w": None, "start": 0, "stop": 64}
    options = {"cpus": backend.get_num_threads(), "batch_size": 64, "shuffle": False, "sharding": "batch",
               "seed": 7}
    threads = backend.get_num_threads()
    with threadpool_limits(limits=None):
        made = [Worker(rank, 2, _model(extra=[layers.Dropout(0.5)]), train, options) for rank in (0, 1, 0)]
    backend.set_num_threads(threads)
    for worker in made:
        worker.plan.rows = made[0].plan.rows                    # the same rows: only the draws can differ
        worker.begin_epoch(0)
    grads = [np.concatenate(worker.compute(0)[1:]) for worker in made]
    assert np.array_equal(grads[0], grads[2])                  # rank 0 twice: the same draws
    assert not np.allclose(grads[0], grads[1])                 # rank 1: other units dropped


# ---- on a local Ray cluster --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    ray = require("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ray
    if started:
        ray.shutdown()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_workers_equal_one_process_in_float64(cluster, optimizer):
    x, y = _data()                                             # 203 = 6 * 32 + 11: an uneven last batch
    alone, parallel = _model(optimizer), _model(optimizer)
    expected = alone.fit(x, y, epochs=3, batch_size=32, verbose=0)
    got = parallel.fit(x, y, epochs=3, batch_size=32, verbose=0, strategy=RayStrategy(num_workers=2))
    assert _max_difference(alone, parallel) < 1e-10
    np.testing.assert_allclose(got.history["loss"], expected.history["loss"], rtol=1e-12)
    np.testing.assert_allclose(got.history["accuracy"], expected.history["accuracy"], rtol=1e-12)
    assert alone.optimizer.iterations == parallel.optimizer.iterations == 21


@pytest.mark.slow
@pytest.mark.parametrize("reduce", ["object_store", "collective"])
def test_two_workers_equal_one_process_in_float32_to_rounding(cluster, reduce):
    if reduce == "collective":
        require("torch")                                       # gloo comes with torch
    x, y = _data()
    alone, parallel = _model("adam", "float32"), _model("adam", "float32")
    alone.fit(x, y, epochs=2, batch_size=32, verbose=0)
    parallel.fit(x, y, epochs=2, batch_size=32, verbose=0, strategy=RayStrategy(num_workers=2, reduce=reduce))
    scale = max(float(np.abs(w).max()) for w in alone.get_weights())
    assert _max_difference(alone, parallel) < 1e-5 * scale      # float32 rounding of sums in another order


class _KillWorker(Callback):
    """Kills worker 1's process (SIGKILL) at a given epoch and batch, once; records the workers' threads."""

    def __init__(self, strategy, epoch, batch):
        self.strategy, self.at, self.epoch, self.killed, self.info = strategy, (epoch, batch), None, None, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if self.killed is None and (self.epoch, batch) == self.at:
            self.info = self.strategy.worker_info()
            self.killed = self.info[1]["pid"]
            os.kill(self.killed, signal.SIGKILL)


def test_killed_worker_resumes_from_the_checkpoint_and_loses_nothing(cluster, tmp_path):
    x, y = _data()
    alone, parallel = _model("adam"), _model("adam")
    alone.fit(x, y, epochs=3, batch_size=32, verbose=0)
    strategy = RayStrategy(num_workers=2, checkpoint_dir=tmp_path)
    killer = _KillWorker(strategy, epoch=1, batch=2)
    with pytest.warns(RuntimeWarning, match="a worker was lost during epoch 2"):
        history = parallel.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[killer], strategy=strategy)
    assert killer.killed is not None and strategy.failures == 1
    assert history.epoch == [0, 1, 2]
    assert _max_difference(alone, parallel) < 1e-10              # the redone epoch is the one that was lost
    assert parallel.optimizer.iterations == alone.optimizer.iterations
    assert (tmp_path / "checkpoint.snn").exists()
    assert '"completed_epochs": 3' in (tmp_path / "progress.json").read_text()
    assert all(info["threads"] == 1 and info["blas_threads"] == 1 for info in killer.info)


def test_a_worker_that_raises_surfaces_its_traceback_and_stops_every_worker(cluster):
    x, y = _data()
    strategy = RayStrategy(num_workers=2)
    strategy._fail_at = (1, 0, 2)
    with pytest.raises(RuntimeError, match="worker 1 failed on purpose at epoch 1, step 3") as caught:
        _model().fit(x, y, epochs=2, batch_size=32, verbose=0, strategy=strategy)
    assert "worker.py" in str(caught.value) and "in compute" in str(caught.value)    # the remote traceback
    assert strategy.workers == []
    deadline = time.monotonic() + 10
    while cluster.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cluster.available_resources().get("CPU", 0) == 2         # both actors gone


def test_too_many_cpus_is_refused_at_once(cluster):
    x, y = _data(40)
    with pytest.raises(ConnectionError, match="needs 4 CPUs and the Ray cluster has 2"):
        _model().fit(x, y, strategy=RayStrategy(num_workers=4), verbose=0)


@pytest.mark.slow
def test_memory_mapped_files_block_sharding_batchnorm_and_dropout(cluster, tmp_path):
    x, y = _data(400)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    runs = []
    for _ in range(2):
        model = _model(snn.optim.Adam(0.01), extra=[layers.BatchNormalization(momentum=0.9), layers.Dropout(0.2)])
        history = model.fit(str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), epochs=4, batch_size=32, verbose=0,
                            validation_split=0.25, strategy=RayStrategy(num_workers=2, sharding="block", seed=3))
        runs.append((model, history))
    (first, history), (second, _) = runs
    assert _max_difference(first, second) == 0                    # dropout draws repeat with the seed
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.6
    norm = next(layer for layer in first.layers if isinstance(layer, layers.BatchNormalization))
    assert not np.allclose(norm.buffers["moving_mean"], 0)       # the workers' averaged statistics


@pytest.mark.slow
def test_search_with_asha_saves_the_best_model(cluster, tmp_path):
    from scratchnn.distributed import search
    x, y = _data(300)

    def build(params, seed):
        model = snn.Sequential([layers.Dense(params["width"], activation="relu"), layers.Dense(3)],
                               input_shape=(10,), seed=seed)
        model.compile(loss="sparse_categorical_crossentropy", from_logits=True,
                      optimizer=snn.optim.Adam(params["learning_rate"]), metrics=["accuracy"])
        return model

    # one trial at a time, so that ASHA sees the results in grid order: the two at 1e-5 are stopped at the
    # first rung, being worse than the median of what it has recorded there
    result = search(build, {"learning_rate": [3e-2, 1e-5], "width": [4, 32]}, x[:240], y[:240],
                    validation_data=(x[240:], y[240:]), epochs=4, batch_size=32, method="grid", max_concurrent=1,
                    scheduler=ASHA(grace_epochs=1, reduction_factor=2), out=tmp_path / "best.snn", verbose=0)
    assert [t.status for t in result.trials][2:] == ["stopped", "stopped"]
    assert [t.epochs for t in result.trials][2:] == [1, 1] and result.trials[0].epochs == 4
    assert result.best_params["learning_rate"] == 3e-2
    best = snn.load_model(tmp_path / "best.snn")
    assert best.evaluate(x[240:], y[240:])["loss"] == pytest.approx(result.best_value, rel=1e-5)


@pytest.mark.slow
def test_tune_command_line(cluster, tmp_path, capsys):
    from scratchnn.cli import main
    config = tmp_path / "search.toml"
    config.write_text(textwrap.dedent(f"""
        data = "digits"
        limit = 300
        epochs = 2
        method = "grid"
        out = "{tmp_path / 'best.snn'}"
        results = "{tmp_path / 'trials.csv'}"
        [space]
        learning_rate = [1e-3, 1e-2]
        width = 32
        [scheduler]
        kind = "median"
        min_trials = 2
    """))
    assert main(["tune", str(config), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "best: trial" in out and (tmp_path / "best.snn").exists()
    assert len((tmp_path / "trials.csv").read_text().splitlines()) == 3
    config.write_text("space = {}\nlearning_rate = 1\n")
    assert main(["tune", str(config)]) == 2
    assert "unknown setting(s) ['learning_rate']" in capsys.readouterr().err
