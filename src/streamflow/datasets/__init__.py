"""Project-specific Kedro datasets."""

from streamflow.datasets.database_maintenance import DatabaseMaintenanceDataset
from streamflow.datasets.file_tree import FileTreeDataset
from streamflow.datasets.gold_table import GoldTableDataset
from streamflow.datasets.kafka_topic import KafkaTopicDataset
from streamflow.datasets.model_bundle import ModelBundleDataset
from streamflow.datasets.optional_partitions import OptionalPartitionedDataset

__all__ = [
    "DatabaseMaintenanceDataset",
    "FileTreeDataset",
    "GoldTableDataset",
    "KafkaTopicDataset",
    "ModelBundleDataset",
    "OptionalPartitionedDataset",
]
