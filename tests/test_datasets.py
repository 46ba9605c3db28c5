"""IDX reader/writer, the MNIST loaders (files the tests write themselves) and the data utilities."""
import gzip
import hashlib
import io
import urllib.error

import numpy as np
import pytest

from conftest import require
from scratchnn.datasets import (BatchIterator, MinMaxScaler, Standardizer, load_fashion_mnist, load_mnist,
                                mnist, read_idx, to_categorical, train_test_split, write_idx)

IDX_FILES = mnist.FILES


# ---- IDX -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, rng, dtype, suffix):
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / ("a.idx" + suffix)
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, array)


def test_idx_header_bytes_follow_the_format(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.array([7, 2, 1], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1])


def test_idx_is_big_endian(tmp_path):
    path = tmp_path / "ints"
    write_idx(path, np.array([1], dtype=np.int32))
    assert path.read_bytes()[-4:] == b"\x00\x00\x00\x01"


def _images_bytes(n=2, rows=2, cols=3):
    return bytes([0, 0, 0x08, 3]) + np.array([n, rows, cols], ">u4").tobytes() + bytes(range(n * rows * cols))


@pytest.mark.parametrize("payload, message", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad magic number 0x01000801"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX dtype code 0x07"),
    (b"\x00\x00\x08\x00", "declares 0 dimensions"),
    (b"\x00\x00", "too short for an IDX header"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated header: 3 dimensions need 16 bytes, the file has 8"),
    (_images_bytes()[:-1], r"truncated: a uint8 array of shape \(2, 2, 3\) needs 28 bytes, the file has 27"),
    (_images_bytes() + b"\x00\x00", "2 extra bytes at the end"),
])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_corruption_is_named(tmp_path, payload, message, compress):
    path = tmp_path / ("broken.gz" if compress else "broken")
    path.write_bytes(gzip.compress(payload) if compress else payload)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_broken_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(_images_bytes())[:-8])
    with pytest.raises(ValueError, match="not a valid gzip file"):
        read_idx(path)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="got uint16"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))


# ---- MNIST loaders ------------------------------------------------------------------------------
def _write_set(folder, rng, n_train=12, n_test=5, gz=(False, True, False, True)):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8))
    for stem, array, compress in zip(IDX_FILES, arrays, gz):
        write_idx(folder / (stem + (".gz" if compress else "")), array)
    return arrays


def test_load_mnist_round_trip_raw_and_gz(tmp_path, rng):
    arrays = _write_set(tmp_path, rng)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path)
    for got, expected in zip((x_train, y_train, x_test, y_test), arrays):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)


def test_load_mnist_missing_file(tmp_path, rng):
    _write_set(tmp_path, rng)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="missing t10k-labels-idx1-ubyte .* pass download=True"):
        load_mnist(tmp_path)


def test_load_mnist_count_mismatch(tmp_path, rng):
    _write_set(tmp_path, rng)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, dtype=np.uint8))
    with pytest.raises(ValueError, match="holds 12 images but .*train-labels-idx1-ubyte.gz holds 11 labels"):
        load_mnist(tmp_path)


def test_load_mnist_mislabelled_files(tmp_path, rng):
    arrays = _write_set(tmp_path, rng)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", arrays[0])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz: expected uint8 labels of shape \(N,\), "
                                         r"got uint8 array of shape \(12, 28, 28\)"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", arrays[1])
    write_idx(tmp_path / "train-images-idx3-ubyte", arrays[0].astype(np.float32))
    with pytest.raises(ValueError, match="expected uint8 images of shape .*got float32"):
        load_mnist(tmp_path)


def test_load_mnist_label_out_of_range(tmp_path, rng):
    _write_set(tmp_path, rng)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 12], dtype=np.uint8))
    with pytest.raises(ValueError, match="expected labels 0-9, got a label 12"):
        load_mnist(tmp_path)


def test_download_without_network_says_where_to_put_files(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Temporary failure in name resolution")
    monkeypatch.setattr(mnist.request, "urlopen", offline)
    with pytest.raises(ConnectionError, match="could not download train-images-idx3-ubyte.gz") as info:
        load_mnist(download=True, cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "name resolution" in message and f"into {tmp_path / 'cache'}" in message
    assert all(mirror in message for mirror in mnist.MNIST_MIRRORS)


def test_download_unreachable_url(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", ("http://127.0.0.1:9/",))
    monkeypatch.setattr(mnist, "DOWNLOAD_TIMEOUT_S", 2)
    with pytest.raises(ConnectionError, match="http://127.0.0.1:9/train-images-idx3-ubyte.gz"):
        load_mnist(download=True, cache_dir=tmp_path)


def _served(tmp_path, rng, monkeypatch, corrupt=None):
    """Serve a small IDX set as the mirrors would, with its true SHA-256 sums."""
    source = tmp_path / "served"
    arrays = _write_set(source, rng, gz=(True,) * 4)
    sums = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in source.iterdir()}
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        name = url.rsplit("/", 1)[1]
        payload = (source / name).read_bytes()
        return io.BytesIO(payload + b"x" if name == corrupt else payload)
    monkeypatch.setattr(mnist.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(mnist, "MNIST_SHA256", sums)
    return arrays, urls


def test_download_verifies_and_caches(tmp_path, rng, monkeypatch):
    arrays, urls = _served(tmp_path, rng, monkeypatch)
    cache = tmp_path / "cache"
    (x_train, y_train), (x_test, y_test) = load_mnist(download=True, cache_dir=cache)
    np.testing.assert_array_equal(x_test, arrays[2])
    assert urls == [mnist.MNIST_MIRRORS[0] + f + ".gz" for f in IDX_FILES]
    assert sorted(p.name for p in cache.iterdir()) == sorted(f + ".gz" for f in IDX_FILES)
    load_mnist(download=True, cache_dir=cache)
    assert len(urls) == 4


def test_download_rejects_wrong_checksum(tmp_path, rng, monkeypatch):
    _served(tmp_path, rng, monkeypatch, corrupt="t10k-images-idx3-ubyte.gz")
    with pytest.raises(ConnectionError, match="t10k-images-idx3-ubyte.gz: SHA-256 [0-9a-f]{64} does not match"):
        load_mnist(download=True, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "t10k-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "cache").glob("*.part"))


def test_fashion_mnist_absent_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "FASHION_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist.*or pass path="):
        load_fashion_mnist()


def test_fashion_mnist_from_a_path(tmp_path, rng):
    arrays = _write_set(tmp_path, rng)
    (x_train, _), _ = load_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(x_train, arrays[0])


# ---- utilities ------------------------------------------------------------------------------------
def test_to_categorical():
    expected = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)
    np.testing.assert_array_equal(to_categorical([0, 2, 3]), expected)
    out = to_categorical(np.array([[1], [0]]), num_classes=3, dtype="float64")
    assert out.dtype == np.float64 and out.tolist() == [[0, 1, 0], [1, 0, 0]]
    assert to_categorical(np.zeros((2, 3), dtype=int), 2).shape == (2, 3, 2)
    with pytest.raises(ValueError, match="label 5 does not fit num_classes=3"):
        to_categorical([5], num_classes=3)
    with pytest.raises(ValueError, match="expected labels >= 0, got -1"):
        to_categorical([-1, 2])
    with pytest.raises(ValueError, match="integer labels, got non-integer floats"):
        to_categorical([0.5])


def test_train_test_split_sizes_cover_and_seed():
    x, y = np.arange(100).reshape(50, 2), np.arange(50)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, seed=3)
    assert (len(x_train), len(x_test)) == (40, 10)
    np.testing.assert_array_equal(x_train[:, 0] // 2, y_train)
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test])), np.arange(50))
    again = train_test_split(x, y, test_size=0.2, seed=3)
    np.testing.assert_array_equal(again[3], y_test)
    assert not np.array_equal(train_test_split(x, y, test_size=0.2, seed=4)[3], y_test)
    _, last, = train_test_split(y, test_size=7, shuffle=False)
    np.testing.assert_array_equal(last, np.arange(43, 50))


def test_train_test_split_stratify_keeps_proportions():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    y_train, y_test = train_test_split(y, test_size=0.2, stratify=y, seed=0)
    assert np.bincount(y_test).tolist() == [12, 6, 2]
    assert np.bincount(y_train).tolist() == [48, 24, 8]
    y_train, y_test = train_test_split(y, test_size=0.25, stratify=to_categorical(y), seed=1)
    counts = np.bincount(y_test)
    assert counts.sum() == 25 and counts.tolist() in ([15, 8, 2], [15, 7, 3])


def test_train_test_split_errors():
    with pytest.raises(ValueError, match=r"same length, got \[3, 2\]"):
        train_test_split(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="test_size must be a float in \\(0, 1\\) or a positive int, got 1.5"):
        train_test_split(np.zeros(3), test_size=1.5)
    with pytest.raises(ValueError, match="leaves 0 of 3 samples"):
        train_test_split(np.zeros(3), test_size=3)


def test_scalers_match_scikit_learn(rng):
    preprocessing = require("sklearn.preprocessing")
    x_train = rng.standard_normal((40, 5)) * [1, 10, 0.1, 3, 0] + [0, 5, -2, 1, 7]
    x_test = rng.standard_normal((9, 5))
    for ours, theirs in ((Standardizer(), preprocessing.StandardScaler()),
                         (MinMaxScaler(), preprocessing.MinMaxScaler()),
                         (MinMaxScaler((-1, 1)), preprocessing.MinMaxScaler((-1, 1)))):
        np.testing.assert_allclose(ours.fit_transform(x_train), theirs.fit_transform(x_train), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours.transform(x_test), theirs.transform(x_test), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours.inverse_transform(ours.transform(x_test)), x_test, rtol=1e-12, atol=1e-12)


def test_scalers_on_images_keep_float32():
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    scaled = MinMaxScaler(axis=None).fit_transform(images)
    assert scaled.dtype == np.float32 and scaled.shape == (2, 3, 3)
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    standard = Standardizer(axis=None).fit(images)
    assert standard.mean_.size == 1
    np.testing.assert_allclose(standard.transform(images).std(), 1.0, rtol=1e-6)


def test_scaler_errors():
    with pytest.raises(RuntimeError, match=r"Standardizer.transform: call fit\(x_train\) first"):
        Standardizer().transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"expected samples of shape \(3,\) \(as in fit\), got \(4,\)"):
        MinMaxScaler().fit(np.ones((2, 3))).transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="low < high"):
        MinMaxScaler((1, 0))


def test_batch_iterator_epochs_cover_every_sample_in_new_orders():
    x, y = np.arange(10) * 10, np.arange(10)
    batches = BatchIterator(x, y, batch_size=4, seed=0)
    assert len(batches) == 3
    orders = []
    for _ in range(2):
        epoch = list(batches)
        assert [len(b[1]) for b in epoch] == [4, 4, 2]
        assert all(np.array_equal(xb, yb * 10) for xb, yb in epoch)
        orders.append(np.concatenate([yb for _, yb in epoch]))
        np.testing.assert_array_equal(np.sort(orders[-1]), np.arange(10))
    assert not np.array_equal(orders[0], orders[1])
    dropped = BatchIterator(x, batch_size=4, shuffle=False, drop_last=True)
    assert len(dropped) == 2 and [b.tolist() for b in dropped] == [[0, 10, 20, 30], [40, 50, 60, 70]]
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        BatchIterator(x, batch_size=0)


def test_the_embedded_digits_are_checked_against_their_sha256(monkeypatch):
    from scratchnn.datasets import digits
    monkeypatch.setattr(digits, "SHA256", "0" * 64)
    with pytest.raises(OSError, match="embedded digits file is damaged .* reinstall scratchnn"):
        digits.load_digits()
