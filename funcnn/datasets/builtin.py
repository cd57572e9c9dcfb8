"""Built-in data sets: real ones shipped in ``funcnn/data/`` and default-sized synthetic ones.

Real data (see ``funcnn/data/CREDITS.md``, licence CC BY 4.0):

* ``digits``: UCI Optical Recognition of Handwritten Digits, test part: 1,797
  images of 8 x 8 uint8 pixels in ``0..16``, labels ``0..9``.
* ``breast_cancer``: UCI Breast Cancer Wisconsin (Diagnostic): 569 samples of 30
  float64 features, labels ``0 = malignant``, ``1 = benign``.

Each shipped file's SHA-256 is checked when it is loaded. Synthetic built-ins
are the generators of :mod:`funcnn.datasets.synthetic` with their default
arguments and need a ``key``. :func:`describe_builtins` lists everything
without loading anything.

>>> names = builtin_names()
>>> "digits" in names and "spiral" in names
True
>>> ds = load_builtin("breast_cancer")
>>> ds.x.shape, ds.class_names
((569, 30), ('malignant', 'benign'))
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from importlib import resources
from types import MappingProxyType

import attrs
import numpy as np

from funcnn.datasets import synthetic
from funcnn.datasets._csv import parse_csv
from funcnn.datasets._csv_grid import decode_text
from funcnn.datasets._io import decompress
from funcnn.datasets.dataset import Dataset, Task
from funcnn.errors import DataError, MissingRngError
from funcnn.rng import Key

__all__ = ["GENERATOR_OPTIONS", "BuiltinInfo", "builtin_names", "describe_builtins", "load_builtin"]

DIGITS_SOURCE = (
    "UCI Machine Learning Repository, Optical Recognition of Handwritten Digits (test part), "
    "E. Alpaydin and C. Kaynak, 1998; CC BY 4.0; https://archive.ics.uci.edu/dataset/80"
)
BREAST_CANCER_SOURCE = (
    "UCI Machine Learning Repository, Breast Cancer Wisconsin (Diagnostic), "
    "W. Wolberg, O. Mangasarian, N. Street and W. Street, 1995; CC BY 4.0; https://archive.ics.uci.edu/dataset/17"
)

# SHA-256 of the files shipped in funcnn/data/ (also listed in CREDITS.md).
SHIPPED_SHA256 = MappingProxyType(
    {
        "digits.csv.gz": "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
        "breast_cancer.csv": "fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed",
    }
)


@attrs.frozen
class BuiltinInfo:
    """What a built-in data set holds, known without loading it.

    ``shape`` is the shape of ``x`` (samples first); ``n_classes`` is ``None``
    for regression; ``synthetic`` data sets need a key.
    """

    name: str
    shape: tuple[int, ...]
    task: Task
    n_classes: int | None
    synthetic: bool
    description: str
    source: str


def _shipped(filename: str) -> bytes:
    """The bytes of a shipped data file, after checking its SHA-256."""
    label = f"funcnn/data/{filename}"
    try:
        raw = resources.files("funcnn").joinpath("data", filename).read_bytes()
    except OSError as e:
        raise DataError(f"{label}: the shipped data file is missing ({e}); reinstall funcnn") from e
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHIPPED_SHA256[filename]:
        raise DataError(
            f"{label}: SHA-256 mismatch: expected {SHIPPED_SHA256[filename]}, got {digest}; "
            "the installed file is damaged, reinstall funcnn"
        )
    return raw


def _digits(key: Key | None) -> Dataset:
    label = "funcnn/data/digits.csv.gz"
    table = parse_csv(
        decode_text(decompress(_shipped("digits.csv.gz"), label), label), label, header=False, task="classification"
    )
    pixels = table.x
    if pixels.shape != (1797, 64) or not np.all((pixels >= 0) & (pixels <= 16) & (pixels == np.floor(pixels))):
        raise DataError(f"{label}: expected 1797 rows of 64 integer pixels in 0..16, got {pixels.shape}")
    x = pixels.astype(np.uint8).reshape(-1, 8, 8)
    x.flags.writeable = False
    names = tuple(str(d) for d in range(10))
    return Dataset(x, table.y, name="digits", task="classification", class_names=names, source=DIGITS_SOURCE)


def _breast_cancer(key: Key | None) -> Dataset:
    label = "funcnn/data/breast_cancer.csv"
    text = decode_text(_shipped("breast_cancer.csv"), label)
    first, _, rest = text.partition("\n")
    meta = first.strip().split(",")
    try:
        n, features = int(meta[0]), int(meta[1])
    except (ValueError, IndexError):
        raise DataError(f"{label}, line 1: expected 'rows,features,name0,name1', got {first!r}") from None
    table = parse_csv(rest, label, header=False, task="classification", first_line=2)
    if table.x.shape != (n, features) or len(meta) != 4:
        raise DataError(f"{label}: line 1 announces {n} x {features} and 2 class names, got {table.x.shape}")
    return Dataset(
        table.x,
        table.y,
        name="breast_cancer",
        task="classification",
        class_names=(meta[2], meta[3]),
        source=BREAST_CANCER_SOURCE,
    )


def _synthetic(name: str, make: Callable[[Key], Dataset]) -> Callable[[Key | None], Dataset]:
    def load(key: Key | None) -> Dataset:
        if key is None:
            raise MissingRngError(f"load_builtin({name!r}): a synthetic data set needs key=..., e.g. funcnn.key(0)")
        return make(key)

    return load


_SYN = "synthetic (funcnn.datasets.synthetic, default arguments)"

_REGISTRY: MappingProxyType[str, tuple[BuiltinInfo, Callable[[Key | None], Dataset]]] = MappingProxyType(
    {
        info.name: (info, loader)
        for info, loader in (
            (
                BuiltinInfo(
                    "digits",
                    (1797, 8, 8),
                    "classification",
                    10,
                    False,
                    "8x8 handwritten digit images, uint8 pixels 0..16",
                    DIGITS_SOURCE,
                ),
                _digits,
            ),
            (
                BuiltinInfo(
                    "breast_cancer",
                    (569, 30),
                    "classification",
                    2,
                    False,
                    "30 cell-nucleus features; 0 = malignant, 1 = benign",
                    BREAST_CANCER_SOURCE,
                ),
                _breast_cancer,
            ),
            (
                BuiltinInfo(
                    "spiral", (300, 2), "classification", 3, True, "3 interleaved spiral arms, 100 points each", _SYN
                ),
                _synthetic("spiral", synthetic.spiral),
            ),
            (
                BuiltinInfo(
                    "xor",
                    (200, 2),
                    "classification",
                    2,
                    True,
                    "noisy points at the unit square's corners, label a XOR b",
                    _SYN,
                ),
                _synthetic("xor", synthetic.xor),
            ),
            (
                BuiltinInfo("moons", (200, 2), "classification", 2, True, "two interleaving half circles", _SYN),
                _synthetic("moons", synthetic.moons),
            ),
            (
                BuiltinInfo(
                    "circles", (200, 2), "classification", 2, True, "two concentric circles, radii 1 and 0.5", _SYN
                ),
                _synthetic("circles", synthetic.circles),
            ),
            (
                BuiltinInfo(
                    "blobs", (300, 2), "classification", 3, True, "3 Gaussian clusters with random centres", _SYN
                ),
                _synthetic("blobs", synthetic.blobs),
            ),
            (
                BuiltinInfo("line", (100, 1), "regression", None, True, "y = 2x + 1 + noise, x in [-1, 1]", _SYN),
                _synthetic("line", synthetic.line),
            ),
            (
                BuiltinInfo(
                    "linear", (200, 3), "regression", None, True, "y = x @ (1.5, -2, 0.5) + 0.25 + noise", _SYN
                ),
                _synthetic("linear", synthetic.linear),
            ),
            (
                BuiltinInfo(
                    "polynomial", (200, 1), "regression", None, True, "y = 0.5x^2 + x + 2 + noise, x in [-3, 3]", _SYN
                ),
                _synthetic("polynomial", synthetic.polynomial),
            ),
        )
    }
)


# The generator options each synthetic built-in takes: {option: the generator's argument}.
# ``samples`` is per class for classification sets and in all for regression ones.
GENERATOR_OPTIONS: MappingProxyType[str, MappingProxyType[str, str]] = MappingProxyType(
    {
        name: MappingProxyType(options)
        for name, options in (
            ("spiral", {"samples": "n_per_class", "noise": "noise", "classes": "classes"}),
            ("xor", {"samples": "n_per_class", "noise": "noise"}),
            ("moons", {"samples": "n_per_class", "noise": "noise"}),
            ("circles", {"samples": "n_per_class", "noise": "noise"}),
            ("blobs", {"samples": "n_per_class", "noise": "std", "classes": "classes"}),
            ("line", {"samples": "n", "noise": "noise"}),
            ("linear", {"samples": "n", "noise": "noise"}),
            ("polynomial", {"samples": "n", "noise": "noise"}),
        )
    }
)
_GENERATORS: MappingProxyType[str, Callable[..., Dataset]] = MappingProxyType(
    {
        "spiral": synthetic.spiral,
        "xor": synthetic.xor,
        "moons": synthetic.moons,
        "circles": synthetic.circles,
        "blobs": synthetic.blobs,
        "line": synthetic.line,
        "linear": synthetic.linear,
        "polynomial": synthetic.polynomial,
    }
)


def _generated(name: str, key: Key | None, options: Mapping[str, int | float]) -> Dataset:
    allowed = GENERATOR_OPTIONS.get(name, MappingProxyType({}))
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = f"takes {', '.join(allowed)}" if allowed else "is not synthetic and takes no generator options"
        raise DataError(f"load_builtin({name!r}): unknown generator option {unknown[0]!r}; {name} {takes}")
    if key is None:
        raise MissingRngError(f"load_builtin({name!r}): a synthetic data set needs key=..., e.g. funcnn.key(0)")
    try:
        return _GENERATORS[name](key, **{allowed[k]: v for k, v in options.items()})
    except ValueError as e:
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise DataError(f"load_builtin({name!r}, {shown}): {e}") from None


def builtin_names() -> tuple[str, ...]:
    """The names :func:`load_builtin` accepts: real data sets first, then synthetic ones."""
    return tuple(_REGISTRY)


def describe_builtins() -> tuple[BuiltinInfo, ...]:
    """One :class:`BuiltinInfo` per built-in data set (nothing is loaded)."""
    return tuple(info for info, _ in _REGISTRY.values())


def load_builtin(name: str, *, key: Key | None = None, options: Mapping[str, int | float] | None = None) -> Dataset:
    """A built-in data set by name; synthetic ones are ``generator(key)`` with default arguments.

    Args:
        name: one of :func:`builtin_names`.
        key: required for synthetic data sets (ignored by real ones):
            ``load_builtin("spiral", key=k)`` equals ``synthetic.spiral(k)``.
        options: generator options of a synthetic data set (see
            :data:`GENERATOR_OPTIONS`): ``samples`` (per class for
            classification, in all for regression), ``noise`` and, for
            spiral and blobs, ``classes``.

    Raises:
        DataError: an unknown name (the message lists the built-in names), a
            damaged shipped file, or a generator option the data set does not
            take or a bad value (the message names the options it takes).
        MissingRngError: a synthetic data set without ``key``.

    >>> import funcnn as fn
    >>> load_builtin("spiral", key=fn.key(0), options={"samples": 20, "classes": 4}).x.shape
    (80, 2)
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise DataError(f"{name!r}: no built-in data set of that name; built-in names: {', '.join(_REGISTRY)}")
    if options:
        return _generated(name, key, options)
    return entry[1](key)
