"""``maintenance``: retention pruning and database housekeeping, with a dry-run mode."""

from streamflow.pipelines.maintenance.pipeline import create_pipeline

__all__ = ["create_pipeline"]
