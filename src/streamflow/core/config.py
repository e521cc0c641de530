"""Build typed, frozen config dataclasses from YAML parameter blocks, strictly, when they are loaded.

Every value is checked against its field's type (msgspec's strict conversion, imported on first use: an ``int`` where a
``float`` is declared is fine, a ``"0.3"`` or a ``true`` is not) and every key against the
dataclass's fields, at every level. A failure is a :class:`ConfigError` that names the full key
(``fraud_rules.impossible_travel.max_speed_kmh``), what was expected and what arrived, so batch
and stream refuse the same config with the same message before any event is read.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from streamflow.core.errors import ConfigError, ConfigKeyError, ConfigTypeError

T = TypeVar("T")

_AT_PATH = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MISSING_FIELD = re.compile(r"Object missing required field `(?P<name>[^`]+)`")
_EXPECTED_WORDS = {
    "float": "a number",
    "int": "an integer",
    "str": "a string",
    "bool": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def build_dataclass(cls: type[T], block: Mapping[str, Any] | None, *, path: str) -> T:
    """Instantiate ``cls`` from a parameters block, checking every key and every value's type.

    Args:
        cls: A dataclass; nested dataclass fields are built from nested mappings.
        block: The YAML block as a mapping (``None`` or empty: every default).
        path: The block's dotted key in the configuration (``fraud_rules``), named in errors.

    Returns:
        The dataclass instance (its ``__post_init__`` checks have run).

    Raises:
        ConfigKeyError: An unknown or missing key.
        ConfigTypeError: A value of the wrong type.
        ConfigError: A value its dataclass's own checks reject.

    """
    values: Mapping[str, Any] = {} if block is None else block
    if not isinstance(values, Mapping):
        raise ConfigTypeError(path, expected="a mapping of keys to values", got=values)
    _reject_unknown_keys(cls, values, path)
    import msgspec  # here, not at the top: the core imports on the standard library alone

    try:
        return msgspec.convert(dict(values), type=cls, strict=True)
    except msgspec.ValidationError as exc:
        raise _config_error(exc, values, path) from None


def _reject_unknown_keys(cls: type[Any], block: Mapping[str, Any], path: str) -> None:
    """Raise on the first key that is not a field of ``cls`` (recursing into nested dataclasses)."""
    if not dataclasses.is_dataclass(cls):
        return
    hints = typing.get_type_hints(cls)
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(str(key) for key in block if key not in known)
    if unknown:
        raise ConfigKeyError(
            f"{path}.{unknown[0]}",
            message=f"unknown key{'s' if len(unknown) > 1 else ''} {unknown} in {path}",
            expected=f"some of {sorted(known)}",
        )
    for name, value in block.items():
        nested = hints.get(name)
        if isinstance(nested, type) and dataclasses.is_dataclass(nested) and isinstance(value, Mapping):
            _reject_unknown_keys(nested, value, f"{path}.{name}")


def _config_error(exc: Exception, block: Mapping[str, Any], path: str) -> ConfigError:
    """The coded error for msgspec's message (``Expected `float`, got `str` - at `$.a.b```)."""
    match = _AT_PATH.match(str(exc))
    problem = match.group("problem") if match else str(exc)
    suffix = (match.group("path") if match else None) or ""
    key = path + suffix
    missing = _MISSING_FIELD.match(problem)
    if missing:
        return ConfigKeyError(f"{key}.{missing.group('name')}", message=f"missing key in {key}", expected="a value")
    expected = " or ".join(
        _EXPECTED_WORDS.get(name, name)
        for name in problem.removeprefix("Expected ").split(", got ")[0].replace("`", "").split(" | ")
    )
    if "[...]" in suffix:  # a value inside a mapping (``{JPY: "x"}``): name the mapping
        suffix = suffix.split("[...]")[0]
        key, expected = path + suffix, f"a mapping whose values are {expected}"
    found, value = _value_at(block, suffix)
    return ConfigTypeError(key, expected=expected, got=value if found else problem)


def _value_at(block: Any, suffix: str) -> tuple[bool, Any]:
    """The value at a msgspec path suffix (``.a.b[0]``) of ``block``, if it can be found."""
    value = block
    for name, index in _PATH_PART.findall(suffix):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError, ValueError):
            return False, None
    return True, value
