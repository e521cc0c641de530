"""Wiring of the ``silver`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.silver.nodes import build_silver


def create_pipeline(**kwargs: object) -> Pipeline:
    """Bronze to validated silver, quarantine and duplicates."""
    return Pipeline(
        [
            Node(
                func=build_silver,
                inputs=[
                    "bronze_transactions",
                    "landing_report",
                    "params:event_contract",
                    "params:silver.parse_workers",
                ],
                outputs=["silver_transactions", "quarantine", "silver_duplicates", "silver_report"],
                name="build_silver_node",
            ),
        ]
    )
