"""The history database's tables, its schema version, and the steps that upgrade it.

Times are UTC epoch seconds (double precision): compact, the same on SQLite and PostgreSQL, and
what the report's arithmetic uses. A database records the number of the last step applied in
``schema_version``; opening it applies the missing steps in order, each in its own transaction,
so an old database upgrades itself and a database from a newer stopsafe is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edge.config.stop import STOP_ID_MAX

metadata = sa.MetaData()

STOP_ID_LEN = STOP_ID_MAX  # longer ones are refused by the collector

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

# every event a stop numbered, once: a QoS 1 repeat has the same (stop, seq) and is dropped
events = sa.Table(
    "events", metadata,
    sa.Column("stop", sa.String(STOP_ID_LEN), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("ts", sa.Float(precision=53), nullable=False),  # the stop's clock (its "ts")
    sa.Column("received", sa.Float(precision=53), nullable=False),  # the collector's clock
    sa.Column("body", sa.Text, nullable=False),  # the event as the stop sent it (JSON)
)

# status and retained-state changes (``leaf`` is e.g. "status", "light/state"), kept for the
# configured retention; a stop repeats its states on every reconnect, so a value may repeat
states = sa.Table(
    "states", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("stop", sa.String(STOP_ID_LEN), nullable=False),
    sa.Column("leaf", sa.String(32), nullable=False),
    sa.Column("at", sa.Float(precision=53), nullable=False),  # the collector's clock
    sa.Column("value", sa.Text, nullable=False),
)

# telemetry samples (JSON as sent), kept for the configured retention
tele = sa.Table(
    "tele", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("stop", sa.String(STOP_ID_LEN), nullable=False),
    sa.Column("at", sa.Float(precision=53), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)


# messages the collector acknowledged without storing them (malformed, out of range, too big,
# refused by the database): kept aside for a person, with why, and never retried
DEAD_LETTER_KEEP_BYTES = 65536  # of a payload: enough to see what it was, never 10 MB
dead_letters = sa.Table(
    "dead_letters", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("stop", sa.String(STOP_ID_LEN), nullable=True),  # None: no usable stop id
    sa.Column("topic", sa.String(256), nullable=False),  # cut to 256 characters
    sa.Column("reason", sa.String(32), nullable=False),  # the collector's Dropped value
    sa.Column("detail", sa.Text, nullable=False),  # one line
    sa.Column("received", sa.Float(precision=53), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),  # bytes received
    sa.Column("payload", sa.LargeBinary, nullable=False),  # the first DEAD_LETTER_KEEP_BYTES
)


def _v1_tables(conn: Connection) -> None:
    for table in (events, states, tele):
        table.create(conn)


def _v2_indexes(conn: Connection) -> None:
    """Indexes for the report: a stop's events of one kind in a time window, its states and
    telemetry by time, and retention's deletes by time."""
    for ddl in ("CREATE INDEX IF NOT EXISTS ix_events_stop_kind_ts ON events (stop, kind, ts)",
                "CREATE INDEX IF NOT EXISTS ix_states_stop_leaf_at ON states (stop, leaf, at)",
                "CREATE INDEX IF NOT EXISTS ix_states_at ON states (at)",
                "CREATE INDEX IF NOT EXISTS ix_tele_at ON tele (at)"):
        conn.execute(sa.text(ddl))


def _v3_dead_letters(conn: Connection) -> None:
    dead_letters.create(conn)
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_dead_letters_received "
                         "ON dead_letters (received)"))


# step n (1-based) brings a database from version n-1 to n; append, never edit a shipped step
UPGRADES: tuple[Callable[[Connection], None], ...] = (_v1_tables, _v2_indexes,
                                                       _v3_dead_letters)
VERSION = len(UPGRADES)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer stopsafe (its schema version is above ours)."""


def current_version(conn: Connection) -> int:
    """The database's schema version, 0 for an empty database."""
    if not sa.inspect(conn).has_table(schema_version.name):
        return 0
    row = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    return int(row or 0)


def upgrade(engine: sa.Engine, upto: int = VERSION) -> tuple[int, int]:
    """Apply the missing steps up to ``upto``; (version before, version after).

    Several collectors may start on one empty database at once: each step re-reads the version
    in its transaction (PostgreSQL: under an advisory lock), and a step that lost the race to
    another process (its table already exists) is retried after re-reading."""
    before = None
    for attempt in range(ATTEMPTS):
        try:
            return _upgrade(engine, upto, before)
        except sa.exc.DBAPIError:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
            with engine.connect() as conn:
                before = current_version(conn) if before is None else before
    raise AssertionError("unreachable")


ATTEMPTS = 8


_LOCK_ID = 0x5354_4F50  # "STOP": PostgreSQL advisory lock key for schema upgrades


def _upgrade(engine: sa.Engine, upto: int, before: int | None) -> tuple[int, int]:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
        if not sa.inspect(conn).has_table(schema_version.name):
            schema_version.create(conn)
        found = current_version(conn)
    before = found if before is None else before
    if found > VERSION:
        raise SchemaTooNew(f"the database's schema is version {found}, this stopsafe knows "
                           f"up to {VERSION}: upgrade stopsafe")
    version = found
    while version < upto:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
            version = current_version(conn)
            if version >= upto:
                break
            UPGRADES[version](conn)
            conn.execute(schema_version.delete())
            conn.execute(schema_version.insert().values(version=version + 1))
            version += 1
    return before, version
