"""The parameter blocks with a typed config, checked when a Kedro run loads its configuration.

Each block is built by the same function its nodes call, so a wrong type or an unknown key
stops ``kedro run`` before any work, with the full key named, as the stream's ``load_config``
stops ``python -m flink_app score``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from streamflow.core import ContractConfig, FeaturesConfig, RulesConfig
from streamflow.generator.config import GeneratorConfig
from streamflow.medallion.quality import parse_thresholds
from streamflow.modeling.protocol import DelayProtocol
from streamflow.operations import dlq, housekeeping, retention

# dotted parameter key -> the function that builds (and so checks) its typed config
TYPED_BLOCKS: dict[str, Callable[[Any], object]] = {
    "fraud_rules": RulesConfig.from_dict,
    "event_contract": ContractConfig.from_dict,
    "features": FeaturesConfig.from_dict,
    "generate": GeneratorConfig.from_dict,
    "quality.checks": parse_thresholds,
    "evaluation.protocol": DelayProtocol.from_dict,
    "dlq_monitor.monitor": dlq.parse_config,
    "maintenance.retention": retention.parse_config,
    "maintenance.database": housekeeping.parse_config,
}


def check_parameters(parameters: Mapping[str, Any]) -> None:
    """Build every typed block present in ``parameters``.

    Raises:
        ConfigError: The first block that fails, naming the key, what it takes and what arrived.

    """
    for key, build in TYPED_BLOCKS.items():
        found, block = _lookup(parameters, key)
        if found:
            build(block)


def _lookup(parameters: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    value: Any = parameters
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value
