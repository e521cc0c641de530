"""Wiring of the ``maintenance`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.maintenance.nodes import housekeep_database, prune_old_entries


def create_pipeline(**kwargs: object) -> Pipeline:
    """Retention pruning of files and versions, and database housekeeping."""
    return Pipeline(
        [
            Node(
                func=prune_old_entries,
                inputs=[
                    "landing_files",
                    "stream_buckets",
                    "model_versions",
                    "report_versions",
                    "params:maintenance.retention",
                    "params:maintenance.dry_run",
                    "params:maintenance.as_of",
                ],
                outputs=[
                    "landing_files_pruned",
                    "stream_buckets_pruned",
                    "model_versions_pruned",
                    "report_versions_pruned",
                    "retention_report",
                ],
                name="prune_old_entries_node",
            ),
            Node(
                func=housekeep_database,
                inputs=["gold_db_state", "params:maintenance.database", "params:maintenance.dry_run"],
                outputs=["gold_db_housekeeping", "database_housekeeping_report"],
                name="housekeep_database_node",
            ),
        ]
    )
