"""Merchant state: windowed aggregates behind a lag, which the order of arrival cannot change."""

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flink_app.config import check_outcome_input, load_config
from flink_app.scoring_step import MerchantStep, StreamStep

from streamflow.core import (
    FEATURE_NAMES,
    ConfigError,
    ContractConfig,
    Event,
    FeaturesConfig,
    RulesConfig,
    StateError,
    feature_set,
    merchant_replay,
)
from streamflow.core.features import FeatureSet, replay
from streamflow.core.forest import ModelBundle, ModelFeatureError
from streamflow.core.merchant import (
    MAX_MERCHANT_STATE_BYTES,
    MERCHANT_STATE,
    MERCHANT_STATE_VERSION,
    merchant_params,
    read_too_late,
)
from streamflow.core.rules import rule_params
from streamflow.core.signals import EVENT_INPUT, event_input_of
from streamflow.core.state import OUTCOME_INPUT
from streamflow.core.windows import DEFAULT_WINDOWS, window_length_ms
from streamflow.devtools.stream_benchmark import synthetic_bundle
from streamflow.medallion.bronze import ingest_files
from streamflow.medallion.silver import run_silver
from streamflow.modeling.features import replay_features
from tests.conftest import REPO_ROOT
from tests.factories import CUSTOMER_WINDOWED, MERCHANT_WINDOWED, OTHER_WINDOWS, make_event, payload
from tests.flink_app.test_two_entities import TWO_ENTITY_FEATURES

RULES = RulesConfig.from_dict({})
LAG_MS = 5 * 60_000
# The stream tests' feature set throughout: each set compiles the steps again (tens of seconds).
EVERY_WINDOW = feature_set(TWO_ENTITY_FEATURES)
MERCHANT_NAMES = EVERY_WINDOW.merchant_names


def _columns(*names: str) -> list[int]:
    """Where ``names`` are in a merchant vector."""
    return [MERCHANT_NAMES.index(name) for name in names]


HOUR = _columns("merchant_count_1h", "merchant_amount_sum_1h", "merchant_amount_mean_1h")
IN_VECTOR = [EVERY_WINDOW.names.index(name) for name in MERCHANT_NAMES]  # the merchant's in a whole vector
NO_CUSTOMER_FEATURES = bytes(8 * len(EVERY_WINDOW.customer_names))  # the customer stage's, all 0.0
COUNTS = _columns(*(f"merchant_count_{label}" for label in DEFAULT_WINDOWS))


def _replayed(
    minutes_amounts_stores: list[tuple[float, float, str]], hour_only: bool = True
) -> list[tuple[float, ...]]:
    """Each event's merchant features (the hour's three, or every window's count), the events taken in that order."""
    events = [
        make_event(minutes=minutes, amount=amount, store_id=store) for minutes, amount, store in minutes_amounts_stores
    ]
    inputs = np.array([event_input_of(event, RULES) for event in events], dtype=EVENT_INPUT).reshape(-1)
    codes, stores = pd.factorize(np.array([event.store_id for event in events]))
    vectors = merchant_replay(inputs, codes.astype(np.int64), len(stores), LAG_MS, EVERY_WINDOW)
    return [tuple(row) for row in vectors[:, HOUR if hour_only else COUNTS].tolist()]


def test_a_merchant_feature_reads_the_whole_tiles_that_ended_a_lag_before_the_event() -> None:
    # BASE_TIME is on an hour: 1 h tiles are 5 minutes; at minute 20 the tiles ending by minute 15 count
    got = _replayed([(0, 10.0, "S1"), (2, 20.0, "S1"), (7, 30.0, "S1"), (14, 40.0, "S1"), (20, 50.0, "S1")])
    assert got[0] == (0.0, 0.0, 0.0)
    assert got[2] == (0.0, 0.0, 0.0)  # minute 7: only tiles ending by minute 2, none whole yet
    assert got[3] == (2.0, 30.0, 15.0)  # minute 14: the tile of minutes 0-5
    assert got[4] == (4.0, 100.0, 25.0)  # minute 20: the tiles of minutes 0-15
    later = _replayed([(0, 10.0, "S1"), (64, 1.0, "S1"), (80, 1.0, "S1")])
    assert later[2] == (1.0, 1.0, 1.0)  # minute 80: the hour of tiles from minute 15 to 75 holds minute 64 only


def test_merchants_are_kept_apart_and_sums_are_exact() -> None:
    got = _replayed([(0, 0.1, "S1"), (1, 0.2, "S1"), (2, 99.0, "S2"), (30, 5.0, "S1"), (31, 5.0, "S2")])
    assert got[3] == (2.0, 0.3, 0.15)  # 0.1 + 0.2 summed in thousandths: exactly 0.3
    assert got[4] == (1.0, 99.0, 99.0)


def test_arrival_order_within_the_lag_does_not_change_any_merchant_feature() -> None:
    rng = random.Random(7)
    events = sorted(
        (rng.uniform(0, 3 * 24 * 60), round(rng.uniform(1, 500), 2), f"S{rng.randrange(4)}") for _ in range(3000)
    )
    arrival = sorted(range(len(events)), key=lambda i: events[i][0] + rng.uniform(0, 1.5))  # up to 90 s out of order
    in_time_order = _replayed(events, hour_only=False)
    in_arrival_order = _replayed([events[i] for i in arrival], hour_only=False)
    assert [in_arrival_order[arrival.index(i)] for i in range(len(events))] == in_time_order
    assert max(row[0] for row in in_time_order) > 10  # the hour's counts are not all empty


def test_the_merchant_state_is_bounded() -> None:
    assert MERCHANT_STATE.itemsize == 1360  # whatever the merchant's volume


def test_the_feature_table_holds_merchant_columns_beside_unchanged_customer_ones() -> None:
    records = [
        {"transaction_id": f"t{i}", "amount": 10.0 + i, "timestamp": f"2026-01-05T12:{2 * i:02d}:00Z", "store_id": "S1"}
        for i in range(20)
    ]
    raw = "\n".join(json.dumps(payload(**record)) for record in records).encode() + b"\n"
    bronze = ingest_files({"d.jsonl": raw}, pd.Timestamp("2026-02-01T00:00:00Z"))
    silver = run_silver(bronze, ContractConfig(future_tolerance_minutes=0)).silver
    frame = replay_features(silver, RULES, EVERY_WINDOW, LAG_MS)
    customer_only = replay_features(silver, RULES)
    pd.testing.assert_frame_equal(frame[list(FEATURE_NAMES)], customer_only[list(FEATURE_NAMES)])
    # minute 38: whole 5-minute tiles ending by minute 33 hold the events of minutes 0..28 (15 of them)
    assert frame["merchant_count_1h"].iloc[19] == 15.0


def _stream_vectors(events: list[Event], features: FeatureSet = EVERY_WINDOW) -> list[tuple[float, ...]]:
    """Each event's feature vector from the stream's two calls: the customer stage's, then the merchant stage's."""
    customer_stage = StreamStep(RULES, None, features, max_out_of_orderness_ms=60_000, dedup_window_ms=10**9)
    merchant_stage = MerchantStep(None, features, merchant_lag_ms=LAG_MS)
    customers: dict[str, tuple[bytes | None, bytes]] = {}
    merchants: dict[str, bytes] = {}
    vectors = []
    for event in events:
        step = customer_stage.hand_on(*customers.get(event.customer_id, (None, b"")), event)
        assert step is not None
        customers[event.customer_id] = (step.state, step.ids)
        merchant = merchant_stage([merchants.get(event.store_id)], [0], [step.event_input], [step.customer_features])
        merchants[event.store_id] = merchant.states[0]
        vectors.append(tuple(merchant.vectors[0]))
    return vectors


def _stream_merchant_features(events: list[Event]) -> list[tuple[float, ...]]:
    """Each event's merchant features from the stream's two calls."""
    return [tuple(vector[index] for index in IN_VECTOR) for vector in _stream_vectors(events)]


def test_the_stream_merchant_step_computes_what_the_batch_replay_does() -> None:
    rng = random.Random(11)
    events = [
        make_event(minutes=minute, amount=round(rng.uniform(1, 300), 2), store_id=f"S{rng.randrange(3)}")
        for minute in sorted(rng.uniform(0, 2 * 24 * 60) for _ in range(400))
    ]
    inputs = np.array([event_input_of(event, RULES) for event in events], dtype=EVENT_INPUT).reshape(-1)
    codes, stores = pd.factorize(np.array([event.store_id for event in events]))
    batch = merchant_replay(inputs, codes.astype(np.int64), len(stores), LAG_MS, EVERY_WINDOW).tolist()
    assert [list(vector) for vector in _stream_merchant_features(events)] == batch


def test_merchant_state_round_trips_and_damaged_state_is_refused_with_a_code() -> None:
    merchant_stage = MerchantStep(None, EVERY_WINDOW, merchant_lag_ms=LAG_MS)
    event = make_event(minutes=30, amount=12.5, store_id="S1")
    handoff = [np.array([event_input_of(event, RULES)], dtype=EVENT_INPUT).tobytes()], [NO_CUSTOMER_FEATURES]
    state = merchant_stage([None], [0], *handoff).states[0]
    assert state[:3] == b"SM" + bytes([MERCHANT_STATE_VERSION])
    assert len(state) == MAX_MERCHANT_STATE_BYTES
    count_1h = merchant_stage([state], [0], *handoff).vectors[0].merchant_count_1h
    assert count_1h == 0.0  # read back: one event, still within the lag
    for damaged, code in (
        (state[:-1], "state_truncated"),
        (b"SF" + state[2:], "state_bad_magic"),
        (state[:2] + bytes([MERCHANT_STATE_VERSION + 1]) + state[3:], "state_unsupported_version"),
        (state[:10] + bytes([state[10] ^ 1]) + state[11:], "state_checksum_mismatch"),
    ):
        with pytest.raises(StateError) as raised:
            merchant_stage([damaged], [0], *handoff)
        assert raised.value.code == code
        assert "merchant state" in str(raised.value)


def test_an_event_whose_tile_was_already_read_is_flagged() -> None:
    merchant_stage = MerchantStep(None, EVERY_WINDOW, merchant_lag_ms=LAG_MS)

    def handoff(minutes: float) -> tuple[list[bytes], list[bytes]]:
        event = make_event(minutes=minutes, store_id="S1")
        return [np.array([event_input_of(event, RULES)], dtype=EVENT_INPUT).tobytes()], [NO_CUSTOMER_FEATURES]

    state = merchant_stage([None], [0], *handoff(30)).states[0]
    assert not merchant_stage([state], [0], *handoff(26)).read_too_late[0]  # its tile (25-30) ends after minute 25
    assert merchant_stage([state], [0], *handoff(19)).read_too_late[0]  # its tile (15-20) ended by minute 25: read


def test_the_customer_stage_walks_no_model_and_other_keyings_refuse_merchant_features(tmp_path: Path) -> None:
    bundle, _ = synthetic_bundle(
        tmp_path / "bundle", model_version="m", n_trees=2, n_rows=50, feature_names=EVERY_WINDOW.names
    )
    with pytest.raises(ConfigError, match="the merchant stage walks it"):
        StreamStep(RULES, bundle, EVERY_WINDOW, max_out_of_orderness_ms=60_000, dedup_window_ms=86_400_000)
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    features = (REPO_ROOT / "conf/base/parameters_features.yml").read_text()
    (conf / "base/parameters_features.yml").write_text(
        features.replace("    - amount_ratio\n", "    - amount_ratio\n    - merchant_count_1h\n")
    )
    assert load_config(conf).features.feature_set.merchant_names == ("merchant_count_1h",)
    (conf / "base/stream.yml").write_text("stream:\n  keying: jvm\n")
    with pytest.raises(ConfigError, match=r"the merchant stage needs stream\.keying: mini_batch, not 'jvm'"):
        load_config(conf)


def test_the_lag_is_bounded_by_the_ring() -> None:
    assert FeaturesConfig.from_dict({"merchant_lag_minutes": 15}).merchant_lag_ms == 900_000
    with pytest.raises(ConfigError, match=r"merchant_lag_minutes must be within 0\.\.15"):
        FeaturesConfig.from_dict({"merchant_lag_minutes": 16})


def test_a_bundle_records_its_merchant_lag_and_refuses_another(tmp_path: Path) -> None:
    names = (*FEATURE_NAMES, "merchant_count_1h")
    bundle, _ = synthetic_bundle(tmp_path / "b", model_version="m", n_trees=2, n_rows=50, feature_names=names)
    assert bundle.manifest.merchant_lag_ms == FeaturesConfig().merchant_lag_ms
    assert ModelBundle.load(tmp_path / "b").manifest.merchant_lag_ms == FeaturesConfig().merchant_lag_ms
    bundle.check_features(names, FeaturesConfig().merchant_lag_ms)
    with pytest.raises(ModelFeatureError, match=r"5 minutes behind the event.*merchant_lag_minutes is 10"):
        bundle.check_features(names, 600_000)
    customer_only, _ = synthetic_bundle(tmp_path / "c", model_version="c", n_trees=2, n_rows=50)
    assert customer_only.manifest.merchant_lag_ms is None
    customer_only.check_features(FEATURE_NAMES, 600_000)  # it reads no merchant feature


OUTCOME_NAMES = ("merchant_fraud_count_1h", "merchant_fraud_rate_1h", "merchant_count_1h")
OUTCOME_COLUMNS = _columns(*OUTCOME_NAMES)


def _with_outcomes(minutes: list[float], outcomes: list[tuple[float, bool]]) -> list[tuple[float, ...]]:
    """Each event's fraud count, fraud rate and count over the hour at one merchant, with outcomes known at minutes."""
    events = [make_event(minutes=at, amount=10.0, store_id="S1") for at in minutes]
    inputs = np.array([event_input_of(event, RULES) for event in events], dtype=EVENT_INPUT).reshape(-1)
    known = np.zeros(len(outcomes), dtype=OUTCOME_INPUT)
    known["labelled_at_ms"] = [events[0].event_time_ms + round(at * 60_000) for at, _ in outcomes]
    known["is_fraud"] = [is_fraud for _, is_fraud in outcomes]
    merchants = np.zeros(len(events), dtype=np.int64)
    vectors = merchant_replay(inputs, merchants, 1, LAG_MS, EVERY_WINDOW, known, np.zeros(len(known), dtype=np.int64))
    return [tuple(row) for row in vectors[:, OUTCOME_COLUMNS].tolist()]


def test_an_outcome_counts_only_for_events_after_it_was_known_and_behind_the_lag() -> None:
    # frauds known at minutes 3 and 4, a legitimate outcome at minute 4; 5-minute tiles, a 5-minute lag
    got = _with_outcomes([0, 1, 2, 6, 9, 11, 30], [(3, True), (4, True), (4, False)])
    assert got[3] == (0.0, 0.0, 0.0)  # minute 6: no tile has ended 5 minutes before it
    assert got[5] == (2.0, 2.0 / 3.0, 3.0)  # minute 11: the tile of minutes 0-5, three events, two frauds known
    assert got[6] == (2.0, 2.0 / 6.0, 6.0)  # minute 30: the tiles up to minute 25 hold the six events before
    late = _with_outcomes([0, 11, 20], [(12, True)])
    assert late[1] == (0.0, 0.0, 1.0)  # known at minute 12: after the event at minute 11
    assert late[2][0] == 1.0  # minute 20: the tile of minutes 10-15 ended by minute 15


def test_the_stream_refuses_features_that_read_outcomes_without_its_outcomes(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    features = {"features": {"model": [*FEATURE_NAMES, "merchant_fraud_rate_7d"]}}
    (conf / "base" / "parameters_features.yml").write_text(json.dumps(features), encoding="utf-8")
    config = load_config(conf)
    with pytest.raises(ConfigError, match=r"reads known outcomes \['merchant_fraud_rate_7d'\]: give the job"):
        check_outcome_input(config.features, reads_outcomes=False)
    check_outcome_input(config.features, reads_outcomes=True)


def test_the_feature_table_reads_the_silver_outcomes_known_before_each_event() -> None:
    records = [
        {"transaction_id": f"t{i}", "timestamp": f"2026-01-05T12:{2 * i:02d}:00Z", "store_id": f"S{1 + i % 2}"}
        for i in range(20)
    ]
    raw = "\n".join(json.dumps(payload(**record)) for record in records).encode() + b"\n"
    bronze = ingest_files({"d.jsonl": raw}, pd.Timestamp("2026-02-01T00:00:00Z"))
    silver = run_silver(bronze, ContractConfig(future_tolerance_minutes=0)).silver
    start_ms = int(silver["event_time_ms"].min())
    outcomes = pd.DataFrame(  # at S1 two frauds known at minutes 3 and 21, and one at a store without events
        {
            "customer_id": ["someone-else"] * 3,
            "store_id": ["S1", "S9", "S1"],
            "labelled_at_ms": [start_ms + 21 * 60_000, start_ms, start_ms + 3 * 60_000],
            "is_fraud": [True, True, True],
        }
    )
    frame = replay_features(silver, RULES, EVERY_WINDOW, LAG_MS, outcomes).set_index("transaction_id")
    counts = frame["merchant_fraud_count_1h"]
    assert counts["t6"] == 1.0  # S1 at minute 12: the tile of minutes 0-5 holds the fraud known at minute 3
    assert counts["t14"] == 1.0  # S1 at minute 28: the tiles up to minute 20; minute 21's tile ends at 25
    assert counts["t16"] == 2.0  # S1 at minute 32: the tiles up to minute 25 hold both
    assert counts["t7"] == 0.0  # S2 at minute 14: its merchant's outcomes only
    assert counts["t15"] == 0.0


def test_a_customers_known_fraud_counts_for_its_events_after_it_for_30_days() -> None:
    """``customer_fraud_known_30d``: the customer's state folds its outcomes known before each event (as the stream)."""
    days = [0, 1, 2, 40, 41]
    records = [{"transaction_id": f"t{day}", "timestamp": f"2026-01-{1 + day:02d}T12:00:00Z"} for day in days[:3]] + [
        {"transaction_id": f"t{day}", "timestamp": f"2026-02-{day - 30:02d}T12:00:00Z"} for day in days[3:]
    ]
    raw = "\n".join(json.dumps(payload(**record)) for record in records).encode() + b"\n"
    silver = run_silver(
        ingest_files({"d.jsonl": raw}, pd.Timestamp("2026-03-01T00:00:00Z")), ContractConfig(future_tolerance_minutes=0)
    ).silver
    start_ms = int(silver["event_time_ms"].min())
    customer = str(silver["customer_id"].iat[0])
    outcomes = pd.DataFrame(  # t0 found fraud a day and an hour later; a cleared outcome and another customer's fraud
        {
            "customer_id": [customer, customer, "someone-else"],
            "store_id": ["S1", "S1", "S1"],
            "labelled_at_ms": [start_ms + 25 * 3_600_000, start_ms + 3_600_000, start_ms],
            "is_fraud": [True, False, True],
        }
    )
    chosen = feature_set((*FEATURE_NAMES, "customer_fraud_known_30d"))
    frame = replay_features(silver, RULES, chosen, LAG_MS, outcomes).set_index("transaction_id")
    known = frame["customer_fraud_known_30d"].to_dict()
    assert known == {"t0": 0.0, "t1": 0.0, "t2": 1.0, "t40": 0.0, "t41": 0.0}  # day 1 at 12:00 is before 13:00
    assert chosen.customer_outcome_names == ("customer_fraud_known_30d",)
    assert chosen.outcome_names == ("customer_fraud_known_30d",)


# features over four windows other than the default: the customer's compile as the stream tests' do
OTHER = FeaturesConfig.from_dict(
    {"model": [*FEATURE_NAMES, *CUSTOMER_WINDOWED, *MERCHANT_WINDOWED], "windows": list(OTHER_WINDOWS)}
).feature_set


def _expected_window(events: list[Event], index: int, label: str, *, merchant: bool) -> tuple[int, float]:
    """Events and amount in ``label``'s twelve tiles, from the entity's events before ``index``, by the formula.

    The customer's tiles end with the event's own; the merchant's with the last that ended a lag before it.
    """
    tile = window_length_ms(label) // 12
    event = events[index]
    last = (event.event_time_ms - LAG_MS) // tile - 1 if merchant else event.event_time_ms // tile
    same = (
        (lambda other: other.store_id == event.store_id)
        if merchant
        else (lambda other: other.customer_id == event.customer_id)
    )
    within = [other for other in events[:index] if same(other) and last - 11 <= other.event_time_ms // tile <= last]
    return len(within), sum(other.amount for other in within)


def test_configured_windows_are_counted_alike_in_batch_and_stream_as_their_definition_says() -> None:
    rng = random.Random(5)
    events = [
        make_event(
            minutes=minute,
            amount=round(rng.uniform(1, 300), 2),
            customer_id=f"C{rng.randrange(3)}",
            store_id=f"S{rng.randrange(2)}",
        )
        for minute in sorted(rng.uniform(0, 3 * 24 * 60) for _ in range(400))
    ]
    inputs = np.array([event_input_of(event, RULES) for event in events], dtype=EVENT_INPUT).reshape(-1)
    customers, n_customers = pd.factorize(np.array([event.customer_id for event in events]))
    merchants, n_merchants = pd.factorize(np.array([event.store_id for event in events]))
    params = rule_params(RULES, OTHER_WINDOWS)
    _, customer = replay(inputs, customers.astype(np.int64), len(n_customers), params, OTHER)
    merchant = merchant_replay(inputs, merchants.astype(np.int64), len(n_merchants), LAG_MS, OTHER)
    batch = np.zeros((len(events), len(OTHER.names)))
    batch[:, [OTHER.names.index(name) for name in OTHER.customer_names]] = customer
    batch[:, [OTHER.names.index(name) for name in OTHER.merchant_names]] = merchant
    assert [list(vector) for vector in _stream_vectors(events, OTHER)] == batch.tolist()
    column = OTHER.names.index
    for index, row in enumerate(batch):
        assert row[column("customer_count_30m")] == _expected_window(events, index, "30m", merchant=False)[0]
        expected_sum = _expected_window(events, index, "90d", merchant=False)[1]
        assert row[column("customer_amount_sum_90d")] == pytest.approx(expected_sum)
        assert row[column("merchant_count_30m")] == _expected_window(events, index, "30m", merchant=True)[0]
        expected_sum = _expected_window(events, index, "6h", merchant=True)[1]
        assert row[column("merchant_amount_sum_6h")] == pytest.approx(expected_sum)
        assert row[column("merchant_count_90d")] == _expected_window(events, index, "90d", merchant=True)[0]
    assert 0 < batch[:, column("merchant_count_30m")].max() < batch[:, column("merchant_count_90d")].max()


def test_windows_are_four_labels_shortest_first_and_the_features_must_read_them() -> None:
    assert OTHER.window_tile_ms.tolist() == [150_000, 1_800_000, 14_400_000, 648_000_000]
    for windows, message in (
        (["1h", "1d", "7d"], "must list 4 windows"),
        (["1d", "1h", "7d", "30d"], "shortest first"),
        (["1h", "1d", "7d", "1w"], "whole number of minutes, hours or days"),
        (["0m", "1d", "7d", "30d"], "whole number"),
        (["60m", "1d", "7d", "30d"], r"\(write 1h\)"),  # one label per length: feature names say their window
    ):
        with pytest.raises(ConfigError, match=message) as raised:
            FeaturesConfig.from_dict({"windows": windows})
        assert (raised.value.code, raised.value.key) == ("config_error", "features.windows")
    for name in ("customer_count_45m", "merchant_fraud_rate_30m"):  # a window never listed, or not listed here
        with pytest.raises(ConfigError, match=r"read windows that features\.windows \(\['1h', '1d', '7d', '30d'\]\)"):
            FeaturesConfig.from_dict({"model": [name]})
    with pytest.raises(ConfigError, match=r"within 0\.\.7\.5 \(a quarter of the shortest window, 30m\)"):
        FeaturesConfig.from_dict({"windows": list(OTHER_WINDOWS), "merchant_lag_minutes": 8})
    with pytest.raises(ConfigError, match=r"within 0\.\.15 "):
        merchant_params(16 * 60_000, DEFAULT_WINDOWS)


def test_params_over_other_windows_than_the_feature_sets_are_refused() -> None:
    inputs = np.array([event_input_of(make_event(), RULES)], dtype=EVENT_INPUT).reshape(-1)
    with pytest.raises(ConfigError, match="other windows"):
        replay(inputs, np.zeros(1, dtype=np.int64), 1, rule_params(RULES, DEFAULT_WINDOWS), OTHER)


def test_a_late_event_reads_too_late_in_any_window_whose_tile_was_read() -> None:
    # tiles of 200 s (40m) and 300 s (1h): the newest event, at 600 s, read the 1h tile [0, 300 s)
    # (it ended a 5-minute lag before it) but not the 40m tile [200 s, 400 s) of an event at 200 s
    params = merchant_params(LAG_MS, ("40m", "1h", "1d", "7d"))[0]
    state = np.zeros(1, dtype=MERCHANT_STATE)[0]
    base_ms = 1_500_000 * 1_200_000  # a whole number of both tiles after the epoch
    state["event_count"], state["newest_event_ms"] = 1, base_ms + 600_000
    assert read_too_late(state, base_ms + 200_000, params)
    assert not read_too_late(state, base_ms + 300_000, params)  # in the 1h tile [300 s, 600 s), not read yet


def test_a_stream_refuses_windows_longer_than_its_state_lives(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base/parameters_features.yml").write_text("features:\n  windows: [1h, 1d, 7d, 100d]\n")
    with pytest.raises(ConfigError, match=r"reads 100d, longer than stream\.state_ttl_days \(90\)"):
        load_config(tmp_path)
