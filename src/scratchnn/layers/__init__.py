"""The layers: each passes dE/dX back (see base.Layer for the contract)."""
from .activations import ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .base import LAYERS, Layer
from .dense import Dense
from .reshape import Flatten

__all__ = ["Layer", "LAYERS", "Dense", "Flatten", "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU",
           "GELU", "Softplus", "Softmax"]
