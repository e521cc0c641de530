"""Orchestrates one generation run: world, legit events, fraud, malformed lines, JSON lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from streamflow.core.contract import REQUIRED_FIELDS, SCHEMA_VERSION, ContractConfig
from streamflow.core.outcomes import REQUIRED_OUTCOME_FIELDS
from streamflow.generator.config import MALFORMED_KINDS, GeneratorConfig
from streamflow.generator.events import DAY_MS, draw_legit_events, sort_events
from streamflow.generator.fraud import compromise_merchants, inject_fraud, pattern_quotas
from streamflow.generator.malformed import DUPLICATE_CODE, EXPECTED_CODES, malformed_line
from streamflow.generator.world import MAX_CARDS, World, build_world, card_ids, customer_ids, product_ids

CONTRACT_COLUMNS: tuple[str, ...] = REQUIRED_FIELDS  # in the contract's order
OVERSIZE_FACTOR = 1.25


@dataclass(frozen=True)
class GeneratedStream:
    """The output of one run.

    Attributes:
        partitions: JSON-lines text per event date (``YYYY-MM-DD``), malformed lines included.
        labels: The generator's ground truth: ``transaction_id``, ``is_fraud``, ``pattern`` for
            every valid event (known to the generator only; a team knows its outcomes).
        outcomes: The outcomes known at ``config.outcomes_known_at``, in the label contract's
            columns (strings, as the CSV holds them) plus ``pattern``, in the order they became known.
        manifest: Counts per pattern, per malformed kind (with the codes expected) and per outcome source.

    """

    partitions: dict[str, str]
    labels: pd.DataFrame
    outcomes: pd.DataFrame
    manifest: dict[str, Any]


def generate_stream(config: GeneratorConfig, contract: ContractConfig) -> GeneratedStream:
    """Generate a labelled event stream; the same config always gives the same bytes."""
    rng = np.random.default_rng(config.seed)
    start_ms = int(datetime.combine(config.first_day, datetime.min.time(), UTC).timestamp() * 1000)
    bounds = (start_ms - DAY_MS, start_ms + (config.days + 1) * DAY_MS)
    with tqdm(total=5, desc="generate", unit="step", leave=False) as progress:
        world = build_world(
            rng,
            n_customers=config.customers,
            n_stores=config.n_stores,
            n_products=config.n_products,
            blacklisted_store_ids=config.blacklisted_store_ids,
        )
        progress.update()
        quotas = pattern_quotas(rng, round(config.fraud_rate * config.n_events), dict(config.pattern_weights))
        if not config.blacklisted_store_ids:
            quotas["blacklisted"] = 0
        legit = draw_legit_events(
            rng, world, n=config.n_events - sum(quotas.values()), start_ms=start_ms, days=config.days
        )
        progress.update()
        fraud = inject_fraud(
            rng,
            world,
            legit,
            quotas,
            min_history=config.min_history_for_fraud,
            blacklisted_store_ids=config.blacklisted_store_ids,
            time_bounds_ms=bounds,
        )
        mixed = sort_events(pd.concat([legit, fraud], ignore_index=True))
        mixed = compromise_merchants(
            rng, world, mixed, stores=config.compromised_merchants, days=config.compromise_days
        )
        events = _to_contract_frame(world, mixed, config)
        progress.update()
        lines = to_json_lines(events)
        progress.update()
        partitions, malformed_counts = _with_malformed_lines(
            rng, events, lines, config, oversized_bytes=int(contract.max_payload_bytes * OVERSIZE_FACTOR)
        )
        progress.update()
    labels = pd.DataFrame(
        {
            "transaction_id": events["transaction_id"].to_numpy(),
            "is_fraud": events["pattern"].to_numpy() != "none",
            "pattern": events["pattern"].to_numpy(),
        }
    )
    outcomes = draw_outcomes(rng, events, config)
    return GeneratedStream(
        partitions, labels, outcomes, _manifest(config, labels, malformed_counts, partitions, outcomes)
    )


OUTCOME_COLUMNS: tuple[str, ...] = (*REQUIRED_OUTCOME_FIELDS, "pattern")
CONFIRMED_DELAY_HOURS = (2.0, 72.0)
CLEARED_DELAY_DAYS = (1.0, 10.0)
CHARGEBACK_DELAY_DAYS = (1.0, 60.0)
CHARGEBACK_SIGMA = 0.6


def draw_outcomes(rng: np.random.Generator, events: pd.DataFrame, config: GeneratorConfig) -> pd.DataFrame:
    """The outcomes a fraud team would hold at ``config.outcomes_known_at``, in the label contract.

    Each fraud is confirmed (hours to 3 days later), charged back (log-normal delay around
    ``chargeback_median_days``, 1 to 60 days) or never reported, by ``outcome_sources``; a share
    of legit payments is ``cleared`` 1-10 days later. Outcomes not known yet are left out, as a
    team's feed would not hold them.
    """
    fraud = events["pattern"].to_numpy() != "none"
    n = len(events)
    draw = rng.random(n)
    confirmed_share = config.outcome_sources.get("confirmed", 0.0)
    chargeback_share = confirmed_share + config.outcome_sources.get("chargeback", 0.0)
    source = np.full(n, "", dtype=object)
    source[fraud & (draw < confirmed_share)] = "confirmed"
    source[fraud & (draw >= confirmed_share) & (draw < chargeback_share)] = "chargeback"
    source[~fraud & (draw < config.cleared_rate)] = "cleared"
    delay_days = np.select(
        [source == "confirmed", source == "chargeback", source == "cleared"],
        [
            rng.uniform(*CONFIRMED_DELAY_HOURS, n) / 24.0,
            np.clip(rng.lognormal(np.log(config.chargeback_median_days), CHARGEBACK_SIGMA, n), *CHARGEBACK_DELAY_DAYS),
            rng.uniform(*CLEARED_DELAY_DAYS, n),
        ],
        default=0.0,
    )
    labelled_at_ms = (events["event_time_ms"].to_numpy() + (delay_days * DAY_MS).astype(np.int64)) // 1000 * 1000
    known_at_ms = int(datetime.combine(config.outcomes_known_at, datetime.min.time(), UTC).timestamp() * 1000)
    known = (source != "") & (labelled_at_ms <= known_at_ms)
    order = np.argsort(labelled_at_ms[known], kind="stable")
    chosen = events.loc[known].iloc[order]
    labelled = labelled_at_ms[known][order].astype("datetime64[ms]")
    return pd.DataFrame(
        {
            "transaction_id": chosen["transaction_id"].to_numpy(),
            "is_fraud": np.where(fraud[known][order], "true", "false"),
            "labelled_at": np.datetime_as_string(labelled, unit="s").astype(object) + "+00:00",
            "source": source[known][order],
            "customer_id": chosen["customer_id"].to_numpy(),
            "store_id": chosen["store_id"].to_numpy(),
            "event_time": chosen["timestamp"].to_numpy(),
            "pattern": chosen["pattern"].to_numpy(),
        },
        columns=list(OUTCOME_COLUMNS),
    )


def to_json_lines(events: pd.DataFrame) -> list[str]:
    """One compact JSON object per event, in ``CONTRACT_COLUMNS`` order.

    A template is several times faster than a JSON encoder here; it is safe because
    every string column holds generator-made ids, codes and ISO timestamps (no
    characters that JSON escapes), and floats print with ``repr`` (round-trip exact).
    """
    columns = [events[name].tolist() for name in CONTRACT_COLUMNS[1:]]
    return [
        f'{{"schema_version":{SCHEMA_VERSION},"transaction_id":"{tx}","customer_id":"{customer}",'
        f'"card_id":"{card}","store_id":"{store}","product_id":"{product}","amount":{amount!r},'
        f'"currency":"{currency}","timestamp":"{timestamp}","latitude":{lat!r},"longitude":{lon!r},'
        f'"channel":"{channel}"}}'
        for tx, customer, card, store, product, amount, currency, timestamp, lat, lon, channel in zip(
            *columns, strict=True
        )
    ]


def _to_contract_frame(world: World, events: pd.DataFrame, config: GeneratorConfig) -> pd.DataFrame:
    """Internal integer columns to the contract's string ids, timestamps and rounding."""
    store_ids = world.stores["store_id"].to_numpy()
    customer = events["customer"].to_numpy()
    store = events["store"].to_numpy()
    explicit_store = events["store_id"].to_numpy() if "store_id" in events else np.full(len(events), None)
    offset_hours = events["utc_offset_hours"].to_numpy()
    local = (events["event_time_ms"].to_numpy() + offset_hours * 3_600_000).astype("datetime64[ms]")
    suffix = np.array([f"{h:+03d}:00" for h in range(-12, 15)], dtype=object)[offset_hours + 12]
    run = config.first_day.strftime("%Y%m%d")
    return pd.DataFrame(
        {
            "schema_version": SCHEMA_VERSION,
            "transaction_id": [f"T{run}-{config.seed}-{index:09d}" for index in range(len(events))],
            "customer_id": customer_ids(len(world.customers))[customer],
            "card_id": card_ids(len(world.customers), MAX_CARDS)[customer, events["card_number"].to_numpy() - 1],
            "store_id": np.where(store >= 0, store_ids[np.maximum(store, 0)], explicit_store),
            "product_id": product_ids(world.n_products)[events["product"].to_numpy()],
            "amount": events["amount"].round(2).to_numpy(),
            "currency": events["currency"].to_numpy(),
            "timestamp": np.datetime_as_string(local, unit="s").astype(object) + suffix,
            "latitude": events["latitude"].round(6).to_numpy(),
            "longitude": events["longitude"].round(6).to_numpy(),
            "channel": events["channel"].to_numpy(),
            "pattern": events["pattern"].to_numpy(),
            "event_time_ms": events["event_time_ms"].to_numpy(),
            "event_date": np.datetime_as_string(events["event_time_ms"].to_numpy().astype("datetime64[ms]"), unit="D"),
        }
    )


def _with_malformed_lines(
    rng: np.random.Generator,
    events: pd.DataFrame,
    lines: list[str],
    config: GeneratorConfig,
    *,
    oversized_bytes: int,
) -> tuple[dict[str, str], dict[str, int]]:
    """Insert malformed lines at random places and split the lines by event date."""
    n_valid = len(lines)
    n_malformed = round(config.malformed_rate * config.n_events)
    kinds = [MALFORMED_KINDS[i % len(MALFORMED_KINDS)] for i in range(n_malformed)]
    after = np.sort(rng.integers(0, n_valid, n_malformed))
    records: list[dict[str, Any]] = (
        events.loc[:, list(CONTRACT_COLUMNS)].iloc[rng.integers(0, n_valid, n_malformed)].to_dict("records")  # type: ignore[assignment]
    )
    bad_lines = []
    for index, (kind, position, record) in enumerate(zip(kinds, after.tolist(), records, strict=True)):
        if kind == "duplicate_id":
            bad_lines.append(lines[int(rng.integers(0, position + 1))])
            continue
        record["transaction_id"] = f"{record['transaction_id']}-M{index:06d}"
        bad_lines.append(malformed_line(kind, record, rng, oversized_bytes=oversized_bytes))
    order = np.argsort(np.concatenate([np.arange(n_valid) * 2, after * 2 + 1]), kind="stable")
    all_lines = np.asarray(lines + bad_lines, dtype=object)[order]
    dates = np.concatenate([events["event_date"].to_numpy(), events["event_date"].to_numpy()[after]])[order]
    partitions = {}
    boundaries = np.flatnonzero(dates[1:] != dates[:-1]) + 1
    for chunk_lines, chunk_dates in zip(np.split(all_lines, boundaries), np.split(dates, boundaries), strict=True):
        partitions[str(chunk_dates[0])] = "\n".join(chunk_lines.tolist()) + "\n"
    counts = {kind: kinds.count(kind) for kind in MALFORMED_KINDS}
    return dict(sorted(partitions.items())), counts


def _manifest(
    config: GeneratorConfig,
    labels: pd.DataFrame,
    malformed: dict[str, int],
    partitions: dict[str, str],
    outcomes: pd.DataFrame,
) -> dict[str, Any]:
    patterns = labels["pattern"].value_counts().to_dict()
    codes: dict[str, int] = {}
    for kind, count in malformed.items():
        codes[EXPECTED_CODES[kind]] = codes.get(EXPECTED_CODES[kind], 0) + count
    return {
        "seed": config.seed,
        "start_date": config.first_day.isoformat(),
        "days": config.days,
        "valid_events": len(labels),
        "fraud_events": int(labels["is_fraud"].sum()),
        "fraud_rate": float(labels["is_fraud"].mean()) if len(labels) else 0.0,
        "events_per_pattern": {name: int(count) for name, count in sorted(patterns.items())},
        "malformed_lines": sum(malformed.values()),
        "malformed_per_kind": malformed,
        "expected_error_codes": dict(sorted(codes.items())),
        "duplicate_code": DUPLICATE_CODE,
        "total_lines": len(labels) + sum(malformed.values()),
        "partitions": sorted(partitions),
        "outcomes_known_at": config.outcomes_known_at.isoformat(),
        "outcomes": len(outcomes),
        "outcomes_per_source": {str(k): int(v) for k, v in sorted(outcomes["source"].value_counts().items())},
        "fraud_reported": int((outcomes["is_fraud"] == "true").sum()),
    }
