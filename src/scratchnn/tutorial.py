"""The seed tutorials' own networks, by their own names, each linked to the library layer that does the same job."""
import os

import numpy as np

from . import backend
from .layers.activations import sigmoid

PARAMETER_NAMES = ("w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3")


def deriv_sigmoid(x):
    """f'(x) = f(x) * (1 - f(x)) for the sigmoid f (what layers.Sigmoid.backward multiplies by)."""
    fx = sigmoid(x)
    return fx * (1 - fx)


def mse_loss(y_true, y_pred):
    """Mean squared error: mean of (y_true - y_pred)^2 (losses.MeanSquaredError over a batch)."""
    return ((np.asarray(y_true) - np.asarray(y_pred)) ** 2).mean()


class Neuron:
    """One neuron: y = f(w . x + b), f the sigmoid (a Dense(1) layer followed by Sigmoid)."""

    def __init__(self, weights, bias):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)

    def feedforward(self, inputs):
        total = np.dot(self.weights, inputs) + self.bias          # w . x + b
        return sigmoid(total)                                      # f(w . x + b)


class OurNeuralNetwork:
    """Seed 000's 2-2-1 network of three Neurons; every neuron has w = [0, 1] and b = 0 by default."""

    def __init__(self, weights=(0, 1), bias=0):
        self.h1 = Neuron(weights, bias)
        self.h2 = Neuron(weights, bias)
        self.o1 = Neuron(weights, bias)

    def feedforward(self, x):
        out_h1 = self.h1.feedforward(x)
        out_h2 = self.h2.feedforward(x)
        return self.o1.feedforward(np.array([out_h1, out_h2]))   # o1 takes h1 and h2 as its inputs


class TrainableNeuralNetwork:
    """Seed 000's trainable 2-2-1 network with every partial derivative written out by hand.

        h1 = f(w1 x1 + w2 x2 + b1)    h2 = f(w3 x1 + w4 x2 + b2)    o1 = f(w5 h1 + w6 h2 + b3)

    Args:
        seed: int or numpy Generator for the nine N(0, 1) draws (the seed's np.random.normal()).
        parameters: optional {"w1": ..., ..., "b3": ...} with all nine values, replacing the draws.

    The library network that computes the same function is ``to_sequential()``: Dense(2) + Sigmoid,
    Dense(1) + Sigmoid, with kernels [[w1, w3], [w2, w4]] and [[w5], [w6]] (shape (in, out)).
    """

    def __init__(self, seed=None, parameters=None):
        values = dict(zip(PARAMETER_NAMES, backend.make_rng(seed).standard_normal(len(PARAMETER_NAMES))))
        if parameters is not None:
            if sorted(parameters) != sorted(PARAMETER_NAMES):
                raise ValueError(f"TrainableNeuralNetwork expected parameters named {list(PARAMETER_NAMES)}, "
                                 f"got {sorted(parameters)}")
            values = parameters
        for name in PARAMETER_NAMES:
            setattr(self, name, float(values[name]))

    def parameters(self):
        return {name: getattr(self, name) for name in PARAMETER_NAMES}

    def feedforward(self, x):
        """Output o1 for one sample x = [x1, x2], or for each row of an (n, 2) array."""
        x = np.asarray(x, dtype=np.float64)
        h1 = sigmoid(self.w1 * x[..., 0] + self.w2 * x[..., 1] + self.b1)
        h2 = sigmoid(self.w3 * x[..., 0] + self.w4 * x[..., 1] + self.b2)
        return sigmoid(self.w5 * h1 + self.w6 * h2 + self.b3)

    def backprop(self, x, y_true):
        """Every term the seed names, for one sample and L = (y_true - y_pred)^2, as a dict.

        Holds the forward values (sum_h1, h1, ..., y_pred), the partial derivatives (d_L_d_ypred,
        d_ypred_d_h1, d_h1_d_w1, ...) and, by the chain rule, dL/dparam for all nine (d_L_d_w1, ...).
        """
        sum_h1 = self.w1 * x[0] + self.w2 * x[1] + self.b1
        h1 = sigmoid(sum_h1)
        sum_h2 = self.w3 * x[0] + self.w4 * x[1] + self.b2
        h2 = sigmoid(sum_h2)
        sum_o1 = self.w5 * h1 + self.w6 * h2 + self.b3
        y_pred = sigmoid(sum_o1)

        d_L_d_ypred = -2 * (y_true - y_pred)                # d/dy_pred of (y_true - y_pred)^2
        # Neuron o1: y_pred = f(w5 h1 + w6 h2 + b3)
        d_ypred_d_w5 = h1 * deriv_sigmoid(sum_o1)
        d_ypred_d_w6 = h2 * deriv_sigmoid(sum_o1)
        d_ypred_d_b3 = deriv_sigmoid(sum_o1)
        d_ypred_d_h1 = self.w5 * deriv_sigmoid(sum_o1)
        d_ypred_d_h2 = self.w6 * deriv_sigmoid(sum_o1)
        # Neuron h1: h1 = f(w1 x1 + w2 x2 + b1)
        d_h1_d_w1 = x[0] * deriv_sigmoid(sum_h1)
        d_h1_d_w2 = x[1] * deriv_sigmoid(sum_h1)
        d_h1_d_b1 = deriv_sigmoid(sum_h1)
        # Neuron h2: h2 = f(w3 x1 + w4 x2 + b2)
        d_h2_d_w3 = x[0] * deriv_sigmoid(sum_h2)
        d_h2_d_w4 = x[1] * deriv_sigmoid(sum_h2)
        d_h2_d_b2 = deriv_sigmoid(sum_h2)

        # The chain rule: dL/dw1 = dL/dy_pred * dy_pred/dh1 * dh1/dw1, and so on
        d_L_d_w1 = d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w1
        d_L_d_w2 = d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w2
        d_L_d_b1 = d_L_d_ypred * d_ypred_d_h1 * d_h1_d_b1
        d_L_d_w3 = d_L_d_ypred * d_ypred_d_h2 * d_h2_d_w3
        d_L_d_w4 = d_L_d_ypred * d_ypred_d_h2 * d_h2_d_w4
        d_L_d_b2 = d_L_d_ypred * d_ypred_d_h2 * d_h2_d_b2
        d_L_d_w5 = d_L_d_ypred * d_ypred_d_w5
        d_L_d_w6 = d_L_d_ypred * d_ypred_d_w6
        d_L_d_b3 = d_L_d_ypred * d_ypred_d_b3
        return {name: value for name, value in locals().items() if name not in ("self", "x", "y_true")}

    def train(self, data, all_y_trues, learn_rate=0.1, epochs=1000, print_every=10, print_fn=print):
        """Stochastic gradient descent, one sample at a time: w <- w - learn_rate * dL/dw.

        Prints ``Epoch %d loss: %.3f`` (the MSE over all of data) every ``print_every`` epochs (0: never)
        and returns those (epoch, loss) pairs.
        """
        data = np.asarray(data, dtype=np.float64)
        all_y_trues = np.asarray(all_y_trues, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != 2 or all_y_trues.shape != (len(data),):
            raise ValueError(f"train expected data of shape (n, 2) and all_y_trues of shape (n,), "
                             f"got {data.shape} and {all_y_trues.shape}")
        logged = []
        for epoch in range(epochs):
            for x, y_true in zip(data, all_y_trues):
                derivatives = self.backprop(x, y_true)
                for name in PARAMETER_NAMES:
                    setattr(self, name, getattr(self, name) - learn_rate * derivatives[f"d_L_d_{name}"])
            if print_every and epoch % print_every == 0:
                loss = float(mse_loss(all_y_trues, self.feedforward(data)))
                logged.append((epoch, loss))
                print_fn("Epoch %d loss: %.3f" % (epoch, loss))
        return logged

    def dense_weights(self):
        """[kernel1 (2, 2), bias1 (2,), kernel2 (2, 1), bias2 (1,)] in Sequential.set_weights order."""
        return [np.array([[self.w1, self.w3], [self.w2, self.w4]]), np.array([self.b1, self.b2]),
                np.array([[self.w5], [self.w6]]), np.array([self.b3])]

    def to_sequential(self, dtype="float64"):
        """The same network built from library layers (float64 by default), holding these weights."""
        from .layers import Dense
        from .models import Sequential
        model = Sequential([Dense(2, activation="sigmoid"), Dense(1, activation="sigmoid")],
                           input_shape=(2,), dtype=dtype)
        model.set_weights(self.dense_weights())
        return model


class Neural_Network:
    """Seed 002's exam-score network: 2 inputs, 3 hidden, 1 output, sigmoid everywhere, no biases.

        o = S(S(X W1) W2)

    backward adds X.T @ z2_delta to W1 and z2.T @ o_delta to W2: gradient descent with step 1 on
    0.5 * sum (y - o)^2, the seed's update rule.

    Args:
        seed: int or numpy Generator for the N(0, 1) weights (the seed's np.random.randn).
        W1, W2: optional starting weights of shapes (2, 3) and (3, 1), replacing the draws.
    """

    def __init__(self, seed=None, W1=None, W2=None):
        self.inputSize, self.hiddenSize, self.outputSize = 2, 3, 1
        rng = backend.make_rng(seed)
        self.W1 = self._weights("W1", W1, (self.inputSize, self.hiddenSize), rng)
        self.W2 = self._weights("W2", W2, (self.hiddenSize, self.outputSize), rng)

    @staticmethod
    def _weights(name, value, shape, rng):
        if value is None:
            return rng.standard_normal(shape)
        value = np.array(value, dtype=np.float64)
        if value.shape != shape:
            raise ValueError(f"Neural_Network expected {name} of shape {shape}, got {value.shape}")
        return value

    def forward(self, X):
        self.z = np.dot(X, self.W1)                    # z = X W1
        self.z2 = self.sigmoid(self.z)                 # z2 = S(z)
        self.z3 = np.dot(self.z2, self.W2)             # z3 = z2 W2
        return self.sigmoid(self.z3)                   # o = S(z3)

    def sigmoid(self, s):
        return sigmoid(s)

    def sigmoidPrime(self, s):
        return s * (1 - s)                             # S'(z) written with s = S(z)

    def backward(self, X, y, o):
        self.o_error = y - o                                           # error in output
        self.o_delta = self.o_error * self.sigmoidPrime(o)             # o_delta = (y - o) S'(z3)
        self.z2_error = self.o_delta.dot(self.W2.T)                    # z2_error = o_delta W2.T
        self.z2_delta = self.z2_error * self.sigmoidPrime(self.z2)     # z2_delta = z2_error S'(z)
        self.W1 += X.T.dot(self.z2_delta)                              # W1 <- W1 + X.T z2_delta
        self.W2 += self.z2.T.dot(self.o_delta)                         # W2 <- W2 + z2.T o_delta

    def train(self, X, y):
        o = self.forward(X)
        self.backward(X, y, o)

    def loss(self, X, y):
        """The seed's printed loss: mean of (y - o)^2."""
        return float(np.mean(np.square(y - self.forward(X))))

    def predict(self, xPredicted):
        """The output for already-scaled inputs (the seed's predict, without its global variable)."""
        return self.forward(xPredicted)

    def saveWeights(self, directory="."):
        """Write W1 and W2 to w1.txt and w2.txt as plain text (full precision); returns the two paths."""
        paths = (os.path.join(directory, "w1.txt"), os.path.join(directory, "w2.txt"))
        for path, weights in zip(paths, (self.W1, self.W2)):
            np.savetxt(path, weights, fmt="%.17g")
        return paths

    @classmethod
    def loadWeights(cls, directory="."):
        """A network holding the weights that saveWeights wrote to directory."""
        W1, W2 = (np.loadtxt(os.path.join(directory, name), ndmin=2) for name in ("w1.txt", "w2.txt"))
        return cls(W1=W1, W2=W2)


def init_random_params(layer_sizes, seed=None):
    """Seed 001's weights: per layer one (in + 1, out) matrix, bias row first, N(0, 1) * sqrt(2 / (in + out))."""
    rng = backend.make_rng(seed)
    return [rng.standard_normal((nodes_in + 1, nodes_out)) * np.sqrt(2 / (nodes_in + nodes_out))
            for nodes_in, nodes_out in zip(layer_sizes[:-1], layer_sizes[1:])]


def split_bias_rows(weights):
    """Seed 001's (in + 1, out) matrices as Dense arrays [kernel (in, out), bias (out,), ...]."""
    return [array for matrix in weights for array in (matrix[1:], matrix[0])]

