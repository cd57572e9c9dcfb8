"""Look inside the MNIST CNN: what its units respond to and what its decisions depend on.

Trains the CNN of ``mnist_cnn.py`` (or loads its params with ``--params``),
then uses :mod:`funcnn.explain` on a few test digits and draws, with ``--out DIR``:

* ``maps.png``: per digit, the input, the saliency map (|gradient| of the
  predicted class's logit), the deconvnet and guided-backprop maps (the same
  backward pass with the ReLU rule changed), and the occlusion map (the logit
  drop when a 4x4 grey square hides each place, averaged over the windows);
* ``filters.png``: the 16 first-layer 5x5 filters;
* ``feature_maps.png``: every layer's feature maps for one digit (first 8 channels);
* ``top_patches.png``: for a few channels of the second convolution (after its
  ReLU), the 9 test patches that excite it most and their deconvnet projections;
* ``class_images.png``: for each class, an image grown by gradient ascent on its
  logit from a grey start.

Usage::

    python examples/visualize_cnn.py [MNIST_IDX_FOLDER] --out figures [--epochs 3] [--params cnn.npz]

The folder defaults to ``../shared/data/mnist10k`` beside the repository.
``--quick`` (1 epoch on 256 images, fewer steps) is the smoke test.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import attrs
import numpy as np
from _common import parser, pyplot
from mnist_cnn import BATCH_SIZE, LEARNING_RATE, accuracy, build_model, load_split
from numpy.typing import NDArray

import funcnn as fn
from funcnn import explain
from funcnn.io.atomic import atomic_write
from funcnn.optim import adam

F32 = NDArray[np.float32]
DEFAULT_FOLDER = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist10k"
IN_SHAPE = (28, 28, 1)


@attrs.frozen
class Result:
    """What the figures show, in numbers (checked by the smoke test)."""

    accuracy: float
    predicted: tuple[int, ...]
    top_values: tuple[tuple[float, ...], ...]
    class_gain: tuple[float, ...]  # logit of each class: grown image minus grey start
    figures: tuple[str, ...]


def train(x: F32, y: NDArray[np.int64], epochs: int, seed: int) -> fn.FrozenTree[np.float32]:
    model = build_model()
    root = fn.key(seed)
    params = fn.init(model, fn.fold_in(root, "init"), in_shape=IN_SHAPE, dtype=np.float32)
    start = fn.TrainState.create(model, params, loss=fn.CategoricalCrossEntropy(from_logits=True),
                                 optimizer=adam(LEARNING_RATE), key=fn.fold_in(root, "train"), batch_size=BATCH_SIZE)
    state = start
    for state in fn.train_epochs(start, x, y, epochs=epochs):
        print(f"  epoch {state.epoch}/{epochs}: mean training cost {state.history.cost[-1]:.4f}", flush=True)
    return state.params


def main(argv: Sequence[str] | None = None) -> Result:
    p = parser(__doc__.splitlines()[0], plot=False)
    p.add_argument("folder", type=Path, nargs="?", default=DEFAULT_FOLDER, help="MNIST IDX folder")
    p.add_argument("--out", type=Path, default=None, help="write the PNG figures into this folder")
    p.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    p.add_argument("--params", type=Path, default=None, help="load trained params (fn.save_params) instead")
    p.add_argument("--save-params", type=Path, default=None, help="save the trained params here")
    args = p.parse_args(argv)
    n_train, n_test, epochs, steps = (256, 64, 1, 10) if args.quick else (8000, 2000, args.epochs, 200)
    if not args.folder.is_dir():
        p.error(f"{args.folder}: no MNIST folder (give the folder holding the t10k IDX files)")
    x_train, y_train, x_test, y_test = load_split(args.folder, n_train, n_test)
    model = build_model()
    if args.params is not None:
        _, params = fn.load_params(args.params, dtype=np.float32, model=model)
    else:
        print(f"training the MNIST CNN on {n_train} images for {epochs} epoch(s)")
        params = train(x_train, y_train, epochs, args.seed)
        if args.save_params is not None:
            fn.save_params(args.save_params, model, params, in_shape=IN_SHAPE)
    acc = accuracy(model, params, x_test, y_test)
    print(f"test accuracy {100 * acc:.2f}% on {n_test} images")

    # Four test digits and the maps of the class the network predicts for each.
    digits = x_test[:4]
    predicted = np.argmax(fn.predict(model, params, digits), axis=1)
    maps = {
        "saliency": explain.saliency(model, params, digits, predicted),
        "deconvnet": explain.deconvnet(model, params, digits, predicted),
        "guided backprop": explain.guided_backprop(model, params, digits, predicted),
        "occlusion (4x4, stride 2)": explain.occlusion(model, params, digits, predicted, window=4, stride=2,
                                                       baseline=float(x_test.min())),
    }
    acts = explain.activations(model, params, digits[:1])
    channels = (0, 1, 2, 3)
    tops = {c: explain.top_activations(model, params, x_test, "relu_1", c, k=9) for c in channels}
    grown = explain.maximize(model, params, "dense_1", list(range(10)), fn.fold_in(fn.key(args.seed), "maximize"),
                             in_shape=IN_SHAPE, steps=steps, lr=0.5, l2=0.05, jitter=1)
    logits = [fn.predict(model, params, grown[[0, -1], c])[:, c] for c in range(10)]
    gain = tuple(float(lg[1] - lg[0]) for lg in logits)
    print("predicted classes of the 4 digits:", predicted.tolist(), "labels:", y_test[:4].tolist())
    for c, top in tops.items():
        print(f"relu_1 channel {c}: top activations {', '.join(f'{v:.2f}' for v in top.value)} "
              f"in test images {top.index.tolist()}")
    print("logit gain of each class image over its grey start:", [round(g, 2) for g in gain])

    figures: tuple[str, ...] = ()
    if args.out is not None:
        figures = draw(args.out, model, params, digits, y_test[:4], predicted, maps, acts, tops, grown[-1])
        print("figures:", ", ".join(figures))
    return Result(acc, tuple(int(v) for v in predicted), tuple(tuple(float(v) for v in t.value) for t in tops.values()),
                  gain, figures)


def rgba(plt: ModuleType, img: F32, signed: bool) -> F32:
    """One map as RGBA tiles scaled on its own: grey for images, blue-white-red around 0 for signed maps."""
    if signed:
        lim = float(np.abs(img).max()) or 1.0
        return np.asarray(plt.get_cmap("RdBu_r")((img / lim + 1) / 2), dtype=np.float32)
    lo, hi = float(img.min()), float(img.max())
    return np.asarray(plt.get_cmap("gray")((img - lo) / ((hi - lo) or 1.0)), dtype=np.float32)


def mosaic(tiles: list[list[F32]], pad: int = 2) -> F32:
    """Rows of equally sized RGBA tiles on a white background, ``pad`` pixels apart."""
    h, w = tiles[0][0].shape[:2]
    cols = max(len(row) for row in tiles)
    out = np.ones((len(tiles) * (h + pad) + pad, cols * (w + pad) + pad, 4), dtype=np.float32)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = tile
    return out


def draw(out: Path, model: fn.Sequential, params: fn.FrozenTree[np.float32], digits: F32, labels: NDArray[np.int64],
         predicted: NDArray[np.int64], maps: dict[str, F32], acts: fn.FrozenTree[np.float32],
         tops: dict[int, explain.TopActivations[np.float32]], grown: F32) -> tuple[str, ...]:
    """Write the five figures into ``out`` (one image mosaic each); returns their file names."""
    plt = pyplot()
    if plt is None:
        return ()
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def save(name: str, tiles: list[list[F32]], title: str, width: float) -> None:
        image = mosaic(tiles)
        height = width * image.shape[0] / image.shape[1]
        fig = plt.figure(figsize=(width, height + 0.45))  # 0.45 in for a two-line title
        ax = fig.add_axes((0.0, 0.0, 1.0, height / (height + 0.45)))
        ax.imshow(image, interpolation="nearest")
        ax.axis("off")
        fig.suptitle(title, fontsize=8)
        buffer = io.BytesIO()  # drawn in memory, then written atomically
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        atomic_write(out / name, buffer.getvalue())
        written.append(name)

    rows = [[rgba(plt, digits[r, :, :, 0], False)] + [rgba(plt, m[r, :, :, 0], True) for m in maps.values()]
            for r in range(len(digits))]
    save("maps.png", rows, "columns: input, " + ", ".join(maps) + "\nrows: label/predicted " +
         ", ".join(f"{a}/{b}" for a, b in zip(labels, predicted, strict=True)), 7.0)

    w = fn.tree_get(params, "conv2d_0/w")  # (5, 5, 1, 16)
    save("filters.png", [[rgba(plt, w[:, :, 0, i], True) for i in range(r, r + 8)] for r in (0, 8)],
         "first-layer filters (5x5; red positive, blue negative)", 6.0)

    layers = [name for name in model.names if fn.tree_get(acts, name).ndim == 4]  # the image-shaped maps
    rows = []
    for name in layers:
        a = fn.tree_get(acts, name)[0]  # (h, w, channels); h is 24, 12, 8 or 4: blow each up to 24 pixels
        rows.append([rgba(plt, np.kron(a[:, :, c], np.ones((24 // a.shape[0],) * 2, dtype=np.float32)), False)
                     for c in range(8)])
    save("feature_maps.png", rows, "feature maps of one digit, channels 0-7\nrows: " + ", ".join(layers), 6.0)

    tiles = []
    for top in tops.values():
        tiles.append([rgba(plt, top.patches[m, :, :, 0], False) for m in range(9)])
        tiles.append([rgba(plt, top.projections[m, :, :, 0], True) for m in range(9)])
    save("top_patches.png", tiles, "relu_1 channels " + ", ".join(map(str, tops)) +
         ": top-9 test patches (grey) and their deconvnet projections (colour)", 6.0)

    save("class_images.png", [[rgba(plt, grown[c, :, :, 0], False) for c in range(10)]],
         "gradient ascent on each class's logit (0-9) from a grey start", 8.0)
    return tuple(written)


if __name__ == "__main__":
    main()
    sys.exit(0)
