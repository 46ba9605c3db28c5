"""A small convolutional network on the embedded digits (8,000 train / 2,000 test), trained with Adam.

Adam's rate warms up from 2e-4 to 2e-3 over the first epoch, then follows a half cosine down to 0 at the end
of the 15th. Over seeds 0, 1 and 2 this reached 98.20%, 98.35% and 98.45%; a constant 1e-3 for 12 epochs
reached 98.00%, 98.15% and 97.75%.

    Conv2D(32, 3) -> BatchNormalization -> ReLU -> MaxPooling2D(2)       (28, 28, 1) -> (13, 13, 32)
    Conv2D(64, 3) -> BatchNormalization -> ReLU -> MaxPooling2D(2)       -> (5, 5, 64)
    Flatten -> Dropout(0.3) -> Dense(128, relu) -> Dropout(0.3) -> Dense(10)

The convolutions carry no bias: the BatchNormalization after each one has its own (beta). BatchNormalization
uses momentum 0.9 (PyTorch's default, 0.1 in its convention) rather than Keras's 0.99: with 63 steps an
epoch, 0.99 leaves the moving variance for the first epochs mostly at its initial 1 while the batch variance
of the first convolution's output is below 0.01, and inference (which uses the moving statistics) is then
far off what training saw: 51% test accuracy after 60 steps, against 88% with the batch's own statistics.

Run: python examples/digits_cnn.py [--epochs 15] [--seed 0]
"""
import argparse
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, optim, schedules


def cnn(seed=0):
    return snn.Sequential([
        layers.Conv2D(32, 3, use_bias=False),
        layers.BatchNormalization(momentum=0.9),
        layers.ReLU(),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, use_bias=False),
        layers.BatchNormalization(momentum=0.9),
        layers.ReLU(),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.3),
        layers.Dense(10),
    ], input_shape=(28, 28, 1), seed=seed)


def main(epochs=15, seed=0, batch_size=128, peak_learning_rate=2e-3):
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_digits()
    x_train = x_train[..., None] / np.float32(255)
    x_test = x_test[..., None] / np.float32(255)

    model = cnn(seed)
    rate = schedules.warmup_cosine(peak_learning_rate, epochs, -(-len(x_train) // batch_size))
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.Adam(rate),
                  metrics=["accuracy"])
    model.summary()

    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, validation_data=(x_test, y_test),
              verbose=2)
    seconds = time.perf_counter() - start
    result = model.evaluate(x_test, y_test)
    print(f"test accuracy {result['accuracy']:.2%} (loss {result['loss']:.4f}) on {len(x_test)} held-out digits, "
          f"{epochs} epochs in {seconds:.1f}s")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.seed)
