"""Project-specific Kedro datasets."""

from streamflow.datasets.gold_table import GoldTableDataset
from streamflow.datasets.model_bundle import ModelBundleDataset

__all__ = ["GoldTableDataset", "ModelBundleDataset"]
