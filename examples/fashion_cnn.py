"""Fashion-MNIST (60,000 / 10,000) with a small convolutional network, Adam, a live progress bar,
EarlyStopping on the last 10% of the training set and ReduceLROnPlateau.

    Conv2D(24, 3) -> BatchNormalization -> ReLU -> MaxPooling2D(2)       (28, 28, 1) -> (13, 13, 24)
    Conv2D(48, 3) -> BatchNormalization -> ReLU -> MaxPooling2D(2)       -> (5, 5, 48)
    Flatten -> Dropout(0.2) -> Dense(128, relu) -> Dropout(0.2) -> Dense(10)

Three quarters of the filters of examples/digits_cnn.py: on this project's machine a training batch of 128
took 0.19 s against 1.77 s for the 32/64 network, and 0.09 s for 16/32 filters, which reached only 90.85%
test accuracy in 20 epochs. This one: 91.83% in 15 epochs.

The data: `make fashion` (Debian's dataset-fashion-mnist) or --data DIR with the four IDX files.

Run: python examples/fashion_cnn.py [--epochs 15] [--data DIR] [--save fashion_cnn.snn]
"""
import argparse
import time

import numpy as np

import scratchnn as snn
from scratchnn import callbacks, layers, metrics, optim
from scratchnn.datasets import FASHION_CLASSES


def cnn(seed=0):
    return snn.Sequential([
        layers.Conv2D(24, 3, use_bias=False),
        layers.BatchNormalization(momentum=0.9),
        layers.ReLU(),
        layers.MaxPooling2D(2),
        layers.Conv2D(48, 3, use_bias=False),
        layers.BatchNormalization(momentum=0.9),
        layers.ReLU(),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10),
    ], input_shape=(28, 28, 1), seed=seed)


def main(epochs=15, data=None, seed=0, batch_size=128, save=None):
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_fashion_mnist(data)
    x_train = x_train[..., None] / np.float32(255)
    x_test = x_test[..., None] / np.float32(255)

    model = cnn(seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.Adam(1e-3),
                  metrics=["accuracy"])
    model.summary()
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True, verbose=1)
    slow_down = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=2, verbose=1)

    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, validation_split=0.1,
                        callbacks=[slow_down, stop], verbose=1)
    seconds = time.perf_counter() - start
    result = model.evaluate(x_test, y_test)
    predicted = model.predict(x_test).argmax(axis=1)
    print(metrics.classification_report(y_test, predicted, target_names=FASHION_CLASSES, digits=3))
    print(f"test accuracy {result['accuracy']:.2%} (loss {result['loss']:.4f}) on {len(x_test):,} images; "
          f"{len(history.epoch)} epochs (best: {stop.best_epoch + 1}) in {seconds:.0f}s")
    if save:
        model.save(save)
        print(f"model saved to {save}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--data", default=None, help="folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="write the trained model to this .snn file")
    args = parser.parse_args()
    main(epochs=args.epochs, data=args.data, seed=args.seed, save=args.save)
