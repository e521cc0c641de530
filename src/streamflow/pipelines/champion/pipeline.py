"""Wiring of the ``champion`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.champion.nodes import fit_champion


def create_pipeline(**kwargs: object) -> Pipeline:
    """The supervised champion, beside the packaged forest (whose anomaly score it reads)."""
    return Pipeline(
        [
            Node(
                fit_champion,
                [
                    "train_features",
                    "silver_outcomes",
                    "model_bundle",
                    "split_window",
                    "params:training.champion",
                    "params:features",
                ],
                "champion_model",
                name="fit_champion_node",
            ),
        ]
    )
