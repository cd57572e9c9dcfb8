"""Cross-validation and hyperparameter sweeps, in this process, on a process pool or on Dask.

Training is a pure function of data, settings and a key, so trials are
independent and reproducible: :func:`sweep` runs ``trial(config, key, data)``
for each configuration of a :func:`grid` or a :func:`random_search`, with
``key = fold_in(sweep_key, config.index)``, on any
``concurrent.futures.Executor`` (a ``ProcessPoolExecutor``, or a Dask
``client.get_executor()`` past one machine), and returns a frozen
:class:`SweepResults` table sorted by the monitored metric. :func:`kfold` and
:func:`cross_validate` estimate how well settings generalise.

>>> import numpy as np, funcnn as fn
>>> from funcnn import tune
>>> x = np.linspace(-1, 1, 32).reshape(-1, 1); y = 2.0 * x
>>> model = fn.Sequential(fn.Dense(1))
>>> def trial(config, key, data):
...     x, y = data
...     params = fn.init(model, fn.fold_in(key, "init"), in_shape=(1,))
...     return fn.train(model, params, x, y, loss=fn.MSE(), lr=config["lr"], epochs=config["epochs"],
...                     key=fn.fold_in(key, "train"))
>>> table = tune.sweep(trial, tune.grid(lr=[0.01, 0.3], epochs=[5, 40]), key=fn.key(0), data=(x, y),
...                    monitor="cost")
>>> table.best.config["lr"], table.best.config["epochs"], len(table)
(0.3, 40, 4)
"""

from funcnn.tune.folds import CrossValidation, Fold, MakeState, cross_validate, kfold
from funcnn.tune.results import Mode, Status, SweepResults, TrialOutput, TrialResult, TrialReturn, infer_mode
from funcnn.tune.runner import CLUSTER_HINT, Trial, cluster_executor, sweep
from funcnn.tune.space import (
    Axis,
    Choice,
    LogUniform,
    Scalar,
    TrialConfig,
    Uniform,
    Value,
    choice,
    grid,
    log_uniform,
    parse_space,
    random_search,
    uniform,
)

__all__ = [
    "CLUSTER_HINT",
    "Axis",
    "Choice",
    "CrossValidation",
    "Fold",
    "LogUniform",
    "MakeState",
    "Mode",
    "Scalar",
    "Status",
    "SweepResults",
    "Trial",
    "TrialConfig",
    "TrialOutput",
    "TrialResult",
    "TrialReturn",
    "Uniform",
    "Value",
    "choice",
    "cluster_executor",
    "cross_validate",
    "grid",
    "infer_mode",
    "kfold",
    "log_uniform",
    "parse_space",
    "random_search",
    "sweep",
    "uniform",
]
