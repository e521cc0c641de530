"""``labels``: a team's outcomes (label contract v1) to ``silver_outcomes``."""

from streamflow.pipelines.labels.pipeline import create_pipeline

__all__ = ["create_pipeline"]
