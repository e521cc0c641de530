"""Keyed pseudonyms of card ids for gold: ``HMAC-SHA256(key, card_id as UTF-8)`` as 64 hex digits.

Gold keeps a pseudonym, not the card number: the same card gets the same pseudonym in every run
and every table written with the same key, so joins and per-card counts still work, while the
clear value cannot be recovered, or confirmed by hashing a guessed card number, without the key.
Plain SHA-256 would not do: card numbers are few enough to hash them all.

The key comes from Kedro credentials (``card_pseudonym_key.key``, a hex string of at least
``KEY_BYTES`` bytes): generated into ``conf/local/`` on the first local run
(``streamflow.card_key``), read from ``STREAMFLOW_CARD_PSEUDONYM_KEY`` with ``--env prod``.
Error messages never show the key, only its length.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pandas as pd

from streamflow.medallion.schemas import ARROW_STRING

KEY_BYTES = 32  # RFC 2104: a key shorter than the hash output (32 bytes for SHA-256) weakens the HMAC
CREDENTIALS_NAME = "card_pseudonym_key"
KEY_ENV_VAR = "STREAMFLOW_CARD_PSEUDONYM_KEY"
LOCAL_KEY_FILE = "credentials_card_pseudonym.yml"
KEY_HINT = (
    f"The key is {CREDENTIALS_NAME}.key in the credentials, {KEY_BYTES} random bytes as hex "
    "(python -c 'import secrets; print(secrets.token_hex(32))'): with --env prod from the environment "
    f"variable {KEY_ENV_VAR} (a Kubernetes Secret); locally, conf/local/{LOCAL_KEY_FILE}, generated on the "
    "first run. Keep the key: another key gives every card a new pseudonym."
)


class CardPseudonymKeyError(ValueError):
    """Base of the card pseudonym key errors; ``code`` is stable."""

    code = "card_pseudonym_key_error"

    def __init__(self, message: str) -> None:
        self.detail = f"{message} {KEY_HINT}"
        super().__init__(f"[{self.code}] {self.detail}")


class MissingCardPseudonymKeyError(CardPseudonymKeyError):
    """No key in the credentials (unset environment variable in production)."""

    code = "card_pseudonym_key_missing"


class InvalidCardPseudonymKeyError(CardPseudonymKeyError):
    """A key that is not a hex string."""

    code = "card_pseudonym_key_invalid"


class ShortCardPseudonymKeyError(CardPseudonymKeyError):
    """A key shorter than ``KEY_BYTES`` bytes."""

    code = "card_pseudonym_key_short"


def parse_key(value: Any) -> bytes:
    """The key bytes of a credentials value: a hex string of at least ``KEY_BYTES`` bytes.

    Surrounding white space is ignored (a secret mounted from a file often ends with a newline).

    Args:
        value: ``card_pseudonym_key.key`` from the credentials.

    Returns:
        The key.

    Raises:
        MissingCardPseudonymKeyError: If ``value`` is ``None`` or blank.
        InvalidCardPseudonymKeyError: If it is not a string of hex digits (YAML reads an unquoted
            all-digit value as a number: quote it).
        ShortCardPseudonymKeyError: If it holds fewer than ``KEY_BYTES`` bytes.

    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise MissingCardPseudonymKeyError("No card pseudonym key is set.")
    if not isinstance(value, str):
        raise InvalidCardPseudonymKeyError(
            f"The card pseudonym key must be a quoted string of hex digits, got a {type(value).__name__}."
        )
    text = value.strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise InvalidCardPseudonymKeyError(
            f"The card pseudonym key must be hex digits (0-9, a-f), got {len(text)} characters that are not."
        ) from None  # the parser's message would quote the key
    return require_key_length(key)


def require_key_length(key: bytes) -> bytes:
    """``key``, if it holds at least ``KEY_BYTES`` bytes.

    Raises:
        ShortCardPseudonymKeyError: If it is shorter.

    """
    if len(key) < KEY_BYTES:
        raise ShortCardPseudonymKeyError(
            f"The card pseudonym key must hold at least {KEY_BYTES} bytes ({2 * KEY_BYTES} hex digits), "
            f"got {len(key)} bytes."
        )
    return key


def card_pseudonym(card_id: str, key: bytes) -> str:
    """``HMAC-SHA256(key, card_id encoded as UTF-8)`` as 64 lower-case hex digits."""
    return hmac.digest(key, card_id.encode("utf-8"), hashlib.sha256).hex()


def card_pseudonyms(card_ids: pd.Series[Any], key: bytes) -> pd.Series[Any]:
    """The pseudonym of every card id (computed once per distinct card), as pyarrow strings.

    Args:
        card_ids: Card ids as in silver (non-null strings).
        key: At least ``KEY_BYTES`` bytes.

    Returns:
        One pseudonym per row, with the index of ``card_ids``.

    Raises:
        ShortCardPseudonymKeyError: If the key is too short.

    """
    require_key_length(key)
    codes, distinct = pd.factorize(card_ids, use_na_sentinel=False)
    pseudonyms = pd.array([card_pseudonym(card, key) for card in distinct], dtype=ARROW_STRING)
    return pd.Series(pseudonyms.take(codes), index=card_ids.index, dtype=ARROW_STRING)
