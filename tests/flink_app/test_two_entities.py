"""The two-entity job on a real MiniCluster: merchant features in the model, batch and stream equal bit for bit.

With a merchant feature in ``features.model`` the job runs two keyed stages (ADR 0012): the
customer stage (parse, dedup, customer state, rules) and the merchant stage (merchant state,
the model, the records), the second fed in ingestion order by ``MerchantBatches``. The stream is
a generated one with malformed lines, read from three files, under the default mini-batching.
Its known outcomes (``--labels``, a JSON-lines file and a CSV file with malformed records) reach
the merchant state too (ADR 0014): the model reads merchant fraud counts and rates.
"""

import csv
import io
import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flink_app.config import load_config
from flink_app.job import ScoreMerchants, ScoreMiniBatches, handed_on, handoff_frame
from flink_app.keying import as_landed, origin_routing_key, shard_of

from streamflow.core import FEATURE_NAMES, ContractConfig, EventError, feature_set, parse_event
from streamflow.core.forest import ModelBundle
from streamflow.core.outcomes import REQUIRED_OUTCOME_FIELDS, OutcomeError, outcome_of_line
from streamflow.core.rules import RULE_IDS
from streamflow.devtools.stream_benchmark import InMemoryContext, synthetic_bundle
from streamflow.medallion.silver import deduplicate, parse_payloads
from streamflow.modeling.features import replay_features
from tests.conftest import REPO_ROOT
from tests.factories import CUSTOMER_WINDOWED, MERCHANT_WINDOWED, OTHER_WINDOWS
from tests.flink_app.test_job_minicluster import LATE_CUSTOMER, expected_decisions, outputs_of, write_generated_thirds
from tests.flink_app.test_recovery import run, score_command

# every window, the hour's aggregates and outcomes: the core's merchant tests read these too (one compiled step)
MERCHANT_FEATURES = (
    "merchant_count_1h",
    "merchant_amount_sum_1h",
    "merchant_amount_mean_1h",
    "merchant_count_1d",
    "merchant_amount_mean_1d",
    "merchant_count_7d",
    "merchant_count_30d",
    "merchant_fraud_count_1h",
    "merchant_fraud_rate_1h",
)
OUTCOME_FEATURES = ("merchant_fraud_count_1d", "merchant_fraud_rate_1d", "customer_fraud_known_30d")
TWO_ENTITY_FEATURES = (*FEATURE_NAMES, *MERCHANT_FEATURES, *OUTCOME_FEATURES)
CHAMPION_ONLY = ("merchant_fraud_rate_1d", "customer_fraud_known_30d")  # the champion's own: the forest reads none
TWO_ENTITY_FOREST = TWO_ENTITY_FEATURES[: -len(CHAMPION_ONLY)]
MALFORMED_OUTCOMES = {"bad_value": 1, "labelled_before_event": 1, "invalid_json": 1}


def outcome_records(lines: list[str]) -> list[dict[str, Any]]:
    """Outcomes of every fifth valid event, known 15 minutes to 12 hours after it; every third of them fraud.

    Never known later than now (nor before the event): the generator's last fraud incidents run to
    the end of yesterday (UTC), and an outcome from the future is dead-lettered (``future_labelled_at``).
    """
    now_ms = time.time_ns() // 1_000_000
    records = []
    for index, line in enumerate(lines):
        try:
            event = parse_event(line)
        except EventError:
            continue
        if index % 5:
            continue
        known = min(event.event_time_ms + ((index // 5) % 48 + 1) * 900_000, max(now_ms, event.event_time_ms))
        fraud = (index // 5) % 3 == 0
        records.append(
            {
                "transaction_id": event.transaction_id,
                "is_fraud": fraud,
                "labelled_at": datetime.fromtimestamp(known / 1000, UTC).isoformat(),
                "source": "confirmed" if fraud else "cleared",
                "customer_id": event.customer_id,
                "store_id": event.store_id,
                "event_time": datetime.fromtimestamp(event.event_time_ms / 1000, UTC).isoformat(),
            }
        )
    return records


def write_labels(folder: Path, lines: list[str]) -> list[bytes]:
    """The outcomes of ``lines`` with malformed ones, half as JSON lines, half as CSV; each as the stream reads it."""
    records = outcome_records(lines)
    first = records[0]
    malformed = [
        {**first, "is_fraud": "maybe"},
        {**first, "labelled_at": "2020-01-01T00:00:00+00:00"},
    ]
    half = len(records) // 2
    folder.mkdir()
    json_lines = [json.dumps(record) for record in [*records[:half], *malformed]] + ["{not json"]
    (folder / "outcomes-a.jsonl").write_text("\n".join(json_lines) + "\n", encoding="utf-8")
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(REQUIRED_OUTCOME_FIELDS), lineterminator="\n")
    writer.writeheader()
    for record in records[half:]:
        writer.writerow({**record, "is_fraud": str(record["is_fraud"]).lower()})
    (folder / "outcomes-b.csv").write_text(table.getvalue(), encoding="utf-8")
    as_read = [line.encode() for line in json_lines]
    return as_read + [
        json.dumps({**record, "is_fraud": str(record["is_fraud"]).lower()}).encode() for record in records[half:]
    ]


def known_outcomes(outcome_lines: list[bytes]) -> Any:
    """The outcomes the label contract accepts among ``outcome_lines``, as the features pipeline reads silver's."""
    import pandas as pd

    kept = []
    for line in outcome_lines:
        try:
            kept.append(outcome_of_line(line))
        except OutcomeError:
            continue
    return pd.DataFrame(
        {
            "customer_id": [outcome.customer_id for outcome in kept],
            "store_id": [outcome.store_id for outcome in kept],
            "labelled_at_ms": [outcome.labelled_at_ms for outcome in kept],
            "is_fraud": [outcome.is_fraud for outcome in kept],
        }
    )


def conf_with_features(folder: Path, names: tuple[str, ...], champion_only: tuple[str, ...] = ()) -> Path:
    """A copy of the project's configuration whose model reads ``names``, and its champion ``champion_only`` too."""
    shutil.copytree(REPO_ROOT / "conf", folder, ignore=shutil.ignore_patterns("local"))
    features = folder / "base/parameters_features.yml"
    listed = "".join(f"    - {name}\n" for name in names[len(FEATURE_NAMES) :])
    text = features.read_text().replace("    - amount_ratio\n", f"    - amount_ratio\n{listed}")
    features.write_text(text.replace("  champion_only: []", f"  champion_only: {list(champion_only)}"))
    return folder


def two_entity_bundle(folder: Path, **sizes: Any) -> ModelBundle:
    """A synthetic bundle whose forest reads ``TWO_ENTITY_FOREST`` and whose champion reads ``CHAMPION_ONLY`` too."""
    bundle, _ = synthetic_bundle(folder, feature_names=TWO_ENTITY_FOREST, champion_only=CHAMPION_ONLY, **sizes)
    return bundle


def batch_expectation(lines: list[str], names: tuple[str, ...], conf: Path, outcome_lines: list[bytes]) -> Any:
    """The feature table the Kedro features pipeline computes from the lines' silver and the known outcomes."""
    payloads = [line.encode() for line in lines]
    parsed, positions, _, _ = parse_payloads(payloads, ContractConfig())
    silver, _ = deduplicate(parsed.assign(source_file="events.jsonl", line_number=[p + 1 for p in positions]))
    config = load_config(conf)
    outcomes = known_outcomes(outcome_lines)
    chosen = feature_set(names, (), config.features.windows)
    table = replay_features(silver, config.rules, chosen, config.features.merchant_lag_ms, outcomes=outcomes)
    return table.set_index("transaction_id")


def assert_stream_equals_batch(
    scored: list[dict[str, Any]],
    batch: Any,
    names: tuple[str, ...],
    bundle: ModelBundle,
    *,
    at_most: tuple[str, ...] = (),
    unchecked: tuple[str, ...] = (),
) -> None:
    """Every scored record's features and scores are the batch table's, bit for bit.

    The batch's scores: the bundle's forest on the features, and its champion on them and the
    rules' columns in ``champion_inputs`` order (one definition, ``ModelBundle.champion_scores``).
    Features in ``at_most`` (outcome counts where outcomes may come late) are at most batch's;
    those in ``unchecked`` (a rate a late outcome moves either way) are not compared. The scores
    are always those of the stream's own features.
    """
    assert scored
    ids = [record["transaction_id"] for record in scored]
    stream = pd.DataFrame([record["features"] for record in scored], index=ids)[list(names)]
    expected = batch.loc[ids]
    for name in (name for name in names if name not in unchecked):
        got, want = stream[name].to_numpy(), expected[name].to_numpy()
        same = got <= want if name in at_most else (got == want) | (np.isnan(got) & np.isnan(want))
        assert same.all(), (name, [ids[index] for index in np.flatnonzero(~same)[:5]])
    # the batch walk: each row's trees summed in order, as one row's are
    ml_scores = bundle.ml_scores(stream[list(bundle.manifest.feature_names)].to_numpy(dtype=np.float64))
    rules_scores = expected["rules_score"].to_numpy(dtype=np.float64)
    _assert_column(scored, ids, "rules_score", rules_scores)
    _assert_column(scored, ids, "ml_score", ml_scores)
    blends = np.array([bundle.blend(ml, rules) for ml, rules in zip(ml_scores, rules_scores, strict=True)])
    if bundle.manifest.champion is None:
        _assert_column(scored, ids, "final_score", blends)
        return
    verdicts = expected[list(RULE_IDS)].to_numpy(dtype=np.float64)
    vectors = stream[list(bundle.input_features)].to_numpy(dtype=np.float64)  # the forest's, then the champion's own
    inputs = np.column_stack([vectors, verdicts, rules_scores, ml_scores])
    _assert_column(scored, ids, "final_score", bundle.champion_scores(inputs))
    _assert_column(scored, ids, "challenger_score", blends)


def _assert_column(scored: list[dict[str, Any]], ids: list[str], name: str, expected: Any) -> None:
    """Each record's ``name`` equals ``expected`` at its row, bit for bit (the first few that do not, named)."""
    got = np.array([record[name] for record in scored], dtype=np.float64)
    differ = np.flatnonzero(got != expected)
    assert not differ.size, (name, [(ids[index], got[index], expected[index]) for index in differ[:5]])


@pytest.fixture(scope="module")
def two_entity_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("two-entities")
    lines = write_generated_thirds(base / "in")
    outcome_lines = write_labels(base / "labels", lines)
    bundle = two_entity_bundle(
        base / "bundle",
        model_version="two-entity-model",
        n_trees=30,
        n_rows=800,
        alert_threshold=0.3,
        champion_rounds=40,
    )
    conf = conf_with_features(base / "conf", TWO_ENTITY_FOREST, CHAMPION_ONLY)
    command = [*score_command(base / "in", base / "out", base / "checkpoints"), "--model", str(base / "bundle")]
    result = run([*command, "--conf-dir", str(conf), "--labels", str(base / "labels")])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    outputs = outputs_of(base / "out")
    return {
        "lines": lines,
        "outcome_lines": outcome_lines,
        "bundle": bundle,
        "conf": conf,
        "stdout": result.stdout,
        **outputs,
    }


def test_every_line_is_scored_once_or_dead_lettered_with_its_code(two_entity_run: dict[str, Any]) -> None:
    scored, lines = two_entity_run["scored"], two_entity_run["lines"]
    events_dlq = [record for record in two_entity_run["dlq"] if not record["source"].startswith("labels:")]
    assert len({record["transaction_id"] for record in scored}) == len(scored)
    assert len(scored) + len(events_dlq) == len(lines)
    assert "every event scored or dead-lettered" in two_entity_run["stdout"]
    _, _, expected_codes = expected_decisions(lines, None)
    assert sorted(record["error_code"] for record in events_dlq) == sorted(expected_codes)
    assert [record["late"] for record in scored].count(True) == 1  # T-OOO-3, as in the customer-only job


def test_every_outcome_reaches_the_merchant_state_or_is_dead_lettered_with_its_code(
    two_entity_run: dict[str, Any],
) -> None:
    outcomes_dlq = [record for record in two_entity_run["dlq"] if record["source"].startswith("labels:")]
    codes = {code: [record["error_code"] for record in outcomes_dlq].count(code) for code in MALFORMED_OUTCOMES}
    assert codes == MALFORMED_OUTCOMES
    assert len(outcomes_dlq) == sum(MALFORMED_OUTCOMES.values())
    read = len(two_entity_run["outcome_lines"])
    assert f"outcomes in      {read:,}" in two_entity_run["stdout"]
    assert f"accepted       {read - len(outcomes_dlq):,} (in the entities' state" in two_entity_run["stdout"]


def test_merchant_and_customer_features_and_scores_equal_the_batch_table(two_entity_run: dict[str, Any]) -> None:
    run = two_entity_run
    batch = batch_expectation(run["lines"], TWO_ENTITY_FEATURES, run["conf"], run["outcome_lines"])
    batch = batch[batch["customer_id"] != LATE_CUSTOMER]
    scored = [record for record in run["scored"] if record["customer_id"] != LATE_CUSTOMER]
    assert {record["transaction_id"] for record in scored} == set(batch.index)
    assert_stream_equals_batch(scored, batch, TWO_ENTITY_FEATURES, run["bundle"])
    assert batch["merchant_count_1h"].gt(0).mean() > 0.5  # the merchant features are not all empty
    assert batch["merchant_fraud_count_1d"].gt(0).mean() > 0.2  # nor are the outcomes'


def test_alerts_come_from_the_merchant_stage_with_reasons_and_top_features(two_entity_run: dict[str, Any]) -> None:
    alerting = {record["transaction_id"] for record in two_entity_run["scored"] if record["alert"]}
    alerts = two_entity_run["alerts"]
    assert alerts
    assert {alert["transaction_id"] for alert in alerts} == alerting
    champion = two_entity_run["bundle"].manifest.champion
    assert all(alert["model_version"] == champion.model_version and len(alert["top_features"]) == 3 for alert in alerts)
    assert all(alert["challenger_version"] == "two-entity-model" for alert in alerts)
    assert all(len(alert["reasons"]) == len(alert["fired_rules"]) for alert in alerts)


def test_the_two_stage_functions_outside_flink_compute_the_batch_table(tmp_path: Path) -> None:
    """The customer and the merchant functions in memory, fed as the Java operators feed them.

    Lines in batches per customer shard, each stamped with its arrival; the handed-on events
    sorted by stamp and batched per merchant shard (``MerchantBatches``): the batch table's numbers.
    """
    lines = write_generated_thirds(tmp_path / "in")
    outcome_lines = write_labels(tmp_path / "labels", lines)
    conf = conf_with_features(tmp_path / "conf", TWO_ENTITY_FOREST, CHAMPION_ONLY)
    config = load_config(conf)
    shards = config.job.mini_batch.shards
    bundle = two_entity_bundle(tmp_path / "bundle", model_version="m", n_trees=20, n_rows=500, champion_rounds=30)
    by_customer_shard: dict[int, list[str]] = {}
    labelled = [f"labels:x\n{line.decode()}" for line in outcome_lines]  # all outcomes first, as a fast source reads
    for stamp, line in enumerate(as_landed(line) for line in [*labelled, *lines]):
        key = origin_routing_key(line)
        by_customer_shard.setdefault(shard_of(key, shards), []).extend((key, str(stamp), line))
    customers = ScoreMiniBatches(config, str(tmp_path / "bundle"), source="t", outcome_origins=("labels:",))
    customer_context = InMemoryContext()
    customers.open(customer_context)
    events, dead_letters = [], []
    for batch in by_customer_shard.values():
        for output in customers.process_element(batch, customer_context):
            if isinstance(output, tuple):
                dead_letters.append(output[1])
            else:
                events += handed_on(output)
    by_merchant_shard: dict[int, list[bytes]] = {}
    for store, stamp, payload in sorted(events, key=lambda event: event[1]):
        by_merchant_shard.setdefault(shard_of(store, shards), []).append(handoff_frame(store, stamp, payload))
    merchants, merchant_context = ScoreMerchants(config, str(tmp_path / "bundle")), InMemoryContext()
    merchants.open(merchant_context)
    scored, alerts = [], []
    for frames in by_merchant_shard.values():
        for output in merchants.process_element(b"".join(frames), merchant_context):
            if isinstance(output, tuple):
                alerts.append(json.loads(output[1]))
            else:
                scored += [json.loads(record) for record in output.split(b"\n")]
    merchants.close()
    assert len(scored) + len(dead_letters) == len(lines) + sum(MALFORMED_OUTCOMES.values())
    assert {alert["transaction_id"] for alert in alerts} == {
        record["transaction_id"] for record in scored if record["alert"]
    }
    batch = batch_expectation(lines, TWO_ENTITY_FEATURES, conf, outcome_lines)
    batch = batch[batch["customer_id"] != LATE_CUSTOMER]
    scored = [record for record in scored if record["customer_id"] != LATE_CUSTOMER]
    assert_stream_equals_batch(scored, batch, TWO_ENTITY_FEATURES, bundle)
    assert batch["merchant_fraud_count_1d"].gt(0).mean() > 0.2


def test_configured_windows_reach_both_stages_of_the_job(tmp_path: Path) -> None:
    """``features.windows`` from the job's configuration: both stages count over them as the batch table does."""
    names = (*FEATURE_NAMES, *CUSTOMER_WINDOWED, *MERCHANT_WINDOWED)
    lines = write_generated_thirds(tmp_path / "in")
    outcome_lines = write_labels(tmp_path / "labels", lines)
    conf = conf_with_features(tmp_path / "conf", names)
    features = conf / "base/parameters_features.yml"
    windows = f"  windows: [{', '.join(OTHER_WINDOWS)}]"
    features.write_text(features.read_text().replace("  windows: [1h, 1d, 7d, 30d]", windows))
    assert load_config(conf).features.windows == OTHER_WINDOWS
    command = score_command(tmp_path / "in", tmp_path / "out", tmp_path / "checkpoints")
    result = run([*command, "--conf-dir", str(conf), "--labels", str(tmp_path / "labels")])  # rules only
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "every event scored or dead-lettered" in result.stdout
    scored = [record for record in outputs_of(tmp_path / "out")["scored"] if record["customer_id"] != LATE_CUSTOMER]
    ids = [record["transaction_id"] for record in scored]
    stream = pd.DataFrame([record["features"] for record in scored], index=ids)[list(names)]
    batch = batch_expectation(lines, names, conf, outcome_lines).loc[ids, list(names)]
    batch.index = pd.Index(ids)
    pd.testing.assert_frame_equal(stream, batch.astype(np.float64), check_exact=True)
    assert (batch[["customer_count_30m", "merchant_count_30m", "merchant_fraud_count_2d"]].max() > 0).all()
