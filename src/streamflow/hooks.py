"""Project hooks: a short summary at the end of every run."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

from streamflow.reporting import format_generation_summary

logger = logging.getLogger(__name__)

SUMMARY_DATASETS = {"generation_manifest": format_generation_summary}


class RunSummaryHooks:
    """Logs a summary of each report dataset the finished run produced."""

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        """Print the summaries of the reports this run wrote."""
        produced = pipeline.all_outputs()
        for name, formatter in SUMMARY_DATASETS.items():
            if name in produced:
                logger.info("%s", formatter(catalog.load(name)))
