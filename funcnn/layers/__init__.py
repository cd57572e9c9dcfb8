"""Layer specs: one module per family, each spec with init, forward and backward together."""

from funcnn.layers.activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from funcnn.layers.base import Layer
from funcnn.layers.conv import Conv2D
from funcnn.layers.dense import Dense
from funcnn.layers.dropout import Dropout
from funcnn.layers.pool import AvgPool2D, MaxPool2D
from funcnn.layers.reshape import Flatten

__all__ = [
    "AvgPool2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Identity",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
