"""Data for funcnn: built-in and synthetic data sets, file loaders and preparation.

* :class:`Dataset`: a frozen ``(x, y)`` pair with a name, task, class names, feature names and credit;
  its :attr:`~Dataset.schema` (a :class:`Schema`) is what a trained run remembers about its data.
* Synthetic generators (pure functions of a key): :func:`line`, :func:`linear`,
  :func:`polynomial`, :func:`xor`, :func:`moons`, :func:`circles`, :func:`spiral`, :func:`blobs`.
* Built-ins: :func:`builtin_names`, :func:`describe_builtins`, :func:`load_builtin`
  (``digits`` and ``breast_cancer`` ship inside the package, with credits in ``funcnn/data/CREDITS.md``).
* Loaders (local files only): :func:`load_csv` (the ``csv`` module; ``classes=`` pins the
  label mapping, ``schema=`` reads a file the way a trained model expects), :func:`load_npz`, :func:`load_idx`,
  :func:`load_mnist`, :func:`load_idx_pair`, :func:`load_image_folder` and :func:`image_splits`
  (class-per-subfolder image trees, with Pillow), and :func:`load_data` for the CLI's ``--data``;
  writers :func:`save_idx` and :func:`save_npz`; the task: :func:`with_task`, :func:`describe_task`.
* Preparation: :func:`train_test_split`, :func:`split_indices`, :func:`split_dataset`,
  :func:`one_hot`, :class:`Standardizer`, :class:`MinMaxScaler`, :func:`flatten_images`.
* Features: :func:`polynomial_features` and :func:`polynomial_feature_names`.

Every malformed input raises :class:`funcnn.errors.DataError` naming the file,
the line or byte offset, and the problem.

>>> from funcnn import datasets
>>> from funcnn.rng import key
>>> x, y = datasets.load_data("moons", key=key(0))
>>> x.shape, y.shape
((200, 2), (200,))
"""

from funcnn.datasets.builtin import BuiltinInfo, builtin_names, describe_builtins, load_builtin
from funcnn.datasets.dataset import Dataset, Task
from funcnn.datasets.features import polynomial_feature_names, polynomial_features
from funcnn.datasets.idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, load_idx, load_idx_pair, load_mnist, save_idx
from funcnn.datasets.images import ImageSplits, image_splits, load_image_folder
from funcnn.datasets.loaders import (
    describe_task,
    load_csv,
    load_csv_features,
    load_data,
    load_npz,
    save_npz,
    with_task,
)
from funcnn.datasets.prepare import (
    MinMaxScaler,
    Standardizer,
    flatten_images,
    one_hot,
    split_dataset,
    split_indices,
    train_test_split,
)
from funcnn.datasets.schema import Schema, TargetScale
from funcnn.datasets.synthetic import blobs, circles, line, linear, moons, polynomial, spiral, xor

__all__ = [
    "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC",
    "BuiltinInfo",
    "Dataset",
    "ImageSplits",
    "MinMaxScaler",
    "Schema",
    "Standardizer",
    "TargetScale",
    "Task",
    "blobs",
    "builtin_names",
    "circles",
    "describe_builtins",
    "describe_task",
    "flatten_images",
    "image_splits",
    "line",
    "linear",
    "load_builtin",
    "load_csv",
    "load_csv_features",
    "load_data",
    "load_idx",
    "load_idx_pair",
    "load_image_folder",
    "load_mnist",
    "load_npz",
    "moons",
    "one_hot",
    "polynomial",
    "polynomial_feature_names",
    "polynomial_features",
    "save_idx",
    "save_npz",
    "split_dataset",
    "split_indices",
    "spiral",
    "train_test_split",
    "with_task",
    "xor",
]
