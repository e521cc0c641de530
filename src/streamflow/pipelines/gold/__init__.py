"""``gold``: the gold layer of the medallion."""

from streamflow.pipelines.gold.pipeline import create_pipeline

__all__ = ["create_pipeline"]
