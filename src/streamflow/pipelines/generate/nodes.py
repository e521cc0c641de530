"""Nodes of the ``generate`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from streamflow.core import ContractConfig, RulesConfig
from streamflow.generator import GeneratorConfig, generate_stream


def generate_transactions(
    generate: dict[str, Any], event_contract: dict[str, Any], fraud_rules: dict[str, Any]
) -> tuple[dict[str, str], pd.DataFrame, dict[str, Any]]:
    """Generate the labelled event stream.

    Args:
        generate: The ``generate`` parameters (sizes, rates, seed).
        event_contract: The ``event_contract`` parameters (payload limit for oversized lines).
        fraud_rules: The ``fraud_rules`` parameters (blacklisted stores for that pattern).

    Returns:
        JSON-lines text per event date, the labels, and the generation manifest.

    """
    rules = RulesConfig.from_dict(fraud_rules)
    config = GeneratorConfig.from_dict(generate, sorted(rules.blacklist.store_ids))
    stream = generate_stream(config, ContractConfig.from_dict(event_contract))
    return stream.partitions, stream.labels, stream.manifest
