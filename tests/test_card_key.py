import os
import stat
from pathlib import Path

import pytest
import yaml

from streamflow.card_key import configured_key, local_key_file_text, provision_local_key
from streamflow.medallion.pseudonym import parse_key


def test_provisioned_key_file_is_private_yaml_with_a_quoted_32_byte_hex_key(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask would leave the file readable by others
    try:
        path = provision_local_key(tmp_path / "local")
    finally:
        os.umask(old)
    assert path == tmp_path / "local" / "credentials_card_pseudonym.yml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = yaml.safe_load(path.read_text())["card_pseudonym_key"]["key"]
    assert isinstance(key, str)
    assert len(parse_key(key)) == 32


def test_an_existing_key_file_is_never_rewritten(tmp_path: Path) -> None:
    first = provision_local_key(tmp_path)
    assert first is not None
    content = first.read_bytes()
    assert provision_local_key(tmp_path) is None
    assert first.read_bytes() == content


def test_two_provisioned_folders_get_different_keys(tmp_path: Path) -> None:
    one, two = provision_local_key(tmp_path / "a"), provision_local_key(tmp_path / "b")
    assert one is not None
    assert two is not None
    assert one.read_text() != two.read_text()


def test_an_all_digit_key_stays_a_string_in_yaml() -> None:
    assert yaml.safe_load(local_key_file_text("1" * 64))["card_pseudonym_key"]["key"] == "1" * 64


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ({}, None),
        ({"card_pseudonym_key": None}, None),
        ({"card_pseudonym_key": {"key": None}}, None),
        ({"card_pseudonym_key": {"key": "  "}}, None),
        ({"card_pseudonym_key": {"key": "ab"}}, "ab"),
    ],
)
def test_configured_key_treats_absent_and_blank_as_unset(credentials: dict[str, object], expected: object) -> None:
    assert configured_key(credentials) == expected
