"""``generate``: the labelled synthetic transaction stream into the raw landing zone."""

from streamflow.pipelines.generate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
