"""MNIST and Fashion-MNIST from their four IDX files, in the layout of keras.datasets."""
import hashlib
import http.client
import os
import time
from pathlib import Path
from urllib import request

import numpy as np

from ..saving.files import atomic_file
from .idx import read_idx

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MNIST_MIRRORS = ("https://storage.googleapis.com/cvdf-datasets/mnist/",
                 "https://ossci-datasets.s3.amazonaws.com/mnist/")
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
FASHION_DIR = "/usr/share/datasets/fashion-mnist/"
FASHION_MIRRORS = ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                   "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")
FASHION_SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DOWNLOAD_TIMEOUT_S = 30                   # the longest wait for one read from a mirror
DOWNLOAD_DEADLINE_S = 300                 # the longest one file may take from one mirror, all reads together
MAX_DOWNLOAD_BYTES = 64 * 2 ** 20         # no file of either set is larger (Fashion's train images: 26 MB)
_CHUNK = 2 ** 16


def default_cache_dir(name):
    """~/.scratchnn/datasets/<name> (or $SCRATCHNN_HOME/datasets/<name>)."""
    home = os.environ.get("SCRATCHNN_HOME") or os.path.join(os.path.expanduser("~"), ".scratchnn")
    return Path(home) / "datasets" / name


def load_mnist(path=None, download=False, cache_dir=None):
    """(x_train, y_train), (x_test, y_test) of MNIST: images uint8 (N, 28, 28), labels uint8 (N,).

    Args:
        path: folder holding the four IDX files (raw or ``.gz``); default: the cache folder.
        download: fetch the missing files from the canonical mirrors (SHA-256 checked) into
            ``cache_dir`` (default: ``path``, else ``~/.scratchnn/datasets/mnist``).
        cache_dir: where downloads go.
    """
    return _load("mnist", path, download, cache_dir, MNIST_MIRRORS, MNIST_SHA256)


def load_fashion_mnist(path=None, download=False, cache_dir=None):
    """(x_train, y_train), (x_test, y_test) of Fashion-MNIST (60,000 / 10,000), as load_mnist.

    path defaults to /usr/share/datasets/fashion-mnist/, where Debian's ``dataset-fashion-mnist``
    package puts the files (``apt-get install dataset-fashion-mnist``). Class names: FASHION_CLASSES.
    """
    if path is None and not download and not os.path.isdir(FASHION_DIR):
        raise FileNotFoundError(f"Fashion-MNIST not found in {FASHION_DIR}: run `apt-get install "
                                "dataset-fashion-mnist` (Debian/Ubuntu), or pass path= a folder holding "
                                f"{', '.join(f + '.gz' for f in FILES)}, or download=True")
    return _load("fashion-mnist", path or (None if download else FASHION_DIR), download, cache_dir,
                 FASHION_MIRRORS, FASHION_SHA256)


def _load(name, path, download, cache_dir, mirrors, checksums):
    folder = Path(path) if path is not None else Path(cache_dir or default_cache_dir(name))
    found = {stem: _find(folder, stem) for stem in FILES}
    missing = [stem for stem, file in found.items() if file is None]
    if missing and download:
        target = Path(cache_dir) if cache_dir is not None else folder
        for stem in missing:
            found[stem] = _download(stem + ".gz", target, mirrors, checksums[stem + ".gz"])
    elif missing:
        raise FileNotFoundError(f"{name}: missing {', '.join(missing)} (raw or .gz) in {folder}; put the "
                                "IDX files there or pass download=True")
    x_train, y_train = _pair(found[FILES[0]], found[FILES[1]])
    x_test, y_test = _pair(found[FILES[2]], found[FILES[3]])
    return (x_train, y_train), (x_test, y_test)


def _find(folder, stem):
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _pair(images_path, labels_path):
    """Read an images file and its labels file and check that they belong together."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, rows, cols), got "
                         f"{images.dtype} array of shape {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{labels_path}: expected uint8 labels of shape (N,), got "
                         f"{labels.dtype} array of shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: expected labels 0-9, got a label {labels.max()}")
    return images, labels


def _download(filename, folder, mirrors, sha256):
    """Fetch filename from the first mirror that answers with the right SHA-256; write it atomically.

    Each mirror gets DOWNLOAD_DEADLINE_S seconds in all (and DOWNLOAD_TIMEOUT_S per read) and at most
    MAX_DOWNLOAD_BYTES; a mirror that fails in any way (refused, cut off, too slow, too long, the wrong
    bytes) is noted and the next one tried.
    """
    failures = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            payload = _fetch(url)
        except (OSError, http.client.HTTPException, ValueError) as error:
            failures.append(f"{url}: {type(error).__name__}: {error}")
            continue
        digest = hashlib.sha256(payload).hexdigest()
        if digest != sha256:
            failures.append(f"{url}: SHA-256 {digest} does not match the expected {sha256}")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(folder / filename) as stream:
            stream.write(payload)
        return folder / filename
    raise ConnectionError(f"could not download {filename}:\n  " + "\n  ".join(failures) +
                          f"\nWithout a network, copy the four IDX files ({', '.join(FILES)}, raw or .gz) "
                          f"into {folder} and call again, or pass path= the folder that holds them")


def _fetch(url):
    """The body at url, read in chunks against an overall deadline and a size cap."""
    deadline = time.monotonic() + DOWNLOAD_DEADLINE_S
    with request.urlopen(url, timeout=min(DOWNLOAD_TIMEOUT_S, DOWNLOAD_DEADLINE_S)) as response:
        declared = getattr(response, "headers", {}).get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
            raise ValueError(f"the server announces {int(declared):,} bytes, more than the {MAX_DOWNLOAD_BYTES:,} "
                             "any file of the set has")
        chunks, received = [], 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not complete after {DOWNLOAD_DEADLINE_S} s ({received:,} bytes received)")
            chunk = response.read1(_CHUNK)                # returns after one read from the socket
            if not chunk:
                break
            received += len(chunk)
            if received > MAX_DOWNLOAD_BYTES:
                raise ValueError(f"more than {MAX_DOWNLOAD_BYTES:,} bytes, more than any file of the set has")
            chunks.append(chunk)
    payload = b"".join(chunks)
    if declared is not None and declared.isdigit() and len(payload) != int(declared):
        raise http.client.IncompleteRead(payload[-64:], int(declared) - len(payload))   # the connection was cut
    return payload
