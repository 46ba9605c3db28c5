"""Adam with a warmup-then-cosine learning rate on the [784, 500, 500, 10] ReLU network, embedded digits.

Schedule: the rate rises linearly from 2e-4 to 2e-3 over the first epoch, then follows a half cosine down
to 0 by the end of the last epoch (CosineDecay with warmup); batch 64, 10 epochs, 8,000 training digits,
accuracy on the 2,000 held-out test digits after every epoch.

Run: python examples/digits_adam.py [--epochs 10] [--seed 0]
"""
import argparse
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, optim, schedules


def main(epochs=10, seed=0, batch_size=64, peak_learning_rate=2e-3):
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_digits()
    x_train = x_train.reshape(len(x_train), -1) / np.float32(255)
    x_test = x_test.reshape(len(x_test), -1) / np.float32(255)

    steps_per_epoch = -(-len(x_train) // batch_size)
    schedule = schedules.warmup_cosine(peak_learning_rate, epochs, steps_per_epoch)
    model = snn.Sequential([
        layers.Dense(500, activation="relu"),
        layers.Dense(500, activation="relu"),
        layers.Dense(10),
    ], input_shape=(784,), seed=seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.Adam(schedule),
                  metrics=["accuracy"])
    print(f"Adam, learning rate {schedule}, batch {batch_size}, {epochs} epochs, seed {seed}")

    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, validation_data=(x_test, y_test), verbose=2)
    seconds = time.perf_counter() - start
    result = model.evaluate(x_test, y_test)
    print(f"test accuracy {result['accuracy']:.2%} (loss {result['loss']:.4f}) on {len(x_test)} held-out digits, "
          f"trained in {seconds:.1f}s")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.seed)
