"""Seed 002: the exam-score network (2-3-1, sigmoid, no biases): the seed's worked illustration, its training,
its prediction for 4 hours studied and 8 hours slept, and the scaling mistake in that prediction.

Run: python examples/seed002_exam_scores.py
"""
import tempfile

import numpy as np

from scratchnn import datasets
from scratchnn.tutorial import Neural_Network, sigmoid

SEED_HIDDEN_SUMS = np.array([7.6, 7.5, 6.5])                # the seed's (2 * .2) + (9 * .8) = 7.6, ...
ILLUSTRATION_W1 = [[0.2, 0.6, 0.1], [0.8, 0.3, 0.7]]      # the seed's .2 .6 .1 / .8 .3 .7
ILLUSTRATION_W2 = [[0.4], [0.5], [0.9]]                   # the seed's .4 .5 .9
QUERY = np.array([4.0, 8.0])                              # 4 hours studied, 8 hours slept


def illustration(print_fn=print):
    """The seed's hand calculation on input (2, 9): its hidden sums 7.6, 7.5, 6.5, then W2 = (.4, .5, .9).

    The seed's middle sum is itself a slip: with its weights (2 * .6) + (9 * .3) = 3.9, not 7.5; the network
    holding the weights as listed is run too.
    """
    hidden = sigmoid(SEED_HIDDEN_SUMS)
    for total, activation in zip(SEED_HIDDEN_SUMS, hidden):
        print_fn(f"S({total:.1f}) = {activation:.9f}")
    print_fn("(the seed prints S(7.5) = 1.000553084: a misprint, a sigmoid never exceeds 1)")
    output_sum = float(hidden @ np.array(ILLUSTRATION_W2)[:, 0])
    output = float(sigmoid(output_sum))
    print_fn(" + ".join(f"({a:.4f} * {w:.1f})" for a, w in zip(hidden, np.array(ILLUSTRATION_W2)[:, 0]))
             + f" = {output_sum:.5f}")
    print_fn(f"S({output_sum:.5f}) = {output:.10f}   (the seed, from its rounded values: S(1.79832) = .8579443067)")
    network = Neural_Network(W1=ILLUSTRATION_W1, W2=ILLUSTRATION_W2)
    listed = float(network.forward(np.array([[2.0, 9.0]]))[0, 0])
    print_fn(f"with the weights as listed the hidden sums are {np.round(network.z[0], 1)} "
             f"((2 * .6) + (9 * .3) = 3.9, not 7.5) and the output is {listed:.4f}")
    return {"hidden": hidden, "output_sum": output_sum, "output": output,
            "listed_sums": network.z[0].copy(), "listed_output": listed}


def train(seed=0, iterations=1000, print_every=100, print_fn=print):
    """The seed's loop: 1000 calls of train(X, y) on the three scaled rows, printing the loss."""
    X, y = datasets.exam_scores(dtype="float64")
    network = Neural_Network(seed=seed)
    losses = []
    for i in range(iterations):
        losses.append(network.loss(X, y))
        if i % print_every == 0 or i == iterations - 1:
            print_fn(f"# {i}  Loss: {losses[-1]:.3e}")
        network.train(X, y)
    print_fn(f"Actual Output: {y[:, 0]}\nPredicted Output: {np.round(network.forward(X)[:, 0], 4)}")
    return network, losses


def predictions(network, print_fn=print):
    """The query scaled the seed's way (by its own maximum) and the right way (by the training maxima)."""
    raw_x, _ = datasets.exam_scores(scaled=False, dtype="float64")
    seed_scaled = QUERY / np.amax(QUERY, axis=0)
    right_scaled = QUERY / raw_x.max(axis=0)
    seed_score = float(network.predict(seed_scaled)[0])
    right_score = float(network.predict(right_scaled)[0])
    print_fn(f"seed's scaling, by the query's own maximum: input {seed_scaled} -> "
             f"predicted score {100 * seed_score:.1f}")
    print_fn(f"right scaling, by the training maxima (3, 9): input {np.round(right_scaled, 4)} -> "
             f"predicted score {100 * right_score:.1f}")
    return {"seed_scaled": seed_scaled, "seed_score": seed_score, "right_scaled": right_scaled,
            "right_score": right_score}


def main(seed=0, print_fn=print):
    shown = illustration(print_fn)
    network, losses = train(seed, print_fn=print_fn)
    predicted = predictions(network, print_fn)
    with tempfile.TemporaryDirectory() as directory:
        network.saveWeights(directory)
        reloaded = Neural_Network.loadWeights(directory)
    same = np.array_equal(reloaded.W1, network.W1) and np.array_equal(reloaded.W2, network.W2)
    print_fn(f"saveWeights -> w1.txt, w2.txt (plain text); loadWeights gives the same weights: {same}")
    return {"illustration": shown, "losses": losses, "network": network, **predicted}


if __name__ == "__main__":
    main()
