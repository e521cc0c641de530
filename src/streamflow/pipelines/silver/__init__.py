"""``silver``: the silver layer of the medallion."""

from streamflow.pipelines.silver.pipeline import create_pipeline

__all__ = ["create_pipeline"]
