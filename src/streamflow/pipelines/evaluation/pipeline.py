"""Wiring of the ``evaluation`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.evaluation.nodes import evaluate_model


def create_pipeline(**kwargs: object) -> Pipeline:
    """Holdout evaluation against the generator's labels."""
    return Pipeline(
        [
            Node(
                evaluate_model,
                [
                    "holdout_features",
                    "train_features",
                    "transaction_labels",
                    "model_bundle",
                    "params:training.target_alert_rate",
                ],
                ["model_metrics", "pr_curve_plot"],
                name="evaluate_model_node",
            ),
        ]
    )
