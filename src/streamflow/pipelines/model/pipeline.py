"""Wiring of the ``model`` pipeline: labels, features, training, package, champion, explain, evaluation."""

from kedro.pipeline import Pipeline

from streamflow.pipelines import champion, evaluation, explain, features, labels, package, training


def create_pipeline(**kwargs: object) -> Pipeline:
    """Silver events and the landed outcomes to a packaged, explained and evaluated fraud model."""
    return (
        labels.create_pipeline()
        + features.create_pipeline()
        + training.create_pipeline()
        + package.create_pipeline()
        + champion.create_pipeline()
        + explain.create_pipeline()
        + evaluation.create_pipeline()
    )
