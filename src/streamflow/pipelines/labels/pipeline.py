"""Wiring of the ``labels`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.labels.nodes import build_outcomes


def create_pipeline(**kwargs: object) -> Pipeline:
    """Landed outcomes to silver, every record used or quarantined with a code."""
    return Pipeline(
        [
            Node(
                func=build_outcomes,
                inputs=["raw_labels@files", "silver_transactions", "params:event_contract"],
                outputs=["silver_outcomes", "outcome_quarantine", "labels_report"],
                name="build_outcomes_node",
            ),
        ]
    )
