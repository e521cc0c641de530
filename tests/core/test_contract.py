import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamflow.core import EVENT_ERROR_CODES, ContractConfig, EventError, parse_event, routing_key
from streamflow.core.contract import (
    ID_FIELDS,
    MAX_ID_LENGTH,
    REQUIRED_FIELDS,
    _epoch_ms,
    _load_json,
    _parse_document,
    _parse_well_formed,
)
from tests.factories import payload

DEFAULT = ContractConfig()


def _code(raw: bytes | str, config: ContractConfig = DEFAULT) -> str:
    with pytest.raises(EventError) as caught:
        parse_event(raw, config)
    return caught.value.code


def test_valid_payload_parses_to_typed_event() -> None:
    event = parse_event(json.dumps(payload(timestamp="2026-01-05T13:30:00+01:00")))
    assert event.transaction_id == "tx-1"
    assert event.amount == 42.5
    assert event.event_time_ms == 1767616200000  # 12:30 UTC
    assert event.utc_offset_minutes == 60
    assert event.local_hour == 13.5


@pytest.mark.parametrize("raw_type", [bytes, str])
def test_bytes_and_text_give_the_same_event(raw_type: type) -> None:
    text = json.dumps(payload())
    raw = text.encode() if raw_type is bytes else text
    assert parse_event(raw) == parse_event(text)


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", 10), ("amount", 10.25), ("latitude", -90), ("latitude", 90.0), ("longitude", -180), ("longitude", 180)],
)
def test_integer_and_float_numbers_are_both_accepted(field: str, value: float) -> None:
    event = parse_event(json.dumps(payload(**{field: value})))
    assert getattr(event, field) == float(value)
    assert isinstance(getattr(event, field), float)


@pytest.mark.parametrize(
    ("timestamp", "expected_ms", "offset"),
    [
        ("2026-01-05T12:00:00Z", 1767614400000, 0),
        ("2026-01-05T12:00:00+00:00", 1767614400000, 0),
        ("2026-01-05T07:00:00-05:00", 1767614400000, -300),
        ("2026-01-05T17:30:00.250+05:30", 1767614400250, 330),
        ("20260105T120000Z", 1767614400000, 0),
    ],
)
def test_iso_timestamps_with_offset_give_utc_epoch_ms(timestamp: str, expected_ms: int, offset: int) -> None:
    event = parse_event(json.dumps(payload(timestamp=timestamp)))
    assert event.event_time_ms == expected_ms
    assert event.utc_offset_minutes == offset


def test_unknown_fields_are_ignored() -> None:
    event = parse_event(json.dumps(payload(device="ios", risk={"x": 1})))
    assert event.customer_id == "C1"


def test_newer_schema_version_is_parsed_best_effort_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    event = parse_event(json.dumps(payload(schema_version=7, new_field=[1, 2])))
    assert event.schema_version == 7
    assert "schema_version 7 is newer" in caplog.text


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"schema_version": 1, "amount": ', "invalid_json"),
        ("", "invalid_json"),
        ("not json at all", "invalid_json"),
        ('{"amount": NaN}', "invalid_json"),
        ('{"amount": Infinity}', "invalid_json"),
        (b"\xff\xfe{}", "bad_encoding"),
        (b'{"customer_id": "\xc3\x28"}', "bad_encoding"),
        ("[1, 2, 3]", "bad_type"),
        ('"just a string"', "bad_type"),
    ],
)
def test_payload_level_errors_have_stable_codes(raw: bytes | str, code: str) -> None:
    assert _code(raw) == code


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_each_absent_field_is_missing_field(field: str) -> None:
    record = payload()
    del record[field]
    with pytest.raises(EventError) as caught:
        parse_event(json.dumps(record))
    assert caught.value.code == "missing_field"
    assert caught.value.field == field


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_each_null_field_is_missing_field(field: str) -> None:
    assert _code(json.dumps(payload(**{field: None}))) == "missing_field"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("schema_version", "1"),
        ("schema_version", 1.0),
        ("schema_version", True),
        ("transaction_id", 123),
        ("customer_id", ["C1"]),
        ("card_id", {"id": 1}),
        ("store_id", 1.5),
        ("product_id", False),
        ("amount", "12.50"),
        ("amount", True),
        ("currency", 978),
        ("timestamp", 1767614400),
        ("latitude", "48.85"),
        ("longitude", [2.35]),
        ("channel", 1),
    ],
)
def test_wrong_json_types_are_bad_type(field: str, value: object) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(json.dumps(payload(**{field: value})))
    assert caught.value.code == "bad_type"
    assert caught.value.field == field
    assert "must be" in caught.value.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 0),
        ("amount", -0.01),
        ("amount", 1_000_000.01),
        ("amount", 10**400),
        ("latitude", 90.0001),
        ("latitude", -91),
        ("longitude", 180.5),
        ("longitude", -720),
        ("schema_version", 0),
    ],
)
def test_values_outside_their_range_are_out_of_range(field: str, value: object) -> None:
    assert _code(json.dumps(payload(**{field: value}))) == "out_of_range"


def test_json_number_overflowing_to_infinity_is_out_of_range() -> None:
    assert _code(json.dumps(payload()).replace("42.5", "1e400")) == "out_of_range"


def test_amount_at_the_cap_is_accepted_and_the_cap_is_configurable() -> None:
    assert parse_event(json.dumps(payload(amount=1_000_000))).amount == 1_000_000.0
    assert _code(json.dumps(payload(amount=501)), ContractConfig(max_amount=500)) == "out_of_range"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "eur"),
        ("currency", "EURO"),
        ("currency", "XYZ"),
        ("currency", ""),
        ("channel", "POS"),
        ("channel", "fax"),
        ("channel", ""),
        ("customer_id", ""),
        ("card_id", "   "),
        ("store_id", "S" * 129),
    ],
)
def test_values_outside_their_domain_are_bad_value(field: str, value: str) -> None:
    assert _code(json.dumps(payload(**{field: value}))) == "bad_value"


@pytest.mark.parametrize(
    "timestamp",
    ["2026-01-05T12:00:00", "2026-13-45T25:61:00+00:00", "yesterday", "", "05/01/2026 12:00"],
)
def test_unparseable_or_naive_timestamps_are_bad_timestamp(timestamp: str) -> None:
    assert _code(json.dumps(payload(timestamp=timestamp))) == "bad_timestamp"


def test_payload_over_the_limit_is_payload_too_large_before_parsing() -> None:
    config = ContractConfig(max_payload_bytes=1024)
    oversized = json.dumps(payload(notes="x" * 2000))
    assert _code(oversized, config) == "payload_too_large"
    assert _code(b"{" * 5000, config) == "payload_too_large"
    assert _code("é" * 600, config) == "payload_too_large"  # 1,200 bytes in UTF-8


def test_error_message_says_expected_and_got_and_field() -> None:
    with pytest.raises(EventError) as caught:
        parse_event(json.dumps(payload(latitude=123.4)))
    error = caught.value
    assert error.field == "latitude"
    assert "[-90, 90]" in error.message
    assert "123.4" in error.message
    assert error.to_dict() == {"error_code": "out_of_range", "error_field": "latitude", "error_message": error.message}


def test_every_error_code_is_distinct_and_documented() -> None:
    assert len(set(EVENT_ERROR_CODES)) == len(EVENT_ERROR_CODES)
    with open("docs/event_contract.md", encoding="utf-8") as contract_doc:
        text = contract_doc.read()
    assert all(f"`{code}`" in text for code in EVENT_ERROR_CODES)


def test_contract_config_rejects_unknown_keys() -> None:
    from streamflow.core import ConfigError

    with pytest.raises(ConfigError, match="max_amout"):
        ContractConfig.from_dict({"max_amout": 5})


def test_integers_beyond_64_bits_stay_integers() -> None:
    """orjson reads them as floats; the parser reads them as the standard decoder does."""
    with pytest.raises(EventError) as error:
        parse_event(json.dumps(payload(customer_id=10**25)))
    assert "got int" in error.value.message  # not "got float"
    event = parse_event(json.dumps(payload(schema_version=10**25)))  # a newer version: best effort
    assert event.schema_version == 10**25


def test_routing_key_is_the_customer_id_or_empty() -> None:
    assert routing_key(json.dumps(payload(customer_id="C42"))) == "C42"
    assert routing_key(json.dumps(payload(customer_id="C42")).encode()) == "C42"
    assert routing_key(json.dumps(payload(customer_id=7))) == ""
    assert routing_key("not json") == ""
    assert routing_key(b"\xff\xfe") == ""
    assert routing_key("[1, 2]") == ""


@settings(max_examples=300, deadline=None)
@given(
    customer_id=st.text(min_size=1, max_size=12).filter(lambda text: not text.isspace()),
    decoy=st.text(max_size=12),
    nested=st.booleans(),
    decoy_first=st.booleans(),
    separators=st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t"), (",\r\n ", "\n:\n")]),
    ensure_ascii=st.booleans(),
)
def test_routing_key_is_what_the_parser_reads(
    customer_id: str,
    decoy: str,
    nested: bool,
    decoy_first: bool,
    separators: tuple[str, str],
    ensure_ascii: bool,
) -> None:
    record = payload(customer_id=customer_id)
    extra = {"meta": {"customer_id": decoy}} if nested else {"note": f'"customer_id": "{decoy}"'}
    record = {**extra, **record} if decoy_first else {**record, **extra}
    line = json.dumps(record, separators=separators, ensure_ascii=ensure_ascii)
    assert routing_key(line) == parse_event(line).customer_id == customer_id


def test_routing_key_of_a_repeated_member_is_the_one_the_parser_keeps() -> None:
    line = json.dumps(payload(customer_id="C-first"))[:-1] + ', "customer_id": "C-last"}'
    assert routing_key(line) == parse_event(line).customer_id == "C-last"


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_FIELD_VALUES = {
    "schema_version": st.one_of(st.sampled_from([1, 1.0, 2, 0, -1, True, "1"]), _JSON_SCALARS),
    "amount": st.one_of(st.sampled_from([0, -0.0, 1e-300, 1_000_000, 1_000_000.0000001, 2**53, 10**19]), _JSON_SCALARS),
    "currency": st.one_of(st.sampled_from(["EUR", "eur", "XYZ", " EUR", ""]), _JSON_SCALARS),
    "timestamp": st.one_of(
        st.sampled_from(
            [
                "2026-01-05T12:00:00Z",
                "2026-01-05T12:00:00.9999999+05:30",
                "2026-01-05 12:00:00-00:01",
                "20260105T120000+0100",
                "2026-01-05T12:00:00",
                "0001-01-01T00:00:00+00:01",
                "9999-12-31T23:59:59-23:59",
                "2026-02-30T00:00:00Z",
            ]
        ),
        _JSON_SCALARS,
    ),
    "latitude": st.one_of(st.sampled_from([-90, 90, -0, -0.0, 90.00000000000001, 180]), _JSON_SCALARS),
    "longitude": st.one_of(st.sampled_from([-180, 180, 180.0000000001]), _JSON_SCALARS),
    "channel": st.one_of(st.sampled_from(["pos", "online", "atm", "mobile", "POS"]), _JSON_SCALARS),
}
_ID_VALUES = st.one_of(
    st.sampled_from(["", " ", "\u2003", "x" * MAX_ID_LENGTH, "x" * (MAX_ID_LENGTH + 1), "\U0001f600" * MAX_ID_LENGTH]),
    st.text(max_size=10),
    _JSON_SCALARS,
)


@st.composite
def _near_valid_lines(draw: st.DrawFn) -> str:
    record = payload()
    for name in draw(st.lists(st.sampled_from(REQUIRED_FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            del record[name]
        else:
            record[name] = draw(_FIELD_VALUES.get(name, _ID_VALUES))
    if draw(st.booleans()):
        record["extra"] = draw(st.recursive(_JSON_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6))
    line = json.dumps(record, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):  # a repeated member: both decoders keep the last one
        name = draw(st.sampled_from(REQUIRED_FIELDS))
        line = f'{{"{name}": {json.dumps(draw(_JSON_SCALARS))}, {line[1:]}'
    return line


@settings(max_examples=1500, deadline=None)
@given(line=_near_valid_lines(), config=st.sampled_from([DEFAULT, ContractConfig(max_amount=1e30)]))
def test_the_fast_path_accepts_only_what_the_full_parse_accepts_with_the_same_values(
    line: str, config: ContractConfig
) -> None:
    fast = _parse_well_formed(line, config)
    try:
        full: object = _parse_document(_load_json(line), config)
    except EventError as error:
        full = error.code
    if fast is not None:
        assert repr(fast) == repr(full)  # repr tells -0.0 from 0.0


def test_a_valid_event_takes_the_fast_path() -> None:
    line = json.dumps(payload(amount=10, latitude=-0.0))
    fast = _parse_well_formed(line, DEFAULT)
    assert fast is not None
    assert repr(fast) == repr(_parse_document(_load_json(line), DEFAULT))


def _nested(depth: int) -> Any:
    return [_nested(depth - 1)] if depth else 1


@pytest.mark.parametrize(
    "line",
    [
        json.dumps(payload(extra=_nested(70))),
        json.dumps(payload(customer_id="\ud800")),
        json.dumps(payload(schema_version=2)),
    ],
)
def test_the_fast_path_leaves_the_rare_cases_to_the_full_parse(line: str) -> None:
    assert _parse_well_formed(line, DEFAULT) is None
    assert parse_event(line) == _parse_document(_load_json(line), DEFAULT)


@pytest.mark.parametrize("field", ID_FIELDS)
@pytest.mark.parametrize("value", ["", " ", "\u2003\n", "x" * (MAX_ID_LENGTH + 1)])
def test_the_fast_path_declines_blank_and_overlong_identifiers(field: str, value: str) -> None:
    line = json.dumps(payload(**{field: value}))
    assert _parse_well_formed(line, DEFAULT) is None
    assert _code(line) == "bad_value"


_MAX_OFFSET = timedelta(hours=24) - timedelta(microseconds=1)


@settings(max_examples=500)
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.timedeltas(min_value=-_MAX_OFFSET, max_value=_MAX_OFFSET),
)
def test_epoch_ms_is_the_aware_datetime_difference_in_whole_milliseconds(local: datetime, offset: timedelta) -> None:
    moment = local.replace(tzinfo=timezone(offset))
    expected = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert _epoch_ms(moment, offset) == expected
