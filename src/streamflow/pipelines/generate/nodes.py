"""Nodes of the ``generate`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from streamflow.core import ContractConfig, RulesConfig
from streamflow.generator import GeneratorConfig, generate_stream

LANDED_EVENTS = "transactions/{partition}.jsonl"  # the demo manifest's names, relative to data/01_raw
LANDED_OUTCOMES = "labels/outcomes.csv"


def generate_transactions(
    generate: dict[str, Any], event_contract: dict[str, Any], fraud_rules: dict[str, Any]
) -> tuple[dict[str, str], pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Generate the demo: a labelled event stream and the outcomes a team would know today.

    Args:
        generate: The ``generate`` parameters (sizes, rates, seed, typologies, outcome delays).
        event_contract: The ``event_contract`` parameters (payload limit for oversized lines).
        fraud_rules: The ``fraud_rules`` parameters (blacklisted stores for that pattern).

    Returns:
        JSON-lines text per event date, the outcomes (label contract), the generator's ground
        truth, the generation manifest, and the demo manifest (the landing files written).

    """
    rules = RulesConfig.from_dict(fraud_rules)
    config = GeneratorConfig.from_dict(generate, sorted(rules.blacklist.store_ids))
    stream = generate_stream(config, ContractConfig.from_dict(event_contract))
    landed = [LANDED_EVENTS.format(partition=name) for name in sorted(stream.partitions)] + [LANDED_OUTCOMES]
    demo = {"written_by": "streamflow generate (the demo)", "files": landed, "seed": config.seed}
    return stream.partitions, stream.outcomes, stream.labels, stream.manifest, demo
