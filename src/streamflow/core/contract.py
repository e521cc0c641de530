"""Event contract v1: parse raw bytes or text into a typed :class:`Event`.

The one parser used by the batch pipelines (silver) and the stream (Flink), so both
accept and reject exactly the same events with the same error codes. See
``docs/event_contract.md`` for the contract itself.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, NamedTuple, cast

from streamflow.core.currencies import ISO_4217_CODES
from streamflow.core.errors import (
    BadEncodingError,
    BadTimestampError,
    BadTypeError,
    BadValueError,
    FutureTimestampError,
    InvalidJsonError,
    MissingFieldError,
    OutOfRangeError,
    PayloadTooLargeError,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CHANNELS: frozenset[str] = frozenset({"pos", "online", "atm", "mobile"})
ID_FIELDS: tuple[str, ...] = ("transaction_id", "customer_id", "card_id", "store_id", "product_id")
REQUIRED_FIELDS: tuple[str, ...] = (
    "schema_version",
    *ID_FIELDS,
    "amount",
    "currency",
    "timestamp",
    "latitude",
    "longitude",
    "channel",
)
DEFAULT_MAX_AMOUNT = 1_000_000.0
DEFAULT_MAX_PAYLOAD_BYTES = 16_384
DEFAULT_FUTURE_TOLERANCE_MINUTES = 5.0
BYTE_ORDER_MARK = "\ufeff"
MAX_ID_LENGTH = 128
_MS_PER_SECOND = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()


@dataclass(frozen=True, slots=True)
class ContractConfig:
    """Limits of the event contract (``event_contract`` block of the parameters).

    Attributes:
        max_amount: Largest accepted amount (inclusive).
        max_payload_bytes: Largest accepted raw payload, in bytes of UTF-8.
        allowed_currencies: Accepted currency codes; defaults to every active ISO 4217 code.
        future_tolerance_minutes: How far an event time may lie past the moment the event was
            received (clock skew): later ones are ``future_timestamp``.

    """

    max_amount: float = DEFAULT_MAX_AMOUNT
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    allowed_currencies: frozenset[str] = ISO_4217_CODES
    future_tolerance_minutes: float = DEFAULT_FUTURE_TOLERANCE_MINUTES

    @property
    def future_tolerance_ms(self) -> int:
        """``future_tolerance_minutes`` in milliseconds."""
        return int(self.future_tolerance_minutes * 60_000)

    @classmethod
    def from_dict(cls, block: dict[str, Any] | None) -> ContractConfig:
        """Build from the ``event_contract`` parameters block (missing keys take defaults)."""
        from streamflow.core.config import build_dataclass

        return build_dataclass(cls, block, path="event_contract")


class Event(NamedTuple):
    """A transaction event that passed the contract (immutable).

    ``event_time_ms`` is the event time as Unix epoch milliseconds (UTC);
    ``utc_offset_minutes`` keeps the offset the event was stamped with, so rules can
    use the local wall-clock hour where the payment happened.
    """

    schema_version: int
    transaction_id: str
    customer_id: str
    card_id: str
    store_id: str
    product_id: str
    amount: float
    currency: str
    timestamp: str
    event_time_ms: int
    utc_offset_minutes: int
    latitude: float
    longitude: float
    channel: str

    @property
    def local_hour(self) -> float:
        """Local wall-clock hour of day as a fraction in [0, 24)."""
        local_ms = self.event_time_ms + self.utc_offset_minutes * 60 * _MS_PER_SECOND
        return (local_ms % 86_400_000) / 3_600_000

    def to_dict(self) -> dict[str, Any]:
        """The typed event as a flat record (contract fields plus the derived times)."""
        return self._asdict()


DEFAULT_CONTRACT = ContractConfig()


def parse_event(
    raw: bytes | str, config: ContractConfig = DEFAULT_CONTRACT, *, received_at_ms: int | None = None
) -> Event:
    """Parse one raw event (a JSON object) into a typed :class:`Event`.

    Args:
        raw: The payload as landed: UTF-8 bytes (strictly decoded) or text, one JSON object. A
            leading UTF-8 byte-order mark is ignored, as RFC 8259 allows.
        config: Contract limits.
        received_at_ms: When the event was received (epoch ms): an event time later than this
            plus ``config.future_tolerance_minutes`` is ``future_timestamp``. ``None``: no check.

    Returns:
        The typed event. Unknown extra fields are ignored; a ``schema_version`` above
        the current one is parsed best-effort and logged once per version.

    Raises:
        EventError: A subclass with a stable ``code`` saying what was wrong.

    """
    text = _decode(raw, config.max_payload_bytes)
    if text.startswith(BYTE_ORDER_MARK):
        text = text[1:]
    latest_ms = None if received_at_ms is None else received_at_ms + config.future_tolerance_ms
    event = _parse_well_formed(text, config)
    if event is None:
        return _parse_document(_load_json(text), config, latest_ms)
    if latest_ms is not None and event.event_time_ms > latest_ms:
        _reject_future(event.timestamp, latest_ms)
    return event


def _reject_future(timestamp: str, latest_ms: int) -> None:
    latest = datetime.fromtimestamp(latest_ms / 1000, UTC).isoformat()
    raise FutureTimestampError(
        f"timestamp {timestamp} is later than when the event was received, beyond the tolerance ({latest})",
        field="timestamp",
        expected=f"at most {latest}",
        got=timestamp,
    )


def _parse_document(document: Any, config: ContractConfig, latest_ms: int | None = None) -> Event:
    """The event in a decoded JSON document, or the first contract violation, in field order."""
    if type(document) is not dict:
        raise BadTypeError(
            f"expected a JSON object per event, got {type(document).__name__}",
            field="$",
            expected="object",
            got=document,
        )
    values = list(map(document.get, REQUIRED_FIELDS))
    if None in values:
        name = REQUIRED_FIELDS[values.index(None)]
        state = "is null" if name in document else "is absent"
        raise MissingFieldError(f"required field '{name}' {state}", field=name, expected="a value", got=None)
    # Checked in the contract's field order: the first failure wins.
    version = _schema_version(values[0])
    transaction_id = _identifier("transaction_id", values[1])
    customer_id = _identifier("customer_id", values[2])
    card_id = _identifier("card_id", values[3])
    store_id = _identifier("store_id", values[4])
    product_id = _identifier("product_id", values[5])
    amount = _amount(values[6], config.max_amount)
    currency = _currency(values[7], config.allowed_currencies)
    event_time_ms, offset_minutes = _timestamp(values[8])
    if latest_ms is not None and event_time_ms > latest_ms:
        _reject_future(cast(str, values[8]), latest_ms)
    latitude = _coordinate("latitude", values[9], 90.0)
    longitude = _coordinate("longitude", values[10], 180.0)
    channel = _channel(values[11])
    return Event(
        version,
        transaction_id,
        customer_id,
        card_id,
        store_id,
        product_id,
        amount,
        currency,
        cast(str, values[8]),
        event_time_ms,
        offset_minutes,
        latitude,
        longitude,
        channel,
    )


def _well_formed_decoder() -> Callable[[str], Any] | None:
    """The decoder (msgspec's) of the contract's fields, types and fixed bounds, if installed.

    It returns the decoded fields, or ``None`` for a line that is not well formed (the core
    runs without msgspec; every line then takes the full parse).
    """
    try:
        import msgspec
    except ImportError:  # pragma: no cover - msgspec is in the locked environment
        return None
    identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    fields = [
        ("schema_version", int),
        *((name, identifier) for name in ID_FIELDS),
        ("amount", float),
        ("currency", str),
        ("timestamp", str),
        ("latitude", Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]),
        ("longitude", Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]),
        ("channel", str),
    ]
    decoder = msgspec.json.Decoder(msgspec.defstruct("WellFormedEvent", fields))

    def decode(text: str) -> Any:
        try:
            return decoder.decode(text)
        except (msgspec.MsgspecError, UnicodeError):  # not well formed, or a lone surrogate
            return None

    return decode


_DECODE_WELL_FORMED = _well_formed_decoder()
_MAX_FAST_BRACKETS = 64  # fewer cannot nest deep enough for either decoder's recursion limit
_MAX_EXACT_AMOUNT = 2.0**53


def _parse_well_formed(text: str, config: ContractConfig) -> Event | None:
    """The event, if ``text`` passes every check on the fast path; ``None`` leaves the verdict to the full parse.

    msgspec decodes straight into the contract's types and bounds, several times faster than
    a JSON parse followed by checks in Python. It accepts only what the full parse accepts
    with the same values (tested); anything it declines, the full parse reads again and
    explains with its error code.
    """
    if _DECODE_WELL_FORMED is None or text.count("[") + text.count("{") > _MAX_FAST_BRACKETS:
        return None
    fields = _DECODE_WELL_FORMED(text)
    if fields is None:
        return None
    amount = fields.amount
    if (
        fields.schema_version != SCHEMA_VERSION
        or not 0 < amount <= config.max_amount
        or amount >= _MAX_EXACT_AMOUNT
        or fields.currency not in config.allowed_currencies
        or fields.channel not in CHANNELS
        or fields.transaction_id.isspace()
        or fields.customer_id.isspace()
        or fields.card_id.isspace()
        or fields.store_id.isspace()
        or fields.product_id.isspace()
    ):
        return None
    try:
        event_time_ms, offset_minutes = _timestamp(fields.timestamp)
    except BadTimestampError:
        return None
    return Event(
        SCHEMA_VERSION,
        fields.transaction_id,
        fields.customer_id,
        fields.card_id,
        fields.store_id,
        fields.product_id,
        amount,
        fields.currency,
        fields.timestamp,
        event_time_ms,
        offset_minutes,
        fields.latitude,
        fields.longitude,
        fields.channel,
    )


def _decode(raw: bytes | str, max_payload_bytes: int) -> str:
    if isinstance(raw, str):
        size = len(raw) if raw.isascii() else len(raw.encode("utf-8", "surrogatepass"))
        text = raw
    else:
        size = len(raw)
        text = ""
    if size > max_payload_bytes:
        raise PayloadTooLargeError(
            f"payload is {size} bytes, the limit is {max_payload_bytes}",
            expected=f"at most {max_payload_bytes} bytes",
            got=f"{size} bytes",
        )
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadEncodingError(
                f"payload is not valid UTF-8 (byte {exc.start}: {exc.reason})",
                expected="UTF-8 text",
                got=raw[max(0, exc.start - 8) : exc.start + 8],
            ) from exc
    return text


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _orjson_loads() -> Callable[[str], Any] | None:
    """The orjson decoder if installed: the core runs on the standard library alone, orjson is faster."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is in the locked environment
        return None
    return orjson.loads


_FAST_LOADS = _orjson_loads()
_INT64_LIMIT = 2.0**63  # orjson reads integers from here on as floats; the standard decoder keeps ints


def _load_json(text: str, *, exact_numbers: bool = True) -> Any:
    """The JSON value of ``text``: orjson's reading, else the standard library's.

    orjson is several times faster and reads valid JSON to the same values, except integers
    beyond 64 bits, which it makes floats: with ``exact_numbers``, a top-level value (or
    object member) that large is read again by the standard decoder, as is anything orjson
    rejects (lone surrogate escapes; invalid JSON, whose error message is the standard
    decoder's).
    """
    if _FAST_LOADS is not None:
        try:
            document = _FAST_LOADS(text)
        except ValueError:  # orjson.JSONDecodeError
            pass
        else:
            if not exact_numbers or not _has_huge_float(document.values() if type(document) is dict else (document,)):
                return document
    try:
        return _STRICT_JSON.decode(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidJsonError(f"payload is not valid JSON: {exc}", expected="one JSON object", got=text) from exc


def _has_huge_float(values: Iterable[Any]) -> bool:
    for value in values:  # noqa: SIM110 - twice as fast as any() over a generator, for every event
        if type(value) is float and not -_INT64_LIMIT < value < _INT64_LIMIT:
            return True
    return False


def routing_key(raw: bytes | str) -> str:
    """The ``customer_id`` :func:`parse_event` would read from ``raw``, or ``""`` if it cannot.

    A cheap look at one field, for partitioning a raw stream by customer before the full
    parse; a line keyed ``""`` is one the full parse rejects, or one whose ``customer_id``
    holds a lone surrogate (which Flink's Python bridge cannot carry: the stream dead-letters
    it as ``unroutable_event``).

    Most lines need no JSON parser: without a backslash a line has no escapes, so every
    ``"`` delimits a string, and a ``"customer_id"`` followed by ``:`` is an object key. If
    it occurs once, followed by a string, that string is the member the parser reads (a
    nested or repeated member would be a second occurrence). Anything else is parsed.
    """
    try:
        text = raw if isinstance(raw, str) else raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    if text.startswith(BYTE_ORDER_MARK):
        text = text[1:]
    if keyed_without_parser(text):
        member = _STRING_MEMBER_VALUE.match(text, text.find(_CUSTOMER_ID_KEY) + len(_CUSTOMER_ID_KEY))
        if member is not None:
            return member.group(1)
    try:
        document = _load_json(text, exact_numbers=False)
    except InvalidJsonError:
        return ""
    customer_id = document.get("customer_id") if type(document) is dict else None
    return customer_id if type(customer_id) is str and _is_well_formed(customer_id) else ""


def _is_well_formed(text: str) -> bool:
    r"""No lone surrogate (a JSON escape such as ``\ud800`` decodes to one): Flink cannot carry it as a key."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def keyed_without_parser(raw: str) -> bool:
    """Whether :func:`routing_key` reads ``raw``'s key without a JSON parser (almost every line).

    Such a line has no backslash and one ``"customer_id"``: the key read from it is the one the
    parser reads, or the parser rejects the line. Any other line's key came from a JSON parser,
    which a key computed elsewhere (the stream keys lines in the JVM) may read differently.
    """
    return "\\" not in raw and raw.count(_CUSTOMER_ID_KEY) == 1


_CUSTOMER_ID_KEY = '"customer_id"'
_STRING_MEMBER_VALUE = re.compile(r'[ \t\n\r]*:[ \t\n\r]*"([^"]*)"')  # JSON's whitespace only


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is float or kind is int or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _schema_version(value: Any) -> int:
    if type(value) is int and value == SCHEMA_VERSION:
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadTypeError(
            f"schema_version must be an integer, got {type(value).__name__}",
            field="schema_version",
            expected="integer",
            got=value,
        )
    if value < 1:
        raise OutOfRangeError(
            f"schema_version must be >= 1, got {value}",
            field="schema_version",
            expected=">= 1",
            got=value,
        )
    if value > SCHEMA_VERSION:
        _warn_forward_version(value)
    return value


@lru_cache(maxsize=64)
def _warn_forward_version(version: int) -> None:
    logger.warning(
        "Event schema_version %s is newer than %s: parsing best-effort, extra fields ignored",
        version,
        SCHEMA_VERSION,
    )


def _identifier(name: str, value: Any) -> str:
    if type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and not value.isspace():
        return value
    if not isinstance(value, str):
        raise BadTypeError(
            f"{name} must be a string, got {type(value).__name__}",
            field=name,
            expected="string",
            got=value,
        )
    if not value.strip() or len(value) > MAX_ID_LENGTH:
        raise BadValueError(
            f"{name} must be a non-blank string of at most {MAX_ID_LENGTH} characters, got {len(value)} characters",
            field=name,
            expected=f"1..{MAX_ID_LENGTH} characters, not blank",
            got=value,
        )
    return value


def _amount(value: Any, max_amount: float) -> float:
    if not _is_number(value):
        raise BadTypeError(
            f"amount must be a number, got {type(value).__name__}",
            field="amount",
            expected="number",
            got=value,
        )
    if not 0 < value <= max_amount:
        raise OutOfRangeError(
            f"amount must be > 0 and <= {max_amount:g}, got {value}",
            field="amount",
            expected=f"(0, {max_amount:g}]",
            got=value,
        )
    return float(value)


def _currency(value: Any, allowed: frozenset[str]) -> str:
    if not isinstance(value, str):
        raise BadTypeError(
            f"currency must be a string, got {type(value).__name__}",
            field="currency",
            expected="string",
            got=value,
        )
    if value not in allowed:
        raise BadValueError(
            f"currency must be an upper-case ISO 4217 code (e.g. 'EUR'), got {value!r}",
            field="currency",
            expected="ISO 4217 code",
            got=value,
        )
    return value


def _timestamp(value: Any) -> tuple[int, int]:
    if not isinstance(value, str):
        raise BadTypeError(
            f"timestamp must be an ISO 8601 string, got {type(value).__name__}",
            field="timestamp",
            expected="ISO 8601 string with offset",
            got=value,
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadTimestampError(
            f"timestamp is not ISO 8601: {value!r}",
            field="timestamp",
            expected="e.g. 2026-01-31T14:05:00+01:00",
            got=value,
        ) from exc
    offset = parsed.utcoffset()
    if offset is None:
        raise BadTimestampError(
            f"timestamp has no UTC offset: {value!r} (add 'Z' or '+HH:MM')",
            field="timestamp",
            expected="ISO 8601 with offset",
            got=value,
        )
    return _epoch_ms(parsed, offset), (offset.days * 86_400 + offset.seconds) // 60


def _epoch_ms(parsed: datetime, offset: timedelta) -> int:
    """``(parsed - 1970-01-01T00:00Z) // 1 ms``, in integers (several times cheaper than timedelta arithmetic)."""
    seconds = (parsed.toordinal() - _EPOCH_ORDINAL) * 86_400 + parsed.hour * 3_600 + parsed.minute * 60 + parsed.second
    local_us = seconds * 1_000_000 + parsed.microsecond
    offset_us = (offset.days * 86_400 + offset.seconds) * 1_000_000 + offset.microseconds
    return (local_us - offset_us) // 1_000


def _coordinate(name: str, value: Any, limit: float) -> float:
    if not _is_number(value):
        raise BadTypeError(
            f"{name} must be a number, got {type(value).__name__}",
            field=name,
            expected="number",
            got=value,
        )
    if not -limit <= value <= limit:
        raise OutOfRangeError(
            f"{name} must be within [-{limit:g}, {limit:g}], got {value}",
            field=name,
            expected=f"[-{limit:g}, {limit:g}]",
            got=value,
        )
    return float(value)


def _channel(value: Any) -> str:
    if not isinstance(value, str):
        raise BadTypeError(
            f"channel must be a string, got {type(value).__name__}",
            field="channel",
            expected="string",
            got=value,
        )
    if value not in CHANNELS:
        raise BadValueError(
            f"channel must be one of {sorted(CHANNELS)}, got {value!r}",
            field="channel",
            expected=" | ".join(sorted(CHANNELS)),
            got=value,
        )
    return value
