"""A convolutional autoencoder on the embedded digits: Conv2D down to a 7 x 7 x 4 code, Conv2DTranspose and
UpSampling2D back up to 28 x 28, trained to reproduce its input (Adam, binary cross-entropy).

    Conv2D(16, 3, strides=2, same, relu)           (28, 28, 1) -> (14, 14, 16)
    Conv2D(32, 3, strides=2, same, relu)           -> (7, 7, 32)
    Conv2D(4, 3, same, relu)                       -> (7, 7, 4)      the code: 196 numbers for 784 pixels
    Conv2DTranspose(32, 3, strides=2, same, relu)  -> (14, 14, 32)
    UpSampling2D(2) -> Conv2D(16, 3, same, relu)   -> (28, 28, 16)
    Conv2D(1, 3, same, sigmoid)                    -> (28, 28, 1)

The loss is binary cross-entropy on the pixels (in [0, 1]), as Keras's autoencoder examples use: with mean squared
error through the sigmoid, this network (Adam 2e-3, 8,000 digits) stalled at predicting 0 everywhere: training
loss 0.1124 after its 2nd and 3rd epochs, the mean squared pixel being 0.1118, where the sigmoid's gradient
vanishes.

It reports the reconstruction error (mean squared error per pixel, pixels in [0, 1]) on the 2,000 held-out
digits, against the trivial baseline that predicts the mean training image for every digit, and writes a
figure of held-out originals (top row) above their reconstructions (bottom row).

Run: python examples/digits_autoencoder.py [--epochs 5] [--seed 0] [--train 8000] [--out DIR]   (needs matplotlib)
The figure goes to DIR/digits_autoencoder.png (default runs/, under the current directory).
"""
import argparse
import pathlib
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, optim


def autoencoder(seed=0):
    return snn.Sequential([
        layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
        layers.UpSampling2D(2),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
    ], input_shape=(28, 28, 1), seed=seed)


def save_figure(originals, reconstructions, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    count = len(originals)
    figure, axes = plt.subplots(2, count, figsize=(count * 0.9, 2.1))
    for column in range(count):
        for row, images in enumerate((originals, reconstructions)):
            axes[row, column].imshow(images[column, :, :, 0], cmap="gray_r", vmin=0, vmax=1)
            axes[row, column].axis("off")
    axes[0, 0].set_title("original", fontsize=8, loc="left")
    axes[1, 0].set_title("reconstructed", fontsize=8, loc="left")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)


def main(epochs=5, seed=0, train=8000, out="runs", batch_size=64, learning_rate=2e-3):
    (x_train, _), (x_test, _) = snn.datasets.load_digits()
    x_train = x_train[:train, ..., None] / np.float32(255)
    x_test = x_test[..., None] / np.float32(255)

    model = autoencoder(seed)
    model.compile(loss="binary_crossentropy", optimizer=optim.Adam(learning_rate))
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, x_train, epochs=epochs, batch_size=batch_size, verbose=2)
    seconds = time.perf_counter() - start

    reconstructions = model.predict(x_test)
    error = float(np.mean((reconstructions - x_test) ** 2))
    baseline = float(np.mean((x_train.mean(axis=0) - x_test) ** 2))
    print(f"held-out reconstruction MSE {error:.4f} per pixel, mean-image baseline {baseline:.4f} "
          f"({baseline / error:.1f}x lower error); {epochs} epochs on {len(x_train)} digits in {seconds:.0f}s")
    path = pathlib.Path(out) / "digits_autoencoder.png"
    save_figure(x_test[:10], reconstructions[:10], path)
    print(f"figure: {path}")
    return error, baseline


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=8000, help="training digits (of 8,000)")
    parser.add_argument("--out", default="runs", help="folder for the figure")
    args = parser.parse_args()
    main(args.epochs, args.seed, args.train, args.out)
