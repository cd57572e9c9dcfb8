"""``funcnn`` command line: parse, build specs, call the library, show progress, write files.

No maths lives here: every number comes from the :mod:`funcnn` library. This
module only declares the commands and their options; it imports Typer and the
standard library, nothing else, so ``funcnn --help`` starts fast. Each command
imports its implementation (and numpy, funcnn, rich) when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.errors import FuncnnGroup
from cli.options import (
    Activation,
    DType,
    LossChoice,
    OptimizerName,
    PlotScale,
    ScaleChoice,
    SplitChoice,
    TrainArgs,
)

app = typer.Typer(
    name="funcnn",
    cls=FuncnnGroup,
    help="Train, evaluate and inspect small neural networks built with funcnn (numpy only).\n\n"
    "\b\nStart with:\n"
    "  funcnn train              train a classifier on the built-in spiral\n"
    "  funcnn datasets           list the built-in data sets\n"
    "  funcnn COMMAND --help     the options and examples of a command",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DATA = "Data"
MODEL = "Model"
TRAINING = "Training"
OUTPUT = "Run folder and output"

RunPath = Annotated[
    Path,
    typer.Argument(
        metavar="RUN",
        exists=True,
        help="A run folder (its latest checkpoint.npz is used) or a checkpoint file such as epoch-0050.npz.",
        show_default=False,
    ),
]
DataOption = Annotated[
    str | None,
    typer.Option(
        "--data",
        "-d",
        help="A built-in data set (see 'funcnn datasets'), a CSV file, an .npz file with x and y, or MNIST IDX "
        "files. Default: the run's own training data.",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
LabelColumnOption = Annotated[
    str | None,
    typer.Option(
        help="CSV only: the label column, by header name or 0-based index. Default: the last column.",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="Seed of a synthetic data set (spiral, moons, ...). Default: the run's seed, i.e. its training data; "
        "another seed draws fresh samples.",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
SplitOption = Annotated[
    SplitChoice,
    typer.Option(
        help="Which samples to use: all, or the run's own training or validation split (needs the run's data).",
        rich_help_panel=DATA,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")]


@app.callback()
def main() -> None:
    """funcnn: a typed functional neural-network library on numpy."""


@app.command(no_args_is_help=False)
def train(
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            help="A built-in data set (see 'funcnn datasets'), a CSV file (label in the last column unless "
            "--label-column), an .npz file with arrays x and y, or MNIST IDX files (a folder, or the "
            "...-images-idx3-ubyte file with its labels file beside it). Default: spiral.",
            show_default=False,
            rich_help_panel=DATA,
        ),
    ] = None,
    label_column: LabelColumnOption = None,
    val_split: Annotated[
        float | None,
        typer.Option(
            help="Share of the samples held out for validation (stratified by class); 0 turns validation off. "
            "Default: 0.2.",
            show_default=False,
            rich_help_panel=DATA,
        ),
    ] = None,
    scale: Annotated[
        ScaleChoice | None,
        typer.Option(
            help="Input scaling fitted on the training split: standard (mean 0, std 1 per feature), minmax "
            "(to [0, 1]), or none. auto: minmax for integer pixels, standard otherwise. Default: auto.",
            show_default=False,
            rich_help_panel=DATA,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Seed of every random choice: synthetic data, validation split, initial weights, shuffling, "
            "dropout. Default: 0.",
            show_default=False,
            rich_help_panel=DATA,
        ),
    ] = None,
    model_file: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            exists=True,
            dir_okay=False,
            readable=True,
            help='A model spec in TOML or JSON (kind = "sequential" with \\[\\[layers]]); replaces --hidden, '
            "--activation and --dropout.",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None,
    hidden: Annotated[
        str | None,
        typer.Option(
            help="Widths of the hidden layers, e.g. 64,32; 'none' for a linear model. The output layer and the "
            "loss follow from the data. Default: 64.",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None,
    activation: Annotated[
        Activation | None,
        typer.Option(
            help="Activation after each hidden layer. Default: relu.", show_default=False, rich_help_panel=MODEL
        ),
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(
            help="Dropout rate after each hidden activation, in [0, 1). Default: 0.",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None,
    loss: Annotated[
        LossChoice | None,
        typer.Option(
            help="auto: softmax + cross-entropy for several classes, sigmoid + binary cross-entropy for two, "
            "mse for real-valued targets. Default: auto.",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None,
    optimizer: Annotated[
        OptimizerName | None,
        typer.Option(
            help="sgd, momentum (SGD with momentum 0.9), adam or rmsprop. Default: adam.",
            show_default=False,
            rich_help_panel=TRAINING,
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Learning rate (> 0). Default: 0.01 for adam, 0.005 for rmsprop, 0.05 for momentum, 0.1 for sgd.",
            show_default=False,
            rich_help_panel=TRAINING,
        ),
    ] = None,
    lr_decay: Annotated[
        float | None,
        typer.Option(
            help="Inverse-time decay: the learning rate at step t is lr / (1 + lr_decay * t). Default: 0.",
            show_default=False,
            rich_help_panel=TRAINING,
        ),
    ] = None,
    l2: Annotated[
        float | None,
        typer.Option(
            help="L2 weight decay: adds l2/2 * sum(w^2) over the weights (not biases) to the cost. Default: 0.",
            show_default=False,
            rich_help_panel=TRAINING,
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs",
            "-e",
            help="Total number of epochs (with --resume: the total to reach). Default: 200.",
            show_default=False,
            rich_help_panel=TRAINING,
        ),
    ] = None,
    batch_size: Annotated[
        str | None,
        typer.Option(
            "--batch-size",
            "-b",
            help="Samples per step: a number, 1 (stochastic), or full (full-batch gradient descent). Default: 32.",
            show_default=False,
            rich_help_panel=TRAINING,
        ),
    ] = None,
    early_stopping: Annotated[
        int | None,
        typer.Option(
            metavar="PATIENCE",
            help="Stop after this many epochs without a lower validation cost and keep the best epoch's weights.",
            show_default=False,
            rich_help_panel=TRAINING,
        ),
    ] = None,
    dtype: Annotated[
        DType | None,
        typer.Option(
            help="Floating-point type of the weights and data. Default: float32.",
            show_default=False,
            rich_help_panel=TRAINING,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The run folder to write. Default: a fresh runs/DATA-YYYYmmdd-HHMMSS. A folder holding a run is "
            "refused unless --force (replace it) or --resume.",
            show_default=False,
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the run in --out (its files are deleted first).", rich_help_panel=OUTPUT),
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            metavar="RUN_DIR",
            exists=True,
            file_okay=False,
            help="Continue this run from its latest state up to --epochs in total. Options you give must match "
            "its config.json; the others are taken from it.",
            show_default=False,
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Also keep the state of every N-th epoch as epoch-NNNN.npz (for 'funcnn replay').",
            show_default=False,
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress bar and no setup summary; only the final figures.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    plot: Annotated[
        bool,
        typer.Option(
            help="Write history.png and, for 2-D data, decision_boundary.png (needs matplotlib).",
            rich_help_panel=OUTPUT,
        ),
    ] = True,
    plot_scale: Annotated[
        PlotScale,
        typer.Option(help="Cost axis of history.png.", rich_help_panel=OUTPUT),
    ] = PlotScale.log,
) -> None:
    """Train a network and write a run folder (no options: a classifier on the built-in spiral).

    Prints the data, model and loss it chose, a progress bar, then the final
    training and validation cost and accuracy. The run folder holds
    config.json, checkpoint.npz, preprocess.npz, history.csv and, with
    matplotlib, history.png. Ctrl-C stops after saving the last finished epoch
    and prints the command that resumes it.

    \b
    Examples:
      funcnn train
      funcnn train --data digits --hidden 128,64 --epochs 30 --checkpoint-every 5
      funcnn train --data breast_cancer --optimizer sgd --early-stopping 10
      funcnn train --data cells.csv --label-column diagnosis --out runs/cells
      funcnn train --model cnn.toml --data mnist/ --batch-size 64 --epochs 5
      funcnn train --resume runs/cells --epochs 400
    """
    from cli.train_cmd import run_train

    run_train(
        TrainArgs(
            data=data,
            label_column=label_column,
            val_split=val_split,
            scale=scale,
            seed=seed,
            model_file=model_file,
            hidden=hidden,
            activation=activation,
            dropout=dropout,
            loss=loss,
            optimizer=optimizer,
            lr=lr,
            lr_decay=lr_decay,
            l2=l2,
            epochs=epochs,
            batch_size=batch_size,
            early_stopping=early_stopping,
            dtype=dtype,
            out=out,
            force=force,
            resume=resume,
            checkpoint_every=checkpoint_every,
            quiet=quiet,
            plot=plot,
            plot_scale=plot_scale,
        )
    )


@app.command()
def evaluate(
    run: RunPath,
    data: DataOption = None,
    label_column: LabelColumnOption = None,
    seed: SeedOption = None,
    split: SplitOption = SplitChoice.all,
    json_output: JsonOption = False,
) -> None:
    """Score a trained model on data: cost, accuracy, confusion matrix and per-class precision/recall/F1.

    For real-valued targets: cost, MSE, RMSE, MAE and R². The inputs are
    prepared (flattened, scaled) exactly as in training.

    \b
    Examples:
      funcnn evaluate runs/spiral-20240601-120000
      funcnn evaluate runs/spiral-20240601-120000 --split val
      funcnn evaluate runs/spiral-20240601-120000 --data spiral --seed 7
      funcnn evaluate runs/cells/epoch-0050.npz --data cells_test.csv --json
    """
    from cli.use_cmd import run_evaluate

    run_evaluate(run, data=data, label_column=label_column, seed=seed, split=split.value, as_json=json_output)


@app.command()
def predict(
    run: RunPath,
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="A CSV file of samples (features only, or with the label column, which is ignored), an .npz "
            "file with an array x, or a built-in data set.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", dir_okay=False, help="Write the CSV here instead of to stdout.", show_default=False
        ),
    ] = None,
    proba: Annotated[bool, typer.Option("--proba", help="Class probabilities instead of class labels.")] = False,
    label_column: LabelColumnOption = None,
    seed: SeedOption = None,
) -> None:
    """Predict for new samples: class labels, class probabilities (--proba), or values, as CSV.

    \b
    Examples:
      funcnn predict runs/spiral-20240601-120000 points.csv
      funcnn predict runs/spiral-20240601-120000 points.csv --proba --output proba.csv
      funcnn predict runs/digits-20240601-120000 digits
    """
    from cli.use_cmd import run_predict

    run_predict(run, input_path, output=output, proba=proba, label_column=label_column, seed=seed)


@app.command()
def inspect(run: RunPath, json_output: JsonOption = False) -> None:
    """Show what a checkpoint holds: model, every parameter's path, shape and dtype, epoch, optimizer, costs.

    \b
    Examples:
      funcnn inspect runs/spiral-20240601-120000
      funcnn inspect runs/spiral-20240601-120000/epoch-0050.npz --json
    """
    from cli.use_cmd import run_inspect

    run_inspect(run, as_json=json_output)


@app.command()
def replay(
    run: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_DIR",
            exists=True,
            file_okay=False,
            help="A run folder trained with --checkpoint-every N.",
            show_default=False,
        ),
    ],
    data: DataOption = None,
    label_column: LabelColumnOption = None,
    seed: SeedOption = None,
    split: Annotated[
        SplitChoice | None,
        typer.Option(
            help="Which samples to use: all, or the run's own training or validation split. Default: the "
            "validation split when the run has one and --data is not given, else all.",
            show_default=False,
            rich_help_panel=DATA,
        ),
    ] = None,
    plot: Annotated[bool, typer.Option(help="Write replay.png into the run folder (needs matplotlib).")] = True,
    json_output: JsonOption = False,
) -> None:
    """Evaluate every saved state of a run in epoch order: cost and accuracy against epoch.

    The curve is rebuilt from the saved weights (epoch-NNNN.npz), not from
    logs; the recorded training cost of each epoch is shown beside it. By
    default the run's validation split is used.

    \b
    Examples:
      funcnn replay runs/spiral-20240601-120000
      funcnn replay runs/spiral-20240601-120000 --data spiral --seed 1 --split all
    """
    from cli.use_cmd import run_replay

    run_replay(
        run,
        data=data,
        label_column=label_column,
        seed=seed,
        split=None if split is None else split.value,
        plot=plot,
        as_json=json_output,
    )


@app.command()
def datasets(json_output: JsonOption = False) -> None:
    """List the built-in data sets with their shapes, tasks and sources.

    \b
    Examples:
      funcnn datasets
      funcnn train --data moons
    """
    from cli.use_cmd import run_datasets

    run_datasets(as_json=json_output)


if __name__ == "__main__":
    app()
