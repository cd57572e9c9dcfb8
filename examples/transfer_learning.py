"""Transfer learning from an image folder: a frozen convolutional base, a new head, augmentation, fine-tuning.

The workflow of a practitioner with a small image data set, on data we have:

1. The 10,000 MNIST test images (an IDX folder, by default
   ``../shared/data/mnist10k`` next to the repository) are written once as a
   PNG class-folder tree (``<folder>/<digit>/<index>.png``, a temporary folder
   unless ``--folder`` is given) and read back with
   :func:`funcnn.datasets.load_image_folder`, so the folder loader is used.
2. A CNN base is trained on digits 0-4 (all of their images).
3. The new task is digits 5-9 from only 50 images per class (and 50 more per
   class for validation curves); every other 5-9 image is the held-out test
   split. Four ways of learning it:

   (a) the whole network from scratch;
   (b) the base's convolutional layers grafted in and frozen, a new dense head
       trained (``fn.graft`` + ``fn.partition({"conv*": fn.frozen(), ...})``);
   (c) as (b), with augmentation of every training batch;
   (d) (c) continued with the last convolutional layer unfrozen, everything
       trainable at a tenth of the learning rate (fine-tuning).

Pixels are scaled feature-wise per channel (one channel here): centred and
divided by the standard deviation of the base's (un-augmented) training
pixels, with :class:`funcnn.Standardizer`. The head is the chapter's: Dense 128
-> ReLU -> Dropout 0.5 -> Dense 128 -> ReLU -> Dropout 0.5 -> Dense 5 (softmax
on the logits). Adam, batch 32. Augmentation: rotation up to 15 degrees,
shifts of 10%, shear 10 degrees, zoom 10%, nearest fill. Not the chapter's 45
degrees and horizontal flips: digits are not mirror-symmetric, and a 6 turned
by 45 degrees heads towards a 9.

Each seed draws its own splits, initial params, batches and augmentation.
Reported on the test split: accuracy, macro F1, error rate, and each
confusion matrix of the first seed; ``--plot PATH`` draws the accuracy and
loss curves of the first seed.

Usage::

    python examples/transfer_learning.py [--data IDX_FOLDER] [--folder PNG_FOLDER]
        [--seeds 0 1 2] [--quick] [--plot curves.png]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from _common import pyplot, save_figure, table
from numpy.typing import NDArray

import funcnn as fn
from funcnn.augment import Compose, RandomRotation, RandomShear, RandomShift, RandomZoom
from funcnn.datasets import load_image_folder, load_mnist
from funcnn.layers.conv import Conv2D
from funcnn.layers.pool import MaxPool2D
from funcnn.rng import generator
from funcnn.transfer import frozen, graft, partition

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist10k"
LR = 1e-3
BATCH = 32
LOSS = fn.CategoricalCrossEntropy(from_logits=True)
AUGMENT = Compose([
    RandomRotation(15.0, fill="nearest"), RandomShift(0.1, 0.1, fill="nearest"),
    RandomShear(10.0, fill="nearest"), RandomZoom(0.1, fill="nearest"),
])  # fmt: skip


def conv_base() -> list[fn.Layer]:
    """The convolutional layers shared by the base and the new model (named conv2d_0, conv2d_1)."""
    return [Conv2D(16, 5), fn.ReLU(), MaxPool2D(2), Conv2D(32, 5), fn.ReLU(), MaxPool2D(2), fn.Flatten()]


def base_model() -> fn.Sequential:
    return fn.Sequential(*conv_base(), fn.Dense(128), fn.ReLU(), fn.Dense(5))


def new_model() -> fn.Sequential:
    return fn.Sequential(
        *conv_base(),
        fn.Dense(128), fn.ReLU(), fn.Dropout(0.5), fn.Dense(128), fn.ReLU(), fn.Dropout(0.5), fn.Dense(5),
    )  # fmt: skip


def write_png_tree(idx_folder: Path, folder: Path, limit: int | None) -> int:
    """Write the IDX images as ``folder/<digit>/<index>.png`` once (a marker file records it); return the count."""
    marker = folder / ".written"
    if marker.exists():
        return int(marker.read_text())
    from PIL import Image  # the images extra: pip install 'funcnn[images]'

    data = load_mnist(idx_folder)
    n = data.n_samples if limit is None else min(limit, data.n_samples)
    pixels = np.asarray(data.x, dtype=np.uint8).reshape(-1, 28, 28)
    for i in range(n):
        path = folder / str(int(data.labels[i])) / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i]).save(path)
    marker.write_text(str(n))
    return n


@attrs.frozen
class Result:
    n_images: int
    class_names: tuple[str, ...]
    accuracy: dict[str, tuple[float, ...]]  # run -> test accuracy per seed
    macro_f1: dict[str, tuple[float, ...]]
    base_frozen: bool  # (b) and (c) kept every conv leaf as the very array grafted in, for every seed


@attrs.frozen
class Task:
    """Standardised images and labels of one split."""

    x: F32
    y: I64


def pick(key: fn.Key, y: I64, per_class: int) -> tuple[I64, I64, I64]:
    """Indices of ``per_class`` training and validation images per class, and of all the rest (test)."""
    g = generator(key)
    train, val, test = [], [], []
    for c in np.unique(y):
        idx = g.permutation(np.flatnonzero(y == c))
        train.append(idx[:per_class])
        val.append(idx[per_class : 2 * per_class])
        test.append(idx[2 * per_class :])
    return tuple(np.sort(np.concatenate(parts)) for parts in (train, val, test))  # type: ignore[return-value]


def predict(model: fn.Sequential, params: fn.FrozenTree[np.float32], x: F32) -> F32:
    return np.concatenate([fn.predict(model, params, x[i : i + 500]) for i in range(0, x.shape[0], 500)])


def score(model: fn.Sequential, params: fn.FrozenTree[np.float32], data: Task) -> fn.ClassificationReport:
    return fn.classification_report(predict(model, params, data.x), data.y, num_classes=5, from_logits=True)


def train(
    model: fn.Sequential,
    params: fn.FrozenTree[np.float32],
    optimizer: fn.Optimizer,
    key: fn.Key,
    data: Task,
    val: Task,
    epochs: int,
    augment: Compose | None,
) -> fn.TrainState[np.float32]:
    start = fn.TrainState.create(
        model, params, loss=LOSS, optimizer=optimizer, key=key, batch_size=BATCH, metrics=("accuracy",),
        augment=augment,
    )
    return fn.fit(start, data.x, data.y, epochs=epochs, validation=(val.x, val.y), restore_best=False)


Runs = dict[str, tuple[fn.ClassificationReport, fn.History]]


def run_seed(seed: int, x: F32, y: I64, epochs: tuple[int, int, int], per_class: int) -> tuple[Runs, bool]:
    root = fn.key(seed)
    base_idx = np.flatnonzero(y < 5)
    new_idx = np.flatnonzero(y >= 5)
    tr, va, te = pick(fn.fold_in(root, "split"), y[new_idx] - 5, per_class)
    new_x, new_y = x[new_idx], y[new_idx] - 5
    train_set, val_set, test_set = (Task(new_x[i], new_y[i]) for i in (tr, va, te))

    # The base: digits 0-4.
    base = base_model()
    t0 = time.perf_counter()
    base_state = fn.fit(
        fn.TrainState.create(
            base, fn.init(base, fn.fold_in(root, "base init"), in_shape=(28, 28, 1), dtype=np.float32),
            loss=LOSS, optimizer=fn.adam(LR), key=fn.fold_in(root, "base run"), batch_size=64,
        ),
        x[base_idx], y[base_idx], epochs=epochs[0],
    )
    base_acc = fn.accuracy(predict(base, base_state.params, x[base_idx]), y[base_idx], from_logits=True)
    print(f"  seed {seed}: base on digits 0-4, {base_idx.size} images, {epochs[0]} epoch(s): "
          f"training accuracy {100 * base_acc:.1f}% ({time.perf_counter() - t0:.0f} s)", flush=True)

    model = new_model()
    fresh = fn.init(model, fn.fold_in(root, "head init"), in_shape=(28, 28, 1), dtype=np.float32)
    grafted = graft(fresh, base_state.params, "conv*")
    head_only = partition({"conv*": frozen(), "dense*": fn.adam(LR)})
    runs: dict[str, tuple[fn.ClassificationReport, fn.History]] = {}

    def record(name: str, state: fn.TrainState[np.float32]) -> None:
        runs[name] = (score(model, state.params, test_set), state.history)
        print(f"  seed {seed}: {name}: test accuracy {100 * runs[name][0].accuracy:.1f}%", flush=True)

    record("(a) scratch", train(model, fresh, fn.adam(LR), fn.fold_in(root, "a"), train_set, val_set, epochs[1], None))
    b = train(model, grafted, head_only, fn.fold_in(root, "b"), train_set, val_set, epochs[1], None)
    record("(b) frozen base", b)
    c = train(model, grafted, head_only, fn.fold_in(root, "c"), train_set, val_set, epochs[1], AUGMENT)
    record("(c) frozen + augment", c)
    conv = [p for p in fn.tree_paths(grafted) if p.startswith("conv")]
    kept = all(fn.tree_get(s.params, p) is fn.tree_get(grafted, p) for s in (b, c) for p in conv)
    fine = partition({"conv2d_0": frozen(), "conv2d_1": fn.adam(LR / 10), "dense*": fn.adam(LR / 10)})
    d = train(model, c.params, fine, fn.fold_in(root, "d"), train_set, val_set, epochs[2], AUGMENT)
    runs["(d) fine-tune"] = (score(model, d.params, test_set), _joined(c.history, d.history))
    print(f"  seed {seed}: (d) fine-tune: test accuracy {100 * runs['(d) fine-tune'][0].accuracy:.1f}%", flush=True)
    return runs, kept


def _joined(a: fn.History, b: fn.History) -> fn.History:
    """The curves of (c) followed by those of (d)."""
    metrics = {k: np.concatenate([a.metrics[k], b.metrics[k]]) for k in a.metrics}
    return fn.History(np.concatenate([a.cost, b.cost]), np.concatenate([a.val_cost, b.val_cost]), metrics)


def plot(runs: Runs, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    start = {name: 0 for name in runs}
    start["(d) fine-tune"] = len(runs["(c) frozen + augment"][1]) - 1  # (d) continues (c): draw its own epochs
    for (name, (_, h)), color in zip(runs.items(), ("C0", "C1", "C2", "C3"), strict=True):
        k = start[name]
        epochs = np.arange(1, len(h) + 1)[k:]
        val_acc, train_acc = fn.tree_get(h.metrics, "val_accuracy"), fn.tree_get(h.metrics, "accuracy")
        acc_ax.plot(epochs, val_acc[k:], color=color, label=f"{name} validation")
        acc_ax.plot(epochs, train_acc[k:], color=color, linestyle=":", label=f"{name} training")
        loss_ax.plot(epochs, h.val_cost[k:], color=color, label=f"{name} validation")
        loss_ax.plot(epochs, h.cost[k:], color=color, linestyle=":")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy (digits 5-9)")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log")
    acc_ax.legend(fontsize=7)
    save_figure(plt, fig, path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA, help=f"MNIST IDX folder (default {DATA})")
    p.add_argument("--folder", type=Path, default=None, help="where to write the PNG tree (default: a temp folder)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2)")
    p.add_argument("--quick", action="store_true", help="smoke test: 600 images, 1 seed, few epochs")
    p.add_argument("--plot", type=Path, default=None, metavar="PATH", help="write the curves of the first seed")
    args = p.parse_args(argv)
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    return args


def main(argv: Sequence[str] | None = None) -> Result:
    args = parse_args(argv)
    limit, epochs, per_class = (600, (1, 3, 2), 10) if args.quick else (None, (3, 40, 20), 50)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder if args.folder is not None else Path(tmp) / "digits"
        t0 = time.perf_counter()
        n = write_png_tree(args.data, folder, limit)
        ds = load_image_folder(folder, color="gray")
        print(f"{n} PNG files in {folder}, read back as {ds.x.shape} {ds.x.dtype}, classes {ds.class_names} "
              f"({time.perf_counter() - t0:.1f} s)")
    # Feature-wise (per channel) centring and scaling, fitted on the base's un-augmented training pixels.
    pixels = ds.x.astype(np.float32) / 255.0
    scaler = fn.Standardizer.fit(pixels[ds.y < 5].reshape(-1, 1))
    x = scaler.apply(pixels.reshape(-1, 1)).astype(np.float32).reshape(pixels.shape)
    y = np.asarray(ds.labels)

    results: dict[str, list[fn.ClassificationReport]] = {}
    base_frozen = True
    for k, seed in enumerate(args.seeds):
        runs, kept = run_seed(seed, x, y, epochs, per_class)
        base_frozen = base_frozen and kept
        for name, (report, _) in runs.items():
            results.setdefault(name, []).append(report)
        if k == 0:
            for name, (report, _) in runs.items():
                print(f"\n{name}, seed {seed}, digits 5-9 as classes 0-4:\n{report}")
            if args.plot is not None:
                plot(runs, args.plot)

    def mean_sd(values: list[float]) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{100 * statistics.mean(values):.1f} ± {100 * sd:.1f}"

    rows = [[name, mean_sd([r.accuracy for r in reports]), mean_sd([r.macro["f1"] for r in reports]),
             mean_sd([1.0 - r.accuracy for r in reports])] for name, reports in results.items()]
    print(f"\ntest split of digits 5-9, {per_class} training images per class, {len(args.seeds)} seed(s), "
          "mean ± sample sd (%):")
    print(table(["run", "accuracy", "macro F1", "error rate"], rows))
    print(f"frozen convolutional leaves unchanged (the same arrays) in (b) and (c): {base_frozen}")
    return Result(
        n, tuple(ds.class_names or ()),
        {name: tuple(r.accuracy for r in reports) for name, reports in results.items()},
        {name: tuple(r.macro["f1"] for r in reports) for name, reports in results.items()},
        base_frozen,
    )


if __name__ == "__main__":
    main()
