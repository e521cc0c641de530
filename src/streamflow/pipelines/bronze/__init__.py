"""``bronze``: the bronze layer of the medallion."""

from streamflow.pipelines.bronze.pipeline import create_pipeline

__all__ = ["create_pipeline"]
