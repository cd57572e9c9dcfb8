"""Checkpoints: save a state every few epochs, stop, resume bit for bit, and replay the run into a curve.

What it teaches:

* a training state is one frozen value (params, Adam's moments, the key,
  epoch and step, the history so far), so saving it is one line,
  ``save(path, state)``, and loading it gives back *exactly* that state;
* a run stopped at epoch 10 and resumed later (here from the files alone)
  is the same run as one that never stopped: the same params, optimizer
  state and cost history, bit for bit, dropout masks and batch order included
  (they are derived from the key, the epoch and the step, not from a hidden
  random state);
* the states kept along the way are a film of the training: replaying them on
  held-out data draws the classic "error against epochs" curve after the fact,
  from the saved parameters rather than from logs.

Protocol: digits, stratified 80/20 split with key 0 (1,437 / 360 images),
pixels / 16, float32; network 64-64-10 with dropout 0.2, Adam 1e-3, batch 32,
20 epochs (stopped at 10 and resumed), a state saved every 2 epochs.

Usage::

    python examples/checkpoint_replay.py [--quick] [--seed 0] [--run-dir DIR] [--plot curve.png]

Without ``--run-dir`` the run folder is a temporary directory, deleted at the end.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from _common import parser, pyplot, save_figure, table
from numpy.typing import NDArray

import funcnn as fn
from funcnn import datasets
from funcnn.io.checkpoint import checkpoint_info, load, save
from funcnn.io.layout import list_states
from funcnn.io.runs import save_every
from funcnn.optim import adam
from funcnn.replaying import Curve, replay
from funcnn.training import TrainState, fit, last_state, train_epochs

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]
MODEL = fn.Sequential(fn.Dense(64, w_init=fn.HeNormal()), fn.ReLU(), fn.Dropout(0.2), fn.Dense(10))
IN_SHAPE = (64,)


@attrs.frozen
class Result:
    saved_epochs: tuple[int, ...]
    resumed_equals_straight: bool  # params, optimizer state and history, bit for bit
    reloaded_equals_saved: bool  # load(save(state)) == state
    epochs: tuple[int, ...]  # replayed curve
    test_cost: tuple[float, ...]
    test_accuracy: tuple[float, ...]
    train_cost: tuple[float, ...]  # recorded during each epoch


def load_digits() -> tuple[F32, I64, F32, I64]:
    """The digits protocol: split with key 0, pixels / 16, flattened to 64 features."""
    train, test = datasets.split_dataset(fn.key(0), datasets.load_builtin("digits"), test_fraction=0.2)
    pixels = datasets.MinMaxScaler.from_range(0, 16)
    x_train = pixels.apply(datasets.flatten_images(train.x), dtype=np.float32)
    x_test = pixels.apply(datasets.flatten_images(test.x), dtype=np.float32)
    return np.asarray(x_train, np.float32), train.labels, np.asarray(x_test, np.float32), test.labels


def same_state(a: TrainState[np.float32], b: TrainState[np.float32]) -> bool:
    """Bit-identical params, optimizer state, counters and history."""
    return (
        fn.tree_equal(a.params, b.params)
        and fn.tree_equal(a.opt_state.buffers, b.opt_state.buffers)
        and (a.epoch, a.step, a.opt_state.count) == (b.epoch, b.step, b.opt_state.count)
        and np.array_equal(a.history.cost, b.history.cost)
    )


def plot(path: Path, curve: Curve, train_curve: Curve) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(curve.epoch, curve.train_cost, "o-", label="training cost (recorded while training)")
    left.plot(train_curve.epoch, train_curve.cost, "s-", label="training cost (replayed)")
    left.plot(curve.epoch, curve.cost, "^-", label="test cost (replayed)")
    left.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="error against epochs, from the checkpoints")
    left.legend(fontsize=8)
    right.plot(curve.epoch, 100 * curve.metrics["accuracy"], "^-")
    right.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    save_figure(plt, fig, path)


def run(args_seed: int, epochs: int, stop: int, every: int, run_dir: Path, plot_path: Path | None) -> Result:
    x_train, y_train, x_test, y_test = load_digits()
    root = fn.key(args_seed)
    params = fn.init(MODEL, fn.fold_in(root, "init"), in_shape=IN_SHAPE, dtype=np.float32)
    start = TrainState.create(MODEL, params, loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=adam(1e-3),
                              key=fn.fold_in(root, "train"), batch_size=32)  # fmt: skip
    print(f"digits: {len(y_train)} train / {len(y_test)} test; 64-64-10 with dropout 0.2, Adam 1e-3 (seed {args_seed})")

    # 1. Train to epoch `stop`, keeping a state every `every` epochs; then stop.
    first = last_state(save_every(train_epochs(start, x_train, y_train, epochs=stop), run_dir, every=every,
                                  in_shape=IN_SHAPE))  # fmt: skip
    print(f"stopped at epoch {first.epoch}; {run_dir} holds {[p.name for p in list_states(run_dir)]}")

    # 2. Later (another process would do the same): load the latest state from the files and go on.
    resumed_start = load(run_dir, dtype=np.float32)
    info = checkpoint_info(run_dir)
    print(f"loaded {info.path.name}: epoch {info.epoch}, step {info.step}, {info.dtype}, "
          f"the same model: {info.model == MODEL}")  # fmt: skip
    resumed = last_state(save_every(train_epochs(resumed_start, x_train, y_train, epochs=epochs), run_dir,
                                    every=every, in_shape=IN_SHAPE))  # fmt: skip

    # 3. The run that never stopped.
    straight = fit(start, x_train, y_train, epochs=epochs)
    identical = same_state(resumed, straight)
    print(f"resumed at epoch {stop} and run to {epochs} == run straight to {epochs}, bit for bit: {identical}")

    # One line to save, one to load: the state comes back exactly.
    path = save(run_dir / "final.npz", resumed, in_shape=IN_SHAPE)
    reloaded = same_state(load(path, dtype=np.float32), resumed)
    size = path.stat().st_size / 1e3
    print(f"save(...) wrote {path.name} ({size:.0f} kB); load(...) gives back the same state: {reloaded}")

    # 4. Replay the kept states: error against epochs, on the test data and on the training data.
    curve = replay(run_dir, x_test, y_test, metrics=["accuracy"])
    train_curve = replay(run_dir, x_train, y_train)
    rows = [
        (e, f"{rec:.4f}", f"{tr:.4f}", f"{te:.4f}", f"{acc:.2%}")
        for e, rec, tr, te, acc in zip(curve.epoch, curve.train_cost, train_curve.cost, curve.cost,
                                       curve.metrics["accuracy"], strict=True)
    ]  # fmt: skip
    print("\nreplayed from the saved states (the recorded cost is the running mean during the epoch, with dropout on):")
    print(table(("epoch", "train cost (recorded)", "train cost", "test cost", "test accuracy"), rows))
    if plot_path is not None:
        plot(plot_path, curve, train_curve)
    return Result(
        tuple(int(e) for e in curve.epoch),
        identical,
        reloaded,
        tuple(int(e) for e in curve.epoch),
        tuple(float(c) for c in curve.cost),
        tuple(float(a) for a in curve.metrics["accuracy"]),
        tuple(float(c) for c in curve.train_cost),
    )


def main(argv: Sequence[str] | None = None) -> Result:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, default=None, help="keep the checkpoints in this folder")
    args = p.parse_args(argv)
    epochs, stop, every = (4, 2, 2) if args.quick else (20, 10, 2)
    if args.run_dir is not None:
        return run(args.seed, epochs, stop, every, args.run_dir, args.plot)
    with tempfile.TemporaryDirectory(prefix="funcnn-run-") as folder:
        return run(args.seed, epochs, stop, every, Path(folder), args.plot)


if __name__ == "__main__":
    main()
