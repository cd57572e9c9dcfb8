"""Image folders: a class-per-subfolder tree of PNG, JPEG or BMP files, read with Pillow.

Layout::

    root/
      cat/  001.png  002.jpg ...
      dog/  101.png ...

or, with fixed splits, ``root/train/<class>/...``, ``root/val/<class>/...``
(or ``validation/``) and ``root/test/<class>/...``.

:func:`load_image_folder` reads one tree into a :class:`Dataset` of
channels-last uint8 images ``(n, height, width, channels)`` with the class
names and the file list. It reads in two passes: the first opens each file
for its header only (size, format), the second decodes each image straight
into one preallocated array, so the extra memory is one image at a time.
:func:`image_splits` returns train/validation/test data sets: the folder's
own splits if it has them, else stratified splits drawn from a key.

Pillow is an optional dependency (``pip install 'funcnn[images]'``), imported
only when a folder is read.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Literal, TypeAlias

import attrs
import numpy as np

from funcnn.datasets.dataset import Dataset
from funcnn.datasets.prepare import split_indices
from funcnn.errors import DataError
from funcnn.rng import Key, fold_in

__all__ = ["IMAGE_SUFFIXES", "ImageSplits", "image_splits", "is_image_source", "load_image_folder", "load_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
Color: TypeAlias = Literal["rgb", "gray"]
_MODES: dict[str, tuple[str, int]] = {"rgb": ("RGB", 3), "gray": ("L", 1)}
_SPLITS = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}


def _pillow() -> ModuleType:
    """``PIL.Image``, or an ImportError naming the install command."""
    try:
        return importlib.import_module("PIL.Image")
    except ImportError:
        raise ImportError(
            "reading image folders needs the optional package 'Pillow': pip install 'funcnn[images]'"
        ) from None


def _as_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in hw):
        raise ValueError(f"load_image_folder: size must be an int or (height, width) of ints > 0, got size={size!r}")
    return (hw[0], hw[1])


def _subfolders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _split_folders(root: Path) -> dict[str, Path]:
    """``{"train": path, "validation": path, "test": path}`` found under ``root`` (empty if not a split layout)."""
    found = {_SPLITS[p.name]: p for p in _subfolders(root) if p.name in _SPLITS}
    return found if "train" in found and "test" in found else {}


def _image_files(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(f for f in files if not any(part.startswith(".") for part in f.relative_to(folder).parts))


def load_image_folder(
    root: str | Path,
    *,
    size: int | tuple[int, int] | None = None,
    color: Color = "rgb",
    classes: list[str] | tuple[str, ...] | None = None,
) -> Dataset:
    """A class-per-subfolder tree of images as a :class:`Dataset` of uint8 ``(n, height, width, channels)``.

    Args:
        root: the folder; each subfolder is a class and holds its images
            (``.png``, ``.jpg``/``.jpeg``, ``.bmp``; nested folders included,
            other files and hidden ones ignored).
        size: resize every image to ``(height, width)`` (an int for a square);
            without it all images must have one size.
        color: ``"rgb"`` (3 channels) or ``"gray"`` (1 channel); images are
            converted to it.
        classes: the class folders to read, in label order; default: every
            subfolder, sorted by name. Folders not listed are skipped.

    Returns:
        A classification data set: ``x`` read-only uint8 images, ``y`` int64
        labels, ``class_names`` and ``files`` (the path of each sample).

    Raises:
        DataError: the folder or a class folder is missing or empty, a file
            cannot be decoded (named), or images differ in size without
            ``size`` (two files and their sizes are named).
        ImportError: Pillow is not installed.
    """
    folder = Path(root)
    hw = _as_size(size)
    if color not in _MODES:
        raise ValueError(f"load_image_folder: color must be 'rgb' or 'gray', got color={color!r}")
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; expected a folder with one subfolder of images per class")
    splits = _split_folders(folder)
    if splits:
        raise DataError(
            f"{folder}: holds the splits {', '.join(sorted(p.name for p in splits.values()))}; "
            f"read them with image_splits({str(folder)!r}) or load one, "
            f"e.g. load_image_folder({str(folder / 'train')!r})"
        )
    names, files, labels = _listing(folder, classes)
    image = _pillow()
    mode, channels = _MODES[color]
    shapes = [_header(image, f) for f in files] if hw is None else []
    if shapes:
        first = shapes[0]
        other = next((i for i, s in enumerate(shapes) if s != first), None)
        if other is not None:
            raise DataError(
                f"{folder}: images differ in size: {files[0]} is {first[1]}x{first[0]} (width x height) but "
                f"{files[other]} is {shapes[other][1]}x{shapes[other][0]}; pass size=(height, width) to resize them"
            )
    height, width = hw if hw is not None else shapes[0]
    x = np.empty((len(files), height, width, channels), dtype=np.uint8)  # the only full-size allocation
    for i, f in enumerate(files):
        x[i] = _decode(image, f, mode, hw).reshape(height, width, channels)
    x.flags.writeable = False
    y = np.asarray(labels, dtype=np.int64)
    y.flags.writeable = False
    return Dataset(
        x, y, name=folder.name or str(folder), class_names=names, source=str(folder), files=tuple(map(str, files))
    )


def _listing(
    folder: Path, classes: list[str] | tuple[str, ...] | None
) -> tuple[tuple[str, ...], list[Path], list[int]]:
    present = {p.name: p for p in _subfolders(folder)}
    if classes is None:
        names = tuple(sorted(present))
        if not names:
            raise DataError(f"{folder}: no class subfolders; expected {folder}/<class>/<image files>")
    else:
        names = tuple(str(c) for c in classes)
        missing = [c for c in names if c not in present]
        if missing or len(set(names)) != len(names):
            raise DataError(
                f"{folder}: classes={list(names)} must be distinct subfolders; missing: {missing or 'none'}; "
                f"found: {sorted(present)}"
            )
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        found = _image_files(present[name])
        if not found:
            raise DataError(f"{present[name]}: class {name!r} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        files.extend(found)
        labels.extend([label] * len(found))
    return names, files, labels


def _header(image: ModuleType, path: Path) -> tuple[int, int]:
    """``(height, width)`` from the file's header only (Pillow opens lazily)."""
    try:
        with image.open(path) as im:
            width, height = im.size
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None
    return int(height), int(width)


def _decode(image: ModuleType, path: Path, mode: str, hw: tuple[int, int] | None) -> np.ndarray:
    try:
        with image.open(path) as im:
            im.load()  # truncated or corrupt data fails here, not later
            out = im.convert(mode)
            if hw is not None and out.size != (hw[1], hw[0]):
                out = out.resize((hw[1], hw[0]), image.Resampling.BILINEAR)
            return np.asarray(out, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: cannot decode the image ({e}); the file may be truncated or corrupt") from None


def is_image_source(path: str | Path) -> bool:
    """True for an image file (by suffix) or a folder holding image files (at any depth)."""
    p = Path(path)
    if p.is_file():
        return p.suffix.lower() in IMAGE_SUFFIXES
    return p.is_dir() and bool(_image_files(p))


def load_images(
    path: str | Path, *, size: int | tuple[int, int] | None = None, color: Color = "rgb"
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Unlabelled images to predict for: one image file, or every image under a folder, sorted by path.

    A class-per-subfolder tree is read too (its folder names are ignored), so
    the images of a labelled folder can be predicted for.

    Args:
        path: an image file (``.png``, ``.jpg``/``.jpeg``, ``.bmp``) or a folder.
        size: resize every image to ``(height, width)``; without it all must have one size.
        color: ``"rgb"`` (3 channels) or ``"gray"`` (1 channel).

    Returns:
        ``(x, files)``: read-only uint8 images ``(n, height, width, channels)`` and the file of each.

    Raises:
        DataError: no image in the folder, a file that cannot be decoded, or sizes that differ without ``size``.
        ImportError: Pillow is not installed.
    """
    p = Path(path)
    hw = _as_size(size)
    if color not in _MODES:
        raise ValueError(f"load_images: color must be 'rgb' or 'gray', got color={color!r}")
    files = [p] if p.is_file() else _image_files(p) if p.is_dir() else []
    if not files:
        raise DataError(f"{p}: no image files ({', '.join(IMAGE_SUFFIXES)}) to read")
    image = _pillow()
    mode, channels = _MODES[color]
    if hw is None:
        shapes = [_header(image, f) for f in files]
        other = next((i for i, s in enumerate(shapes) if s != shapes[0]), None)
        if other is not None:
            raise DataError(
                f"{p}: images differ in size: {files[0]} is {shapes[0][1]}x{shapes[0][0]} (width x height) but "
                f"{files[other]} is {shapes[other][1]}x{shapes[other][0]}; give a size to resize them"
            )
        hw = shapes[0]
    x = np.empty((len(files), hw[0], hw[1], channels), dtype=np.uint8)
    for i, f in enumerate(files):
        x[i] = _decode(image, f, mode, hw).reshape(hw[0], hw[1], channels)
    x.flags.writeable = False
    return x, tuple(map(str, files))


@attrs.frozen
class ImageSplits:
    """Train, validation and test data sets of one image folder (``validation`` may be None)."""

    train: Dataset
    validation: Dataset | None
    test: Dataset


def image_splits(
    root: str | Path,
    *,
    key: Key | None = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    size: int | tuple[int, int] | None = None,
    color: Color = "rgb",
    classes: list[str] | tuple[str, ...] | None = None,
) -> ImageSplits:
    """Train/validation/test data sets of an image folder.

    A folder with ``train/`` and ``test/`` subfolders (and optionally ``val/``
    or ``validation/``) uses them, with the class order of ``train/`` (or
    ``classes``) in every split. Otherwise the whole tree is split, stratified
    by class: ``test_fraction`` from ``fold_in(key, "test")``, then
    ``validation_fraction`` of the rest from ``fold_in(key, "validation")``
    (``validation_fraction=0`` gives no validation set).

    Raises:
        DataError: see :func:`load_image_folder`; also when a split lacks a
            class of ``train/``.
        ValueError: the folder needs splitting and no ``key`` was given.
    """
    folder = Path(root)
    splits = _split_folders(folder) if folder.is_dir() else {}
    if splits:
        train = load_image_folder(splits["train"], size=size, color=color, classes=classes)
        names = train.class_names

        def load(name: str) -> Dataset:
            return load_image_folder(splits[name], size=size, color=color, classes=names)

        validation = load("validation") if "validation" in splits else None
        return ImageSplits(train, validation, load("test"))
    if key is None:
        raise ValueError(f"image_splits: {folder} has no train/ and test/ subfolders; give key=... to split it")
    ds = load_image_folder(folder, size=size, color=color, classes=classes)
    rest, test = split_indices(fold_in(key, "test"), ds.y, test_fraction=test_fraction, stratify=True)
    if validation_fraction == 0:
        return ImageSplits(ds.take(rest), None, ds.take(test))
    rest_ds = ds.take(rest)
    fit, val = split_indices(fold_in(key, "validation"), rest_ds.y, test_fraction=validation_fraction, stratify=True)
    return ImageSplits(rest_ds.take(fit), rest_ds.take(val), ds.take(test))
