"""Project-specific Kedro datasets."""

from streamflow.datasets.gold_table import GoldTableDataset

__all__ = ["GoldTableDataset"]
