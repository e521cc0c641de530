"""Reaching the gold database: one check and one error message, with the fix.

The hook ``GoldDatabaseHooks`` calls ``check_database`` before a run that reads or writes a
gold dataset, so a database that is down, or a bad URL, fails the run at once (not after the
bronze and silver work) with the URL (password hidden) and what to do about it.
``GoldTableDataset`` words its own connection errors the same way.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from kedro.io.core import DatasetError

CONNECT_TIMEOUT_S = 5
CREDENTIALS_HINT = (
    "The URL is gold_db.con in the credentials: conf/base/credentials.yml (embedded SQLite), "
    "conf/local/credentials.yml (personal), or STREAMFLOW_GOLD_DB_URL with --env prod."
)


class GoldDatabaseError(DatasetError):
    """The gold database cannot be reached; ``code`` is stable for alerting and tests."""

    code = "gold_db_unreachable"


def safe_url(url: str) -> str:
    """``url`` with its password masked, or a placeholder when it does not parse."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<an unparsable URL, not shown in case it holds a password>"


def fix_hint(url: str) -> str:
    """What to do when ``url`` cannot be reached, by database kind."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return f"Write it as a SQLAlchemy URL, e.g. postgresql+psycopg://user:password@host:5432/db. {CREDENTIALS_HINT}"
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        folder = (Path.cwd() / database).parent if database and database != ":memory:" else Path.cwd()
        return (
            f"SQLite needs the folder {folder} to exist and be writable; relative paths resolve from the "
            f"working directory ({Path.cwd()}): run from the project root. {CREDENTIALS_HINT}"
        )
    return (
        f"Check that the server at {parsed.host or 'localhost'}:{parsed.port or 'default port'} is running and "
        f"accepts connections, and that the user, password and database are right. {CREDENTIALS_HINT}"
    )


def unreachable_message(url: str, error: Exception, *, what: str = "gold database") -> str:
    """The message for an unreachable database: what, where (no password), why, and the fix."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    return (
        f"{what} {safe_url(url)} is unreachable or refused the request "
        f"({error.__class__.__name__}: {first_line}). {fix_hint(url)}"
    )


def check_database(url: str, *, timeout_s: int = CONNECT_TIMEOUT_S) -> None:
    """Open and close one connection to ``url``.

    Args:
        url: A SQLAlchemy URL.
        timeout_s: Connect timeout for server databases (PostgreSQL), in seconds.

    Raises:
        GoldDatabaseError: If the URL does not parse or no connection can be opened.

    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise GoldDatabaseError(unreachable_message(url, exc)) from exc
    connect_args = {"connect_timeout": timeout_s} if parsed.get_backend_name() == "postgresql" else {}
    engine = sa.create_engine(parsed, connect_args=connect_args)
    try:
        with engine.connect():
            pass
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise GoldDatabaseError(unreachable_message(url, exc)) from exc
    finally:
        engine.dispose()
