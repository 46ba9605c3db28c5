"""Seed 004's fully connected MNIST network written with the library: 784 -> 100 -> 50 -> 10, tanh after every
layer, MSE (mean over the 10 outputs), SGD(0.1), one sample per update, 35 epochs on the first 1,000
training digits, weights and biases from U(-0.5, 0.5) as the seed does.

The error printed per epoch is the seed's: the mean over the 1,000 samples of each one's loss before its
update. Then the accuracy on the 2,000 test digits and three predictions against their one-hot labels.

Run: python examples/seed004_mnist_fc.py
"""
import time

import numpy as np

import scratchnn as snn
from scratchnn import datasets, initializers, layers, optim


def load(n_train=1000):
    """The first n_train training digits and all 2,000 test digits: pixels / 255 as (N, 784), labels one-hot."""
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    flat = lambda images: images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    one_hot = lambda labels: np.eye(10, dtype=np.float32)[labels]
    return (flat(x_train[:n_train]), one_hot(y_train[:n_train])), (flat(x_test), one_hot(y_test))


def fc_network(seed=0):
    seed_init = initializers.RandomUniform(-0.5, 0.5)          # the seed's np.random.rand(...) - 0.5
    dense = lambda units: layers.Dense(units, activation="tanh", kernel_initializer=seed_init,
                                       bias_initializer=seed_init)
    return snn.Sequential([dense(100), dense(50), dense(10)], input_shape=(784,), seed=seed)


def train(epochs=35, learning_rate=0.1, seed=0, n_train=1000):
    """Returns the model, the per-epoch errors, the test accuracy and the training seconds."""
    (x_train, y_train), (x_test, y_test) = load(n_train)
    model = fc_network(seed)
    model.compile(loss="mse", optimizer=optim.SGD(learning_rate), metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=1, shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    return model, history.history["loss"], model.evaluate(x_test, y_test)["accuracy"], seconds


def main(epochs=35, seed=0, print_fn=print):
    model, errors, accuracy, seconds = train(epochs, seed=seed)
    for epoch, error in enumerate(errors):
        print_fn(f"epoch {epoch + 1}/{epochs}   error={error:f}")
    print_fn(f"test accuracy {accuracy:.2%} on 2,000 digits (trained on 1,000 in {seconds:.1f}s)")
    _, (x_test, y_test) = load()
    predicted = model.predict(x_test[:3])
    print_fn("predicted values :")
    print_fn(np.array2string(predicted, precision=3, suppress_small=True))
    print_fn("true values :")
    print_fn(np.array2string(y_test[:3], precision=0))
    return {"errors": errors, "accuracy": accuracy, "predicted": predicted, "true": y_test[:3], "seconds": seconds}


if __name__ == "__main__":
    main()
