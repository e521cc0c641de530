"""Configuration of the stream job: the project's shared parameters plus ``stream``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streamflow.core import ContractConfig, RulesConfig

DEFAULT_CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


@dataclass(frozen=True)
class StreamConfig:
    """Everything the job reads from ``conf/<env>/``: rules, contract and job settings."""

    rules: RulesConfig
    contract: ContractConfig
    job: dict[str, Any]


def load_config(conf_dir: Path = DEFAULT_CONF_DIR, env: str = "base") -> StreamConfig:
    """Merge ``conf/base/parameters*.yml`` with ``conf/<env>/parameters*.yml`` (top-level keys)."""
    merged: dict[str, Any] = {}
    for folder in dict.fromkeys(["base", env]):
        for path in sorted((conf_dir / folder).glob("parameters*.yml")):
            merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return StreamConfig(
        rules=RulesConfig.from_dict(merged.get("fraud_rules")),
        contract=ContractConfig.from_dict(merged.get("event_contract")),
        job=dict(merged.get("stream") or {}),
    )


def resolve_model(argument: str | None, bundles: Path) -> str | None:
    """``--model``: a bundle folder, ``latest`` (the newest version under ``bundles``), or nothing."""
    if argument != "latest":
        return argument
    versions = sorted(bundles.glob("*/model_bundle/manifest.json"))
    if not versions:
        raise FileNotFoundError(f"no model bundle under {bundles}; train one with: kedro run --pipelines model")
    return str(versions[-1].parent)
