"""Explicit, pure randomness.

A :class:`Key` is a plain value (a seed and a path of integers). Children are
derived with :func:`split` and :func:`fold_in`, which are pure functions of
their arguments: deriving the same child twice gives the same child. Numbers
are drawn only through :func:`generator`, which builds a fresh numpy
``Generator`` from ``SeedSequence(seed, spawn_key=path)`` at the point of use.
The global numpy RNG and ``SeedSequence.spawn`` (which keeps a hidden counter)
are never used.

Derive keys by meaning rather than by order, e.g. the shuffle of epoch ``k`` is
``fold_in(fold_in(root, "shuffle"), k)``, so it does not depend on having run
epochs ``0..k-1``.

>>> k = key(0)
>>> a, b = split(k)
>>> a == split(k)[0], a == b
(True, False)
"""

from __future__ import annotations

import hashlib

import attrs
import numpy as np

__all__ = ["Key", "check_key", "fold_in", "generator", "key", "split"]

# Every derivation appends a (tag, value) pair, so split children, folded-in
# integers and folded-in strings can never collide with one another.
_TAG_SPLIT = 0
_TAG_INT = 1
_TAG_STR = 2

# SeedSequence reads the seed as 32-bit words zero-padded to 4 words, then the
# path's entries as 32-bit words, each int taking as many words as it needs.
# The word sequence identifies the key only if every entry has a width fixed by
# its tag: split indices and folded-in ints take one word (< 2**32), string
# digests exactly two (>= 2**32), and the seed at most four (< 2**128).
# Otherwise e.g. fold_in(k, 2**32) and Key(k.seed, k.path + (1, 0, 1)) collide.
_MAX_INT = 2**32
_MAX_SEED = 2**128


def _to_path(value: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


def _check_path(instance: Key, attribute: attrs.Attribute[tuple[int, ...]], value: tuple[int, ...]) -> None:
    if any(v < 0 for v in value):
        raise ValueError(f"Key.path entries must be >= 0, got path={value}")


@attrs.frozen
class Key:
    """An immutable random key: a root seed and a derivation path.

    Cheap to store (it is two small JSON-able values) and to compare.
    """

    seed: int = attrs.field(
        validator=[attrs.validators.instance_of(int), attrs.validators.ge(0), attrs.validators.lt(_MAX_SEED)]
    )
    path: tuple[int, ...] = attrs.field(default=(), converter=_to_path, validator=_check_path)

    def to_config(self) -> dict[str, int | list[int]]:
        """A JSON-able dict ``{"seed": ..., "path": [...]}``."""
        return {"seed": self.seed, "path": list(self.path)}


def key(seed: int) -> Key:
    """The root key of a seed (a non-negative integer).

    >>> key(42)
    Key(seed=42, path=())
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"key(seed): seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < _MAX_SEED:
        raise ValueError(f"key(seed): seed must be in [0, 2**128), got seed={seed}")
    return Key(int(seed))


def check_key(k: object, where: str) -> Key:
    """``k`` itself if it is a :class:`Key`; otherwise a TypeError that shows how to make one.

    >>> check_key(0, "train(key=...)")
    Traceback (most recent call last):
    ...
    TypeError: train(key=...): expected a funcnn Key such as fn.key(0), got int 0
    """
    if not isinstance(k, Key):
        shown = repr(k) if len(repr(k)) <= 40 else repr(k)[:37] + "..."
        hint = f"fn.key({k})" if isinstance(k, int) and not isinstance(k, bool) and k >= 0 else "fn.key(0)"
        raise TypeError(f"{where}: expected a funcnn Key such as {hint}, got {type(k).__name__} {shown}")
    return k


def split(k: Key, n: int = 2) -> tuple[Key, ...]:
    """``n`` independent children of ``k`` (a pure function of ``k`` and ``n``)."""
    check_key(k, "split(key, n)")
    if n < 1:
        raise ValueError(f"split(key, n): n must be >= 1, got n={n}")
    return tuple(Key(k.seed, k.path + (_TAG_SPLIT, i)) for i in range(n))


def _digest(text: str) -> int:
    # A stable (unsalted) 64-bit digest of a tagged, length-prefixed encoding.
    data = text.encode("utf-8")
    h = hashlib.sha256(b"funcnn.fold_in:" + len(data).to_bytes(8, "little") + data)
    d = int.from_bytes(h.digest()[:8], "little")
    # Exactly two 32-bit words (see _MAX_INT); almost every digest already is.
    return d if d >= _MAX_INT else d + _MAX_INT


def fold_in(k: Key, data: int | str) -> Key:
    """The child of ``k`` named by ``data`` (a non-negative int or a string)."""
    check_key(k, "fold_in(key, data)")
    if isinstance(data, str):
        return Key(k.seed, k.path + (_TAG_STR, _digest(data)))
    if isinstance(data, bool) or not isinstance(data, int | np.integer):
        raise TypeError(f"fold_in(key, data): data must be an int or str, got {type(data).__name__}")
    if not 0 <= data < _MAX_INT:
        raise ValueError(f"fold_in(key, data): data must be in [0, 2**32), got data={data}")
    return Key(k.seed, k.path + (_TAG_INT, int(data)))


def generator(k: Key) -> np.random.Generator:
    """A fresh numpy Generator seeded by ``k``; use it locally and drop it."""
    check_key(k, "generator(key)")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(k.seed, spawn_key=k.path)))
