from pathlib import Path

import pytest

from streamflow.datasets.connection import GoldDatabaseError, check_database
from tests.conftest import _free_port

PASSWORD = "s3cret-pw"


def test_closed_postgres_port_names_the_url_without_password_and_the_fix() -> None:
    port = _free_port()  # nothing listens there
    url = f"postgresql+psycopg://streamflow:{PASSWORD}@127.0.0.1:{port}/gold"
    with pytest.raises(GoldDatabaseError) as caught:
        check_database(url, timeout_s=2)
    message = str(caught.value)
    assert f"postgresql+psycopg://streamflow:***@127.0.0.1:{port}/gold is unreachable" in message
    assert PASSWORD not in message
    assert "is running and accepts connections" in message
    assert "STREAMFLOW_GOLD_DB_URL" in message
    assert caught.value.code == "gold_db_unreachable"


def test_sqlite_file_in_a_missing_folder_names_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(GoldDatabaseError, match=rf"needs the folder {missing} to exist"):
        check_database(f"sqlite:///{missing / 'gold.sqlite'}")


def test_an_unparsable_url_is_not_echoed() -> None:
    url = f"streamflow:{PASSWORD}@db-host/gold"  # no scheme
    with pytest.raises(GoldDatabaseError) as caught:
        check_database(url)
    assert PASSWORD not in str(caught.value)
    assert "SQLAlchemy URL" in str(caught.value)


def test_a_reachable_database_passes(tmp_path: Path) -> None:
    check_database(f"sqlite:///{tmp_path / 'gold.sqlite'}")
    assert (tmp_path / "gold.sqlite").exists()
