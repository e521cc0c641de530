"""``evaluation``: part of the model research-to-production loop."""

from streamflow.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
