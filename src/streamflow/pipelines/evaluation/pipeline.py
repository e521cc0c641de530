"""Wiring of the ``evaluation`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.evaluation.nodes import evaluate_model, tracked_metrics


def create_pipeline(**kwargs: object) -> Pipeline:
    """The test window's evaluation under the delay protocol, against the outcomes known at its cut-off."""
    return Pipeline(
        [
            Node(
                evaluate_model,
                [
                    "holdout_features",
                    "silver_outcomes",
                    "model_bundle",
                    "champion_model",
                    "split_window",
                    "params:evaluation.card_precision_k",
                    "params:evaluation.alert_budget",
                ],
                ["model_metrics", "pr_curve_plot"],
                name="evaluate_model_node",
            ),
            Node(tracked_metrics, "model_metrics", "tracked_metrics", name="tracked_metrics_node"),
        ]
    )
