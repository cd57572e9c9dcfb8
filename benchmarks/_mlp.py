"""The 784-256-128-10 ReLU/softmax MLP in four contestants, doing the same work.

Each contestant trains the same network (same initial weights, taken from
funcnn's init) on the same synthetic data, with the same batch size, learning
rate and optimizer, shuffling every epoch and computing the mean cost of
every batch:

* ``funcnn``: the ``fn.train_epochs`` iterator, one epoch per call (``fn.train`` runs the same loop);
* ``numpy``: the same maths written out by hand in straight vectorised numpy,
  with in-place parameter updates (the yardstick: no library overhead);
* ``torch``: ``nn.Sequential`` + ``F.cross_entropy`` + ``torch.optim`` in a
  plain index-shuffled loop (no DataLoader, which would only slow it down);
* ``sklearn``: ``MLPClassifier.partial_fit`` (one pass over the data), with
  ``alpha=0`` (no L2 term), no momentum for SGD, and its Adam defaults, which
  match funcnn's.

PyTorch and scikit-learn are optional: :func:`available` lists what can run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from _common import has_module  # the scripts put benchmarks/ on sys.path
from numpy.typing import NDArray

import funcnn as fn
from funcnn import rng
from funcnn.optim import adam
from funcnn.training import TrainState

SIZES = (784, 256, 128, 10)
CONTESTANTS = ("funcnn", "numpy", "torch", "sklearn")
Floats = NDArray[np.floating]


def available() -> tuple[str, ...]:
    """The contestants whose libraries are installed (funcnn and numpy always are)."""
    found = {"funcnn": True, "numpy": True, "torch": has_module("torch"), "sklearn": has_module("sklearn")}
    return tuple(name for name in CONTESTANTS if found[name])


def missing_note(names: tuple[str, ...]) -> str:
    """A note naming the peers that are skipped because they are not installed."""
    absent = [n for n in ("torch", "sklearn") if n not in names]
    if not absent:
        return ""
    pkgs = {"torch": "torch", "sklearn": "scikit-learn"}
    return f"skipped (not installed): {', '.join(absent)} -- pip install {' '.join(pkgs[a] for a in absent)}"


def lr_of(optimizer: str) -> float:
    return 0.01 if optimizer == "sgd" else 1e-3


def synthetic_data(n: int, dtype: type[np.floating]) -> tuple[Floats, NDArray[np.int64]]:
    """``n`` MNIST-shaped samples (uniform noise; epoch time does not depend on the values) and labels."""
    g = rng.generator(fn.key(123))
    x = g.random((n, SIZES[0]), dtype=np.float32)  # drawn straight into float32: no float64 temporary
    if dtype is not np.float32:
        x = x.astype(dtype)
    y = g.integers(0, SIZES[-1], size=n)
    return x, y


def model_spec() -> fn.Sequential:
    return fn.Sequential(fn.Dense(SIZES[1]), fn.ReLU(), fn.Dense(SIZES[2]), fn.ReLU(), fn.Dense(SIZES[3]))


def initial_weights(dtype: type[np.floating]) -> list[tuple[Floats, Floats]]:
    """funcnn's initial ``(w, b)`` per dense layer, as writeable copies, ``w: (in, out)``."""
    params = fn.init(model_spec(), fn.key(0), in_shape=(SIZES[0],), dtype=dtype)
    leaf = fn.tree_get
    return [(np.array(leaf(params, f"dense_{i}/w")), np.array(leaf(params, f"dense_{i}/b"))) for i in range(3)]


@dataclass
class Bench:
    """One contestant set up for one configuration: ``epoch()`` trains one epoch, ``predict(x)`` infers."""

    name: str
    epoch: Callable[[], object]
    predict: Callable[[Floats], object]


def make(name: str, x: Floats, y: NDArray[np.int64], *, optimizer: str, batch: int) -> Bench:
    """The contestant ``name`` ready to train on ``(x, y)``."""
    makers = {"funcnn": _funcnn, "numpy": _numpy, "torch": _torch, "sklearn": _sklearn}
    return makers[name](x, y, optimizer, batch)


# -- funcnn -------------------------------------------------------------------


def _funcnn(x: Floats, y: NDArray[np.int64], optimizer: str, batch: int) -> Bench:
    dtype = x.dtype.type
    model = model_spec()
    params = fn.init(model, fn.key(0), in_shape=(SIZES[0],), dtype=dtype)
    opt: fn.Optimizer = fn.sgd(lr_of(optimizer)) if optimizer == "sgd" else adam(lr_of(optimizer))
    start = TrainState.create(
        model, params, loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=opt,
        key=fn.key(1), batch_size=batch,
    )
    # One long run, one epoch per call: the data is checked and cast once, as in fn.train(..., epochs=N).
    run = fn.train_epochs(start, x, y, epochs=1_000_000)
    box: list[TrainState[Any]] = [start]

    def epoch() -> float:
        box[0] = next(run)
        return float(box[0].history.cost[-1])

    def predict(xq: Floats) -> object:
        return fn.predict(model, box[0].params, xq)

    return Bench("funcnn", epoch, predict)


# -- straight numpy -------------------------------------------------------------


def _numpy(x: Floats, y: NDArray[np.int64], optimizer: str, batch: int) -> Bench:
    layers = initial_weights(x.dtype.type)
    params = [a for wb in layers for a in wb]  # w0, b0, w1, b1, w2, b2 (updated in place)
    moments = [[np.zeros_like(p) for p in params] for _ in range(2)]
    onehot = np.eye(SIZES[-1], dtype=x.dtype)[y]
    counter = [0, 0]  # epoch, step
    lr = lr_of(optimizer)

    def epoch() -> float:
        cost = numpy_epoch(params, x, onehot, batch, lr, counter, optimizer, moments)
        return cost

    def predict(xq: Floats) -> object:
        w0, b0, w1, b1, w2, b2 = params
        h = np.maximum(xq @ w0 + b0, 0)
        h = np.maximum(h @ w1 + b1, 0)
        return h @ w2 + b2

    return Bench("numpy", epoch, predict)


def numpy_epoch(
    params: list[Floats], x: Floats, onehot: Floats, batch: int, lr: float, counter: list[int], optimizer: str,
    moments: list[list[Floats]],
) -> float:
    """One epoch written out by hand (in-place updates); returns the mean cost."""
    w0, b0, w1, b1, w2, b2 = params
    n = int(x.shape[0])
    order = rng.generator(fn.fold_in(fn.key(1), counter[0])).permutation(n)
    counter[0] += 1
    total = 0.0
    b1_, b2_, eps = 0.9, 0.999, 1e-8
    for start in range(0, n, batch):
        idx = order[start : start + batch]
        xb, tb = x[idx], onehot[idx]
        h1 = np.maximum(xb @ w0 + b0, 0)
        h2 = np.maximum(h1 @ w1 + b1, 0)
        z = h2 @ w2 + b2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        total -= float(np.vdot(tb, z - np.log(s)))
        g = e / s
        g -= tb
        g /= xb.shape[0]
        dw2, db2 = h2.T @ g, g.sum(0)
        d2 = (g @ w2.T) * (h2 > 0)
        dw1, db1 = h1.T @ d2, d2.sum(0)
        d1 = (d2 @ w1.T) * (h1 > 0)
        dw0, db0 = xb.T @ d1, d1.sum(0)
        grads = (dw0, db0, dw1, db1, dw2, db2)
        counter[1] += 1
        if optimizer == "sgd":
            for p, d in zip(params, grads, strict=True):
                p -= lr * d
        else:
            t = counter[1]
            scale = lr * (1 - b2_**t) ** 0.5 / (1 - b1_**t)
            for p, d, m, v in zip(params, grads, moments[0], moments[1], strict=True):
                m *= b1_
                m += (1 - b1_) * d
                v *= b2_
                v += (1 - b2_) * d * d
                p -= scale * m / (np.sqrt(v) + eps)
    return total / n


# -- PyTorch --------------------------------------------------------------------


def _torch(x: Floats, y: NDArray[np.int64], optimizer: str, batch: int) -> Bench:
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    tdtype = torch.float32 if x.dtype == np.float32 else torch.float64
    linears = [nn.Linear(SIZES[i], SIZES[i + 1]) for i in range(3)]
    net = nn.Sequential(linears[0], nn.ReLU(), linears[1], nn.ReLU(), linears[2]).to(tdtype)
    with torch.no_grad():
        for lin, (w, b) in zip(linears, initial_weights(x.dtype.type), strict=True):
            lin.weight.copy_(torch.from_numpy(w.T.copy()))  # torch stores (out, in)
            lin.bias.copy_(torch.from_numpy(b))
    opt = (
        torch.optim.SGD(net.parameters(), lr=lr_of(optimizer))
        if optimizer == "sgd"
        else torch.optim.Adam(net.parameters(), lr=lr_of(optimizer))
    )
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)  # shares memory with the numpy arrays
    n = int(x.shape[0])
    gen = torch.Generator().manual_seed(1)

    def epoch() -> float:
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            xb, yb = xt[idx], yt[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(xb), yb)
            loss.backward()  # type: ignore[no-untyped-call, unused-ignore]
            opt.step()
            total += float(loss.item()) * xb.shape[0]
        return total / n

    def predict(xq: Floats) -> object:
        with torch.inference_mode():
            return net(torch.from_numpy(xq))

    return Bench("torch", epoch, predict)


# -- scikit-learn ---------------------------------------------------------------


def _sklearn(x: Floats, y: NDArray[np.int64], optimizer: str, batch: int) -> Bench:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    common = {
        "hidden_layer_sizes": SIZES[1:-1], "activation": "relu", "alpha": 0.0, "batch_size": batch,
        "learning_rate_init": lr_of(optimizer), "shuffle": True, "random_state": 0, "max_iter": 1,
    }
    if optimizer == "sgd":
        clf = MLPClassifier(solver="sgd", learning_rate="constant", momentum=0.0, nesterovs_momentum=False, **common)
    else:
        clf = MLPClassifier(solver="adam", beta_1=0.9, beta_2=0.999, epsilon=1e-8, **common)
    classes = np.arange(SIZES[-1])
    started = [False]

    def epoch() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if not started[0]:
                clf.partial_fit(x, y, classes=classes)
                started[0] = True
                # Same starting point as the others (the first pass above is a warm-up).
                for i, (w, b) in enumerate(initial_weights(x.dtype.type)):
                    clf.coefs_[i][...] = w
                    clf.intercepts_[i][...] = b
            else:
                clf.partial_fit(x, y)
        return float(clf.loss_)

    def predict(xq: Floats) -> object:
        return clf.predict_proba(xq)

    return Bench("sklearn", epoch, predict)
