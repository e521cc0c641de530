"""Wiring of the ``explain`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.explain.nodes import explain_model


def create_pipeline(**kwargs: object) -> Pipeline:
    """SHAP explanations of the trained forest."""
    return Pipeline(
        [
            Node(
                explain_model,
                ["isolation_forest", "holdout_features", "model_bundle", "params:explain.sample_rows"],
                ["shap_summary_plot", "feature_importance", "alert_explanations"],
                name="explain_model_node",
            ),
        ]
    )
