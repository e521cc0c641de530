"""Build the core's frozen config dataclasses from YAML parameter blocks, strictly."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from streamflow.core.errors import ConfigError

T = TypeVar("T")


def build_dataclass(
    cls: type[T],
    block: Mapping[str, Any],
    *,
    converters: Mapping[str, Callable[[Any], Any]] | None = None,
) -> T:
    """Instantiate ``cls`` from a parameters block, rejecting unknown keys.

    Args:
        cls: A dataclass type whose fields all have defaults or are present in ``block``.
        block: The YAML block as a mapping.
        converters: Optional per-field conversion (e.g. list to frozenset).

    Returns:
        The dataclass instance.

    Raises:
        ConfigError: On unknown or missing keys, or a value a converter rejects.

    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown keys {unknown}; expected some of {sorted(known)}")
    values = dict(block)
    for name, convert in (converters or {}).items():
        if name in values:
            try:
                values[name] = convert(values[name])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{cls.__name__}.{name}: {exc}") from exc
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc
