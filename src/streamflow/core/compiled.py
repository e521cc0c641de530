"""The compiler of the core's per-event definitions: numba when installed, else plain Python.

A function decorated with :func:`compiled` is the one definition of what it computes: batch
(the Kedro replay, notebooks) and stream (``flink_app.scoring_step``) call it, compiled. It is
written over numbers and numpy records with named fields, so it reads as plain Python.

numba's on-disk cache checks only the file of the function it compiled, not the functions it
calls from other files: after a rule changed in ``rules.py``, the stream's step in
``flink_app/scoring_step.py`` would load its stale machine code. The cache locators installed
here stamp every function of ``streamflow.core`` and ``flink_app`` with the modification
times and sizes of all the core's sources too, so a change to any of them compiles again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Function = TypeVar("Function", bound=Callable[..., Any])

CORE_DIR = Path(__file__).resolve().parent
_STAMPED_DIRS = (CORE_DIR, CORE_DIR.parents[2] / "flink_app")


def compiled(function: Function) -> Function:
    """``function`` compiled by numba on first use (kept in numba's on-disk cache), or as it is without numba."""
    try:
        from numba import njit
    except ImportError:  # pragma: no cover - numba ships with shap in this environment
        return function
    install_cache_locators()
    result: Function = njit(cache=True, nogil=True)(function)
    return result


def compiled_inline(function: Function) -> Function:
    """``function`` compiled by numba into its callers, not on its own: for closures compiled into a cached caller.

    Inlined in numba's IR (``inline="always"``), a chain of closures (the features a step
    computes) is one function for LLVM to optimize, not one final module per closure with all
    that it calls: eleven merchant features compile in 26 s instead of 74 s.
    """
    try:
        from numba import njit
    except ImportError:  # pragma: no cover - numba ships with shap in this environment
        return function
    result: Function = njit(nogil=True, inline="always")(function)
    return result


def _literally_without_numba(value: Any) -> Any:  # pragma: no cover - numba ships with shap in this environment
    return value


try:  # inside compiled code: compile the function for this argument's value
    from numba import literally as literally
except ImportError:  # pragma: no cover - numba ships with shap in this environment
    literally = _literally_without_numba


_LITERAL_ENTRIES: dict[tuple[Any, str], Callable[..., Any]] = {}


def call_with_literal_key(function: Callable[..., Any], *args: Any, key: str) -> Any:
    """``function(*args, key)`` for a compiled ``function`` specialised on the literal ``key`` (``literally``).

    From Python, numba's dispatcher first types ``key`` as a plain string, fails, and only then
    takes the overload for its value: about 5 ms a call. After the first call this calls that
    overload's own entry point, which takes the arguments directly (microseconds).
    """
    entry = _LITERAL_ENTRIES.get((function, key))
    if entry is not None:
        return entry(*args, key)
    result = function(*args, key)
    for signature, compiled_result in getattr(function, "overloads", {}).items():
        if getattr(signature[-1], "literal_value", None) == key:
            _LITERAL_ENTRIES[(function, key)] = compiled_result.entry_point
    return result


def register_overload(function: Callable[..., Any], implementation: Callable[..., Any]) -> None:
    """Give numba ``implementation(*argument_types)`` (which returns the compiled body) for ``function``."""
    try:
        from numba.extending import overload
    except ImportError:  # pragma: no cover - numba ships with shap in this environment
        return
    overload(function)(implementation)


def core_sources_stamp() -> tuple[tuple[str, float, int], ...]:
    """Name, modification time and size of every source file of the core."""
    return tuple((path.name, path.stat().st_mtime, path.stat().st_size) for path in sorted(CORE_DIR.glob("*.py")))


@functools.cache
def install_cache_locators() -> None:
    """Put numba's cache locators for the core's and the job's functions first (see the module docstring)."""
    from numba.core import caching

    class CoreStamped:
        """A locator whose source stamp also covers every source file of the core."""

        _py_file: str

        def get_source_stamp(self) -> Any:
            return (super().get_source_stamp(), core_sources_stamp())  # type: ignore[misc]

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if Path(py_file).resolve().parent not in _STAMPED_DIRS:
                return None
            return super().from_function(py_func, py_file)  # type: ignore[misc]

    class UserProvided(CoreStamped, caching.UserProvidedCacheLocator):  # type: ignore[misc]
        """In ``NUMBA_CACHE_DIR`` when it is set (the job's image)."""

    class InTree(CoreStamped, caching.InTreeCacheLocator):  # type: ignore[misc]
        """In the source folder's ``__pycache__``."""

    caching.CacheImpl._locator_classes[:0] = [UserProvided, InTree]
