"""The main job: a [784, 500, 500, 10] ReLU network on the embedded digits (8,000 train / 2,000 test).

Run: python examples/digits_mlp.py
"""
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, optim


def main(epochs=15, seed=0, out="digits.snn"):
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_digits()
    x_train = x_train.reshape(len(x_train), -1) / np.float32(255)
    x_test = x_test.reshape(len(x_test), -1) / np.float32(255)

    model = snn.Sequential([
        layers.Dense(500, activation="relu"),
        layers.Dense(500, activation="relu"),
        layers.Dense(10),
    ], input_shape=(784,), seed=seed)
    model.compile(loss="categorical_crossentropy", from_logits=True,
                  optimizer=optim.SGD(0.1), metrics=["accuracy"])
    model.summary()

    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_data=(x_test, y_test), verbose=2)
    seconds = time.perf_counter() - start
    result = model.evaluate(x_test, y_test)
    print(f"test accuracy {result['accuracy']:.2%} (loss {result['loss']:.4f}) on {len(x_test)} held-out digits, "
          f"trained in {seconds:.1f}s")
    model.save(out)
    print(f"model saved to {out}")
    return result


if __name__ == "__main__":
    main()
