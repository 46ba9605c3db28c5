"""Seed 000, part 1: a neuron, the 2-2-1 network's feedforward and the MSE loss, with the seed's numbers.

Run: python examples/seed000_neuron.py
"""
import numpy as np

from scratchnn.tutorial import Neuron, OurNeuralNetwork, mse_loss


def main():
    neuron = Neuron(np.array([0, 1]), 4)                 # w1 = 0, w2 = 1, b = 4
    x = np.array([2, 3])                                  # x1 = 2, x2 = 3
    results = {"neuron": neuron.feedforward(x),
               "network": OurNeuralNetwork().feedforward(x),
               "mse": mse_loss(np.array([1, 0, 0, 1]), np.array([0, 0, 0, 0]))}
    print(results["neuron"])        # 0.9990889488055994
    print(results["network"])       # 0.7216325609518421
    print(results["mse"])           # 0.5
    return results


if __name__ == "__main__":
    main()
