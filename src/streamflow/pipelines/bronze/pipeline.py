"""Wiring of the ``bronze`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.bronze.nodes import ingest_raw_files


def create_pipeline(**kwargs: object) -> Pipeline:
    """Land every raw line in bronze."""
    return Pipeline(
        [
            Node(
                func=ingest_raw_files,
                inputs="raw_transactions@files",
                outputs=["bronze_transactions", "landing_report"],
                name="ingest_raw_files_node",
            ),
        ]
    )
