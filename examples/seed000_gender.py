"""Seed 000, part 2: train the hand-derived 2-2-1 network on the four people, then the same network
from library layers, started from the same weights, following the same trajectory.

The library twin is Dense(2) + Sigmoid, Dense(1) + Sigmoid, MeanSquaredError, SGD(0.1), batch_size=1,
shuffle=False, in float64: after every epoch its weights are compared with the hand-derived ones.

Run: python examples/seed000_gender.py
"""
import numpy as np

from scratchnn import datasets, optim
from scratchnn.tutorial import TrainableNeuralNetwork

EMILY = np.array([-7.0, -3.0])     # 128 pounds, 63 inches
FRANK = np.array([20.0, 2.0])      # 155 pounds, 68 inches


def largest_difference(model, network):
    return max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), network.dense_weights()))


def library_trajectory(initial, data, all_y_trues, epochs=1000, learn_rate=0.1):
    """Train the hand-derived network and its library twin side by side; the largest weight difference seen."""
    network = TrainableNeuralNetwork(parameters=initial)
    model = network.to_sequential()
    model.compile(loss="mse", optimizer=optim.SGD(learn_rate))
    worst = 0.0
    for _ in range(epochs):
        network.train(data, all_y_trues, learn_rate=learn_rate, epochs=1, print_every=0)
        model.fit(data, all_y_trues, epochs=1, batch_size=1, shuffle=False, verbose=0)
        worst = max(worst, largest_difference(model, network))
    return worst, model, network


def main(seed=0, epochs=1000, print_fn=print):
    data, all_y_trues = datasets.gender(dtype="float64")
    network = TrainableNeuralNetwork(seed=seed)
    initial = network.parameters()
    log = network.train(data, all_y_trues, epochs=epochs, print_fn=print_fn)
    emily, frank = float(network.feedforward(EMILY)), float(network.feedforward(FRANK))
    print_fn("Emily: %.3f" % emily)     # F
    print_fn("Frank: %.3f" % frank)     # M

    worst, model, _ = library_trajectory(initial, data, all_y_trues, epochs)
    library_emily, library_frank = model.predict(np.stack([EMILY, FRANK]))[:, 0]
    print_fn(f"library twin (Dense, MSE, SGD(0.1), batch_size=1): largest weight difference from the "
             f"hand-derived network over {epochs} epochs = {worst:.1e}")
    print_fn(f"library twin: Emily {library_emily:.3f}, Frank {library_frank:.3f}")
    return {"log": log, "emily": emily, "frank": frank, "largest_difference": worst,
            "library_emily": float(library_emily), "library_frank": float(library_frank)}


if __name__ == "__main__":
    main()
