"""JSON text read with its nesting bounded: a hostile file fails with a message, never a RecursionError.

Every JSON (and TOML) document funcnn reads back (checkpoint manifests,
``config.json``, model files) is parsed by :func:`loads` or checked with
:func:`check_depth`, so that code walking the value recursively afterwards
(spec configs, the checkpoint codec) never meets more nesting than
:data:`MAX_DEPTH`.
"""

from __future__ import annotations

import json

__all__ = ["MAX_DEPTH", "check_depth", "depth", "loads"]

MAX_DEPTH = 100  # far deeper than any model or run config; far shallower than Python's recursion limit


def depth(value: object) -> int:
    """How deeply lists and dicts nest in ``value`` (a scalar is 0), found without recursion.

    >>> depth(1), depth([]), depth({"a": [1, {"b": []}]})
    (0, 1, 4)
    """
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: list[object] = list(node.values())
        elif isinstance(node, list | tuple):
            children = list(node)
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def check_depth(value: object, max_depth: int = MAX_DEPTH) -> None:
    """Raise ValueError if lists and dicts nest more than ``max_depth`` levels in ``value``."""
    found = depth(value)
    if found > max_depth:
        raise ValueError(f"nested {found} levels deep, more than the {max_depth} allowed")


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> object:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` (ValueError, never RecursionError).

    >>> loads('{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> loads("[" * 5000 + "]" * 5000)
    Traceback (most recent call last):
    ...
    ValueError: nested more than 100 levels deep
    """
    # json's C scanner guards its own recursion (RecursionError near Python's limit); deeper than
    # max_depth but within that limit is refused after parsing, before anything walks the value.
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested more than {max_depth} levels deep") from None
    check_depth(value, max_depth)
    return value

