"""scratchnn.data: every source, batch / shuffle / map / prefetch / take, and fit / evaluate / predict on
Datasets and generators (steps_per_epoch, memory-mapped files equal to arrays, one-line errors)."""
import io
import threading

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import callbacks, layers, optim
from scratchnn.data import Dataset


def _xy(n=10, features=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)), rng.integers(0, 3, n)


def _model(seed=0):
    model = snn.Sequential([layers.Dense(5, activation="tanh"), layers.Dense(3)], input_shape=(3,), seed=seed,
                           dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.1),
                  metrics=["accuracy"])
    return model


def _labels(dataset):
    return [int(v) for _, yb in dataset for v in np.atleast_1d(yb)]


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "scratchnn-prefetch"]


# ---- sources ------------------------------------------------------------------------------------------
def test_from_arrays_yields_samples_in_their_structure():
    x, y = _xy()
    w = np.linspace(0.5, 1.5, 10)
    assert len(Dataset.from_arrays(x)) == 10 and np.array_equal(next(iter(Dataset.from_arrays(x))), x[0])
    xs, ys, ws = next(iter(Dataset.from_arrays(x, y, w)))
    assert np.array_equal(xs, x[0]) and ys == y[0] and ws == w[0]
    (first, second), label = next(iter(Dataset.from_arrays([x, x[:, :2]], y)))     # several inputs: a list
    assert first.shape == (3,) and second.shape == (2,) and label == y[0]
    with pytest.raises(ValueError, match="same number of rows, got 10 and 9"):
        Dataset.from_arrays(x, y[:9])
    with pytest.raises(ValueError, match="sample_weight needs y"):
        Dataset.from_arrays(x, sample_weight=w)


def test_from_npy_maps_the_files_and_reads_only_each_batch(tmp_path):
    x, y = _xy(12)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    dataset = Dataset.from_npy(tmp_path / "x.npy", str(tmp_path / "y.npy")).batch(5)
    batches = list(dataset)
    assert [len(yb) for _, yb in batches] == [5, 5, 2]
    assert isinstance(batches[0][0], np.memmap)                     # a view of the mapped file, not a copy
    assert np.array_equal(np.concatenate([xb for xb, _ in batches]), x)
    shuffled = list(Dataset.from_npy(tmp_path / "x.npy", tmp_path / "y.npy").shuffle(12, seed=3).batch(5))
    in_memory = list(Dataset.from_arrays(x, y).shuffle(12, seed=3).batch(5))
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(shuffled, in_memory))


def test_from_generator_function_restarts_each_pass_and_an_object_continues():
    x, y = _xy(6)

    def batches():
        for start in range(0, 6, 2):
            yield x[start:start + 2], y[start:start + 2]
    restarting = Dataset.from_generator(batches, length=3)
    assert restarting.batched and len(restarting) == 3
    assert _labels(restarting) == _labels(restarting) == list(y)
    once = Dataset.from_generator(batches())
    assert once.cardinality() is None and once.one_shot
    assert _labels(once.take(1)) == list(y[:2]) and _labels(once) == list(y[2:]) and _labels(once) == []
    samples = Dataset.from_generator(lambda: zip(x, y), batched=False)
    assert not samples.batched and [len(yb) for _, yb in samples.batch(4)] == [4, 2]
    with pytest.raises(TypeError, match="this Dataset's length is not known"):
        len(samples)
    with pytest.raises(TypeError, match="expected a function returning an iterable, or a generator, got ndarray"):
        Dataset.from_generator(x)
    with pytest.raises(TypeError, match="must return an iterable of elements, it returned int"):
        list(Dataset.from_generator(lambda: 3))


# ---- transformations -----------------------------------------------------------------------------------
def test_batch_sizes_lengths_and_the_stacked_path_equal_the_gathered_one():
    x, y = _xy(10)
    assert len(Dataset.from_arrays(x, y).batch(4)) == 3 and len(Dataset.from_arrays(x, y).batch(4, True)) == 2
    assert [len(yb) for _, yb in Dataset.from_arrays(x, y).batch(4, drop_remainder=True)] == [4, 4]
    gathered = list(Dataset.from_arrays([x, x], y).batch(4))
    stacked = list(Dataset.from_arrays([x, x], y).map(lambda xs, ys: (xs, ys)).batch(4))    # row by row
    for (xg, yg), (xs, ys) in zip(gathered, stacked):
        assert isinstance(xs, list) and all(np.array_equal(a, b) for a, b in zip(xg, xs)) and np.array_equal(yg, ys)
    with pytest.raises(ValueError, match="already yields batches"):
        Dataset.from_arrays(x).batch(2).batch(2)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        Dataset.from_arrays(x).batch(0)


def test_shuffle_is_a_seeded_permutation_new_each_pass():
    x, y = _xy(50)
    dataset = Dataset.from_arrays(x, np.arange(50)).shuffle(50, seed=7).batch(8)
    first, second = _labels(dataset), _labels(dataset)
    assert sorted(first) == sorted(second) == list(range(50)) and first != second
    again = Dataset.from_arrays(x, np.arange(50)).shuffle(50, seed=7).batch(8)
    assert _labels(again) == first and _labels(again) == second                # the same seed, the same orders
    fixed = Dataset.from_arrays(x, np.arange(50)).shuffle(50, seed=7, reshuffle_each_iteration=False).batch(8)
    assert _labels(fixed) == _labels(fixed)
    generic = Dataset.from_generator(lambda: zip(x, range(50)), batched=False).shuffle(50, seed=7).batch(8)
    assert _labels(generic) == first                                         # one algorithm for both paths


def test_a_small_shuffle_buffer_only_moves_elements_within_its_reach():
    order = _labels(Dataset.from_arrays(np.zeros((200, 1)), np.arange(200)).shuffle(10, seed=1).batch(200))
    assert sorted(order) == list(range(200)) and order != list(range(200))
    assert all(value < position + 10 for position, value in enumerate(order))     # out: one of the next 10 in
    buffered = np.random.default_rng(0).permutation(200)
    assert np.abs(np.array(order) - np.arange(200)).mean() < np.abs(buffered - np.arange(200)).mean() / 3


def test_map_unpacks_tuples_and_take_keeps_the_first_elements():
    x, y = _xy(10)
    doubled = Dataset.from_arrays(x, y).batch(4).map(lambda xb, yb: (2 * xb, yb + 1))
    assert np.array_equal(next(iter(doubled))[0], 2 * x[:4]) and _labels(doubled) == list(y + 1)
    assert np.array_equal(next(iter(Dataset.from_arrays(x).map(lambda row: -row))), -x[0])
    taken = Dataset.from_arrays(x, y).batch(3).take(2)
    assert len(taken) == 2 and _labels(taken) == list(y[:6]) and len(Dataset.from_arrays(x).take(50)) == 10
    with pytest.raises(TypeError, match="expected a function, got int"):
        Dataset.from_arrays(x).map(3)


def test_prefetch_gives_the_same_batches_raises_the_threads_error_and_stops_its_thread():
    x, y = _xy(20)
    dataset = Dataset.from_arrays(x, y).shuffle(20, seed=0).batch(3)
    assert _labels(Dataset.from_arrays(x, y).shuffle(20, seed=0).batch(3).prefetch(2)) == _labels(dataset)

    def failing():
        yield x[:2], y[:2]
        raise OSError("disk gone")
    with pytest.raises(OSError, match="disk gone"):
        list(Dataset.from_generator(failing).prefetch(1))
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield x[:2], y[:2]
    for step, _ in enumerate(Dataset.from_generator(endless).prefetch(2)):
        if step == 3:
            break
    assert Dataset.from_generator(endless).prefetch(2).take(2).cardinality() == 2
    list(Dataset.from_generator(endless).prefetch(2).take(2))
    assert _prefetch_threads() == []                       # stopped and joined by break and by take
    assert len(produced) < 20                              # the bounded queue stopped the producer early


# ---- fit / evaluate / predict ------------------------------------------------------------------------
def test_fit_stops_the_prefetch_thread_however_it_ends():
    x, y = _xy(40)
    model = _model()
    stop_early = callbacks.LambdaCallback(on_batch_end=lambda batch, logs: setattr(model, "stop_training", True))
    model.fit(Dataset.from_arrays(x, y).batch(4).prefetch(2), epochs=3, callbacks=stop_early, verbose=0)
    assert _prefetch_threads() == []
    model.fit(Dataset.from_arrays(x, y).batch(4).prefetch(2), epochs=2, steps_per_epoch=3, verbose=0)
    assert _prefetch_threads() == []                        # a pass continued across epochs, closed at the end
    model.train_step = lambda *args: 1 / 0
    with pytest.raises(ZeroDivisionError) as error:
        model.fit(Dataset.from_arrays(x, y).batch(4).prefetch(2).map(lambda xb, yb: (xb, yb)), verbose=0)
    assert error.traceback and _prefetch_threads() == []   # even while the traceback holds the frames


def test_fit_on_a_dataset_equals_fit_on_the_arrays():
    x, y = _xy(40)
    w = np.linspace(0.5, 2.0, 40)
    on_arrays, on_dataset = _model(), _model()
    on_arrays.fit(x, y, epochs=2, batch_size=8, shuffle=False, sample_weight=w, class_weight={0: 2.0}, verbose=0)
    history = on_dataset.fit(Dataset.from_arrays(x, y, w).batch(8).prefetch(), epochs=2, class_weight={0: 2.0},
                             validation_data=Dataset.from_arrays(x, y).batch(16), verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(on_arrays.get_weights(), on_dataset.get_weights()))
    assert history.params["steps"] == 5 and history.history["val_loss"][-1] == pytest.approx(
        on_dataset.evaluate(x, y)["loss"], rel=1e-12)
    assert on_dataset.evaluate(Dataset.from_arrays(x, y).batch(7)) == pytest.approx(on_dataset.evaluate(x, y))
    assert np.array_equal(on_dataset.predict(Dataset.from_arrays(x).batch(16)), on_dataset.predict(x))
    assert np.array_equal(on_dataset.predict(Dataset.from_arrays(x, y).batch(16).prefetch()), on_dataset.predict(x))
    assert _prefetch_threads() == []


def test_a_memory_mapped_run_equals_the_in_memory_run(tmp_path):
    x, y = _xy(64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    in_memory, mapped = _model(), _model()
    in_memory.fit(Dataset.from_arrays(x, y).shuffle(64, seed=5).batch(8), epochs=3, verbose=0)
    mapped.fit(Dataset.from_npy(tmp_path / "x.npy", tmp_path / "y.npy").shuffle(64, seed=5).batch(8).prefetch(4),
               epochs=3, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(in_memory.get_weights(), mapped.get_weights()))


def test_a_model_of_two_inputs_trains_from_a_dataset_of_lists():
    a, b = snn.Input(shape=(3,), name="a"), snn.Input(shape=(2,), name="b")
    model = snn.Model([a, b], layers.Dense(3)(layers.Concatenate()([a, b])), seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True, optimizer="sgd")
    x, y = _xy(12)
    model.fit(Dataset.from_arrays([x, x[:, :2]], y).batch(4), epochs=1, verbose=0)
    assert model.predict(Dataset.from_arrays({"a": x, "b": x[:, :2]}).batch(5)).shape == (12, 3)


def test_an_endless_generator_runs_steps_per_epoch_and_continues_across_epochs():
    x, y = _xy(8)
    served = []

    def endless():
        index = 0
        while True:
            served.append(index)
            yield x[:4] + index, y[:4]
            index += 1
    steps = []
    counter = callbacks.LambdaCallback(on_batch_end=lambda batch, logs: steps.append(batch))
    validated = []

    def endless_validation():
        while True:
            validated.append(1)
            yield x, y
    history = _model().fit(endless(), epochs=3, steps_per_epoch=4, callbacks=counter, verbose=0,
                           validation_data=Dataset.from_generator(endless_validation), validation_steps=2)
    assert steps == [0, 1, 2, 3] * 3 and served[:12] == list(range(12)) and history.params["steps"] == 4
    assert len(history.history["val_loss"]) == 3 and len(validated) == 6       # 2 batches each epoch
    with pytest.raises(ValueError, match="a generator has no length, so an epoch has no end: pass steps_per_epoch"):
        _model().fit(endless(), epochs=2)


def test_a_finite_generator_that_runs_out_ends_the_epoch():
    x, y = _xy(12)

    def three_batches():
        for start in range(0, 12, 4):
            yield x[start:start + 4], y[start:start + 4]
    steps = []
    counter = callbacks.LambdaCallback(on_batch_end=lambda batch, logs: steps.append(batch))
    history = _model().fit(Dataset.from_generator(three_batches), epochs=2, steps_per_epoch=5, callbacks=counter,
                           verbose=0)
    assert steps == [0, 1, 2] * 2 and len(history.epoch) == 2          # each epoch: the pass, then a new one
    with pytest.warns(RuntimeWarning, match=r"the data ran out at epoch 2: it gave no batch \(a generator object"):
        history = _model().fit(three_batches(), epochs=3, steps_per_epoch=3, verbose=0)
    assert len(history.epoch) == 1 and "ran out" in history.stopped_reason


def test_steps_per_epoch_with_arrays_continues_through_the_data_and_wraps():
    x, y = _xy(10)
    seen = []
    model = _model()
    model.train_step = lambda xb, yb, wb=None, step=model.train_step: (seen.append(len(yb)), step(xb, yb, wb))[1]
    history = model.fit(x, y, epochs=3, batch_size=4, steps_per_epoch=2, shuffle=False, verbose=0)
    assert seen == [4, 4, 2, 4, 4, 2] and history.params["steps"] == 2     # 4+4+2 is one pass, then a new one
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive integer"):
        model.fit(x, y, steps_per_epoch=0)


def test_evaluate_and_predict_take_a_generator_with_steps():
    x, y = _xy(12)
    model = _model()

    def endless():
        while True:
            yield x[:4], y[:4]
    assert model.evaluate(endless(), steps=3) == pytest.approx(model.evaluate(x[:4], y[:4]))
    twice = np.concatenate([model.predict(x[:4])] * 2)
    assert np.array_equal(model.predict((xb for xb, _ in endless()), steps=2), twice)
    assert model.predict(x, batch_size=5, steps=2).shape == (10, 3)
    with pytest.raises(ValueError, match="the data gave no batch"):
        model.evaluate(iter([]))


def test_streamed_batches_are_checked_like_arrays():
    x, y = _xy(8)
    bad = x.copy()
    bad[5, 1] = np.nan
    model = _model()
    with pytest.raises(ValueError, match="fit: the input contains NaN or inf values"):
        model.fit(Dataset.from_arrays(bad, y).batch(4), verbose=0)
    with pytest.raises(ValueError, match="predict: the input contains NaN or inf values"):
        model.predict(Dataset.from_arrays(bad).batch(4))
    with pytest.raises(ValueError, match="x and y must have the same number of samples, got 4 and 3"):
        model.fit(iter([(x[:4], y[:3])]), steps_per_epoch=1, verbose=0)


@pytest.mark.parametrize("call, message", [
    (lambda m, d, x, y: m.fit(d, y), r"fit: y was passed with a Dataset, which yields its own \(x, y\) batches"),
    (lambda m, d, x, y: m.fit(d, batch_size=4), r"batch_size applies to arrays, not to a Dataset: call \.batch"),
    (lambda m, d, x, y: m.fit(d, validation_split=0.2), "validation_split applies to arrays, not to a Dataset"),
    (lambda m, d, x, y: m.evaluate(d, sample_weight=np.ones(8)), r"sample_weight applies to arrays, not to a "
                                                                 r"Dataset: yield \(x, y, sample_weight\)"),
    (lambda m, d, x, y: m.fit(Dataset.from_arrays(x, y)), r"expected a Dataset of batches, got one of single "
                                                          r"samples: call \.batch\(batch_size\)"),
    (lambda m, d, x, y: m.fit(Dataset.from_arrays(x).batch(2)), r"fit expected batches \(x, y\) or \(x, y, "
                                                                r"sample_weight\), got an array of shape \(2, 3\)"),
    (lambda m, d, x, y: m.fit(x), "fit: y is missing: pass fit"),
    (lambda m, d, x, y: m.evaluate(x), "evaluate: y is missing"),
    (lambda m, d, x, y: m.evaluate(iter([(x, y)]), y), "evaluate: y was passed with a generator"),
])
def test_mismatched_data_arguments_are_one_line_errors(call, message):
    x, y = _xy(8)
    with pytest.raises(ValueError, match=message) as error:
        call(_model(), Dataset.from_arrays(x, y).batch(4), x, y)
    assert "\n" not in str(error.value)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_of_a_stream_of_unknown_length_counts_batches():
    x, y = _xy(12)
    stream = _Terminal()
    progress = callbacks.ProgressLogger(2, None, None, verbose=1, stream=stream)
    model = _model()
    model.fit(Dataset.from_generator(lambda: ((x[i:i + 4], y[i:i + 4]) for i in range(0, 12, 4))), epochs=2,
              verbose=0, callbacks=progress)
    first, second = stream.getvalue().split("\n")[:2]
    assert "Epoch 1/2 0 batches [00:00]" in first and "/?" not in first          # a count, no total
    assert progress.steps == 3 and "Epoch 2/2" in second and "0/3" in second   # the first pass gave the total
