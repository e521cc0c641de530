import hashlib
import hmac
import secrets

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamflow.medallion.pseudonym import (
    KEY_ENV_VAR,
    CardPseudonymKeyError,
    InvalidCardPseudonymKeyError,
    MissingCardPseudonymKeyError,
    ShortCardPseudonymKeyError,
    card_pseudonym,
    card_pseudonyms,
    parse_key,
)

KEY = bytes.fromhex("8f" * 32)


def _reference(card_id: str, key: bytes = KEY) -> str:
    return hmac.new(key, card_id.encode("utf-8"), hashlib.sha256).hexdigest()


@settings(max_examples=300, deadline=None)
@given(card_id=st.text(min_size=1, max_size=128), key=st.binary(min_size=32, max_size=96))
def test_card_pseudonym_is_the_hmac_sha256_of_the_utf8_card_id(card_id: str, key: bytes) -> None:
    assert card_pseudonym(card_id, key) == _reference(card_id, key)


@pytest.mark.parametrize(
    "card_id", ["K1", "K0013157-1", " padded ", "é", "卡-42", "\U0001f4b3", "x" * 128, "0" * 64, "a\x00b"]
)
def test_card_pseudonym_matches_the_reference_on_edge_cases(card_id: str) -> None:
    assert card_pseudonym(card_id, KEY) == _reference(card_id)


def test_column_of_card_ids_gets_one_pseudonym_per_row_and_the_same_for_a_repeated_card() -> None:
    cards = pd.Series(["K1", "K2", "K1", "é"], index=[10, 11, 12, 13], dtype="string[pyarrow]")
    pseudonyms = card_pseudonyms(cards, KEY)
    assert pseudonyms.tolist() == [_reference(card) for card in cards]
    assert pseudonyms.index.tolist() == [10, 11, 12, 13]
    assert str(pseudonyms.dtype) == "string"
    assert pseudonyms.str.fullmatch(r"[0-9a-f]{64}").all()
    assert "K1" not in pseudonyms.tolist()


def test_another_key_gives_other_pseudonyms() -> None:
    assert card_pseudonym("K1", KEY) != card_pseudonym("K1", bytes.fromhex("90" * 32))


def test_empty_column_gives_an_empty_column() -> None:
    assert card_pseudonyms(pd.Series([], dtype="string[pyarrow]"), KEY).empty


def test_hex_key_with_surrounding_white_space_parses_to_its_bytes() -> None:
    key_hex = secrets.token_hex(32)
    assert parse_key(f"  {key_hex}\n") == bytes.fromhex(key_hex)
    assert parse_key(key_hex.upper()) == bytes.fromhex(key_hex)


@pytest.mark.parametrize("value", [None, "", "  \n"])
def test_missing_key_is_refused_with_its_code_and_names_the_environment_variable(value: object) -> None:
    with pytest.raises(MissingCardPseudonymKeyError) as caught:
        parse_key(value)
    assert caught.value.code == "card_pseudonym_key_missing"
    assert str(caught.value).startswith("[card_pseudonym_key_missing] ")
    assert KEY_ENV_VAR in str(caught.value)


def test_short_key_is_refused_with_its_code_without_showing_it() -> None:
    with pytest.raises(ShortCardPseudonymKeyError) as caught:
        parse_key("abcdef0123456789" * 3)  # 24 bytes
    assert caught.value.code == "card_pseudonym_key_short"
    assert "got 24 bytes" in str(caught.value)
    assert "abcdef0123456789" not in str(caught.value)


@pytest.mark.parametrize("value", ["not-a-hex-key-" * 6, "zz" * 32, "abc"])
def test_key_that_is_not_hex_is_refused_without_showing_it(value: str) -> None:
    with pytest.raises(InvalidCardPseudonymKeyError) as caught:
        parse_key(value)
    assert caught.value.code == "card_pseudonym_key_invalid"
    assert value not in str(caught.value)


def test_unquoted_all_digit_key_read_by_yaml_as_a_number_is_refused() -> None:
    with pytest.raises(InvalidCardPseudonymKeyError, match="quoted string"):
        parse_key(1234567890 * 10**54)


def test_pseudonyms_refuse_a_short_key() -> None:
    with pytest.raises(CardPseudonymKeyError, match="card_pseudonym_key_short"):
        card_pseudonyms(pd.Series(["K1"]), b"short")
