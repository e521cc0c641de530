"""One-off migration of a gold ``fact_transactions`` written before card pseudonyms.

Such a table holds the clear ``card_id``. The migration adds ``card_pseudonym``, fills it with
the HMAC of each row's card id under the configured key (the key the pipeline uses, so old and
new rows of a card share one pseudonym), and drops ``card_id``; the fill and the drop commit
together (on PostgreSQL the added column too), and an interrupted migration can be run again.
Then it rewrites the table so the dropped values leave the database files too (SQLite
``VACUUM``; PostgreSQL ``VACUUM FULL`` of the table, which takes an exclusive lock while it
runs). Copies outside the database (backups, WAL archives, replicas' history) keep them until
they expire. Run it from the project root, with the run environment of the pipeline::

    python -m streamflow.operations.card_pseudonym_migration [--env prod]

A table without ``card_id`` is left as it is, so running it again does nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import sqlalchemy as sa
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from sqlalchemy.engine import Engine

from streamflow.datasets.card_pseudonym_key import CardPseudonymKeyLoadError
from streamflow.datasets.gold_table import GoldTableDataset
from streamflow.medallion.pseudonym import card_pseudonym, require_key_length

CLEAR_CARD_COLUMN = "card_id"
PSEUDONYM_COLUMN = "card_pseudonym"
MIGRATION_COMMAND = "python -m streamflow.operations.card_pseudonym_migration"
MAP_TABLE = "card_pseudonym_migration_map"
CHUNK_ROWS = 10_000


class LegacyCardColumnError(RuntimeError):
    """A gold table still holds clear card ids; ``code`` is stable."""

    code = "gold_card_id_in_clear"

    def __init__(self, message: str) -> None:
        self.detail = message
        super().__init__(f"[{self.code}] {message}")


def has_clear_card_column(engine: Engine, table: str) -> bool:
    """Whether ``table`` exists and has a ``card_id`` column."""
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        if not inspector.has_table(table):
            return False
        return any(column["name"] == CLEAR_CARD_COLUMN for column in inspector.get_columns(table))


def migrate(engine: Engine, key: bytes, *, table: str = "fact_transactions", vacuum: bool = True) -> int:
    """Replace the clear ``card_id`` of ``table`` by its keyed pseudonym.

    Args:
        engine: The gold database.
        key: The card pseudonym key (at least 32 bytes).
        table: The fact table.
        vacuum: Rewrite the table afterwards so the dropped values leave the database files.

    Returns:
        The number of rows migrated (0 when the table has no ``card_id``).

    Raises:
        ShortCardPseudonymKeyError: If the key is too short.

    """
    require_key_length(key)
    if not has_clear_card_column(engine, table):
        return 0
    with engine.begin() as connection:
        facts = sa.Table(table, sa.MetaData(), autoload_with=connection)
        if PSEUDONYM_COLUMN not in facts.c:
            connection.execute(
                sa.text(f"ALTER TABLE {_quoted(connection, table)} ADD COLUMN {PSEUDONYM_COLUMN} VARCHAR")
            )
        mapping = sa.Table(
            MAP_TABLE,
            sa.MetaData(),
            sa.Column(CLEAR_CARD_COLUMN, sa.String(), primary_key=True),
            sa.Column(PSEUDONYM_COLUMN, sa.String(), nullable=False),
            prefixes=["TEMPORARY"],
        )
        mapping.create(connection)
        cards = connection.execute(sa.select(facts.c[CLEAR_CARD_COLUMN]).distinct()).scalars().all()
        rows = [{CLEAR_CARD_COLUMN: card, PSEUDONYM_COLUMN: card_pseudonym(card, key)} for card in cards]
        for start in range(0, len(rows), CHUNK_ROWS):
            connection.execute(mapping.insert(), rows[start : start + CHUNK_ROWS])
        quoted = _quoted(connection, table)
        update = (
            f"UPDATE {quoted} SET {PSEUDONYM_COLUMN} = "  # nosec B608 - a dialect-quoted table name and constants only
            f"(SELECT m.{PSEUDONYM_COLUMN} FROM {MAP_TABLE} m "
            f"WHERE m.{CLEAR_CARD_COLUMN} = {quoted}.{CLEAR_CARD_COLUMN})"
        )
        migrated = connection.execute(sa.text(update)).rowcount
        connection.execute(sa.text(f"ALTER TABLE {quoted} DROP COLUMN {CLEAR_CARD_COLUMN}"))
        mapping.drop(connection)
    if vacuum:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            sql = "VACUUM" if connection.dialect.name == "sqlite" else f"VACUUM FULL {_quoted(connection, table)}"
            connection.exec_driver_sql(sql)
    return int(migrated)


def _quoted(connection: sa.Connection, name: str) -> str:
    return str(connection.dialect.identifier_preparer.quote(name))


def main(argv: Sequence[str] | None = None) -> int:
    """Migrate the project's gold ``fact_transactions`` with the key and database of ``--env``.

    The project's hooks run as for ``kedro run``: locally, a missing key is generated first.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--env", default=None, help="Kedro run environment (default: local)")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="project root (default: here)")
    parser.add_argument("--no-vacuum", action="store_true", help="skip the table rewrite (VACUUM)")
    args = parser.parse_args(argv)
    bootstrap_project(args.project)
    with KedroSession.create(project_path=args.project, env=args.env) as session:
        catalog = cast(KedroSession, session).load_context().catalog
        try:
            key = catalog["card_pseudonym_key"].load()
        except CardPseudonymKeyLoadError as error:
            print(error, file=sys.stderr)
            return 2
        dataset = catalog["fact_transactions@table"]
        if not isinstance(dataset, GoldTableDataset):
            print(f"fact_transactions@table is a {type(dataset).__name__}, not a GoldTableDataset", file=sys.stderr)
            return 2
        table = dataset.table().name
        count = migrate(dataset.engine, key, table=table, vacuum=not args.no_vacuum)
    print(
        f"{table}: {count:,} rows now carry {PSEUDONYM_COLUMN}; {CLEAR_CARD_COLUMN} dropped"
        if count
        else f"{table}: no {CLEAR_CARD_COLUMN} column, nothing to migrate"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
