"""Fashion-MNIST (60,000 / 10,000) with a [784, 512, 256, 10] ReLU network, Adam, a live progress bar,
ReduceLROnPlateau and EarlyStopping on the last 10% of the training set.

The data: `make fashion` (Debian's dataset-fashion-mnist, into /usr/share/datasets/fashion-mnist/) or
--data DIR, a folder with the four IDX files (raw or .gz).

Run: python examples/fashion_mlp.py [--epochs 40] [--data DIR] [--save fashion_mlp.snn]
"""
import argparse
import time

import numpy as np

import scratchnn as snn
from scratchnn import callbacks, layers, metrics, optim
from scratchnn.datasets import FASHION_CLASSES


def mlp(seed=0):
    return snn.Sequential([
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(256, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10),
    ], input_shape=(784,), seed=seed)


def main(epochs=40, data=None, seed=0, batch_size=128, save=None):
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_fashion_mnist(data)
    x_train = x_train.reshape(len(x_train), -1) / np.float32(255)
    x_test = x_test.reshape(len(x_test), -1) / np.float32(255)

    model = mlp(seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.Adam(1e-3),
                  metrics=["accuracy"])
    model.summary()
    slow_down = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=2, min_lr=1e-5, verbose=1)
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True, verbose=1)

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
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--data", default=None, help="folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="write the trained model to this .snn file")
    args = parser.parse_args()
    main(epochs=args.epochs, data=args.data, seed=args.seed, save=args.save)
