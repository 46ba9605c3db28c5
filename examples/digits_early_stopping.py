"""The digits MLP (examples/digits_mlp.py) trained until the validation loss stops improving: EarlyStopping
puts back the weights of the best epoch, and CSVLogger writes one row per epoch.

Run: python examples/digits_early_stopping.py [--epochs 60] [--csv digits_training.csv]
"""
import argparse
import csv
import time

import numpy as np

import scratchnn as snn
from scratchnn import callbacks, layers, optim


def main(epochs=60, seed=0, csv_path="digits_training.csv"):
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_digits()
    x_train = x_train.reshape(len(x_train), -1) / np.float32(255)
    x_test = x_test.reshape(len(x_test), -1) / np.float32(255)

    model = snn.Sequential([
        layers.Dense(500, activation="relu"),
        layers.Dense(500, activation="relu"),
        layers.Dense(10),
    ], input_shape=(784,), seed=seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(0.1),
                  metrics=["accuracy"])
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True, verbose=1)

    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=128, validation_split=0.125,
                        callbacks=[stop, callbacks.CSVLogger(csv_path)], verbose=1)
    seconds = time.perf_counter() - start
    best = stop.best_epoch
    result = model.evaluate(x_test, y_test)
    with open(csv_path, newline="") as f:
        rows = sum(1 for _ in csv.DictReader(f))
    print(f"stopped after {len(history.epoch)} epochs ({seconds:.1f}s); best val_loss "
          f"{history.history['val_loss'][best]:.4f} at epoch {best + 1}, whose weights the model now holds")
    print(f"test accuracy {result['accuracy']:.2%} (loss {result['loss']:.4f}) on {len(x_test):,} held-out digits; "
          f"{rows} rows in {csv_path}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", default="digits_training.csv")
    args = parser.parse_args()
    main(epochs=args.epochs, seed=args.seed, csv_path=args.csv)
