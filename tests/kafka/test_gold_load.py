"""The stream's alerts back into gold from their topic: Kedro's gold node reads the alerts the job committed
(``KafkaTopicDataset``, offsets kept in gold), run twice loads each alert once, and a later run loads
only what arrived since; an unconfirmed load (a failed run) is read again, and still stored once."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from flink_app.kafka_topics import client
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from streamflow.datasets.kafka_topic import OFFSETS_TABLE, KafkaTopicDataset
from streamflow.devtools.scratch import dispose_cached_sql_engines, make_scratch_project
from tests.conftest import REPO_ROOT
from tests.kafka.conftest import TopicRun

pytestmark = pytest.mark.kafka

ENV = "kafkatest"
CONSUMER = "gold.fact_fraud_alerts"


@pytest.fixture
def project(topic_run: TopicRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch Kedro project whose env ``kafkatest`` reads ``stream_alerts`` from the run's alerts topic."""
    project = make_scratch_project(REPO_ROOT, tmp_path / "project")
    monkeypatch.chdir(project)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", topic_run.bootstrap)  # credentials stream_kafka
    entries = {
        name: {
            "type": "streamflow.datasets.KafkaTopicDataset",
            "topic": topic_run.config.job.kafka.topics[topic],
            "consumer": consumer,
            "client": {"credentials": "stream_kafka"},
            "credentials": "gold_db",
            "required": True,
        }
        for name, topic, consumer in (
            ("stream_alerts", "alerts", CONSUMER),
            ("stream_dead_letters", "dead_letters", "dlq_monitor.dead_letters"),
        )
    }
    (project / "conf" / ENV).mkdir()
    (project / "conf" / ENV / "catalog_stream.yml").write_text(yaml.safe_dump(entries), encoding="utf-8")
    dispose_cached_sql_engines()
    yield project
    dispose_cached_sql_engines()


def _run_gold_alerts(project: Path) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=ENV) as session:
        session.run(pipeline_names=["gold"], node_names=["build_fact_fraud_alerts_node"])


def _gold(project: Path) -> tuple[list[str], dict[int, int]]:
    engine = sa.create_engine(f"sqlite:///{project / 'data/03_primary/gold.sqlite'}")
    try:
        with engine.connect() as connection:
            alerts = pd.read_sql("SELECT alert_id FROM fact_fraud_alerts", connection)["alert_id"].tolist()
            query = sa.text(f"SELECT partition, next_offset FROM {OFFSETS_TABLE} WHERE consumer = :consumer")
            offsets = pd.read_sql(query, connection, params={"consumer": CONSUMER})
    finally:
        engine.dispose()
    return alerts, dict(zip(offsets["partition"], offsets["next_offset"], strict=True))


def _produce_copies(run: TopicRun, count: int, tag: str) -> list[str]:
    """``count`` more alerts on the alerts topic: copies of the job's, each with an id of its own."""
    from confluent_kafka import Producer

    producer = Producer(client(run.bootstrap))
    ids = []
    for index, record in enumerate(run.outputs["alerts"][:count]):
        alert = orjson.loads(record.value)
        alert["alert_id"] = f"{alert['alert_id']}-{tag}{index}"
        ids.append(alert["alert_id"])
        producer.produce(run.config.job.kafka.topics["alerts"], value=json.dumps(alert).encode("utf-8"))
    assert producer.flush(10) == 0
    return ids


def test_running_the_gold_load_twice_loads_each_alert_once(topic_run: TopicRun, project: Path) -> None:
    committed = sorted(str(orjson.loads(record.value)["alert_id"]) for record in topic_run.outputs["alerts"])
    assert committed
    _run_gold_alerts(project)
    first, offsets = _gold(project)
    assert sorted(first) == committed
    _run_gold_alerts(project)  # nothing new on the topic: nothing read, nothing stored twice
    again, offsets_again = _gold(project)
    assert sorted(again) == committed
    assert offsets_again == offsets

    added = _produce_copies(topic_run, 5, "later")
    _run_gold_alerts(project)  # only what arrived since the last run
    later, offsets_later = _gold(project)
    assert sorted(later) == sorted([*committed, *added])
    # Each partition's offset moved past the new records (and the transaction markers before them).
    assert all(offsets_later[partition] >= offset for partition, offset in offsets.items())
    assert sum(offsets_later.values()) >= sum(offsets.values()) + len(added)


def test_a_load_that_was_not_confirmed_is_read_again_and_stored_once(topic_run: TopicRun, project: Path) -> None:
    _run_gold_alerts(project)
    before, offsets = _gold(project)
    added = _produce_copies(topic_run, 3, "unconfirmed")
    credentials = {"con": f"sqlite:///{project / 'data/03_primary/gold.sqlite'}"}
    failed = KafkaTopicDataset(
        topic=topic_run.config.job.kafka.topics["alerts"],
        consumer=CONSUMER,
        client=client(topic_run.bootstrap),
        credentials=credentials,
    )
    assert sum(len(load()) for load in failed.load().values()) == len(added)  # read, then the run "failed"
    assert _gold(project)[1] == offsets  # no confirm: the offsets did not move
    _run_gold_alerts(project)
    after, _ = _gold(project)
    assert sorted(after) == sorted([*before, *added])
    assert len(after) == len(set(after))


def test_the_dead_letters_load_from_their_topic_with_their_origin(topic_run: TopicRun, project: Path) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=ENV) as session:
        partitions = session.load_context().catalog.load("stream_dead_letters")
    frame = pd.concat([load() for _, load in sorted(partitions.items())], ignore_index=True)
    assert len(frame) == len(topic_run.outputs["dead_letters"])
    topic = topic_run.config.job.kafka.topics["transactions"]
    assert frame["source"].str.fullmatch(rf"kafka:{topic}/\d+@\d+").all()
