"""``funcnn`` command line: parse, build specs, call the library, print.

No maths lives here: every number comes from the :mod:`funcnn` library.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="funcnn",
    help="Train and inspect small neural networks built with funcnn.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """funcnn: a typed functional neural-network library on numpy."""


@app.command()
def train(
    epochs: Annotated[int, typer.Option(min=1, help="Number of passes over the training data.")] = 300,
    lr: Annotated[float, typer.Option(help="Learning rate of plain SGD (> 0).")] = 0.5,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per gradient step.")] = 32,
    seed: Annotated[int, typer.Option(min=0, help="Seed of every random choice (init, data, shuffling).")] = 0,
) -> None:
    """Train a small classifier on the built-in 3-class spiral and print cost and accuracy."""
    import numpy as np

    import funcnn as fn
    from funcnn import rng

    root = fn.key(seed)
    data_key, init_key, train_key = fn.split(root, 3)
    # A 3-class spiral, 100 points per class.
    g = rng.generator(data_key)
    per_class, classes = 100, 3
    r = np.tile(np.linspace(0.0, 1.0, per_class), classes)
    label = np.repeat(np.arange(classes), per_class)
    theta = label * 4.0 + r * 4.0 + g.normal(0.0, 0.2, size=r.shape)
    x = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    model = fn.Sequential(fn.Dense(64), fn.ReLU(), fn.Dense(classes))
    params = fn.init(model, init_key, in_shape=(2,))
    loss = fn.CategoricalCrossEntropy(from_logits=True)
    state = fn.train(model, params, x, label, loss=loss, epochs=epochs, lr=lr, batch_size=batch_size, key=train_key)
    accuracy = float(np.mean(np.argmax(fn.predict(model, state.params, x), axis=1) == label))
    typer.echo(f"final cost {state.history.cost[-1]:.4f}  training accuracy {accuracy:.1%}")
