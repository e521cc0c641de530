from collections import Counter
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from streamflow.core import ContractConfig, Event, EventError, RulesConfig, parse_event, replay_events
from streamflow.core.outcomes import parse_outcome
from streamflow.generator import FRAUD_PATTERNS, MALFORMED_KINDS, GeneratedStream, GeneratorConfig, generate_stream
from streamflow.generator.config import COMPROMISED_MERCHANT
from streamflow.generator.malformed import DUPLICATE_CODE, EXPECTED_CODES
from tests.factories import parses

BLACKLISTED_STORES = ["S00007", "S00042"]
RULES = RulesConfig.from_dict({"blacklist": {"store_ids": BLACKLISTED_STORES}})
N_EVENTS = 20_000


def _config(**overrides: object) -> GeneratorConfig:
    block = {"n_events": N_EVENTS, "n_stores": 100, "days": 14, "seed": 7, "fraud_rate": 0.03, "malformed_rate": 0.01}
    block.update(overrides)
    return GeneratorConfig.from_dict(block, BLACKLISTED_STORES)


@lru_cache(maxsize=1)
def _stream() -> GeneratedStream:
    return generate_stream(_config(), ContractConfig())


@lru_cache(maxsize=1)
def _parsed() -> tuple[list[Event], Counter[str]]:
    """Valid first-seen events in line order, and the error codes of the other lines."""
    events: list[Event] = []
    codes: Counter[str] = Counter()
    seen: set[str] = set()
    for text in _stream().partitions.values():
        for line in text.splitlines():
            try:
                event = parse_event(line)
            except EventError as error:
                codes[error.code] += 1
                continue
            if event.transaction_id in seen:
                codes[DUPLICATE_CODE] += 1
                continue
            seen.add(event.transaction_id)
            events.append(event)
    return events, codes


@lru_cache(maxsize=1)
def _fired_by_pattern() -> pd.DataFrame:
    events, _ = _parsed()
    ordered = sorted(events, key=lambda event: event.event_time_ms)
    labels = _stream().labels.set_index("transaction_id")["pattern"]
    rows = [
        {"pattern": labels[event.transaction_id], **{rule.rule_id: rule.fired for rule in assessment.rule_results}}
        for event, assessment in replay_events(ordered, RULES)
    ]
    return pd.DataFrame(rows)


def test_same_seed_gives_identical_bytes_and_labels() -> None:
    small = _config(n_events=3_000)
    first, second = generate_stream(small, ContractConfig()), generate_stream(small, ContractConfig())
    assert first.partitions == second.partitions
    pd.testing.assert_frame_equal(first.labels, second.labels)
    assert first.manifest == second.manifest


def test_another_seed_gives_another_stream() -> None:
    a = generate_stream(_config(n_events=3_000), ContractConfig())
    b = generate_stream(_config(n_events=3_000, seed=8), ContractConfig())
    assert a.partitions != b.partitions


def test_labels_cover_every_valid_event_once() -> None:
    events, _ = _parsed()
    labels = _stream().labels
    assert len(labels) == N_EVENTS == len(events)
    assert labels["transaction_id"].is_unique
    assert set(labels["transaction_id"]) == {event.transaction_id for event in events}
    assert list(labels.columns) == ["transaction_id", "is_fraud", "pattern"]


def test_fraud_rate_and_every_pattern_are_present_as_configured() -> None:
    labels = _stream().labels
    injected = labels["pattern"] != COMPROMISED_MERCHANT  # fraud_rate is the injected patterns' share
    assert labels.loc[injected, "is_fraud"].sum() / N_EVENTS == pytest.approx(0.03, abs=1e-4)
    counts = labels.loc[labels["is_fraud"] & injected, "pattern"].value_counts()
    assert set(counts.index) == set(FRAUD_PATTERNS)
    assert (labels["pattern"] == COMPROMISED_MERCHANT).sum() > 0
    expected_each = 0.03 * N_EVENTS / len(FRAUD_PATTERNS)
    assert all(abs(count - expected_each) < 0.35 * expected_each for count in counts)
    assert (labels.loc[~labels["is_fraud"], "pattern"] == "none").all()
    assert _stream().manifest["events_per_pattern"] == labels["pattern"].value_counts().sort_index().to_dict()


def test_pattern_weights_are_honoured() -> None:
    weights = dict.fromkeys(FRAUD_PATTERNS, 0.0) | {"subtle": 1.0}
    config = _config(n_events=5_000, pattern_weights=weights, compromised_merchants=0)
    stream = generate_stream(config, ContractConfig())
    assert set(stream.labels.loc[stream.labels["is_fraud"], "pattern"]) == {"subtle"}


def test_every_malformed_kind_is_present_and_gets_its_expected_code() -> None:
    manifest = _stream().manifest
    assert manifest["malformed_lines"] == round(0.01 * N_EVENTS)
    assert all(manifest["malformed_per_kind"][kind] > 0 for kind in MALFORMED_KINDS)
    _, codes = _parsed()
    assert dict(codes) == manifest["expected_error_codes"]


def test_expected_codes_cover_every_malformed_kind() -> None:
    assert set(EXPECTED_CODES) == set(MALFORMED_KINDS)


def test_total_lines_are_valid_plus_malformed() -> None:
    lines = sum(text.count("\n") for text in _stream().partitions.values())
    assert lines == _stream().manifest["total_lines"] == N_EVENTS + round(0.01 * N_EVENTS)


def test_valid_events_sit_in_the_partition_of_their_utc_date() -> None:
    seen: set[str] = set()  # a duplicate is a late resend: it may land in a later day's file
    for day, text in _stream().partitions.items():
        for line in text.splitlines():
            try:
                event = parse_event(line)
            except EventError:
                continue
            if event.transaction_id not in seen:
                seen.add(event.transaction_id)
                assert str(np.datetime64(event.event_time_ms, "ms").astype("datetime64[D]")) == day


def test_oversized_lines_exceed_the_contract_limit_in_use() -> None:
    stream = generate_stream(_config(n_events=3_000), ContractConfig(max_payload_bytes=2_000))
    longest = max(len(line) for text in stream.partitions.values() for line in text.splitlines())
    assert 2_000 < longest < 4_000


@pytest.mark.parametrize(
    ("pattern", "rule_id", "min_recall"),
    [
        ("high_value", "FR-001", 0.9),
        ("impossible_travel", "FR-003", 0.9),
        ("unusual_hour", "FR-004", 0.8),
        ("blacklisted", "FR-005", 1.0),
        ("velocity_burst", "FR-002", 0.25),
    ],
)
def test_each_rule_pattern_is_caught_by_its_rule(pattern: str, rule_id: str, min_recall: float) -> None:
    fired = _fired_by_pattern()
    assert fired.loc[fired["pattern"] == pattern, rule_id].mean() >= min_recall


def test_subtle_fraud_slips_past_every_rule() -> None:
    fired = _fired_by_pattern()
    any_rule = fired[["FR-001", "FR-002", "FR-003", "FR-004", "FR-005"]].any(axis=1)
    assert any_rule[fired["pattern"] == "subtle"].mean() < 0.15


def test_legit_traffic_rarely_fires_rules() -> None:
    fired = _fired_by_pattern()
    any_rule = fired[["FR-001", "FR-002", "FR-003", "FR-004", "FR-005"]].any(axis=1)
    assert any_rule[fired["pattern"] == "none"].mean() < 0.05


def test_sizes_up_to_five_million_are_accepted() -> None:
    assert GeneratorConfig.from_dict({"n_events": 5_000_000}).customers == 100_000


def test_by_default_the_stream_ends_recently_and_never_in_the_future() -> None:
    """The demo is dated up to two days before today, so freshness passes and no event is quarantined as future."""
    config = GeneratorConfig.from_dict({"n_events": 2_000, "days": 5, "n_stores": 40}, BLACKLISTED_STORES)
    events = [
        parse_event(line)
        for text in generate_stream(config, ContractConfig()).partitions.values()
        for line in text.splitlines()
        if parses(line)
    ]
    now_ms = pd.Timestamp.now(tz="UTC").value // 1_000_000
    newest = max(event.event_time_ms for event in events)
    assert now_ms - 48 * 3_600_000 < newest < now_ms


def _valid_events() -> pd.DataFrame:
    events, _ = _parsed()
    frame = pd.DataFrame(events, columns=Event._fields)
    return frame.merge(_stream().labels, on="transaction_id")


def test_a_compromised_merchant_turns_every_card_present_payment_there_to_fraud_for_a_while() -> None:
    events = _valid_events()
    hit = events[events["pattern"] == COMPROMISED_MERCHANT]
    assert set(hit["channel"]) <= {"pos", "atm"}
    for store, payments in hit.groupby("store_id"):
        start, end = payments["event_time_ms"].min(), payments["event_time_ms"].max()
        assert end - start <= 14 * 86_400_000
        during = events[
            (events["store_id"] == store)
            & events["channel"].isin(["pos", "atm"])
            & events["event_time_ms"].between(start, end)
        ]
        assert during["is_fraud"].all()  # the store gives them away, nothing else


def test_a_compromised_cards_fraud_spends_several_times_the_owner_mean_without_the_card() -> None:
    events = _valid_events()
    owners = events[~events["is_fraud"]].groupby("card_id")["amount"].mean()
    stolen = events[events["pattern"] == "compromised_card"]
    assert set(stolen["channel"]) <= {"online", "mobile"}
    ratio = stolen["amount"].to_numpy() / owners.reindex(stolen["card_id"]).to_numpy()
    assert np.nanmedian(ratio) > 2.5


def test_outcomes_follow_the_label_contract_and_arrive_late_only_if_known_by_today() -> None:
    stream = _stream()
    outcomes = stream.outcomes
    parsed = [parse_outcome(record) for record in outcomes.to_dict("records")]  # every one reads
    known_at = pd.Timestamp(stream.manifest["outcomes_known_at"], tz="UTC").value // 1_000_000
    assert all(outcome.event_time_ms <= outcome.labelled_at_ms <= known_at for outcome in parsed)
    delays = pd.Series(
        [(o.labelled_at_ms - o.event_time_ms) / 86_400_000 for o in parsed], index=[o.source for o in parsed]
    )
    assert delays["confirmed"].max() <= 3.0 < delays["chargeback"].median()
    truth = stream.labels.set_index("transaction_id")["is_fraud"]
    assert all(truth[o.transaction_id] == o.is_fraud for o in parsed)
    recent = {o.transaction_id for o in parsed if o.is_fraud}
    history = generate_stream(_config(n_events=5_000, start_date="2025-01-01"), ContractConfig())  # known today
    long_known = (history.outcomes["is_fraud"] == "true").sum() / history.labels["is_fraud"].sum()
    assert long_known == pytest.approx(0.9, abs=0.05)  # confirmed + charged back; a tenth never reported
    assert len(recent) / truth.sum() < long_known  # of the last weeks' fraud, some is not known yet
