"""Whose data gold holds: the demo's or a team's, recorded once in gold itself (table ``gold_origin``).

Gold tables grow run after run (new transactions are added); rows of the synthetic demo and a
team's own rows must never end up side by side unnoticed. The first run that writes gold records
the landing zone's origin; a later run whose landing zone has the other origin is refused.
"""

from __future__ import annotations

import sqlalchemy as sa

ORIGIN_TABLE = "gold_origin"
_METADATA = sa.MetaData()
_TABLE = sa.Table(
    ORIGIN_TABLE,
    _METADATA,
    sa.Column("origin", sa.String(16), primary_key=True),
    sa.Column("recorded_at", sa.DateTime, server_default=sa.func.current_timestamp()),
)


def recorded_origin(url: str) -> str | None:
    """The origin gold recorded, or ``None`` when it has recorded none yet."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(ORIGIN_TABLE):
                return None
            value = connection.execute(sa.select(_TABLE.c.origin)).scalar()
            return None if value is None else str(value)
    finally:
        engine.dispose()


def record_origin(url: str, origin: str) -> None:
    """Record ``origin`` (idempotent: a second call with the same origin adds nothing)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            _METADATA.create_all(connection, tables=[_TABLE])
            if connection.execute(sa.select(_TABLE.c.origin)).scalar() is None:
                connection.execute(_TABLE.insert().values(origin=origin))
    finally:
        engine.dispose()
