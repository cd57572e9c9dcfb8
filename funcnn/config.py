"""Specs to and from plain data (JSON-able dicts), and model files in TOML or JSON.

Every spec (layer, loss, initializer, optimizer, schedule, transform) is a frozen
attrs class with a stable ``kind`` tag. :func:`to_config` turns a spec into a
dict ``{"kind": ..., <field>: <value>, ...}`` of plain values (nested specs
become nested dicts, tuples become lists) and :func:`from_config` turns it back,
exactly: ``from_config(to_config(s)) == s`` (Python's ``json`` writes floats
with their shortest exact repr, so the dict also survives a trip through JSON).

The kinds come from the explicit registry :mod:`funcnn.registry`: the built-in
ones are listed there, and your own classes join with
:func:`~funcnn.registry.register_kind`. :func:`to_config` refuses a spec whose
class is not registered (it could never be read back). ``Sequential`` is the
one special case: its layers are positional and its ``names``/``uses_key`` are
derived.

A bad config raises :class:`~funcnn.errors.ConfigError` naming where it is
(``layers[2]``), the kind and the field: unknown kind, unknown field, missing
required field, or a value of the wrong type.

>>> import funcnn as fn
>>> cfg = to_config(fn.Sequential(fn.Dense(4), fn.ReLU()))
>>> cfg["layers"][0]["kind"], cfg["layers"][0]["out_dim"]
('dense', 4)
>>> from_config(cfg) == fn.Sequential(fn.Dense(4), fn.ReLU())
True
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import json
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TypeAlias, TypeGuard

import attrs

from funcnn.errors import ConfigError
from funcnn.io import bounded
from funcnn.layers.base import Layer
from funcnn.network import Sequential
from funcnn.registry import kind_of, registered, spec_kinds, unregistered_message

__all__ = [
    "JSON",
    "field_hints",
    "from_config",
    "hint_name",
    "is_spec",
    "matches_hint",
    "load_model_file",
    "model_from_config",
    "read_config_file",
    "spec_kinds",
    "to_config",
]

JSON: TypeAlias = "None | bool | int | float | str | list[JSON] | dict[str, JSON]"

def is_spec(value: object) -> bool:
    """True if ``value`` is a spec: an attrs instance whose class has a ``kind`` string."""
    return attrs.has(type(value)) and kind_of(type(value)) is not None


# --- spec -> config --------------------------------------------------------------------------


def _init_fields(cls: type) -> list[attrs.Attribute[object]]:
    return [f for f in attrs.fields(cls) if f.init]


def to_config(spec: object) -> dict[str, JSON]:
    """A JSON-able dict describing ``spec``: ``{"kind": ..., field: value, ...}``.

    Every init field is written (defaults included), so a stored config keeps
    meaning the same spec even if a default changes later.

    Raises:
        ConfigError: ``spec`` is not a spec, or one of its fields holds
            something that is not plain data or a spec (e.g. a lambda).
    """
    return _spec_to_config(spec, type(spec).__name__)


def _spec_to_config(spec: object, where: str) -> dict[str, JSON]:
    cls = type(spec)
    kind = kind_of(cls)
    if not attrs.has(cls) or kind is None:
        raise ConfigError(f"{where}: expected a spec (a frozen attrs class with a kind), got {spec!r}")
    if not registered(cls):
        raise ConfigError(f"{where}: {unregistered_message(cls)}")
    out: dict[str, JSON] = {"kind": kind}
    if isinstance(spec, Sequential):
        out["layers"] = [_spec_to_config(layer, f"{where}.layers[{i}]") for i, layer in enumerate(spec.layers)]
        out["name"] = spec.name
        return out
    for field in _init_fields(cls):
        key = field.alias or field.name
        out[key] = _value_to_config(getattr(spec, field.name), f"{where}.{key}")
    return out


def _value_to_config(value: object, where: str) -> JSON:
    if value is None or isinstance(value, bool | int | float | str):
        return value  # Python's json writes floats as their shortest exact repr
    if isinstance(value, tuple | list):
        return [_value_to_config(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if "kind" in value or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{where}: mapping fields need str keys other than 'kind', got keys {list(value)}")
        return {k: _value_to_config(v, f"{where}.{k}") for k, v in value.items()}
    if is_spec(value):
        return _spec_to_config(value, where)
    raise ConfigError(
        f"{where}: expected plain data (int, float, bool, str, None, tuple) or a spec, got {value!r} "
        f"({type(value).__name__}); only specs with a kind can be saved (e.g. a schedule spec, not a lambda)"
    )


# --- config -> spec --------------------------------------------------------------------------


def from_config(config: Mapping[str, object]) -> object:
    """The spec described by ``config`` (the inverse of :func:`to_config`).

    Missing fields take their defaults; lists become tuples; nested dicts
    with a ``kind`` become nested specs.

    Raises:
        ConfigError: unknown kind, unknown or missing field, or a wrong type;
            the message names the place in the config, the kind and the field.
    """
    return _spec_from_config(config, spec_kinds(), "config")


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _spec_from_config(config: object, kinds: Mapping[str, type], where: str) -> object:
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where}: expected a table/dict with a 'kind', got {_describe(config)}")
    kind = config.get("kind")
    if kind is None:
        raise ConfigError(f"{where}: missing 'kind' (e.g. kind = \"dense\"); fields given: {sorted(map(str, config))}")
    if not isinstance(kind, str):
        raise ConfigError(f"{where}: 'kind' must be a string, got {_describe(kind)}")
    cls = kinds.get(kind)
    if cls is None:
        close = difflib.get_close_matches(kind, list(kinds), n=3)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise ConfigError(
            f"{where}: unknown kind {kind!r}; {hint}known kinds: {', '.join(sorted(kinds))}. "
            "For your own spec class, register it with fn.register_kind or pass --plugin MODULE to the CLI"
        )
    here = f"{where} (kind {kind!r})"
    if cls is Sequential:
        return _sequential_from_config(config, kinds, where, here)
    fields = {(f.alias or f.name): f for f in _init_fields(cls)}
    _check_names(config, set(fields), here)
    hints = field_hints(cls)
    kwargs: dict[str, object] = {}
    for key, field in fields.items():
        if key not in config:
            if field.default is attrs.NOTHING:
                raise ConfigError(f"{here}: missing required field {key!r}")
            continue
        value = _value_from_config(config[key], kinds, f"{where}.{key}")
        _check_field(here, key, field, hints.get(field.name), value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{here}: invalid value: {e}") from None


def _check_names(config: Mapping[object, object], allowed: set[str], here: str) -> None:
    for name in config:
        if name == "kind":
            continue
        if not isinstance(name, str) or name not in allowed:
            close = difflib.get_close_matches(str(name), sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            valid = ", ".join(sorted(allowed)) or "none"
            raise ConfigError(f"{here}: unknown field {name!r}; {hint}valid fields: {valid}")


def _sequential_from_config(
    config: Mapping[object, object], kinds: Mapping[str, type], where: str, here: str
) -> Sequential:
    _check_names(config, {"layers", "name"}, here)
    layers = config.get("layers")
    if layers is None:
        raise ConfigError(f"{here}: missing required field 'layers'")
    if not isinstance(layers, list | tuple):
        raise ConfigError(f"{here}: field 'layers': expected a list of layer tables, got {_describe(layers)}")
    specs: list[Layer] = []
    for i, item in enumerate(layers):
        spec = _spec_from_config(item, kinds, f"{where}.layers[{i}]")
        if not _is_layer(spec):
            raise ConfigError(f"{here}: field 'layers[{i}]': expected a layer, got {spec!r}")
        specs.append(spec)
    name = config.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{here}: field 'name': expected str or None, got {_describe(name)}")
    try:
        return Sequential(*specs, name=name)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{here}: invalid value: {e}") from None


def _value_from_config(value: object, kinds: Mapping[str, type], where: str) -> object:
    if isinstance(value, Mapping):
        if "kind" in value:
            return _spec_from_config(value, kinds, where)
        return {str(k): _value_from_config(v, kinds, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return tuple(_value_from_config(v, kinds, f"{where}[{i}]") for i, v in enumerate(value))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ConfigError(f"{where}: expected plain data, got {_describe(value)}")


# --- field type checks -----------------------------------------------------------------------


def field_hints(cls: type) -> dict[str, object]:
    """The resolved annotations of a spec or record class (empty if they cannot be resolved)."""
    try:
        return dict(typing.get_type_hints(cls))
    except Exception:  # unresolvable annotations: fall back to the constructor's own checks
        return {}


def _converter_input(converter: object) -> object | None:
    """The type a converter accepts (its first parameter's annotation), if known."""
    if isinstance(converter, type):  # float, int, tuple, ...: it takes what it returns
        return converter
    try:
        params = list(inspect.signature(converter).parameters)  # type: ignore[arg-type]
        hints = typing.get_type_hints(converter)
    except (TypeError, ValueError, NameError):
        return None
    return hints.get(params[0]) if params else None


def _check_field(here: str, key: str, field: attrs.Attribute[object], hint: object, value: object) -> None:
    converter = field.converter
    if isinstance(converter, attrs.Converter):
        return  # a converter that needs the instance: the constructor decides
    if converter is not None:
        accepted = _converter_input(converter)
        if accepted is not None and not matches_hint(value, accepted):
            raise ConfigError(f"{here}: field {key!r}: expected {hint_name(accepted)}, got {_describe(value)}")
        # Convert here only to name the field if it fails; the constructor
        # converts the original value itself.
        try:
            value = converter(value)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{here}: field {key!r}: cannot use {_describe(value)}: {e}") from None
    if hint is not None and not matches_hint(value, hint):
        raise ConfigError(f"{here}: field {key!r}: expected {hint_name(hint)}, got {_describe(value)}")


def _protocol_members(proto: type) -> list[str]:
    names = [n for n in vars(proto) if not n.startswith("_")]
    names += [n for n in getattr(proto, "__annotations__", {}) if not n.startswith("_")]
    if "__call__" in vars(proto):
        names.append("__call__")
    return sorted(set(names))


def matches_hint(value: object, hint: object) -> bool:
    """True if ``value`` fits the type annotation ``hint`` (unknown annotations pass: validators decide)."""
    if hint is typing.Any or hint is object or isinstance(hint, typing.TypeVar):
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(matches_hint(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is typing.ClassVar:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches_hint(v, args[0]) for v in value)
        pairs = zip(value, args, strict=False)
        return not args or (len(args) == len(value) and all(matches_hint(v, a) for v, a in pairs))
    if hint is tuple:
        return isinstance(value, tuple)
    if origin in (list, collections.abc.Sequence):
        return isinstance(value, tuple | list) and all(matches_hint(v, args[0]) for v in value) if args else True
    if origin in (dict, collections.abc.Mapping) or hint in (dict, collections.abc.Mapping):
        return isinstance(value, Mapping) and (not args or all(matches_hint(v, args[1]) for v in value.values()))
    if origin is collections.abc.Callable or hint is collections.abc.Callable:
        return callable(value)
    if isinstance(hint, type):
        if getattr(hint, "_is_protocol", False):
            return all(hasattr(value, name) for name in _protocol_members(hint))
        if origin is None:
            return isinstance(value, hint)
    if isinstance(origin, type):  # a parametrised class such as OptState[FloatT]
        return isinstance(value, origin)
    return True  # an annotation we cannot check: the constructor's validators decide


def hint_name(hint: object) -> str:
    """A short readable name of a type annotation, for messages (``int | None``)."""
    text = getattr(hint, "__name__", None) if isinstance(hint, type) else None
    if text is None:
        text = str(hint)
    text = text.replace("NoneType", "None")
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", text)


def _is_layer(value: object) -> TypeGuard[Layer]:
    return is_spec(value) and all(hasattr(value, n) for n in ("init", "forward", "backward", "kind", "uses_key"))


# --- models and files ------------------------------------------------------------------------


def model_from_config(config: Mapping[str, object]) -> Layer:
    """The layer (usually a ``Sequential``) described by ``config``.

    Raises:
        ConfigError: the config is invalid or does not describe a layer.
    """
    spec = from_config(config)
    if not _is_layer(spec):
        raise ConfigError(f"config: expected a layer or a Sequential model, got {spec!r}")
    return spec


MAX_CONFIG_BYTES = 16 << 20  # a model file describes layers; it holds no arrays


def read_config_file(path: str | Path) -> dict[str, JSON]:
    """The plain data in a ``.toml`` or ``.json`` file (a table/object at top level).

    Raises:
        ConfigError: the file is missing, has another suffix, or does not
            parse (the message names the file and the line).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"{p}: expected a .toml or .json file, got suffix {p.suffix!r}")
    if p.exists() and not p.is_file():  # a FIFO or a device would block or never end
        raise ConfigError(f"{p}: not a regular file; give a .toml or .json file")
    try:
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: {p.stat().st_size} bytes, more than a model file may hold ({MAX_CONFIG_BYTES})")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the file: {e}") from None
    data: object
    try:
        data = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
        bounded.check_depth(data)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{p}: not valid {suffix[1:].upper()}: {e}") from None
    except (RecursionError, ValueError) as e:
        why = str(e) if isinstance(e, ValueError) else f"nested more than {bounded.MAX_DEPTH} levels deep"
        raise ConfigError(f"{p}: {why}; a model file nests a few tables, not hundreds") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a table/object at the top level, got {type(data).__name__}")
    return _plain(data, p)


def _plain(data: dict[str, object], p: Path) -> dict[str, JSON]:
    # TOML can hold dates and times, which no spec field accepts: refuse them here.
    def convert(value: object, where: str) -> JSON:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return [convert(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {str(k): convert(v, f"{where}.{k}") for k, v in value.items()}
        raise ConfigError(f"{p}: {where}: expected plain data, got {_describe(value)}")

    return {str(k): convert(v, str(k)) for k, v in data.items()}


def load_model_file(path: str | Path, *, section: str | None = None) -> Layer:
    """Read a model spec from a ``.toml`` or ``.json`` file.

    The file (or its table ``section``, e.g. ``"model"``) is a spec config,
    typically ``kind = "sequential"`` with a ``[[layers]]`` array of tables::

        kind = "sequential"
        [[layers]]
        kind = "dense"
        out_dim = 64
        w_init = { kind = "he_normal" }
        [[layers]]
        kind = "relu"

    Raises:
        ConfigError: the file cannot be read or the config is invalid; the
            message starts with the file name.
    """
    data = read_config_file(path)
    if section is not None:
        sub = data.get(section)
        if not isinstance(sub, dict):
            raise ConfigError(f"{path}: expected a table [{section}] holding the model, found {sorted(data)}")
        data = sub
    try:
        return model_from_config(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
