"""The ``champion`` pipeline: the supervised champion learnt from the outcomes known at the training cut-off."""

from streamflow.pipelines.champion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
