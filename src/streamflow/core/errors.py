"""Typed errors of the fraud core, each with a stable machine-readable ``code``.

Codes are part of the public contract: dead-letter records, quarantine tables and
alerts carry them, so a code is never renamed once released.
"""

from __future__ import annotations

from typing import Any


class CoreError(Exception):
    """Base of every error raised by ``streamflow.core``."""

    code = "core_error"


class EventError(CoreError):
    """A raw event that does not follow the event contract.

    Attributes:
        code: Stable error code (``invalid_json``, ``missing_field``, ...).
        field: The offending field, ``"$"`` for the whole payload.
        expected: What the contract expects.
        got: What arrived (a short, printable rendering).

    """

    code = "event_error"

    def __init__(self, message: str, *, field: str = "$", expected: str = "", got: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.expected = expected
        self.got = _short_repr(got)

    def to_dict(self) -> dict[str, str]:
        """The error as a flat record for dead-letter and quarantine outputs."""
        return {
            "error_code": self.code,
            "error_field": self.field,
            "error_message": self.message,
        }


class InvalidJsonError(EventError):
    """The payload is not a strict JSON document (NaN and Infinity are rejected)."""

    code = "invalid_json"


class BadEncodingError(EventError):
    """The payload bytes are not valid UTF-8."""

    code = "bad_encoding"


class PayloadTooLargeError(EventError):
    """The payload is larger than the configured maximum."""

    code = "payload_too_large"


class MissingFieldError(EventError):
    """A required field is absent or null."""

    code = "missing_field"


class BadTypeError(EventError):
    """A field has the wrong JSON type (e.g. a string amount)."""

    code = "bad_type"


class BadValueError(EventError):
    """A field has the right type but a value outside its allowed set or format."""

    code = "bad_value"


class OutOfRangeError(EventError):
    """A numeric field is outside its allowed range."""

    code = "out_of_range"


class BadTimestampError(EventError):
    """The timestamp is not ISO 8601 with a UTC offset."""

    code = "bad_timestamp"


class FutureTimestampError(EventError):
    """The event time is later than when the event was received, beyond the contract's tolerance."""

    code = "future_timestamp"


class DuplicateEventError(EventError):
    """A ``transaction_id`` seen before (the first arrival is kept, as silver keeps it)."""

    code = "duplicate_transaction_id"


class UnroutableEventError(EventError):
    """The stream keyed the line by another ``customer_id`` than the parser read (never the customer's state)."""

    code = "unroutable_event"


EVENT_ERROR_TYPES: tuple[type[EventError], ...] = (
    InvalidJsonError,
    BadEncodingError,
    PayloadTooLargeError,
    MissingFieldError,
    BadTypeError,
    BadValueError,
    OutOfRangeError,
    BadTimestampError,
    FutureTimestampError,
)
EVENT_ERROR_CODES: tuple[str, ...] = tuple(error.code for error in EVENT_ERROR_TYPES)


class LandingFileError(CoreError):
    """A file of the landing zone that is not read at all (its lines are neither events nor dead letters).

    Attributes:
        file: The file's name, relative to the landing zone.

    """

    code = "landing_file_error"

    def __init__(self, message: str, *, file: str) -> None:
        super().__init__(message)
        self.file = file


class UnsupportedFileError(LandingFileError):
    """A file whose name is not ``*.jsonl`` or ``*.jsonl.gz``: events land as JSON lines, plain or gzipped."""

    code = "unsupported_file"


class BadCompressionError(LandingFileError):
    """A ``.jsonl.gz`` file that is not a whole gzip stream."""

    code = "bad_compression"


class StateError(CoreError):
    """Serialized customer state that cannot be read back."""

    code = "state_error"


class StateTruncatedError(StateError):
    """The bytes end before the declared content does."""

    code = "state_truncated"


class StateBadMagicError(StateError):
    """The bytes do not start with the state magic marker."""

    code = "state_bad_magic"


class StateVersionError(StateError):
    """The bytes were written by a newer (unknown) serialization version."""

    code = "state_unsupported_version"


class StateChecksumError(StateError):
    """The CRC32 of the content does not match: the bytes are corrupted."""

    code = "state_checksum_mismatch"


class StateInvalidError(StateError):
    """The bytes decode, but to values that no valid state can hold."""

    code = "state_invalid"


class ConfigError(CoreError):
    """A configuration value its checks reject; subclasses for unknown keys and wrong types.

    Attributes:
        key: The full dotted key (``fraud_rules.velocity.window_minutes``), ``""`` if not one key.
        expected: What the key takes.
        got: What arrived (a short, printable rendering).

    """

    code = "config_error"

    def __init__(self, message: str, *, key: str = "", expected: str = "", got: Any = None) -> None:
        super().__init__(message)
        self.key = key
        self.expected = expected
        self.got = _short_repr(got)


class ConfigKeyError(ConfigError):
    """A key the configuration does not know (a typo), or a required key that is missing."""

    code = "config_bad_key"

    def __init__(self, key: str, *, message: str, expected: str) -> None:
        super().__init__(f"{key}: {message}; expected {expected}", key=key, expected=expected)


class ConfigTypeError(ConfigError):
    """A value of the wrong type (``max_speed_kmh: "fast"``, ``min_history: "five"``)."""

    code = "config_bad_type"

    def __init__(self, key: str, *, expected: str, got: Any) -> None:
        super().__init__(
            f"{key}: expected {expected}, got {_short_repr(got)} ({type(got).__name__})",
            key=key,
            expected=expected,
            got=got,
        )


_MAX_REPR = 80


def _short_repr(value: Any) -> str:
    text = repr(value)
    if len(text) > _MAX_REPR:
        return text[: _MAX_REPR - 3] + "..."
    return text
