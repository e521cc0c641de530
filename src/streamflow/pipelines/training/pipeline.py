"""Wiring of the ``training`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.training.nodes import fit_isolation_forest


def create_pipeline(**kwargs: object) -> Pipeline:
    """Isolation Forest on the training window."""
    return Pipeline(
        [
            Node(
                fit_isolation_forest,
                ["train_features", "params:training.isolation_forest", "params:features"],
                "isolation_forest",
                name="fit_isolation_forest_node",
            ),
        ]
    )
