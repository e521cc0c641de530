"""``quality``: the quality layer of the medallion."""

from streamflow.pipelines.quality.pipeline import create_pipeline

__all__ = ["create_pipeline"]
