"""Wiring of the ``model`` pipeline: features, training, package, explain, evaluation."""

from kedro.pipeline import Pipeline

from streamflow.pipelines import evaluation, explain, features, package, training


def create_pipeline(**kwargs: object) -> Pipeline:
    """Silver events to a packaged, explained and evaluated fraud model."""
    return (
        features.create_pipeline()
        + training.create_pipeline()
        + package.create_pipeline()
        + explain.create_pipeline()
        + evaluation.create_pipeline()
    )
