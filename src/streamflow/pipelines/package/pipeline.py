"""Wiring of the ``package`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.package.nodes import package_model


def create_pipeline(**kwargs: object) -> Pipeline:
    """The portable model bundle the stream loads."""
    return Pipeline(
        [
            Node(
                package_model,
                [
                    "isolation_forest",
                    "train_features",
                    "split_window",
                    "params:training.alpha",
                    "params:training.target_alert_rate",
                    "params:features",
                ],
                "model_bundle",
                name="package_model_node",
            ),
        ]
    )
