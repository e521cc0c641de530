"""Database housekeeping through the catalog: load the database's state, save statements to run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from kedro.io.core import AbstractDataset, DatasetError

# Size queries per dialect: (size in bytes, reusable free bytes or NULL)
SIZE_QUERIES: dict[str, str] = {
    "sqlite": (
        "SELECT (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size()), "
        "(SELECT freelist_count FROM pragma_freelist_count()) * (SELECT page_size FROM pragma_page_size())"
    ),
    "postgresql": "SELECT pg_database_size(current_database()), NULL",
}


class DatabaseMaintenanceDataset(AbstractDataset[list[str], dict[str, Any]]):
    """The gold database as a housekeeping target.

    ``load()`` returns ``dialect``, ``database`` (URL, password hidden), ``size_bytes`` and
    ``free_bytes`` (SQLite's free pages; ``None`` on PostgreSQL). ``save(statements)`` runs
    each statement on an autocommit connection: ``VACUUM`` refuses to run inside a
    transaction on both SQLite and PostgreSQL.

    Example::

        gold_db_housekeeping:
          type: streamflow.datasets.DatabaseMaintenanceDataset
          credentials: gold_db
    """

    def __init__(self, *, credentials: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        """Take the connection URL from ``credentials['con']``."""
        if not credentials or not credentials.get("con"):
            raise DatasetError("DatabaseMaintenanceDataset needs credentials with a 'con' URL (see gold_db).")
        self._url = sa.make_url(str(credentials["con"]))
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        """The dialect, the URL (password hidden) and the database size."""
        dialect = self._url.get_backend_name()
        if dialect not in SIZE_QUERIES:
            raise DatasetError(f"No housekeeping for dialect '{dialect}'; supported: {sorted(SIZE_QUERIES)}.")
        with self._connect() as connection:
            size, free = connection.exec_driver_sql(SIZE_QUERIES[dialect]).one()
        return {
            "dialect": dialect,
            "database": self._url.render_as_string(hide_password=True),
            "size_bytes": int(size),
            "free_bytes": None if free is None else int(free),
        }

    def save(self, data: list[str]) -> None:
        """Run each statement in order, outside any transaction."""
        if not data:
            return
        with self._connect() as connection:
            for statement in data:
                connection.exec_driver_sql(statement)

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        engine = sa.create_engine(self._url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                yield connection
        except sa.exc.OperationalError as exc:
            raise DatasetError(
                f"Cannot run housekeeping on {self._url.render_as_string(hide_password=True)}: {exc.orig}. "
                "Check that the server runs and that credentials gold_db point at it."
            ) from exc
        finally:
            engine.dispose()

    def _describe(self) -> dict[str, Any]:
        return {"database": self._url.render_as_string(hide_password=True)}
