"""Helpers for the Kafka tests: a ``conf/`` whose Kafka env names topics of its own, the job's command, inputs."""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path

import yaml
from flink_app.config import StreamConfig, load_config
from flink_app.kafka_topics import create_topics

from streamflow.core import ContractConfig
from streamflow.generator import GeneratorConfig, generate_stream
from tests.conftest import REPO_ROOT

ENV = "kafkatest"
PARTITIONS = 3
CHECKPOINT_INTERVAL_MS = 1_000
RUN_TIMEOUT_S = 300


def kafka_conf(
    folder: Path, bootstrap: str, *, partitions: int = PARTITIONS, read_outcomes: bool = False
) -> tuple[Path, StreamConfig]:
    """A copy of ``conf/base`` with an env ``kafkatest``: Kafka mode on ``bootstrap``, topics of its own (created).

    Topics, group id and transactional id prefix carry a random suffix, so runs on the shared
    broker never see each other's records or transactions. A ``conf/base`` already in ``folder``
    (another model's features, say) is kept. With ``read_outcomes``, the job reads its outcomes topic too.
    """
    suffix = uuid.uuid4().hex[:8]
    conf = folder / "conf"
    if not (conf / "base").is_dir():
        shutil.copytree(REPO_ROOT / "conf" / "base", conf / "base")
    names = ("transactions", "scored", "alerts", "dead_letters")
    kafka = {
        "bootstrap_servers": bootstrap,
        "group_id": f"scoring-{suffix}",
        "transactional_id_prefix": f"scoring-{suffix}",
        "partitions": partitions,
        "connector_jar": str(REPO_ROOT / load_config().job.kafka.connector_jar),  # type: ignore[operator]
        "topics": {name: f"{name.replace('_', '-')}-{suffix}" for name in names},
        "outcomes_topic": f"outcomes-{suffix}",
        "read_outcomes": read_outcomes,
    }
    (conf / ENV).mkdir()
    (conf / ENV / "stream.yml").write_text(
        yaml.safe_dump({"stream": {"io": "kafka", "kafka": kafka}}), encoding="utf-8"
    )
    config = load_config(conf, ENV)
    create_topics(bootstrap, [*config.job.kafka.topics.values(), config.job.kafka.outcomes_topic], partitions)
    return conf, config


def score_command(conf: Path, state: Path, *extra: str) -> list[str]:
    """``python -m flink_app score`` in Kafka mode with this conf, checkpoints under ``state``."""
    return [
        sys.executable,
        "-m",
        "flink_app",
        "score",
        "--conf-dir",
        str(conf),
        "--env",
        ENV,
        "--state-dir",
        str(state),
        "--checkpoint-interval-ms",
        str(CHECKPOINT_INTERVAL_MS),
        *extra,
    ]


def generated_lines(n_events: int, *, seed_store: str = "S00007") -> list[str]:
    """Contract lines from the generator (a few malformed and repeated ones among them), in file order."""
    settings = {"n_events": n_events, "days": 3, "n_stores": 60, "malformed_rate": 0.01}
    stream = generate_stream(GeneratorConfig.from_dict(settings, [seed_store]), ContractConfig())
    return [line for name in sorted(stream.partitions) for line in stream.partitions[name].splitlines()]


def records(values: list[bytes]) -> list[dict[str, object]]:
    """JSON records of a topic's values."""
    return [json.loads(value) for value in values]
