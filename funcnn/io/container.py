"""The checkpoint container: one ``.npz`` (a zip of ``.npy`` members) plus a JSON manifest.

* ``manifest.json``: JSON text with the format tag and version, the funcnn
  version, the content (``"train_state"`` or ``"params"``), the dtype, the
  input shape, the encoded value (see :mod:`funcnn.io.codec`) and, for every
  array, its shape, dtype and SHA-256;
* one ``.npy`` member per array, named by tree path (``params/dense_0/w``).

Writing is deterministic (fixed member times, sorted members, no compression),
so the same state gives the same bytes. Reading never unpickles, checks every
declared size before inflating anything (a compressed member, a member larger
than its manifest entry says, or a manifest over :data:`MAX_MANIFEST_BYTES` or
nested deeper than :data:`funcnn.io.bounded.MAX_DEPTH` is refused unread),
then checks every array's shape, dtype and SHA-256 against the manifest.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import zipfile
from pathlib import Path
from typing import IO, Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from funcnn._version import __version__
from funcnn.errors import CheckpointError
from funcnn.io import bounded
from funcnn.io.layout import LATEST, list_states

__all__ = [
    "ARRAY_KINDS",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "MAX_MANIFEST_BYTES",
    "Arrays",
    "PathLike",
    "fail",
    "manifest_for",
    "open_checkpoint",
    "resolve_file",
    "sha256",
    "write_npz",
]

FORMAT = "funcnn-checkpoint"
# Bump when the layout changes; readers keep reading every older version.
# 2: TrainState gained sampling, tol and augment; losses gained reduction (and MSE half).
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 << 20  # a manifest is text about arrays, not the arrays (a model of 10,000 arrays: ~2 MB)
ARRAY_KINDS = "biuf"  # bool, ints, floats: never objects, strings or structured dtypes
_NPY_HEADER_MAX = 1 << 16  # an .npy header is at most this long (format versions 1 to 3, in practice)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same state gives the same bytes

PathLike: TypeAlias = str | os.PathLike[str]
Arrays: TypeAlias = dict[str, NDArray[Any]]


def fail(file: Path, problems: list[str]) -> CheckpointError:
    """One :class:`CheckpointError` naming ``file`` and every problem."""
    if len(problems) == 1:
        return CheckpointError(f"{file}: {problems[0]}")
    return CheckpointError(f"{file}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems))


def sha256(a: NDArray[Any]) -> str:
    """The hex SHA-256 of an array's bytes in C order."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def manifest_for(content: str, dtype: np.dtype[Any], in_shape: tuple[int, ...]) -> dict[str, Any]:
    """The manifest's head: format tag and version, funcnn version, content, dtype and input shape."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "funcnn_version": __version__,
        "content": content,
        "dtype": str(dtype),
        "in_shape": list(in_shape),
    }


def _array_table(arrays: Arrays) -> dict[str, Any]:
    return {
        name: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": sha256(a)}
        for name, a in sorted(arrays.items())
    }


def _zipinfo(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.external_attr = 0o644 << 16  # rw-r--r-- when unzipped
    return info


# A list of integers that json.dumps spread over lines (JSON strings never hold raw newlines).
_INT_LIST = re.compile(r"\[\n\s*(-?\d+(?:,\n\s*-?\d+)*)\n\s*\]")


def _dumps(manifest: dict[str, Any]) -> bytes:
    text = json.dumps(manifest, indent=1)
    text = _INT_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    return text.encode("utf-8")


def write_npz(f: IO[bytes], manifest: dict[str, Any], arrays: Arrays) -> None:
    """Write the container to the open file ``f``; the array table is added to ``manifest``, last."""
    full = {**manifest, "arrays": _array_table(arrays)}  # the long table last, for readers of the JSON
    text = _dumps(full)
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_zipinfo(MANIFEST), text)
        for name in sorted(arrays):
            with zf.open(_zipinfo(name + ".npy"), "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)


# --- reading ---------------------------------------------------------------------------------


def resolve_file(path: PathLike) -> Path:
    """The checkpoint file itself, or a run folder's latest (``checkpoint.npz``)."""
    p = Path(path)
    if p.is_dir():
        latest = p / LATEST
        if not latest.is_file():
            found = ", ".join(q.name for q in list_states(p)[-3:]) or "none"
            raise CheckpointError(f"{p}: a folder without {LATEST} (epoch states found: {found})")
        return latest
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    return p


def _check_stored(file: Path, npz: Any) -> None:
    """Refuse compressed members unread: funcnn stores them as they are, so a member can never
    inflate beyond the bytes the file really holds (a zip bomb is refused before any inflating)."""
    packed = [i for i in npz.zip.infolist() if i.compress_type != zipfile.ZIP_STORED]
    if packed:
        names = ", ".join(i.filename for i in packed[:3]) + (", ..." if len(packed) > 3 else "")
        raise fail(
            file,
            [
                f"{len(packed)} compressed member(s) ({names}); funcnn writes checkpoints uncompressed, "
                "so this file was not written by funcnn.save (or was repacked); nothing was read"
            ],
        )


def _read_manifest(file: Path, npz: Any) -> dict[str, Any]:
    if MANIFEST not in npz:
        raise fail(file, [f"not a funcnn checkpoint: the .npz has no {MANIFEST} (a plain numpy archive?)"])
    _check_stored(file, npz)
    size = npz.zip.getinfo(MANIFEST).file_size
    if size > MAX_MANIFEST_BYTES:
        raise fail(file, [f"{MANIFEST} declares {size} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may hold"])
    raw = npz[MANIFEST]
    if not isinstance(raw, bytes):
        raise fail(file, [f"not a funcnn checkpoint: {MANIFEST} is not JSON text"])
    try:
        manifest = bounded.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise fail(file, [f"the manifest is not valid JSON: {e}"]) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise fail(file, [f"not a funcnn checkpoint: the manifest has no format tag {FORMAT!r}"])
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise fail(file, [f"the manifest has an invalid format_version {version!r}"])
    if version > FORMAT_VERSION:
        raise fail(
            file,
            [
                f"written in checkpoint format version {version} by funcnn {manifest.get('funcnn_version')}, "
                f"but this funcnn reads format versions up to {FORMAT_VERSION}; upgrade funcnn to load it"
            ],
        )
    return manifest


def _declared_bytes(meta: dict[str, Any]) -> int | None:
    """The data size a manifest entry declares, or None if the entry is malformed."""
    shape, dtype = meta.get("shape"), meta.get("dtype")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return None
    try:
        dt = np.dtype(str(dtype))
    except TypeError:
        return None
    return math.prod(shape) * dt.itemsize if dt.kind in ARRAY_KINDS else None


def _read_arrays(file: Path, npz: Any, manifest: dict[str, Any]) -> Arrays:
    listed = manifest.get("arrays")
    if not isinstance(listed, dict):
        raise fail(file, ["the manifest has no 'arrays' table"])
    members = set(npz.files) - {MANIFEST}
    problems: list[str] = []
    missing = sorted(set(listed) - members)
    extra = sorted(members - set(listed))
    if missing:
        problems.append("arrays listed in the manifest but missing from the file: " + ", ".join(missing))
    if extra:
        problems.append("unexpected entries not listed in the manifest (not read): " + ", ".join(extra))
    arrays: Arrays = {}
    for name in sorted(set(listed) & members):
        meta = listed[name]
        if not isinstance(meta, dict):
            problems.append(f"{name}: no shape/dtype/sha256 in the manifest")
            continue
        declared = _declared_bytes(meta)
        size = npz.zip.getinfo(name + ".npy").file_size
        if declared is None:
            problems.append(f"{name}: the manifest's entry has no valid shape and numeric dtype; not read")
            continue
        if size > declared + _NPY_HEADER_MAX:
            problems.append(
                f"{name}: the manifest declares {declared} bytes of data, the member holds {size}; not read"
            )
            continue
        try:
            a = npz[name]
        except ValueError as e:
            if "pickle" in str(e).lower() or "object" in str(e).lower():
                problems.append(f"{name}: holds a pickled Python object; refused (nothing was unpickled)")
            else:
                problems.append(f"{name}: cannot be read: {e}")
            continue
        except (OSError, EOFError, zipfile.BadZipFile) as e:
            problems.append(f"{name}: cannot be read (truncated or corrupt): {e}")
            continue
        if not isinstance(a, np.ndarray) or a.dtype.kind not in ARRAY_KINDS:
            problems.append(f"{name}: not a numeric .npy array")
            continue
        if list(a.shape) != meta.get("shape"):
            problems.append(f"{name}: the manifest says shape {meta.get('shape')}, the file holds {list(a.shape)}")
        elif str(a.dtype) != meta.get("dtype"):
            problems.append(f"{name}: the manifest says dtype {meta.get('dtype')}, the file holds {a.dtype}")
        elif sha256(a) != meta.get("sha256"):
            problems.append(f"{name}: SHA-256 mismatch: the data changed since it was written (corrupt file?)")
        a.flags.writeable = False  # loaded arrays are owned here: freeze in place, no copy
        arrays[name] = a
    if problems:
        raise fail(file, problems)
    return arrays


def open_checkpoint(path: PathLike, *, with_arrays: bool = True) -> tuple[Path, dict[str, Any], Arrays]:
    """The file, its checked manifest and (optionally) its verified arrays.

    Raises:
        CheckpointError: naming the file and every problem found.
    """
    file = resolve_file(path)
    try:
        # Our own file object: closed on every path, even when numpy fails to open the archive.
        with open(file, "rb") as f:
            head = f.read(6)
            if head[:2] != b"PK":
                what = "a single .npy array" if head == b"\x93NUMPY" else "something else"
                raise fail(file, [f"not a funcnn checkpoint: not a zip/.npz archive ({what})"])
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                manifest = _read_manifest(file, npz)
                arrays = _read_arrays(file, npz, manifest) if with_arrays else {}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as e:
        raise fail(file, [f"truncated or corrupt archive: {e}"]) from None
    for key in ("content", "dtype", "in_shape"):
        if key not in manifest:
            raise fail(file, [f"the manifest has no {key!r}"])
    return file, manifest, arrays
