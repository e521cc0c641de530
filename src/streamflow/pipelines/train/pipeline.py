"""Wiring of the ``train`` pipeline (``make train``): medallion, then the model loop (outcomes first)."""

from kedro.pipeline import Pipeline

from streamflow.pipelines import medallion, model


def create_pipeline(**kwargs: object) -> Pipeline:
    """The landed events and outcomes to gold, a trained and packaged model, and its evaluation."""
    return medallion.create_pipeline() + model.create_pipeline()
