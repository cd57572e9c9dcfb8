"""A griffe extension for the API reference: docstrings written for pytest and Sphinx read well as Markdown.

funcnn's docstrings put their ``>>>`` examples in the running text (pytest runs
them with ``--doctest-modules``) rather than in an ``Examples:`` section. Markdown
would read them as nested quotes and their ``[...]`` outputs as links, so this
extension fences every run of doctest lines (a ``>>>`` line, its ``...``
continuations and its output, up to a blank line) before the docstring is parsed.
It also shows Sphinx cross-reference roles (``:class:`~funcnn.errors.ShapeError```)
as inline code (``ShapeError``), and ends a paragraph that introduces a literal
block with one colon instead of reStructuredText's two (the indented block after it
is already a Markdown code block).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["DoctestFences", "fence_doctests", "plain_roles"]

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([^`]+)`")
_LITERAL = re.compile(r"(?<=\S)::\n(?=[ \t]*\n)")


def plain_roles(text: str) -> str:
    """``text`` with Sphinx roles as inline code (``~`` keeps the last name only) and ``::`` as ``:``."""
    text = _ROLE.sub(lambda m: "`" + (m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2)) + "`", text)
    return _LITERAL.sub(":\n", text)


def fence_doctests(text: str) -> str:
    """``text`` with each doctest block wrapped in a fenced ``pycon`` code block."""
    out: list[str] = []
    in_fence = False
    in_doctest = False
    indent = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if in_doctest and not stripped:
            out.append(indent + "```")
            in_doctest = False
        if not in_doctest and stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and not in_doctest and stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + "```pycon")
            in_doctest = True
        out.append(line)
    if in_doctest:
        out.append(indent + "```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence the doctest blocks and plain the Sphinx roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(plain_roles(obj.docstring.value))
