"""The stream's output records: scored events, alerts and dead letters, as compact JSON lines.

Plain Python, no Flink: the job's functions (``flink_app.job``) call these and emit what they
return; tests drive them directly. The contracts are in ``docs/output_contracts.md``. An alert
leaves the scoring function pending (:func:`pending_alert`): the explain stage adds its top
features (:func:`explain`), off the scoring thread.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from flink_app.scoring_step import StepResult, signals_of
from streamflow.core import Event, EventError, RuleResult, RulesConfig
from streamflow.core.features import event_rule_results
from streamflow.core.forest import ModelBundle

PAYLOAD_LIMIT_BYTES = 10_240
RULES_ONLY_VERSION = "rules-only"
EXPLAIN_INPUTS = "explain_inputs"  # a pending alert's: what its top features come from (float64 bytes, base64)


def score_step(
    event: Event,
    step: StepResult,
    rules: RulesConfig,
    bundle: ModelBundle | None,
    rules_only_threshold: float,
    scored_at: str,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The scored record and the pending alert for an event ``StreamStep`` (or ``MerchantStep``) stepped.

    An alert's reasons are written from the same step's signals (``signals_of``); its top features
    are left to :func:`explain`, from the champion's inputs as the step read them (else the features).
    """
    scored = scored_record(
        event,
        step.features,
        step.fired_rules,
        step.rules_score,
        step.ml_score,
        step.champion_score,
        bundle,
        rules_only_threshold,
        scored_at,
        step.late,
    )
    if not scored["alert"]:
        return scored, None
    fired = tuple(result for result in event_rule_results(signals_of(step), event, rules) if result.fired)
    if bundle is None:
        inputs = b""
    elif step.champion_inputs:
        inputs = step.champion_inputs
    else:
        inputs = np.array(step.features, dtype=np.float64).tobytes()
    return scored, pending_alert(scored, fired, inputs)


def scored_record(
    event: Event,
    features: Any,
    fired_rules: tuple[str, ...],
    rules_score: float,
    ml_score: float | None,
    champion_score: float | None,
    bundle: ModelBundle | None,
    rules_only_threshold: float,
    scored_at: str,
    late: bool,
) -> dict[str, Any]:
    """The scored record: features, fired rules, the scores, the deciding one, its threshold, the verdict.

    With a champion in the bundle it decides (``final_score``, ``threshold``, ``model_version``)
    and the forest's blend scores in shadow, as the challenger; without one the blend decides.
    """
    challenger: tuple[float | None, str | None, bool | None] = (None, None, None)
    if bundle is not None and ml_score is not None:
        manifest = bundle.manifest
        blend = bundle.blend(ml_score, rules_score)
        if manifest.champion is not None and champion_score is not None:
            final, threshold, version = (
                champion_score,
                manifest.champion.alert_threshold,
                manifest.champion.model_version,
            )
            challenger = (blend, manifest.model_version, blend >= manifest.alert_threshold and blend > 0.0)
        else:
            final, threshold, version = blend, manifest.alert_threshold, manifest.model_version
    else:
        final, threshold, version = rules_score, rules_only_threshold, RULES_ONLY_VERSION
    return {
        "transaction_id": event.transaction_id,
        "customer_id": event.customer_id,
        "event_time": event.timestamp,
        "amount": event.amount,
        "currency": event.currency,
        "features": features._asdict(),  # a FeatureSet.vector: the model's features by name
        "fired_rules": list(fired_rules),
        "rules_score": rules_score,
        "ml_score": ml_score,
        "final_score": final,
        "threshold": threshold,
        "alert": final >= threshold and final > 0.0,
        "model_version": version,
        "challenger_score": challenger[0],
        "challenger_version": challenger[1],
        "challenger_alert": challenger[2],
        "scored_at": scored_at,
        "late": late,
    }


def deciding_version(bundle: ModelBundle | None) -> str:
    """The version of the model whose score decides: the champion's, else the forest's, else ``rules-only``."""
    if bundle is None:
        return RULES_ONLY_VERSION
    champion = bundle.manifest.champion
    return champion.model_version if champion is not None else bundle.manifest.model_version


def top_features(bundle: ModelBundle | None, inputs: NDArray[np.float64]) -> list[tuple[str, float]]:
    """The deciding model's three largest pushes towards fraud: the champion's TreeSHAP, else the forest's.

    ``inputs``: the champion's inputs, or without a champion the model's features.
    """
    if bundle is None or not len(inputs):
        return []
    if bundle.manifest.champion is not None:
        return bundle.champion_top_contributions(inputs)
    return bundle.top_contributions(inputs.tolist())


def pending_alert(scored: dict[str, Any], fired: tuple[RuleResult, ...], inputs: bytes) -> dict[str, Any]:
    """The alert without its top features yet, with the deciding model's ``inputs`` (float64 bytes) to find them."""
    return {**alert_record(scored, fired, []), EXPLAIN_INPUTS: base64.b64encode(inputs).decode("ascii")}


def explain(alert: dict[str, Any], bundle: ModelBundle | None) -> dict[str, Any]:
    """A pending alert (:func:`pending_alert`) with its top features, in place (:func:`top_features`)."""
    inputs = np.frombuffer(base64.b64decode(alert.pop(EXPLAIN_INPUTS)), dtype=np.float64)
    alert["top_features"] = [{"feature": name, "contribution": value} for name, value in top_features(bundle, inputs)]
    return alert


def alert_record(scored: dict[str, Any], fired: tuple[RuleResult, ...], top: list[tuple[str, float]]) -> dict[str, Any]:
    """The alert of a scored record above its threshold: the fired rules' reasons and the model's top features."""
    return {
        "alert_id": scored["transaction_id"],
        **{key: scored[key] for key in ("transaction_id", "customer_id", "event_time", "amount", "currency")},
        **{key: scored[key] for key in ("scored_at", "rules_score", "ml_score", "final_score", "threshold")},
        "fired_rules": list(scored["fired_rules"]),
        "reasons": [f"{result.rule_id} {result.name}: {result.reason}" for result in fired],
        "top_features": [{"feature": name, "contribution": value} for name, value in top],
        "model_version": scored["model_version"],
        "challenger_score": scored["challenger_score"],
        "challenger_version": scored["challenger_version"],
    }


def dead_letter(
    raw: bytes, error: EventError, *, source: str, received_at: str, job_version: str, model_version: str
) -> dict[str, Any]:
    """The dead-letter record of a rejected payload: its first 10 KB as text (bytes beyond UTF-8 replaced)."""
    return {
        **error.to_dict(),
        "source": source,
        "received_at": received_at,
        "job_version": job_version,
        "model_version": model_version,
        "payload": raw[:PAYLOAD_LIMIT_BYTES].decode("utf-8", "replace"),
        "payload_size": len(raw),
        "payload_truncated": len(raw) > PAYLOAD_LIMIT_BYTES,
    }


class _UtcClock:
    """The current UTC time, ISO 8601 to the millisecond (``2026-01-31T14:05:00.123+00:00``).

    Every scored record carries it: the date and time of day are formatted once per second
    (formatting a ``datetime`` costs more than the rest of the record), the milliseconds
    are appended.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        second, millisecond = divmod(time.time_ns() // 1_000_000, 1000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).replace(tzinfo=None).isoformat()
        return f"{self._prefix}.{millisecond:03d}+00:00"


utc_now = _UtcClock()


def to_json(record: dict[str, Any]) -> str:
    """One compact JSON line (:func:`json_line`, as text)."""
    return json_line(record).decode()


def json_line(record: dict[str, Any]) -> bytes:
    """One compact JSON line, UTF-8.

    orjson, or the standard encoder for what orjson refuses (such as an integer beyond 64
    bits echoed from a rejected payload, or a lone surrogate): its output escapes every
    non-ASCII character.
    """
    try:
        return orjson.dumps(record)
    except (orjson.JSONEncodeError, UnicodeEncodeError):
        return json.dumps(record, separators=(",", ":")).encode("ascii")
