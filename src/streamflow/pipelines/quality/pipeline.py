"""Wiring of the ``quality`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.quality.nodes import check_quality, enforce_quality_gate


def create_pipeline(**kwargs: object) -> Pipeline:
    """Quality checks with a report, a gold table of check runs, and a gate."""
    return Pipeline(
        [
            Node(
                func=check_quality,
                inputs=[
                    "silver_transactions",
                    "silver_report",
                    "gold_summary",
                    "params:quality.checks",
                    "params:quality.as_of",
                ],
                outputs=["quality_report", "quality_check_runs"],
                name="check_quality_node",
            ),
            Node(func=enforce_quality_gate, inputs="quality_report", outputs=None, name="enforce_quality_gate_node"),
        ]
    )
