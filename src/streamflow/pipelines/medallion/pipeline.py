"""Wiring of the ``medallion`` pipeline: the four layers, ordered by their datasets."""

from kedro.pipeline import Pipeline

from streamflow.pipelines import bronze, gold, quality, silver


def create_pipeline(**kwargs: object) -> Pipeline:
    """Raw landing zone to gold tables and a quality verdict."""
    return bronze.create_pipeline() + silver.create_pipeline() + gold.create_pipeline() + quality.create_pipeline()
