"""Project hooks: config and gold database checks at the start of a run, a short summary at its end.

The summary is printed, not logged, so it reads as a plain block in a terminal. A run refused
at its start is one short paragraph with its code, no traceback (:class:`RunRefusedError`).
"""

from __future__ import annotations

from typing import Any

import click
from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from omegaconf.errors import OmegaConfBaseException

from streamflow.core import CoreError
from streamflow.datasets.connection import GoldDatabaseError, check_database
from streamflow.datasets.optional_partitions import OptionalPartitionedDataset
from streamflow.parameter_checks import check_parameters
from streamflow.reporting import (
    format_empty_inputs,
    format_generation_summary,
    format_model_summary,
    format_quality_summary,
)

GOLD_CREDENTIALS = "gold_db"
SUMMARY_DATASETS = {
    "generation_manifest": format_generation_summary,
    "quality_report": format_quality_summary,
    "model_metrics": format_model_summary,
}


class RunRefusedError(click.ClickException):
    """A run refused before any work: Kedro's CLI prints ``Error: [code] message`` and exits 2, no traceback."""

    exit_code = 2

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code


class ConfigCheckHooks:
    """Checks every typed parameter block when the run's configuration is loaded (``parameter_checks``)."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Refuse the run on the first block with an unknown key or a value of the wrong type."""
        try:
            check_parameters(context.params)
        except CoreError as error:
            raise RunRefusedError(error.code, str(error)) from error


class RunSummaryHooks:
    """Prints a summary of each report dataset the finished run produced, and the inputs that were empty."""

    def __init__(self) -> None:
        self._catalog: DataCatalog | None = None
        self._empty_inputs: dict[str, str] = {}

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        """Start a run's list of empty inputs."""
        self._catalog = catalog
        self._empty_inputs = {}

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        """Note an optional input that loaded no records because it has none yet."""
        if self._catalog is None or not isinstance(data, dict) or data:
            return
        dataset = self._catalog.get(dataset_name)
        if isinstance(dataset, OptionalPartitionedDataset) and dataset.loaded_empty:
            self._empty_inputs[dataset_name] = dataset.location

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        """Print the summaries of the reports this run wrote, then the inputs it read as empty."""
        produced = pipeline.all_outputs()
        for name, formatter in SUMMARY_DATASETS.items():
            if name in produced:
                print(formatter(catalog.load(name)), flush=True)
        if self._empty_inputs:
            print(format_empty_inputs(self._empty_inputs), flush=True)


class GoldDatabaseHooks:
    """Fails a run at its start when it uses the gold database and that database cannot be reached.

    Without it, a PostgreSQL server that is down (or a bad URL) surfaces only when the first
    gold node runs, after the bronze and silver work, as a driver error.
    """

    def __init__(self) -> None:
        self._url: str | None = None
        self._gold_datasets: frozenset[str] = frozenset()

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Note the gold database URL and the catalog entries that use it."""
        try:
            url = context.config_loader["credentials"].get(GOLD_CREDENTIALS, {}).get("con")
            catalog = context.config_loader["catalog"]
        except (MissingConfigException, OmegaConfBaseException):  # Kedro reports broken config itself
            return
        self._url = str(url) if url else None
        self._gold_datasets = frozenset(
            name
            for name, entry in catalog.items()
            if isinstance(entry, dict) and entry.get("credentials") == GOLD_CREDENTIALS
        )

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        """Open one connection to the gold database if the pipeline reads or writes it."""
        if self._url and self._gold_datasets & set(pipeline.datasets()):
            try:
                check_database(self._url)
            except GoldDatabaseError as error:
                raise RunRefusedError(error.code, str(error)) from error
