"""Project settings: Kedro's OmegaConfigLoader with ``base`` committed and ``local`` for secrets.

``conf/prod`` holds production overrides; select it with ``kedro run --env prod``.
"""

import warnings

from kedro.config import OmegaConfigLoader

from streamflow.card_key import CardPseudonymKeyHooks
from streamflow.datasets.kafka_topic import KafkaOffsetsHooks
from streamflow.hooks import ConfigCheckHooks, DemoLandingZoneHooks, GoldDatabaseHooks, RunSummaryHooks
from streamflow.tracking import TrackingHooks

# Kedro 1.7's OmegaConfigLoader calls an OmegaConf API that warns on every command; not ours to fix.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)

# pluggy calls the last registered first: the config check, then the demo's landing-zone guard, then gold's.
HOOKS = (
    KafkaOffsetsHooks(),  # stores the offsets a finished run's Kafka inputs reached
    RunSummaryHooks(),
    CardPseudonymKeyHooks(),
    GoldDatabaseHooks(),
    DemoLandingZoneHooks(),
    ConfigCheckHooks(),
    TrackingHooks(),  # training runs in MLflow (kedro-mlflow's hook, for pipelines that train), the champion registered
)

# kedro-mlflow's hook starts only for runs that train, through TrackingHooks (streamflow.tracking)
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)  # its distribution name

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
