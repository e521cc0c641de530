import pandas as pd
import pytest

from streamflow.core import ConfigError
from streamflow.operations import dlq

AS_OF = pd.Timestamp("2026-03-10T12:00:00Z")
CONFIG = dlq.DlqMonitorConfig(
    window_hours=24,
    baseline_hours=168,
    max_rate=0.02,
    baseline_rate=0.005,
    spike_factor=3.0,
    min_dead_letters=5,
    min_baseline_records=100,
)


def _stream_letters(times: list[str], code: str = "invalid_json", source: str = "kafka:payments") -> pd.DataFrame:
    records = pd.DataFrame(
        {"error_code": code, "error_field": "$", "source": source, "received_at": times, "payload": "{"}
    )
    return dlq.stream_dead_letters(records)


def _traffic(origin: str, at: str, records: int) -> pd.DataFrame:
    return pd.DataFrame({"origin": [origin], "received_at": pd.to_datetime([at], utc=True), "records": [records]})


def test_stream_dead_letters_parse_iso_times_with_offsets_to_utc() -> None:
    letters = _stream_letters(["2026-03-10T13:00:00+02:00"])
    assert letters.loc[0, "received_at"] == pd.Timestamp("2026-03-10T11:00:00Z")
    assert list(letters.columns) == list(dlq.DEAD_LETTER_COLUMNS)


def test_no_stream_records_give_an_empty_frame_with_the_columns() -> None:
    letters = dlq.stream_dead_letters(pd.DataFrame())
    assert letters.empty
    assert list(letters.columns) == list(dlq.DEAD_LETTER_COLUMNS)


def test_batch_dead_letters_take_source_file_and_ingestion_time() -> None:
    quarantine = pd.DataFrame(
        {
            "source_file": ["2026-03-09.jsonl"],
            "error_code": ["bad_type"],
            "ingested_at": pd.to_datetime(["2026-03-10T10:00:00Z"], utc=True),
        }
    )
    letters = dlq.batch_dead_letters(quarantine)
    assert letters.iloc[0].to_dict() == {
        "origin": "batch",
        "source": "2026-03-09.jsonl",
        "error_code": "bad_type",
        "received_at": pd.Timestamp("2026-03-10T10:00:00Z"),
    }


def test_window_excludes_its_end_and_includes_its_start() -> None:
    letters = _stream_letters(["2026-03-09T12:00:00Z", "2026-03-10T12:00:00Z"])
    kept = dlq.in_window(letters, AS_OF - pd.Timedelta(hours=24), AS_OF)
    assert kept["received_at"].tolist() == [pd.Timestamp("2026-03-09T12:00:00Z")]


def test_report_counts_by_error_code_and_source_and_rates_per_origin() -> None:
    letters = pd.concat(
        [
            _stream_letters(["2026-03-10T10:00:00Z"] * 3, code="invalid_json"),
            _stream_letters(["2026-03-10T11:00:00Z"] * 2, code="bad_type", source="kafka:other"),
        ],
        ignore_index=True,
    )
    traffic = _traffic("stream", "2026-03-10T09:00:00Z", 1000)
    report = dlq.monitor_report(letters, traffic, CONFIG, as_of=AS_OF)
    assert report["dead_letters"] == 5
    assert report["records"] == 1000
    assert report["rate"] == pytest.approx(0.005)
    assert report["by_error_code"] == {"bad_type": 2, "invalid_json": 3}
    assert report["by_origin"]["batch"] == {"dead_letters": 0, "records": 0, "rate": None}
    assert {"origin": "stream", "source": "kafka:other", "error_code": "bad_type", "dead_letters": 2} in report[
        "by_source"
    ]
    assert report["verdict"] == "ok"


def test_rate_above_max_rate_is_a_breach_naming_figure_and_bound() -> None:
    found = dlq.breaches(0.05, 50, 0.04, CONFIG)
    assert found == ["dead-letter rate 0.0500 > max_rate 0.0200"]


def test_rate_above_spike_factor_times_baseline_is_a_breach() -> None:
    found = dlq.breaches(0.016, 50, 0.005, CONFIG)
    assert found == ["dead-letter rate 0.0160 > spike_factor 3 × baseline 0.0050 = 0.0150"]


def test_rate_exactly_at_the_spike_bound_passes() -> None:
    assert dlq.breaches(0.015, 50, 0.005, CONFIG) == []


def test_few_dead_letters_never_breach() -> None:
    assert dlq.breaches(0.9, CONFIG.min_dead_letters - 1, 0.005, CONFIG) == []


def test_no_records_received_means_no_rate_and_no_breach() -> None:
    report = dlq.monitor_report(dlq.stream_dead_letters(pd.DataFrame()), dlq.batch_traffic({}), CONFIG, as_of=AS_OF)
    assert report["rate"] is None
    assert report["verdict"] == "ok"


def test_baseline_is_observed_when_its_period_saw_enough_records() -> None:
    letters = pd.concat(
        [_stream_letters(["2026-03-05T00:00:00Z"] * 10), _stream_letters(["2026-03-10T10:00:00Z"] * 10)],
        ignore_index=True,
    )
    traffic = pd.concat(
        [_traffic("stream", "2026-03-05T00:00:00Z", 100), _traffic("stream", "2026-03-10T10:00:00Z", 1000)],
        ignore_index=True,
    )
    report = dlq.monitor_report(letters, traffic, CONFIG, as_of=AS_OF)
    assert report["baseline"]["from"] == "observed"
    assert report["baseline"]["rate"] == pytest.approx(0.1)
    assert report["verdict"] == "ok"  # 1% now against a noisy 10% last week and a 2% ceiling


def test_baseline_falls_back_to_the_configured_rate_on_thin_history() -> None:
    letters = _stream_letters(["2026-03-10T10:00:00Z"] * 10)
    traffic = _traffic("stream", "2026-03-10T10:00:00Z", 500)
    report = dlq.monitor_report(letters, traffic, CONFIG, as_of=AS_OF)
    assert report["baseline"]["from"] == "configured"
    assert report["bounds"]["spike_rate"] == pytest.approx(0.015)
    assert report["verdict"] == "spike"
    assert len(report["breaches"]) == 1  # 2% is not above max_rate, but above 3 × 0.5%


def test_enforce_raises_with_a_stable_code_and_the_top_codes() -> None:
    letters = _stream_letters(["2026-03-10T10:00:00Z"] * 30)
    report = dlq.monitor_report(letters, _traffic("stream", "2026-03-10T10:00:00Z", 100), CONFIG, as_of=AS_OF)
    with pytest.raises(dlq.DeadLetterSpikeError, match=r"\[dlq_rate_spike\].*max_rate 0\.0200.*invalid_json 30"):
        dlq.enforce(report)


def test_enforce_passes_a_clean_report() -> None:
    dlq.enforce({"breaches": []})


def test_batch_traffic_is_the_bronze_rows_of_the_latest_run() -> None:
    traffic = dlq.batch_traffic({"bronze_rows": 2010, "ingested_at": "2026-03-10T10:00:00+00:00"})
    assert traffic["records"].tolist() == [2010]


def test_unknown_monitor_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match="window_hour"):
        dlq.parse_config({"window_hour": 24})
