"""Wiring of the ``champion`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.champion.nodes import fit_champion, package_champion


def create_pipeline(**kwargs: object) -> Pipeline:
    """The supervised champion, trained beside the forest (whose anomaly score it reads), then packaged with it."""
    return Pipeline(
        [
            Node(
                fit_champion,
                [
                    "train_features",
                    "silver_outcomes",
                    "forest_bundle",
                    "split_window",
                    "params:training.champion",
                    "params:features",
                ],
                "champion_model",
                name="fit_champion_node",
            ),
            Node(
                package_champion,
                ["forest_bundle", "champion_model", "params:features"],
                "model_bundle",
                name="package_champion_node",
            ),
        ]
    )
