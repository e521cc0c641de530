"""Wiring of the ``features`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.features.nodes import build_transaction_features, split_features


def create_pipeline(**kwargs: object) -> Pipeline:
    """Feature vectors and rule results for every silver event, split into the delay protocol's windows."""
    return Pipeline(
        [
            Node(
                build_transaction_features,
                ["silver_transactions", "silver_outcomes", "params:fraud_rules", "params:features"],
                "transaction_features",
                name="build_transaction_features_node",
            ),
            Node(
                split_features,
                ["transaction_features", "silver_outcomes", "params:evaluation.protocol"],
                ["train_features", "holdout_features", "split_window"],
                name="split_features_node",
            ),
        ]
    )
