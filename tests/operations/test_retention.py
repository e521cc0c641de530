import pandas as pd
import pytest

from streamflow.operations import retention

AS_OF = pd.Timestamp("2026-06-30T00:00:00Z")
MTIME = pd.Timestamp("2026-06-29T00:00:00Z")


def _inventory(paths: list[str], modified_at: pd.Timestamp = MTIME) -> pd.DataFrame:
    return pd.DataFrame({"path": paths, "modified_at": modified_at, "size_bytes": 10})


def test_landing_files_are_aged_by_the_event_date_in_their_name() -> None:
    inventory = _inventory(["2026-01-01.jsonl", "2026-06-01.jsonl", "2026-01-02.jsonl.gz"])
    plan = retention.plan_landing(inventory, as_of=AS_OF, max_age_days=90)
    assert plan["path"].tolist() == ["2026-01-01.jsonl", "2026-01-02.jsonl.gz"]
    assert plan.loc[0, "age_days"] == pytest.approx(180.0)


def test_replay_files_are_aged_by_modification_time() -> None:
    inventory = pd.concat(
        [
            _inventory(["replay-old.jsonl"], pd.Timestamp("2026-01-01T00:00:00Z")),
            _inventory(["replay-new.jsonl"]),
        ],
        ignore_index=True,
    )
    plan = retention.plan_landing(inventory, as_of=AS_OF, max_age_days=90)
    assert plan["path"].tolist() == ["replay-old.jsonl"]


def test_an_entry_exactly_at_the_retention_age_is_kept() -> None:
    inventory = _inventory(["2026-04-01.jsonl"])
    assert retention.plan_landing(inventory, as_of=AS_OF, max_age_days=90).empty


def test_stream_buckets_are_aged_by_their_hour_and_other_folders_are_left_alone() -> None:
    inventory = _inventory(["alerts/2026-06-01--03", "dlq/2026-06-29--23", "scored/_checkpoint"])
    plan = retention.plan_stream_buckets(inventory, as_of=AS_OF, max_age_days=14)
    assert plan["path"].tolist() == ["alerts/2026-06-01--03"]


def test_old_versions_go_but_the_newest_keep_latest_of_each_dataset_stay() -> None:
    versions = [f"model_bundle/2026-01-0{day}T10.00.00.000Z" for day in range(1, 6)]
    inventory = _inventory([*versions, "model_metrics.json/2026-01-01T10.00.00.000Z", "viz/index.html"])
    plan = retention.plan_versions(inventory, as_of=AS_OF, config=retention.RetentionConfig(keep_latest=2))
    assert plan["path"].tolist() == versions[:3]  # the sole metrics version and non-versions stay


def test_the_newest_version_stays_even_when_every_version_is_ancient() -> None:
    inventory = _inventory(["model_bundle/2020-01-01T00.00.00.000Z", "model_bundle/2020-01-02T00.00.00.000Z"])
    plan = retention.plan_versions(inventory, as_of=AS_OF, config=retention.RetentionConfig(keep_latest=1))
    assert plan["path"].tolist() == ["model_bundle/2020-01-01T00.00.00.000Z"]


def test_keep_latest_below_one_is_refused() -> None:
    with pytest.raises(retention.RetentionError, match="keep_latest must be at least 1"):
        retention.RetentionConfig(keep_latest=0)


def test_the_guard_refuses_a_plan_holding_a_newest_version() -> None:
    versions = retention.with_entry_time(
        _inventory(["model_bundle/2026-01-01T00.00.00.000Z", "model_bundle/2026-01-02T00.00.00.000Z"]),
        retention.VERSION_FORMAT,
        fallback_to_mtime=False,
    )
    with pytest.raises(retention.NewestVersionError, match=r"\[retention_newest_version\].*2026-01-02"):
        retention.check_newest_kept(versions.iloc[1:], versions)


def test_plan_summary_counts_entries_and_bytes() -> None:
    plan = retention.plan_landing(_inventory(["2026-01-01.jsonl", "2026-01-02.jsonl"]), as_of=AS_OF, max_age_days=1)
    assert retention.plan_summary(plan, max_age_days=1) == {
        "max_age_days": 1,
        "entries": 2,
        "bytes": 20,
        "paths": ["2026-01-01.jsonl", "2026-01-02.jsonl"],
    }


def test_an_empty_inventory_plans_nothing() -> None:
    empty = pd.DataFrame({"path": [], "modified_at": pd.to_datetime([], utc=True), "size_bytes": []})
    assert retention.plan_landing(empty, as_of=AS_OF, max_age_days=1).empty
    assert retention.plan_versions(empty, as_of=AS_OF, config=retention.RetentionConfig()).empty
