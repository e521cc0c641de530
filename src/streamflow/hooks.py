"""Project hooks: a short summary at the end of every run.

The summary is printed, not logged, so it reads as a plain block in a terminal.
"""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

from streamflow.reporting import format_generation_summary, format_model_summary, format_quality_summary

SUMMARY_DATASETS = {
    "generation_manifest": format_generation_summary,
    "quality_report": format_quality_summary,
    "model_metrics": format_model_summary,
}


class RunSummaryHooks:
    """Prints a summary of each report dataset the finished run produced."""

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        """Print the summaries of the reports this run wrote."""
        produced = pipeline.all_outputs()
        for name, formatter in SUMMARY_DATASETS.items():
            if name in produced:
                print(formatter(catalog.load(name)), flush=True)
