"""The two-entity job (merchant features, ADR 0012) from topic to topic on the session's broker.

One partition: the topic's order is the ingestion order, as a file's is, so the merchant stage
sees each merchant's events in event-time order and the stream's features and scores equal the
batch table's bit for bit, through the Kafka source (lines after their origin) and exactly-once sinks.
The outcomes come from the outcomes topic, read by the same source (``stream.kafka.read_outcomes``,
ADR 0014), and reach the merchant state as they do from files. The source reads the two topics in
no set order: in this catch-up an outcome may reach its merchant after events that batch counts it
for (files read the outcomes first, and are equal bit for bit). So the merchant's fraud counts and
the customer's known fraud are at most batch's, the merchant's fraud rate (which a late outcome can
move either way) is not compared, the other features are equal, and the scores are those of the
stream's own features. The features are the file tests' (one compiled step for both).
"""

import subprocess
from pathlib import Path

from flink_app.kafka_topics import produce_lines, read_outputs

from streamflow.devtools.stream_benchmark import synthetic_bundle
from tests.conftest import REPO_ROOT
from tests.flink_app.test_job_minicluster import expected_decisions
from tests.flink_app.test_two_entities import (
    MALFORMED_OUTCOMES,
    TWO_ENTITY_FEATURES,
    assert_stream_equals_batch,
    batch_expectation,
    conf_with_features,
    write_labels,
)
from tests.kafka.runs import RUN_TIMEOUT_S, generated_lines, kafka_conf, records, score_command


def test_a_two_entity_run_from_kafka_equals_the_batch_table(kafka_broker: str, tmp_path: Path) -> None:
    conf_with_features(tmp_path / "conf", TWO_ENTITY_FEATURES)
    conf, config = kafka_conf(tmp_path, kafka_broker, partitions=1, read_outcomes=True)
    lines = generated_lines(2_000)
    outcome_lines = write_labels(tmp_path / "labels", lines)
    kafka = config.job.kafka
    produce_lines(kafka_broker, kafka.outcomes_topic, outcome_lines)  # all known before the events come
    produce_lines(kafka_broker, kafka.topics["transactions"], [line.encode("utf-8") for line in lines])
    bundle, _ = synthetic_bundle(
        tmp_path / "bundle", model_version="kafka-two", n_trees=20, n_rows=500, feature_names=TWO_ENTITY_FEATURES
    )
    command = score_command(conf, tmp_path / "state", "--until-end", "--model", str(tmp_path / "bundle"))
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    outputs = read_outputs(kafka_broker, config.job.kafka, {})
    scored = records([record.value for record in outputs["scored"]])
    all_dead_letters = records([record.value for record in outputs["dead_letters"]])
    from_outcomes = [
        record for record in all_dead_letters if str(record["source"]).startswith(f"kafka:{kafka.outcomes_topic}/")
    ]
    assert sorted(str(record["error_code"]) for record in from_outcomes) == sorted(
        code for code, count in MALFORMED_OUTCOMES.items() for _ in range(count)
    )
    dead_letters = [record for record in all_dead_letters if record not in from_outcomes]
    assert len({record["transaction_id"] for record in scored}) == len(scored)
    assert len(scored) + len(dead_letters) == len(lines)
    _, _, expected_codes = expected_decisions(lines, None)
    assert sorted(record["error_code"] for record in dead_letters) == sorted(expected_codes)
    assert all(record["source"].startswith("kafka:") for record in dead_letters)
    batch = batch_expectation(lines, TWO_ENTITY_FEATURES, conf, outcome_lines)
    late = tuple(name for name in TWO_ENTITY_FEATURES if "fraud_count" in name or "fraud_known" in name)
    rates = tuple(name for name in TWO_ENTITY_FEATURES if "fraud_rate" in name)
    assert_stream_equals_batch(scored, batch, TWO_ENTITY_FEATURES, bundle, at_most=late, unchecked=rates)
    assert sum(record["features"]["merchant_fraud_count_1d"] for record in scored) > 0
