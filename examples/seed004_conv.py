"""Seed 004's convolutional MNIST network written with the library: Conv 3x3 (1 filter) -> tanh -> Flatten ->
Dense 100 tanh -> Dense 10 tanh, MSE, SGD(0.1), one sample per update, 100 epochs on the first 1,000 training
digits, weights and biases from U(-0.5, 0.5) as the seed does; then the accuracy on the 2,000 test digits.

The seed's own ConvLayer adds the bias once per input channel in its forward pass
(``output[:, :, k] += correlate2d(...) + bias[k]`` inside the loop over input channels) while its backward
pass scales the bias gradient by the number of filters instead: a bug that its single-channel MNIST example
never shows, and that our gradient check catches at once (tests/test_conv.py,
test_gradient_check_catches_the_seed_bias_bug: relative error near 1 on the bias).

Run: python examples/seed004_conv.py [--epochs 100]
"""
import argparse
import time

import numpy as np

import scratchnn as snn
from scratchnn import datasets, initializers, layers, optim


def load(n_train=1000):
    """The first n_train training digits and the 2,000 test digits as (N, 28, 28, 1) / 255, labels one-hot."""
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    image = lambda digits: digits[..., None].astype(np.float32) / np.float32(255)
    one_hot = lambda labels: np.eye(10, dtype=np.float32)[labels]
    return (image(x_train[:n_train]), one_hot(y_train[:n_train])), (image(x_test), one_hot(y_test))


def conv_network(seed=0):
    centered_uniform = initializers.RandomUniform(-0.5, 0.5)                  # the seed's np.random.rand(...) - 0.5
    seed_init = {"kernel_initializer": centered_uniform, "bias_initializer": centered_uniform}
    return snn.Sequential([
        layers.Conv2D(1, 3, activation="tanh", **seed_init),      # (28, 28, 1) -> (26, 26, 1)
        layers.Flatten(),                                         # -> (676,)
        layers.Dense(100, activation="tanh", **seed_init),
        layers.Dense(10, activation="tanh", **seed_init),
    ], input_shape=(28, 28, 1), seed=seed)


def main(epochs=100, seed=0, print_fn=print):
    (x_train, y_train), (x_test, y_test) = load()
    model = conv_network(seed)
    model.compile(loss="mse", optimizer=optim.SGD(0.1), metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=1, shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    errors = history.history["loss"]
    for epoch in sorted({*range(min(3, epochs)), *range(max(0, epochs - 3), epochs)}):
        print_fn(f"epoch {epoch + 1}/{epochs}   error={errors[epoch]:f}")
    accuracy = model.evaluate(x_test, y_test)["accuracy"]
    print_fn(f"test accuracy {accuracy:.2%} on 2,000 digits (trained on 1,000, one sample per step, "
             f"in {seconds:.1f}s)")
    return {"errors": errors, "accuracy": accuracy, "seconds": seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.seed)
