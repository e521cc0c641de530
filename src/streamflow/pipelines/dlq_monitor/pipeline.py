"""Wiring of the ``dlq_monitor`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.dlq_monitor.nodes import (
    enforce_dead_letter_bounds,
    monitor_dead_letters,
    replay_fixed_dead_letters,
)


def create_pipeline(**kwargs: object) -> Pipeline:
    """Dead-letter report and spike gate; replay of fixed dead letters into the landing zone."""
    return Pipeline(
        [
            Node(
                func=monitor_dead_letters,
                inputs=[
                    "stream_dead_letters",
                    "stream_scored",
                    "quarantine",
                    "silver_report",
                    "params:dlq_monitor.monitor",
                    "params:dlq_monitor.as_of",
                ],
                outputs="dlq_report",
                name="monitor_dead_letters_node",
            ),
            Node(func=enforce_dead_letter_bounds, inputs="dlq_report", outputs=None, name="enforce_dlq_bounds_node"),
            Node(
                func=replay_fixed_dead_letters,
                inputs=["dlq_fixed_lines", "params:event_contract"],
                outputs=["dlq_replayed_transactions", "dlq_replay_report"],
                name="replay_fixed_dead_letters_node",
            ),
        ]
    )
