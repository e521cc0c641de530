"""``dlq_monitor``: dead-letter counts, spike gate and replay of fixed dead letters."""

from streamflow.pipelines.dlq_monitor.pipeline import create_pipeline

__all__ = ["create_pipeline"]
