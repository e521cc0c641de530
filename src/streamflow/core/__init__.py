"""The pure fraud core shared by the Kedro pipelines and the Flink job.

Event contract, customer state, the five rules and the feature vector, each defined once
(``features.step`` is the per-event step both paths run, compiled by numba). Needs numpy (and
msgspec to build typed config from YAML); kedro, pandas and pyflink never, so batch and stream
compute the same numbers from the same code.
"""

from streamflow.core.contract import (
    CHANNELS,
    SCHEMA_VERSION,
    ContractConfig,
    Event,
    keyed_without_parser,
    parse_event,
    routing_key,
)
from streamflow.core.errors import (
    EVENT_ERROR_CODES,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    CoreError,
    DuplicateEventError,
    EventError,
    StateError,
    UnroutableEventError,
)
from streamflow.core.features import (
    FEATURE_NAMES,
    Assessment,
    FeaturesConfig,
    FeatureSet,
    feature,
    feature_set,
    merchant_feature,
    process_event,
    replay_events,
)
from streamflow.core.merchant import merchant_replay  # importing it registers the merchant features
from streamflow.core.rules import RULE_IDS, RuleResult, RulesConfig
from streamflow.core.state import CustomerState

__all__ = [
    "CHANNELS",
    "EVENT_ERROR_CODES",
    "FEATURE_NAMES",
    "RULE_IDS",
    "SCHEMA_VERSION",
    "Assessment",
    "ConfigError",
    "ConfigKeyError",
    "ConfigTypeError",
    "ContractConfig",
    "CoreError",
    "CustomerState",
    "DuplicateEventError",
    "Event",
    "EventError",
    "FeatureSet",
    "FeaturesConfig",
    "RuleResult",
    "RulesConfig",
    "StateError",
    "UnroutableEventError",
    "feature",
    "feature_set",
    "keyed_without_parser",
    "merchant_feature",
    "merchant_replay",
    "parse_event",
    "process_event",
    "replay_events",
    "routing_key",
]
