"""Small helpers shared by every frozen spec class."""

from __future__ import annotations

import attrs

__all__ = ["short_repr"]


def short_repr(self: attrs.AttrsInstance) -> str:
    """``Kind(field=value, ...)`` showing only fields that differ from their default."""
    parts: list[str] = []
    for field in attrs.fields(type(self)):
        if not field.repr or not field.init:
            continue
        value = getattr(self, field.name)
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        if default is not attrs.NOTHING and _same(value, default):
            continue
        parts.append(f"{field.name}={value!r}")
    return f"{type(self).__name__}({', '.join(parts)})"


def _same(value: object, default: object) -> bool:
    # Trees and arrays have no boolean ==; treat them as "not the default".
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False
