"""The layers: each passes dE/dX back (see base.Layer for the contract)."""
from .activations import ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .activations import SELU, Activation, HardSigmoid, Mish, PReLU, ReLU6, SiLU, Swish
from .augmentation import RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .preprocessing import Normalization, Rescaling
from .base import LAYERS, Layer
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .merge import Add, Average, Concatenate, Maximum, Multiply, Residual, Subtract
from .normalization import BatchNormalization
from .pooling import (AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                      MaxPooling2D)
from .reshape import Flatten, Reshape
from .attention import MultiHeadAttention, PositionEmbedding
from .conv1d import Conv1D
from .layer_norm import LayerNormalization
from .pooling1d import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .embedding import Embedding
from .rnn_cells import GRU, LSTM, SimpleRNN
from .wrappers import Bidirectional, TimeDistributed
from .conv_transpose import Conv2DTranspose
from .depthwise import DepthwiseConv2D, SeparableConv2D
from .resize import Cropping2D, UpSampling2D, ZeroPadding2D

__all__ = ["Layer", "LAYERS", "Dense", "Flatten", "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU",
           "GELU", "Softplus", "Softmax",
           "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
           "Reshape", "Dropout", "BatchNormalization"]
__all__ += ["SELU", "SiLU", "Swish", "ReLU6", "PReLU", "Mish", "HardSigmoid", "Activation",          # issue 16
            "Rescaling", "Normalization", "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom"]
__all__ += ["Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",  # issue 18
            "LayerNormalization", "MultiHeadAttention", "PositionEmbedding"]
__all__ += ["Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed"]      # issue 18
__all__ += ["Add", "Subtract", "Multiply", "Average", "Maximum", "Concatenate", "Residual"]   # issue 17
__all__ += ["Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "UpSampling2D", "ZeroPadding2D",  # issue 17
            "Cropping2D"]
