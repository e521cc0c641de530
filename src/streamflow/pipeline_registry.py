"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

DEFAULT_LOOP = ("generate", "train")  # the demo: generate, then what `make train` runs on a team's data


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline under ``pipelines/``; ``__default__`` is the whole demo loop.

    Kedro 1.7 imports only the requested pipelines for ``--pipelines NAME``, so the
    default is composed only when every part of it was found.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.

    """
    pipelines = find_pipelines(raise_errors=True)
    if all(name in pipelines for name in DEFAULT_LOOP):
        pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT_LOOP), Pipeline([]))
    return pipelines
