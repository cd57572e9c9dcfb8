"""funcnn: a typed functional neural-network library on numpy.

Layers are frozen specs; params, grads, caches and optimizer state are frozen
trees of read-only arrays; ``init``, ``forward``, ``backward``, ``loss`` and
``sgd_step`` are pure functions, chained by a stateless ``train`` loop.
"""

from funcnn.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    FuncnnError,
    MissingRngError,
    NonFiniteLossError,
    ShapeError,
    TreeStructureError,
)
from funcnn.gradcheck import GradCheckReport, check_gradients
from funcnn.initializers import Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Normal, Zeros
from funcnn.layers import Dense, Dropout, Flatten, Identity, Layer, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from funcnn.losses import MSE, BinaryCrossEntropy, CategoricalCrossEntropy, Loss, loss
from funcnn.network import Sequential, backward, forward, init, output_shape, predict
from funcnn.optim import SGD, Optimizer, OptState, Schedule, apply_updates, sgd, sgd_step
from funcnn.rng import Key, fold_in, key, split
from funcnn.train import History, TrainState, train, train_epochs
from funcnn.tree import (
    FrozenTree,
    assert_same_structure,
    freeze,
    thaw,
    tree_allclose,
    tree_dtype,
    tree_equal,
    tree_flatten,
    tree_get,
    tree_leaves,
    tree_map,
    tree_paths,
    tree_set,
    tree_size,
    tree_unflatten,
)

__version__ = "0.1.0"

__all__ = [
    "MSE",
    "SGD",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "CheckpointError",
    "ConfigError",
    "Constant",
    "DataError",
    "Dense",
    "Dropout",
    "Flatten",
    "FrozenTree",
    "FuncnnError",
    "GlorotNormal",
    "GlorotUniform",
    "GradCheckReport",
    "HeNormal",
    "HeUniform",
    "History",
    "Identity",
    "Key",
    "Layer",
    "LeakyReLU",
    "Loss",
    "MissingRngError",
    "NonFiniteLossError",
    "Normal",
    "OptState",
    "Optimizer",
    "ReLU",
    "Schedule",
    "Sequential",
    "ShapeError",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TrainState",
    "TreeStructureError",
    "Zeros",
    "__version__",
    "apply_updates",
    "assert_same_structure",
    "backward",
    "check_gradients",
    "fold_in",
    "forward",
    "freeze",
    "init",
    "key",
    "loss",
    "output_shape",
    "predict",
    "sgd",
    "sgd_step",
    "split",
    "thaw",
    "train",
    "train_epochs",
    "tree_allclose",
    "tree_dtype",
    "tree_equal",
    "tree_flatten",
    "tree_get",
    "tree_leaves",
    "tree_map",
    "tree_paths",
    "tree_set",
    "tree_size",
    "tree_unflatten",
]
