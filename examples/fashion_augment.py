"""Fashion-MNIST: does image augmentation raise a small CNN's test accuracy? The same network, data, epochs
and seed, trained once without and once with RandomTranslation (and, with --zoom, RandomZoom) in front of it.

    Rescaling(1/255) -> [RandomTranslation(0.1, 0.1) (-> RandomZoom(0.1))]   (nearest-pixel interpolation)
    -> Conv2D(16, 3, relu) -> MaxPooling2D(2) -> Conv2D(32, 3, relu) -> MaxPooling2D(2)
    -> Flatten -> Dense(64, relu) -> Dense(10)

The model takes raw pixels (0..255): Rescaling is its first layer and is saved with it; the augmentation
layers act only in fit and are the identity in evaluate / predict. To keep the run to a few minutes on a
small machine it trains on the first --train-size training images (default 10,000) and tests on all 10,000
test images. Measured (docs/guide/keras_extras.md): with the defaults, seeds 0, 1 and 2, shifts raised the
test accuracy by +1.33, +0.45 and +2.23 points; on 2,000 images for 30 epochs they did not (-2.61 to +1.31).
(No RandomFlip by default: Fashion-MNIST's shoes face one way, so a mirrored shoe is an image the test set
hardly shows; docs/guide/keras_extras.md measures it.)

The data: `apt-get install dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist/) or --data DIR.

Run: python examples/fashion_augment.py [--train-size 10000] [--epochs 40] [--batch-size 32] [--seed 0]
     [--interpolation nearest|bilinear] [--zoom] [--flip] [--data DIR]
"""
import argparse
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, optim


def augmentation(interpolation="nearest", zoom=False, flip=False):
    """Shifts (and zooms, and left-right flips) of the training images. Nearest-pixel reading by default:
    bilinear reading blurs every training image a little, and the test images are sharp."""
    return ([layers.RandomFlip("horizontal")] * flip + [layers.RandomTranslation(0.1, 0.1, interpolation=interpolation)]
            + [layers.RandomZoom(0.1, interpolation=interpolation)] * zoom)


def cnn(augment, seed, **options):
    extra = augmentation(**options)
    return snn.Sequential([
        layers.Rescaling(1 / 255),
        *(extra if augment else []),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10),
    ], input_shape=(28, 28, 1), seed=seed)


def run(augment, x_train, y_train, x_test, y_test, epochs, seed, batch_size, **options):
    model = cnn(augment, seed, **options)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.Adam(2e-3), metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    train = model.evaluate(x_train, y_train)["accuracy"]           # inference: no augmentation
    test = model.evaluate(x_test, y_test)["accuracy"]
    print(f"{'with' if augment else 'without':>7} augmentation: train accuracy {train:.2%}, test accuracy "
          f"{test:.2%} ({seconds:.0f} s)", flush=True)
    return test


def main(train_size=10000, epochs=40, seed=0, data=None, batch_size=32, **options):
    """options: interpolation ("nearest" or "bilinear"), zoom (False), flip (False), for augmentation()."""
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_fashion_mnist(data)
    x_train = x_train[:train_size, ..., None].astype(np.float32)  # raw pixels: the model rescales them
    y_train = y_train[:train_size]
    x_test = x_test[..., None].astype(np.float32)
    print(f"{len(x_train):,} training images, {len(x_test):,} test images, {epochs} epochs of batches of "
          f"{batch_size}, seed {seed}")
    plain = run(False, x_train, y_train, x_test, y_test, epochs, seed, batch_size)
    augmented = run(True, x_train, y_train, x_test, y_test, epochs, seed, batch_size, **options)
    print(f"augmentation changes the test accuracy by {100 * (augmented - plain):+.2f} points")
    return plain, augmented


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--interpolation", choices=["nearest", "bilinear"], default="nearest")
    parser.add_argument("--zoom", action="store_true", help="add RandomZoom(0.1) after the shifts")
    parser.add_argument("--flip", action="store_true", help="add RandomFlip('horizontal') in front")
    parser.add_argument("--data", default=None, help="folder with the four Fashion-MNIST IDX files")
    args = parser.parse_args()
    main(args.train_size, args.epochs, args.seed, args.data, args.batch_size, interpolation=args.interpolation,
         zoom=args.zoom, flip=args.flip)
