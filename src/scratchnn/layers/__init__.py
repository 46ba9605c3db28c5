"""The layers: each passes dE/dX back (see base.Layer for the contract)."""
from .activations import ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .base import LAYERS, Layer
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .normalization import BatchNormalization
from .pooling import (AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                      MaxPooling2D)
from .reshape import Flatten, Reshape

__all__ = ["Layer", "LAYERS", "Dense", "Flatten", "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU",
           "GELU", "Softplus", "Softmax",
           "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
           "Reshape", "Dropout", "BatchNormalization"]
