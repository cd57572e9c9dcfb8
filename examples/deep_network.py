"""An L-layer network built from a list of layer sizes, and why its initialisation matters.

What it teaches:

* ``layer_dims = [30, 20, 7, 5, 1]`` becomes ``Dense(20) ReLU Dense(7) ReLU
  Dense(5) ReLU Dense(1) Sigmoid``: ReLU hidden layers and a sigmoid output
  for a yes/no answer, trained with the binary cross-entropy;
* the training loop written out: forward layer by layer (every layer keeps
  a cache), the loss and its gradient, backward layer by layer in reverse
  order (each layer turns ``dC/d(output)`` into its grads and
  ``dC/d(input)``, using its cache), and a gradient-descent step, repeated;
* initialisation:

  - all zeros: every hidden unit computes 0, ReLU's slope at 0 is 0 and
    the weights after it are 0, so no gradient reaches the hidden layers and
    the network only learns the output bias (it predicts the majority class);
  - all equal (a constant): the gradient flows, but every unit of a layer
    gets the same gradient, so the units stay copies of each other: the
    symmetry is never broken and the 20 units of the first layer act as one
    (this easy data set is still learnt, by a 30-1-1-1-1 network in effect);
  - small random numbers break the symmetry. How small matters: with
    ``0.01 * randn`` the signal shrinks at each of the four layers, the
    gradients are about 1e-5 and nothing is learnt in this budget;
    ``0.1 * randn`` or He's ``sqrt(2 / fan_in) * randn`` keep the signal
    alive and both train well.

Protocol: breast_cancer, stratified 80/20 split and key from ``--seed``
(default 0), standardised with the training split's statistics, full-batch
gradient descent with lr 0.1 for 2,000 iterations (300 with ``--quick``).

Usage::

    python examples/deep_network.py [--quick] [--seed 0]
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
from _common import parser, table
from numpy.typing import NDArray

import funcnn as fn
from funcnn import datasets
from funcnn.initializers import Initializer
from funcnn.metrics import accuracy

F64 = NDArray[np.float64]
LAYER_DIMS = (30, 20, 7, 5, 1)
LR = 0.1
INITS: tuple[tuple[str, Initializer], ...] = (
    ("zeros", fn.Zeros()),
    ("constant 0.1", fn.Constant(0.1)),
    ("0.01 * randn", fn.Normal(0.01)),
    ("0.1 * randn", fn.Normal(0.1)),
    ("He normal", fn.HeNormal()),
)


@attrs.frozen
class Outcome:
    init: str
    first_cost: float
    final_cost: float
    test_accuracy: float
    distinct_units: int  # distinct columns of the first layer's weights (of 20)
    first_grad_norm: float  # |dC/dw| of the first layer at the first iteration


@attrs.frozen
class Result:
    outcomes: tuple[Outcome, ...]
    majority_share: float  # test accuracy of always answering the majority class
    by_hand_is_library: bool  # model_forward/model_backward == fn.forward/fn.backward, bit for bit


def l_layer_model(layer_dims: Sequence[int], w_init: Initializer) -> fn.Sequential:
    """Dense + ReLU for each hidden size, then Dense + Sigmoid; ``layer_dims[0]`` is the input size."""
    layers: list[fn.Layer] = []
    for size in layer_dims[1:-1]:
        layers += [fn.Dense(size, w_init=w_init), fn.ReLU()]
    layers += [fn.Dense(layer_dims[-1], w_init=w_init), fn.Sigmoid()]
    return fn.Sequential(*layers)


def model_forward(
    model: fn.Sequential, params: fn.FrozenTree[np.float64], x: F64
) -> tuple[F64, fn.FrozenTree[np.float64]]:
    """Forward, layer by layer: each layer's output is the next one's input; each keeps a cache for backward."""
    caches: dict[str, fn.FrozenTree[np.float64]] = {}
    for name, layer in model.named_layers():  # dense_0, relu_0, dense_1, ..., sigmoid_0
        x, caches[name] = layer.forward(params.subtree(name), x)  # dense: z = x w + b; relu: max(z, 0); ...
    return x, fn.FrozenTree(caches)


def model_backward(
    model: fn.Sequential, params: fn.FrozenTree[np.float64], caches: fn.FrozenTree[np.float64], dp: F64
) -> fn.FrozenTree[np.float64]:
    """Backpropagation, layer by layer from the last to the first: dC/d(output) in, dC/d(input) out."""
    grads: dict[str, fn.FrozenTree[np.float64]] = {}
    dy = dp
    for name, layer in reversed(tuple(model.named_layers())):
        # each with its own input x and output y: sigmoid dx = dy y (1 - y); relu dx = dy [x > 0];
        # dense dw = xᵀ dy, db = Σ dy, dx = dy wᵀ
        layer_grads, dy = layer.backward(params.subtree(name), caches.subtree(name), dy)
        if len(layer_grads):  # activations have no params, hence no grads
            grads[name] = layer_grads
    return fn.FrozenTree(grads)


def gradient_descent(
    model: fn.Sequential, params: fn.FrozenTree[np.float64], x: F64, t: F64, iterations: int
) -> tuple[fn.FrozenTree[np.float64], list[float], fn.FrozenTree[np.float64]]:
    """The training loop written out; returns the final params, the costs and the first gradients."""
    costs: list[float] = []
    first_grads = params
    for i in range(iterations):
        p, caches = model_forward(model, params, x)  # p: (n, 1) probabilities
        cost, dp = fn.loss(fn.BinaryCrossEntropy(), p, t)  # cost and dC/dp
        grads = model_backward(model, params, caches, dp)  # mirrors params: dense_0/w, dense_0/b, ...
        params = fn.sgd_step(params, grads, lr=LR)  # w <- w - lr dw, b <- b - lr db, in every layer
        costs.append(cost)
        if i == 0:
            first_grads = grads
    return params, costs, first_grads


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0], plot=False).parse_args(argv)
    iterations = 300 if args.quick else 2000
    root = fn.key(args.seed)
    data = datasets.load_builtin("breast_cancer")
    (x_train, t_train), (x_test, t_test) = datasets.train_test_split(fn.fold_in(root, "split"), *data)
    scaler = datasets.Standardizer.fit(x_train)
    z_train = np.asarray(scaler.apply(x_train), dtype=np.float64)  # (455, 30), float64
    z_test = np.asarray(scaler.apply(x_test), dtype=np.float64)
    targets = np.asarray(t_train, dtype=np.float64)[:, None]  # (455, 1), like the output
    majority = max(float(np.mean(t_test)), 1.0 - float(np.mean(t_test)))
    model = l_layer_model(LAYER_DIMS, fn.HeNormal())
    print(f"layer dims {list(LAYER_DIMS)} -> {model.names}")
    params = fn.init(model, fn.fold_in(root, "init"), in_shape=(LAYER_DIMS[0],))
    p, caches = model_forward(model, params, z_train)
    _, dp = fn.loss(fn.BinaryCrossEntropy(), p, targets)
    by_hand = fn.tree_equal(caches, fn.forward(model, params, z_train)[1]) and fn.tree_equal(
        model_backward(model, params, caches, dp), fn.backward(model, params, caches, dp)[0]
    )
    print(f"the forward and backward written out here are fn.forward and fn.backward, bit for bit: {by_hand}")
    print(f"breast_cancer: {len(t_train)} train / {len(t_test)} test; {iterations} iterations of gradient descent, "
          f"lr {LR} (seed {args.seed}); always answering the majority class scores {majority:.2%}\n")  # fmt: skip

    outcomes: list[Outcome] = []
    for name, w_init in INITS:
        model = l_layer_model(LAYER_DIMS, w_init)
        params0 = fn.init(model, fn.fold_in(root, "init"), in_shape=(LAYER_DIMS[0],))
        params, costs, first = gradient_descent(model, params0, z_train, targets, iterations)
        w0 = np.asarray(fn.tree_get(params, "dense_0/w"))  # (30, 20): one column per hidden unit
        distinct = int(np.unique(w0.round(10), axis=1).shape[1])
        norms = [float(np.linalg.norm(fn.tree_get(first, f"dense_{i}/w"))) for i in range(4)]
        test_acc = accuracy(fn.predict(model, params, z_test), t_test)
        outcomes.append(Outcome(name, costs[0], costs[-1], test_acc, distinct, norms[0]))
        print(f"{name}: |dC/dw| of dense_0..dense_3 at the first iteration: " + ", ".join(f"{v:.1e}" for v in norms))

    rows = [
        (o.init, f"{o.first_cost:.4f}", f"{o.final_cost:.4f}", f"{o.test_accuracy:.2%}", f"{o.distinct_units} of 20")
        for o in outcomes
    ]
    print()
    print(table(("initialisation", "first cost", "final cost", "test accuracy", "distinct units in dense_0"), rows))
    return Result(tuple(outcomes), majority, by_hand)


if __name__ == "__main__":
    main()
