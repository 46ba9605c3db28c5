"""Seed 004, second part: build, plot and explain a network on scikit-learn's breast-cancer set.

Standardised features, the seed's default network (Dense ceil((n+1)/2) relu, Dropout 0.2,
Dense ceil((n+1)/4) relu, Dropout 0.2, Dense 1 sigmoid), binary cross-entropy, batch 32, validation
split 0.3; then its drawing, its training curves, test metrics, and the SHAP explanation of one prediction.
Last, a small network on three spirals, drawn neuron by neuron with the regions it assigns to each class.

Run: python examples/build_plot_explain.py [--out DIR]        (needs scikit-learn, matplotlib and shap)
The figures go to DIR (default runs/build_plot_explain, under the current directory); the documentation's
figures were made with --out docs/images.
"""
import argparse
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import shap
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import scratchnn as snn
from scratchnn import explain, layers, metrics, optim, plot

IMAGES = os.path.join("runs", "build_plot_explain")


def shrink_png(path):
    """Re-save a figure with a 256-colour palette (the many translucent lines of a drawing make PNGs large)."""
    from PIL import Image
    Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def seed_network(n_features, seed):
    """The seed's default: hidden layers of ceil((n+1)/2) and ceil((n+1)/4) relu units with Dropout 0.2."""
    return snn.Sequential([
        layers.Dense(math.ceil((n_features + 1) / 2), activation="relu", name="h1"),
        layers.Dropout(0.2),
        layers.Dense(math.ceil((n_features + 1) / 4), activation="relu", name="h2"),
        layers.Dropout(0.2),
        layers.Dense(1, activation="sigmoid", name="output"),
    ], input_shape=(n_features,), seed=seed, name="DeepNN")


def available_metrics():
    names = ["accuracy"]
    try:
        metrics.get("f1", output_dim=1)
        names.append("f1")
    except ValueError:
        pass
    return names


def main(epochs=100, seed=0, images=IMAGES):
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.2, random_state=seed,
                                                        stratify=data.target)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train, x_test = ((x_train - mean) / std).astype("float32"), ((x_test - mean) / std).astype("float32")
    y_train, y_test = y_train[:, None].astype("float32"), y_test[:, None].astype("float32")

    model = seed_network(x_train.shape[1], seed)
    optimizer = optim.Adam(1e-3) if hasattr(optim, "Adam") else optim.SGD(0.05)
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=available_metrics())
    model.summary()
    os.makedirs(images, exist_ok=True)
    plot.plot_model(model, path=os.path.join(images, "bpe_model.png"))
    shrink_png(os.path.join(images, "bpe_model.png"))

    history = model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_split=0.3, verbose=0)
    plot.plot_history(history, path=os.path.join(images, "bpe_history.png"))
    result = model.evaluate(x_test, y_test)
    print("test " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()) + f" on {len(x_test)} held-out tumours")
    plot.plot_confusion_matrix(y_test, model.predict(x_test), class_names=list(data.target_names),
                               path=os.path.join(images, "bpe_confusion.png"))

    plt.close("all")

    background = x_train[np.random.default_rng(seed).choice(len(x_train), 100, replace=False)]
    probabilities = model.predict(x_test)[:, 0]
    chosen = int(np.argmin(np.abs(probabilities - 0.5)))              # the least certain test prediction
    explanation = explain.shap_values(model, x_test[chosen], background, feature_names=list(data.feature_names))
    print(f"test sample {chosen}: P(benign) = {probabilities[chosen]:.3f}, true class "
          f"{data.target_names[int(y_test[chosen, 0])]}; SHAP base value {explanation.base_values:.3f} "
          f"+ sum of SHAP values {explanation.values.sum():+.3f}")
    shap.plots.waterfall(explanation, max_display=10, show=False)
    plt.gcf().savefig(os.path.join(images, "bpe_shap_waterfall.png"), dpi=90, bbox_inches="tight")
    plt.close("all")

    ours = explain.gradient_shap(model, x_test[chosen], background, samples=5000, seed=seed)
    correlation = np.corrcoef(ours, explanation.values)[0, 1]
    print(f"gradient_shap on the same sample: sum {ours.sum():+.3f}; correlation with shap's values {correlation:.3f}")
    plot.plot_attributions(ours, feature_names=list(data.feature_names), features=x_test[chosen],
                           base_value=float(explanation.base_values), top=10,
                           title=f"gradient_shap (expected gradients) of test sample {chosen}",
                           path=os.path.join(images, "bpe_gradient_shap.png"))
    plt.close("all")
    return result, correlation


def spirals(epochs=300, seed=0, images=IMAGES):
    """A small network drawn neuron by neuron, and the regions it carves out of the plane (three spirals)."""
    x, y = snn.datasets.toy.make_spirals(300, n_classes=3, noise=0.2, seed=seed)
    model = snn.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(8, activation="tanh"), layers.Dense(3)],
                           input_shape=(2,), seed=seed, name="spirals")
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.Adam(0.02), metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    print(f"spirals: training accuracy {history.history['accuracy'][-1]:.2%} after {epochs} epochs")
    os.makedirs(images, exist_ok=True)
    plot.plot_model(model, input_names=["$x_1$", "$x_2$"], path=os.path.join(images, "spirals_model.png"))
    plot.plot_decision_boundary(model, x, y, path=os.path.join(images, "spirals_boundary.png"))
    plt.close("all")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=IMAGES, help=f"folder for the figures (default {IMAGES})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(seed=args.seed, images=args.out)
    spirals(seed=args.seed, images=args.out)
    print(f"figures written to {args.out}")
