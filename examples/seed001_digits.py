"""Seed 001's digit network on the embedded digits: [784, 500, 500, 10], sigmoid on every layer, one sample
per update, then the same shape with ReLU, softmax cross-entropy and mini-batches.

The seed's output error is y_hat - y at a sigmoid output. That is exactly the gradient, with respect to the
output layer's input z, of the binary cross-entropy of sigmoid(z) summed over the 10 outputs; the library's
BinaryCrossentropy(from_logits=True) averages over them, giving (y_hat - y) / 10, so the seed's learning
rate is multiplied by 10 for the library optimizer. The last Sigmoid lives inside the loss (from_logits),
so predict() gives z, and argmax(z) = argmax(sigmoid(z)).

The seed makes 120,000 updates (60,000 MNIST digits, 2 epochs) at lr 0.001 and reports 90.29%; here there
are 8,000 training digits, 16,000 updates, and lr 0.001 stops far short (run with --lr 0.001 to see it),
so the default learning rate is 0.1 (in the seed's units).

Run: python examples/seed001_digits.py [--lr 0.1] [--epochs 2]
"""
import argparse
import time

import numpy as np

import scratchnn as snn
from scratchnn import callbacks, layers, losses, optim
from scratchnn.tutorial import init_random_params, split_bias_rows

LAYER_SIZES = [784, 500, 500, 10]


class ReportEvery(callbacks.Callback):
    """Print accuracy and loss on the test digits every ``every`` training samples (one sample per batch)."""

    def __init__(self, x_test, y_test, every, print_fn=print):
        self.x_test, self.y_test, self.every, self.print_fn = x_test, y_test, every, print_fn
        self.seen = 0
        self.log = []

    def on_batch_end(self, batch, logs=None):
        self.seen += (logs or {}).get("size", 1)
        if self.seen % self.every == 0:
            result = self.model.evaluate(self.x_test, self.y_test)
            self.log.append((self.seen, result["accuracy"], result["loss"]))
            self.print_fn(f"samples {self.seen:6d}: test accuracy {result['accuracy']:.2%}, loss {result['loss']:.4f}")


def load(dtype=np.float32):
    """Pixels scaled to [0, 1] as (N, 784), labels one-hot (N, 10)."""
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_digits()
    flat = lambda images: images.reshape(len(images), -1).astype(dtype) / dtype(255)
    one_hot = lambda labels: np.eye(10, dtype=dtype)[labels]
    return (flat(x_train), one_hot(y_train)), (flat(x_test), one_hot(y_test))


def seed_network(seed=0):
    """Seed 001's network: sigmoid layers, its initialisation N(0, 1) * sqrt(2 / (in + out)), biases included."""
    model = snn.Sequential([layers.Dense(500, activation="sigmoid"), layers.Dense(500, activation="sigmoid"),
                            layers.Dense(10)], input_shape=(784,), seed=seed)
    model.set_weights(split_bias_rows(init_random_params(LAYER_SIZES, seed=seed)))
    return model


def train_seed_network(data, lr=0.1, epochs=2, every=2000, seed=0, print_fn=print):
    """One sample per update, error y_hat - y at the sigmoid output; returns (model, test log, seconds)."""
    (x_train, y_train), (x_test, y_test) = data
    model = seed_network(seed)
    model.compile(loss=losses.BinaryCrossentropy(from_logits=True), optimizer=optim.SGD(lr * LAYER_SIZES[-1]),
                  metrics=["accuracy"])
    monitor = ReportEvery(x_test, y_test, every, print_fn)
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=1, shuffle=False, verbose=0, callbacks=[monitor])
    return model, monitor.log, time.perf_counter() - start


def train_modern_network(data, epochs=2, batch_size=32, lr=0.1, seed=0):
    """ReLU hidden layers, softmax cross-entropy on logits, mini-batches; returns (model, seconds)."""
    (x_train, y_train), _ = data
    model = snn.Sequential([layers.Dense(500, activation="relu"), layers.Dense(500, activation="relu"),
                            layers.Dense(10)], input_shape=(784,), seed=seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.SGD(lr), metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    return model, time.perf_counter() - start


def main(lr=0.1, epochs=2, seed=0, print_fn=print):
    data = load()
    print_fn(f"seed 001: {LAYER_SIZES}, sigmoid, one digit per update, lr {lr:g}, {epochs} epochs")
    model, log, seconds = train_seed_network(data, lr, epochs, seed=seed, print_fn=print_fn)
    seed_accuracy = model.evaluate(*data[1])["accuracy"]
    print_fn(f"seed network: {seed_accuracy:.2%} on {len(data[1][0])} test digits after "
             f"{epochs * len(data[0][0]):,} updates in {seconds:.1f}s")
    modern, modern_seconds = train_modern_network(data, epochs, seed=seed)
    modern_accuracy = modern.evaluate(*data[1])["accuracy"]
    print_fn(f"ReLU + softmax cross-entropy, batches of 32, SGD(0.1): {modern_accuracy:.2%} after "
             f"{epochs} epochs in {modern_seconds:.1f}s")
    return {"log": log, "accuracy": seed_accuracy, "seconds": seconds,
            "modern_accuracy": modern_accuracy, "modern_seconds": modern_seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate in the seed's units (its own: 0.001)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.lr, args.epochs, args.seed)
