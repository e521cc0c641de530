"""Project hooks: config and gold database checks at the start of a run, a short summary at its end.

The summary is printed, not logged, so it reads as a plain block in a terminal. A run refused
at its start is one short paragraph with its code, no traceback (:class:`RunRefusedError`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from omegaconf.errors import OmegaConfBaseException

from streamflow.core import CoreError
from streamflow.datasets.connection import GoldDatabaseError, check_database, safe_url
from streamflow.datasets.gold_origin import record_origin, recorded_origin
from streamflow.datasets.optional_partitions import OptionalPartitionedDataset
from streamflow.generator.demo import DEMO, EMPTY, USER, foreign_files, landing_origin
from streamflow.parameter_checks import check_parameters
from streamflow.reporting import (
    format_empty_inputs,
    format_generation_summary,
    format_labels_summary,
    format_model_summary,
    format_quality_summary,
)

GOLD_CREDENTIALS = "gold_db"
LANDED_EVENTS = "raw_transactions@files"  # where the landing zone is (its parent holds labels/ too)
GENERATED_EVENTS = "raw_transactions@jsonl"  # what the demo's generator writes
DEMO_MANIFEST = "demo_manifest"
SUMMARY_DATASETS = {
    "generation_manifest": format_generation_summary,
    "quality_report": format_quality_summary,
    "labels_report": format_labels_summary,
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


class LandingZone:
    """Where the landing zone and the demo manifest are, read from the catalog's config."""

    def __init__(self) -> None:
        self.raw_root: Path | None = None
        self.manifest_path: Path | None = None

    def locate(self, context: KedroContext) -> None:
        """The folder holding ``transactions/`` and ``labels/``, and the demo manifest's file."""
        try:
            catalog = context.config_loader["catalog"]
        except (MissingConfigException, OmegaConfBaseException):  # Kedro reports broken config itself
            return
        events, manifest = catalog.get(LANDED_EVENTS, {}), catalog.get(DEMO_MANIFEST, {})
        if isinstance(events, dict) and "path" in events and isinstance(manifest, dict) and "filepath" in manifest:
            self.raw_root = (context.project_path / str(events["path"])).parent
            self.manifest_path = context.project_path / str(manifest["filepath"])

    def origin(self) -> tuple[str, list[str]]:
        """``empty``, ``demo`` or ``user``, and the files the demo did not write."""
        if self.raw_root is None:
            return EMPTY, []
        written = self.demo_manifest()
        return landing_origin(self.raw_root, written), foreign_files(self.raw_root, written)

    def demo_manifest(self) -> dict[str, Any] | None:
        """The generator's record of the files it wrote, if there is one."""
        if self.manifest_path is None or not self.manifest_path.is_file():
            return None
        loaded: dict[str, Any] = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return loaded


class DemoLandingZoneHooks:
    """The demo writes only into an empty landing zone or its own: never over a team's events and outcomes."""

    def __init__(self) -> None:
        self._landing = LandingZone()

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Find the landing zone."""
        self._landing.locate(context)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        """Refuse a run that generates into a landing zone holding files the demo did not write."""
        if GENERATED_EVENTS not in pipeline.all_outputs():
            return
        origin, foreign = self._landing.origin()
        if origin == USER:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise RunRefusedError(
                "landing_zone_not_demo",
                f"the landing zone {self._landing.raw_root} holds files the demo did not write ({shown}); the demo "
                "never overwrites them. Train on them with: make train (kedro run --pipelines train). To run the "
                "demo, move them elsewhere first.",
            )


class GoldDatabaseHooks:
    """Fails a run at its start when gold cannot be reached, or holds another origin's rows than the landing's.

    The origins are the demo's and a team's (``gold_origin``). Without the first check, a
    PostgreSQL server that is down (or a bad URL) surfaces only when the first gold node runs,
    after the bronze and silver work, as a driver error; without the second, demo rows would sit
    beside a team's rows in gold unnoticed.
    """

    def __init__(self) -> None:
        self._url: str | None = None
        self._gold_datasets: frozenset[str] = frozenset()
        self._landing = LandingZone()

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Note the gold database URL, the catalog entries that use it, and the landing zone."""
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
        self._landing.locate(context)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        """Open one connection to the gold database if the pipeline uses it; check whose rows it holds."""
        if not (self._url and self._gold_datasets & set(pipeline.datasets())):
            return
        try:
            check_database(self._url)
        except GoldDatabaseError as error:
            raise RunRefusedError(error.code, str(error)) from error
        if not self._gold_datasets & set(pipeline.all_outputs()):
            return
        origin = DEMO if GENERATED_EVENTS in pipeline.all_outputs() else self._landing.origin()[0]
        recorded = recorded_origin(self._url)
        if recorded is not None and origin != EMPTY and recorded != origin:
            raise RunRefusedError(
                "gold_origin_mismatch",
                f"gold at {safe_url(self._url)} holds the {recorded}'s rows and the landing zone is the {origin}'s: "
                "gold never mixes them. Point gold_db at another database (conf/local/credentials.yml), or empty "
                f"this one (the SQLite default: delete its file) to start over with the {origin}'s data.",
            )
        if recorded is None and origin != EMPTY:
            record_origin(self._url, origin)
