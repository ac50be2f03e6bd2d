"""The history database through SQLAlchemy Core: SQLite (one file, nothing to install) or
PostgreSQL (``postgresql://...``, driven by psycopg 3) for a fleet with several collectors.

Writes come in batches, one transaction each, so the collector can acknowledge a batch's MQTT
messages only once it is committed. An event already stored (same stop and seq: a QoS 1 repeat,
or a redelivery after a collector died between commit and acknowledgement) is skipped by the
database itself (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from edge.wire import EventKind, Leaf, State
from fleet.history import schema
from fleet.history.schema import dead_letters, events, states, tele


class StoreError(RuntimeError):
    """The database URL cannot be used (unknown kind, unreachable, schema too new, no
    database there and no ``create``)."""


CREATE_HINT = "no stopsafe history there (to start a new one: --create)"


def engine_for(url: str) -> sa.Engine:
    """An engine for ``url``: ``postgresql://`` means psycopg 3; SQLite files get WAL (readers
    do not block the collector) and wait for each other's locks instead of failing."""
    try:
        u = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"--db {url}: not a database URL ({exc})") from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    backend = u.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(u, connect_args={"timeout": 60.0})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # the driver's own transaction handling would run DDL outside any transaction,
            # so a schema upgrade step would not be atomic: SQLAlchemy issues BEGIN instead
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if u.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    if backend == "postgresql":
        return sa.create_engine(u, pool_pre_ping=True)
    raise StoreError(f"--db {url}: only sqlite:/// and postgresql:// databases are supported")


@dataclass
class Batch:
    """Rows from one run of MQTT messages, written in one transaction."""

    events: list[dict[str, Any]] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)
    tele: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StopRows:
    """What the report needs of one stop in a window: events (kind, ts, body) in time order,
    status values (at, value), and the state each began the window with."""

    stop: str
    events: list[tuple[str, float, dict[str, Any]]]
    status: list[tuple[float, str]]
    light_before: bool  # the light at the window's start (last light event before it)
    faults_before: dict[str, float]  # fault name -> raise time, for faults active at the start
    status_before: str | None  # the stop's status at the start, None when never seen
    # the retained states a stop sends again on every (re)connect: (at, value) in the window
    light_state: list[tuple[float, str]] = field(default_factory=list)
    faults_state: list[tuple[float, str]] = field(default_factory=list)
    utc_offset_s: float = 0.0  # where the stop's days begin (its last telemetry's; UTC unknown)
    # the stop's first stored record (any table), None when it has none: before it is no data
    first_seen: float | None = None


class Store:
    """One history database; ``upto`` (tests) stops the schema upgrade at that version.

    Without ``create`` a URL must lead to an existing stopsafe history: a typo in a path or a
    database name is refused instead of answered from a new, empty database."""

    def __init__(self, url: str, upto: int = schema.VERSION, create: bool = False) -> None:
        self.url = url
        path = sqlite_path(url) if url else None
        if path is not None and not create and not os.path.exists(path):
            raise StoreError(f"--db {url}: {path} does not exist; {CREATE_HINT}")
        self.engine = engine_for(url)
        if not create:
            try:
                with self.engine.connect() as conn:
                    known = sa.inspect(conn).has_table(schema.schema_version.name)
            except sa.exc.OperationalError as exc:
                raise StoreError(f"--db {url}: cannot open: {exc.orig}") from None
            if not known:
                self.engine.dispose()
                raise StoreError(f"--db {url}: {CREATE_HINT}")
        try:
            self.upgraded_from, self.version = schema.upgrade(self.engine, upto)
        except schema.SchemaTooNew as exc:
            raise StoreError(f"--db {url}: {exc}") from None
        except sa.exc.OperationalError as exc:
            raise StoreError(f"--db {url}: cannot open: {exc.orig}") from None
        self.dialect = self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # ---------------- writing ----------------
    def _insert_events(self) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(events).on_conflict_do_nothing(index_elements=["stop", "seq"])

    def write(self, batch: Batch) -> None:
        """All of ``batch`` in one transaction (nothing of it when this raises)."""
        with self.engine.begin() as conn:
            if batch.events:
                conn.execute(self._insert_events(), batch.events)
            if batch.states:
                conn.execute(states.insert(), batch.states)
            if batch.tele:
                conn.execute(tele.insert(), batch.tele)
            if batch.dead_letters:
                conn.execute(dead_letters.insert(), batch.dead_letters)

    def prune(self, before: float) -> int:
        """Delete status/state changes and telemetry older than ``before`` (events are kept)."""
        with self.engine.begin() as conn:
            n = conn.execute(states.delete().where(states.c.at < before)).rowcount
            n += conn.execute(tele.delete().where(tele.c.at < before)).rowcount
            n += conn.execute(dead_letters.delete().where(dead_letters.c.received < before)
                              ).rowcount
        return int(n or 0)

    # ---------------- reading ----------------
    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                                or 0) for t in (events, states, tele)}

    def dead_letters(self) -> list[dict[str, Any]]:
        """The messages kept aside, oldest first (without their payloads)."""
        cols = [c for c in dead_letters.c if c.name != "payload"]
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(*cols).order_by(dead_letters.c.id))]

    def seqs(self) -> dict[str, list[int]]:
        """Every stored event's seq by stop, ascending (for the "none missing" check)."""
        out: dict[str, list[int]] = {}
        with self.engine.connect() as conn:
            for stop, seq in conn.execute(sa.select(events.c.stop, events.c.seq)
                                          .order_by(events.c.stop, events.c.seq)):
                out.setdefault(stop, []).append(int(seq))
        return out

    def first_seen(self, stops: Iterable[str]) -> dict[str, float]:
        """Each stop's first stored record (events, states, telemetry), for those that have
        one: the history of a stop starts there."""
        wanted = list(stops)
        out: dict[str, float] = {}
        with self.engine.connect() as conn:
            for table, col in ((events, events.c.ts), (states, states.c.at), (tele, tele.c.at)):
                q = (sa.select(table.c.stop, sa.func.min(col)).where(table.c.stop.in_(wanted))
                     .group_by(table.c.stop))
                for stop, first in conn.execute(q):
                    if first is not None:
                        out[stop] = min(float(first), out.get(stop, float("inf")))
        return out

    def stops(self, since: float | None = None) -> list[str]:
        """Every stop id the database has heard of (from ``since`` on, when given)."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for table, col in ((events, events.c.ts), (states, states.c.at), (tele, tele.c.at)):
                q = sa.select(table.c.stop).distinct()
                if since is not None:
                    q = q.where(col >= since)
                found.update(r[0] for r in conn.execute(q))
        return sorted(found)

    def size_bytes(self) -> int | None:
        """The database's size on disk: the SQLite file's used pages, or PostgreSQL's three
        tables with their indexes and TOAST; None where it cannot be measured."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                page = conn.exec_driver_sql("PRAGMA page_size").scalar()
                pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
                free = conn.exec_driver_sql("PRAGMA freelist_count").scalar()
                return int(page * (pages - free))
            if self.dialect == "postgresql":
                return int(sum(conn.execute(sa.text("SELECT pg_total_relation_size(:t)"),
                                            {"t": t.name}).scalar() or 0
                               for t in (events, states, tele)))
        return None

    def table_bytes(self) -> dict[str, int]:
        """Bytes on disk per table, its indexes included (SQLite: the dbstat table; PostgreSQL:
        pg_total_relation_size), to tell what is kept for good (events) from what retention
        trims (states, tele)."""
        names = [t.name for t in (events, states, tele)]
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                return {n: int(conn.execute(sa.text("SELECT pg_total_relation_size(:t)"),
                                            {"t": n}).scalar() or 0) for n in names}
            owner = dict(conn.exec_driver_sql("SELECT name, tbl_name FROM sqlite_master"
                                              ).fetchall())
            out = dict.fromkeys(names, 0)
            for name, size in conn.exec_driver_sql(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
                table = owner.get(name, name)
                if table in out:
                    out[table] += int(size)
            return out

    def rows_for(self, stops: Iterable[str], since: float, until: float) -> list[StopRows]:
        """Each stop's events and status changes in [since, until), and its state at since.

        The window's events, the faults raised before it and the three leaves' changes are
        read for every stop at once (three queries); only the last value before a time is
        asked stop by stop."""
        stops = list(stops)
        first = self.first_seen(stops)
        fault_kind, light_kind = EventKind.FAULT.value, EventKind.LIGHT.value
        leaves = (Leaf.STATUS.value, State.LIGHT.value, State.FAULTS.value)
        evs: dict[str, list[tuple[str, float, dict[str, Any]]]] = defaultdict(list)
        faults_before: dict[str, dict[str, float]] = defaultdict(dict)
        leaf_rows: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
        with self.engine.connect() as conn:
            for stop, k, ts, b in conn.execute(
                    sa.select(events.c.stop, events.c.kind, events.c.ts, events.c.body)
                    .where(events.c.stop.in_(stops), events.c.ts >= since, events.c.ts < until)
                    .order_by(events.c.stop, events.c.ts, events.c.seq)):
                evs[stop].append((k, float(ts), _json(b)))
            for stop, ts, body in conn.execute(
                    sa.select(events.c.stop, events.c.ts, events.c.body)
                    .where(events.c.stop.in_(stops), events.c.kind == fault_kind,
                           events.c.ts < since)
                    .order_by(events.c.stop, events.c.ts, events.c.seq)):
                ev = _json(body)
                name = str(ev.get("fault"))
                if ev.get("active"):
                    faults_before[stop].setdefault(name, float(ts))
                else:
                    faults_before[stop].pop(name, None)
            for stop, leaf, at, v in conn.execute(
                    sa.select(states.c.stop, states.c.leaf, states.c.at, states.c.value)
                    .where(states.c.stop.in_(stops), states.c.leaf.in_(leaves),
                           states.c.at >= since, states.c.at < until)
                    .order_by(states.c.stop, states.c.leaf, states.c.at, states.c.id)):
                leaf_rows[stop, leaf].append((float(at), v))
            out = []
            for stop in stops:
                last_light = conn.execute(
                    sa.select(events.c.body).where(events.c.stop == stop,
                                                   events.c.kind == light_kind,
                                                   events.c.ts < since)
                    .order_by(events.c.ts.desc(), events.c.seq.desc()).limit(1)).scalar()
                before = conn.execute(
                    sa.select(states.c.value)
                    .where(states.c.stop == stop, states.c.leaf == Leaf.STATUS.value,
                           states.c.at < since)
                    .order_by(states.c.at.desc(), states.c.id.desc()).limit(1)).scalar()
                last_tele = conn.execute(
                    sa.select(tele.c.body).where(tele.c.stop == stop, tele.c.at < until)
                    .order_by(tele.c.at.desc(), tele.c.id.desc()).limit(1)).scalar()
                offset = _json(last_tele).get("utc_offset_s")
                out.append(StopRows(stop, list(evs.get(stop, ())),
                                    list(leaf_rows.get((stop, Leaf.STATUS.value), ())),
                                    bool(_json(last_light).get("on")) if last_light else False,
                                    dict(faults_before.get(stop, {})), before,
                                    list(leaf_rows.get((stop, State.LIGHT.value), ())),
                                    list(leaf_rows.get((stop, State.FAULTS.value), ())),
                                    float(offset) if isinstance(offset, (int, float)) else 0.0,
                                    first.get(stop)))
        return out


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def sqlite_path(url: str) -> str | None:
    """The file behind a ``sqlite:///`` URL (None for others or in-memory)."""
    try:
        u = make_url(url)
    except sa.exc.ArgumentError:
        return None  # not a URL: engine_for says so
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return os.path.abspath(u.database)
