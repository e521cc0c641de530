"""Wiring of the ``package`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.package.nodes import package_model


def create_pipeline(**kwargs: object) -> Pipeline:
    """The forest's portable bundle, calibrated (the champion joins it in the ``champion`` pipeline)."""
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
                "forest_bundle",
                name="package_model_node",
            ),
        ]
    )
