"""Wiring of the ``generate`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.generate.nodes import generate_transactions


def create_pipeline(**kwargs: object) -> Pipeline:
    """Generate labelled events into ``data/01_raw``."""
    return Pipeline(
        [
            Node(
                func=generate_transactions,
                inputs=["params:generate", "params:event_contract", "params:fraud_rules"],
                outputs=[
                    "raw_transactions@jsonl",
                    "raw_labels@csv",
                    "generator_truth",
                    "generation_manifest",
                    "demo_manifest",
                ],
                name="generate_transactions_node",
            ),
        ]
    )
