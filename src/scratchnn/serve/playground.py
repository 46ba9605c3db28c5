"""The Playground: a small network trained on a 2-D toy set while the page watches, and seed 000's 2-2-1
network taken one sample at a time with every forward value and partial derivative shown.

A run is one request, ``GET /v1/playground/train?dataset=moons&layers=2&width=8...``, answered with
server-sent events: ``setup`` (the points and the grid's extent), then ``frame`` events (epoch, loss,
accuracy, and the class and confidence at each point of a grid over the plane: the decision boundary),
then ``done``. The run holds nothing between requests, so it works behind several worker processes, and
it stops when the page closes the stream.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..datasets import toy
from ..tutorial import PARAMETER_NAMES, TrainableNeuralNetwork, mse_loss
from .requests import ApiError, query_choice, query_float, query_int

DATASETS = ("moons", "spirals", "blobs", "xor", "gender")
ACTIVATIONS = ("tanh", "relu", "sigmoid", "leaky_relu", "elu", "gelu", "linear")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adagrad", "nadam", "adamw")
MAX_LAYERS, MAX_WIDTH, MAX_EPOCHS, MAX_GRID = 6, 32, 5000, 96


@dataclass
class RunConfig:
    dataset: str = "moons"
    layers: int = 2
    width: int = 8
    activation: str = "tanh"
    optimizer: str = "adam"
    learning_rate: float = 0.03
    epochs: int = 300
    batch_size: int = 32
    frames: int = 60
    grid: int = 40
    seed: int = 0

    @classmethod
    def from_query(cls, params) -> RunConfig:
        """The run the query string asks for, every value checked (an ApiError names a bad one)."""
        return cls(dataset=query_choice(params, "dataset", cls.dataset, DATASETS),
                   layers=query_int(params, "layers", cls.layers, 0, MAX_LAYERS),
                   width=query_int(params, "width", cls.width, 1, MAX_WIDTH),
                   activation=query_choice(params, "activation", cls.activation, ACTIVATIONS),
                   optimizer=query_choice(params, "optimizer", cls.optimizer, OPTIMIZERS),
                   learning_rate=query_float(params, "learning_rate", cls.learning_rate, 1e-6, 10.0),
                   epochs=query_int(params, "epochs", cls.epochs, 1, MAX_EPOCHS),
                   batch_size=query_int(params, "batch_size", cls.batch_size, 1, 1024),
                   frames=query_int(params, "frames", cls.frames, 1, 500),
                   grid=query_int(params, "grid", cls.grid, 8, MAX_GRID),
                   seed=query_int(params, "seed", cls.seed, 0, 2**31 - 1))


def toy_data(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The points (n, 2) and integer labels (n,) of a toy set from scratchnn.datasets.toy."""
    if name == "moons":
        x, y = toy.make_moons(200, noise=0.15, seed=seed)
    elif name == "spirals":
        x, y = toy.make_spirals(300, n_classes=3, noise=0.2, seed=seed)
    elif name == "blobs":
        x, y = toy.make_blobs(200, centers=3, cluster_std=1.5, seed=seed)
    elif name == "xor":
        x, y = toy.xor()
    else:                                          # seed 000's four people: shifted weight and height
        x, y = toy.gender()
    return np.asarray(x, dtype=np.float64), np.asarray(y).reshape(-1).astype(np.int64)


class PlaygroundRun:
    """One training run: the model, its data (standardised for training), and the frames it reports."""

    def __init__(self, config: RunConfig):
        from .. import layers, optim
        from ..models import Sequential
        self.config = config
        self.x, self.y = toy_data(config.dataset, config.seed)
        self.classes = int(self.y.max()) + 1
        self.mean, self.scale = self.x.mean(axis=0), self.x.std(axis=0) + 1e-12
        self.inputs = ((self.x - self.mean) / self.scale).astype(np.float32)       # z-scores: one scale for all
        hidden = [layers.Dense(config.width, activation=config.activation) for _ in range(config.layers)]
        self.model = Sequential([*hidden, layers.Dense(1 if self.classes == 2 else self.classes)],
                                input_shape=(2,), seed=config.seed)
        loss = "binary_crossentropy" if self.classes == 2 else "categorical_crossentropy"
        optimizer = optim.OPTIMIZERS[config.optimizer](learning_rate=config.learning_rate)
        self.model.compile(loss=loss, optimizer=optimizer, metrics=["accuracy"], from_logits=True)
        self.rng = np.random.default_rng(config.seed)
        self.epoch = 0
        low, high = self.x.min(axis=0), self.x.max(axis=0)
        margin = 0.15 * np.maximum(high - low, 1e-6)
        self.extent = [float(low[0] - margin[0]), float(high[0] + margin[0]),
                       float(low[1] - margin[1]), float(high[1] + margin[1])]

    def setup(self) -> dict:
        """What the page draws before the first frame: the points, the extent, the network."""
        return {"dataset": self.config.dataset, "classes": self.classes, "extent": self.extent,
                "points": [[round(float(a), 4), round(float(b), 4), int(c)] for (a, b), c in zip(self.x, self.y)],
                "parameters": self.model.count_params(),
                "network": [2] + [self.config.width] * self.config.layers + [self.model.output_shape[-1]],
                "epochs": self.config.epochs}

    def train(self, epochs: int) -> None:
        """``epochs`` passes over the data in shuffled mini-batches (train_on_batch, the trainer's step)."""
        size = self.config.batch_size
        for _ in range(epochs):
            order = self.rng.permutation(len(self.inputs))
            for start in range(0, len(order), size):
                rows = order[start:start + size]
                self.model.train_on_batch(self.inputs[rows], self.y[rows])
            self.epoch += 1

    def frame(self) -> dict:
        """The loss and accuracy on all the points, and the predicted class and its probability on the grid."""
        results = self.model.evaluate(self.inputs, self.y)
        side = self.config.grid
        xs = np.linspace(self.extent[0], self.extent[1], side)
        ys = np.linspace(self.extent[3], self.extent[2], side)                     # top row first, as an image
        plane = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        outputs = self.model.predict(((plane - self.mean) / self.scale).astype(np.float32))
        probabilities = _probabilities(outputs)
        return {"epoch": self.epoch, "loss": float(results["loss"]), "accuracy": float(results.get("accuracy", 0)),
                "grid": side, "classes": probabilities.argmax(axis=1).tolist(),
                "confidence": np.round(probabilities.max(axis=1), 3).tolist()}

    def epochs_per_frame(self) -> int:
        return max(1, math.ceil(self.config.epochs / self.config.frames))


def _probabilities(outputs: np.ndarray) -> np.ndarray:
    from ..backend.special import sigmoid, softmax
    outputs = outputs.astype(np.float64)
    if outputs.shape[1] == 1:
        positive = sigmoid(outputs[:, 0])
        return np.stack([1 - positive, positive], axis=1)
    return softmax(outputs, axis=1)


# ---- seed 000's network, one sample at a time --------------------------------------------------------------
FORWARD_NAMES = ("sum_h1", "h1", "sum_h2", "h2", "sum_o1", "y_pred")


def step_2_2_1(document: dict) -> dict:
    """One SGD step of seed 000's 2-2-1 network on one of its four people, every term of the chain rule shown.

    ``document``: {"parameters": {"w1": ..., "b3": ...} (default: drawn from "seed"), "seed": 0,
    "sample": 0..3 (Alice, Bob, Charlie, Diana), "learning_rate": 0.1}. The terms come from
    ``scratchnn.tutorial.TrainableNeuralNetwork.backprop``, the seed's own derivation.
    """
    if not isinstance(document, dict):
        raise ApiError(422, 'expected a JSON object such as {"sample": 0, "learning_rate": 0.1}')
    seed = _number(document, "seed", 0, integer=True, low=0)
    index = _number(document, "sample", 0, integer=True, low=0, high=3)
    rate = _number(document, "learning_rate", 0.1, low=0, high=10)
    parameters = document.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict) or sorted(parameters) != sorted(PARAMETER_NAMES):
            raise ApiError(422, f"parameters must be an object with the nine numbers {', '.join(PARAMETER_NAMES)}")
        parameters = {name: _number(parameters, name, None, low=-1e6, high=1e6) for name in PARAMETER_NAMES}
    network = TrainableNeuralNetwork(seed=seed, parameters=parameters)
    data, labels = toy.gender(dtype="float64")
    x, y_true = data[index], float(labels[index])
    before = network.parameters()
    terms = network.backprop(x, y_true)
    for name in PARAMETER_NAMES:                                   # w <- w - learning_rate * dL/dw
        setattr(network, name, getattr(network, name) - rate * terms[f"d_L_d_{name}"])
    forward = {name: float(terms[name]) for name in FORWARD_NAMES}
    return {"sample": {"index": index, "name": toy.GENDER_NAMES[index], "x": [float(v) for v in x], "y": y_true},
            "parameters": before, "forward": forward, "loss": float((y_true - forward["y_pred"]) ** 2),
            "partials": {name: float(value) for name, value in terms.items()
                         if name.startswith("d_") and not name.startswith("d_L_d_w") and
                         not name.startswith("d_L_d_b")},
            "gradients": {name: float(terms[f"d_L_d_{name}"]) for name in PARAMETER_NAMES},
            "updated": network.parameters(), "learning_rate": rate,
            "loss_all": float(mse_loss(labels, network.feedforward(data)))}


def _number(document: dict, name: str, default, integer: bool = False, low=None, high=None):
    value = document.get(name, default)
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or \
            (low is not None and value < low) or (high is not None and value > high):
        span = f" in [{low}, {high}]" if high is not None else (f" >= {low}" if low is not None else "")
        raise ApiError(422, f"{name} must be {'an integer' if integer else 'a number'}{span}, got {value!r}")
    return value
