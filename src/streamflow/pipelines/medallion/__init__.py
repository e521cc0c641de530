"""``medallion``: bronze, silver, gold and quality, in that order."""

from streamflow.pipelines.medallion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
