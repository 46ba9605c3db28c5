"""Which pixels a digit classifier looks at: saliency, integrated gradients and occlusion on a small CNN.

Trains a two-convolution network on the embedded digits (8,000 train / 2,000 test), then explains four
correct and four mistaken test predictions; also draws the network, its filters, test samples and the
confusion matrix.

Run: python examples/explain_digits.py [--out DIR]        (needs matplotlib)
The figures go to DIR (default runs/explain_digits, under the current directory); the documentation's
figures were made with --out docs/images.
"""
import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import scratchnn as snn
from scratchnn import explain, layers, optim, plot

IMAGES = os.path.join("runs", "explain_digits")
METHODS = ("saliency", "integrated gradients", "occlusion")


def digits_cnn(seed):
    return snn.Sequential([
        layers.Conv2D(8, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(10),
    ], input_shape=(28, 28, 1), seed=seed, name="digits_cnn")


def attributions(model, x, target):
    """The three maps of every image in x, for the class in target."""
    ig, delta = explain.integrated_gradients(model, x, target=target, steps=50, return_delta=True)
    print(f"integrated gradients: largest completeness gap |sum - (f(x) - f(0))| = {np.abs(delta).max():.2e}")
    return {"saliency": explain.saliency(model, x, target=target),
            "integrated gradients": ig,
            "occlusion": explain.occlusion(model, x, target=target, window=4, stride=2)}


def plot_explanations(images, labels, predicted, maps, path):
    figure, axes = plt.subplots(1 + len(METHODS), len(images), figsize=(1.45 * len(images), 1.55 * (1 + len(METHODS))))
    for column, (image, label, guess) in enumerate(zip(images, labels, predicted)):
        wrong = label != guess
        axes[0, column].imshow(image[..., 0], cmap="gray_r")
        axes[0, column].set_title(f"pred {guess}" + (f" (true {label})" if wrong else ""), fontsize=8,
                                  color="red" if wrong else "black")
        for row, method in enumerate(METHODS, start=1):
            plot.plot_attributions(maps[method][column], image=image, colorbar=False, ax=axes[row, column])
    for axis in axes.ravel():
        axis.set_xticks([])
        axis.set_yticks([])
    for row, method in enumerate(("input",) + METHODS):
        axes[row, 0].set_ylabel(method, fontsize=8)
    figure.suptitle("Evidence for the predicted class: red for, blue against (each map on its own scale)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)


def main(epochs=3, seed=0, images=IMAGES):
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_digits()
    x_train = (x_train / np.float32(255))[..., None]
    x_test = (x_test / np.float32(255))[..., None]
    model = digits_cnn(seed)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.Adam(1e-3),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=2)
    result = model.evaluate(x_test, y_test)
    print(f"test accuracy {result['accuracy']:.2%} on {len(x_test)} held-out digits")

    os.makedirs(images, exist_ok=True)
    out = lambda name: os.path.join(images, name)
    predicted = model.predict(x_test).argmax(axis=1)
    plot.plot_model(model, path=out("digits_model.png"))
    plot.plot_filters(model, image=x_test[0], path=out("digits_filters.png"))
    plot.plot_samples(x_test[:24], y_true=y_test[:24], y_pred=predicted[:24], path=out("digits_samples.png"))
    plot.plot_confusion_matrix(y_test, predicted, path=out("digits_confusion.png"))
    plt.close("all")

    correct = np.flatnonzero(predicted == y_test)[:4]
    mistaken = np.flatnonzero(predicted != y_test)[:4]
    chosen = np.concatenate([correct, mistaken])
    maps = attributions(model, x_test[chosen], predicted[chosen])
    plot_explanations(x_test[chosen], y_test[chosen], predicted[chosen], maps, out("digits_attributions.png"))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=IMAGES, help=f"folder for the figures (default {IMAGES})")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(epochs=args.epochs, seed=args.seed, images=args.out)
    print(f"figures written to {args.out}")
