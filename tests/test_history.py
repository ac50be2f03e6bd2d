"""The fleet's memory: ``stopsafe collect`` into SQLite and a real PostgreSQL, ``stopsafe
history`` out of it.

The fleet tests run ``stopsafe fleet-sim`` and two ``stopsafe collect`` processes in one share
group on a real mosquitto, kill one collector with SIGKILL mid-run and start it again, and then
check every event against the stops' own counters (fleet-sim's ``--summary``): each seq from 1
to the stop's last is in the database exactly once. 150 stops for 20 s in the normal run; 1,000
stops for 70 s is the ``load`` test (``make test-load``), which prints the figures.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from fleet.history import daily, schema
from fleet.history.collector import Dropped, Refused, subscriptions, to_row
from fleet.history.schema import events
from fleet.history.store import Batch, StopRows, Store, StoreError
from tests.conftest import REPO
from tests.mqtt_fixtures import Broker

DAY0 = date(2026, 3, 9)
T0 = datetime(2026, 3, 9, tzinfo=timezone.utc).timestamp()  # midnight UTC
H = 3600.0


# ---------------------------------------------------------------- pure parts
def test_messages_become_rows_and_junk_is_counted_not_stored():
    ev = json.dumps({"kind": "light", "on": True, "seq": 7, "ts": "2026-03-09T01:00:00.000+00:00"})
    table, row = to_row("stopsafe", "stopsafe/s1/event", ev.encode(), 5.0)
    assert table == "events" and row["stop"] == "s1" and row["seq"] == 7
    assert row["ts"] == T0 + H and row["received"] == 5.0 and row["kind"] == "light"
    assert to_row("stopsafe", "stopsafe/s1/status", b"online", 5.0) == (
        "states", {"stop": "s1", "leaf": "status", "at": 5.0, "value": "online"})
    assert to_row("stopsafe", "stopsafe/s1/faults/state", b"[]", 5.0)[0] == "states"
    assert to_row("stopsafe", "stopsafe/s1/tele", b"{}", 5.0)[0] == "tele"
    def why(topic: str, payload: bytes) -> Dropped:
        refused = to_row("stopsafe", topic, payload, 5.0)
        assert isinstance(refused, Refused), refused
        return refused.reason

    assert why("other/s1/event", ev.encode()) is Dropped.FOREIGN_TOPIC
    assert why("stopsafe/s1/event", b"{") is Dropped.EVENT_NOT_JSON
    for bad in (b'{"kind": "light"}', b'{"seq": "3", "kind": "light"}', b'{"seq": true}',
                b'{"seq": 0, "kind": "light"}', b"[1]", b'{"seq": 18446744073709551616}',
                b'{"seq": -4, "kind": "x"}', b'{"seq": 2.0, "kind": "x"}', b'{"seq": 2}',
                b'{"seq": 2, "kind": ["x"]}'):
        assert why("stopsafe/s1/event", bad) is Dropped.EVENT_INVALID, bad
    assert why("stopsafe/s1/cmd/light", b"ON") is Dropped.OTHER_LEAF
    assert why("stopsafe/s1/event", b"\xff") is Dropped.NOT_UTF8
    assert why("stopsafe/s1/event", b"[" * 200_000 + b"]" * 200_000) is Dropped.TOO_LARGE
    assert why("stopsafe/s1/event", b"[" * 100_000 + b"]" * 100_000) is Dropped.TOO_DEEP
    assert why("stopsafe/s1/tele", b"[" * 100_000 + b"]" * 100_000) is Dropped.TOO_DEEP
    assert why("stopsafe/s1/tele", b"[1]") is Dropped.TELE_INVALID
    assert why("stopsafe/s1/status", b"x" * (300 * 1024)) is Dropped.TOO_LARGE
    assert to_row("stopsafe", "stopsafe/s9/status", b"online", 5.0,
                  known=lambda sid: sid == "s1") == Refused(Dropped.UNKNOWN_STOP)
    # an event without a usable ts is placed at its arrival
    _, row = to_row("stopsafe", "stopsafe/s1/event", b'{"seq": 1, "kind": "x", "ts": "yesterday"}',
                    9.0)
    assert row["ts"] == 9.0


def test_subscriptions_are_shared_and_cover_every_leaf_once():
    from edge.wire import Leaf, State

    subs = subscriptions("city", "g1")
    assert all(t.startswith("$share/g1/city/+/") and q == 1 for t, q in subs)
    leaves = {t.removeprefix("$share/g1/city/+/") for t, _ in subs}
    assert leaves == {Leaf.EVENT.value, Leaf.STATUS.value, Leaf.TELE.value,
                      *(s.value for s in State)}


def _ev(kind: str, at: float, **kw) -> tuple[str, float, dict]:
    return kind, T0 + at, {"kind": kind, **kw}


def test_day_figures_from_hand_made_rows():
    """Two days; every figure worked out by hand below."""
    rows = StopRows(
        stop="s1",
        events=[
            _ev("light", 1 * H, on=True),                       # day 1: on 01:00 .. 01:30
            _ev("light", 1.5 * H, on=False),
            _ev("waiting_ended", 1.4 * H, duration_s=60.0),
            _ev("waiting_ended", 1.45 * H, duration_s=120.0),
            _ev("fault", 10 * H, fault="camera_black", active=True),   # blind 10:00 .. 12:00
            _ev("fault", 11 * H, fault="lamp_failed", active=True),    # not blind, until 13:00
            _ev("fault", 12 * H, fault="camera_black", active=False),
            _ev("fault", 13 * H, fault="lamp_failed", active=False),
            _ev("light", 23 * H, on=True),                      # on 23:00 .. 01:00 next day
            _ev("light", 25 * H, on=False),
            _ev("fault", 30 * H, fault="camera_stale", active=True),   # day 2: 06:00 ..
        ],
        status=[(T0 + 31 * H, "offline"), (T0 + 33 * H, "online")],  # offline 07:00 .. 09:00
        light_before=False, faults_before={}, status_before="online", first_seen=T0 - 9 * H)
    now = T0 + 36 * H  # day 2, 12:00
    d1, d2 = daily.figures(rows, [DAY0, date(2026, 3, 10)], now)
    assert (d1.day, d2.day) == (DAY0, date(2026, 3, 10))
    assert d1.light_on_s == pytest.approx(0.5 * H + 1 * H)
    assert d2.light_on_s == pytest.approx(1 * H)
    assert (d1.switch_ons, d2.switch_ons) == (2, 0)
    assert d1.waiting_episodes == 2 and d1.waiting_total_s == 180.0
    assert d1.waiting_max_s == 120.0 and d1.waiting_mean_s == 90.0
    assert d1.blind_s == pytest.approx(2 * H)
    assert d1.faults["camera_black"].raised == 1
    assert d1.faults["camera_black"].active_s == pytest.approx(2 * H)
    assert d1.faults["lamp_failed"].active_s == pytest.approx(2 * H)
    assert d1.offline_s == 0.0
    # camera_stale from 06:00 until the stop went offline at 07:00 (nothing known after)
    assert d2.faults["camera_stale"].active_s == pytest.approx(1 * H)
    assert d2.blind_s == pytest.approx(1 * H)
    assert d2.offline_s == pytest.approx(2 * H)
    j = d1.as_dict()
    assert j["day"] == "2026-03-09" and j["faults"]["lamp_failed"] == {"raised": 1,
                                                                         "active_s": 7200.0}


def test_bus_figures_per_day_and_in_the_csv():
    """A city's question per stop and day: how many buses passed someone waiting."""
    from fleet.history.report import BUS_FIELDS, as_csv

    rows = StopRows("s1", [
        _ev("bus", 8 * H, outcome="stopped", waiting=True, waited_s=30.0),
        _ev("bus", 9 * H, outcome="passed", waiting=True, waited_s=200.0),
        _ev("bus", 10 * H, outcome="passed", waiting=False, waited_s=None),
        _ev("bus", 11 * H, outcome="stopped", waiting=True, waited_s=90.0),
        _ev("bus", 12 * H, outcome="stopped", waiting=False, waited_s=None),
        _ev("bus", 26 * H, outcome="unknown", waiting=True, waited_s=5.0),   # day 2
    ], [], light_before=False, faults_before={}, status_before="online", first_seen=T0)
    d1, d2 = daily.figures(rows, [DAY0, date(2026, 3, 10)], T0 + 30 * H)
    assert d1.buses == {"buses": 5, "stopped": 3, "passed": 2, "unknown": 0,
                        "passed_while_waiting": 1, "median_wait_until_stopped_s": 60.0}
    assert (d2.buses["buses"], d2.buses["unknown"], d2.buses["passed_while_waiting"]) == (
        1, 1, 0)
    assert d2.buses["median_wait_until_stopped_s"] is None
    table = list(csv.DictReader(io.StringIO(as_csv([d1, d2]))))
    assert [r["bus_passed_while_waiting"] for r in table] == ["1", "0"]
    assert table[0]["bus_median_wait_until_stopped_s"] == "60.0"
    assert table[1]["bus_median_wait_until_stopped_s"] == ""
    assert all(f"bus_{k}" in table[0] for k in BUS_FIELDS)
    assert d1.as_dict()["buses"]["passed"] == 2


def test_state_at_the_window_start_carries_over():
    """Light on, a fault active and the stop offline since before the window."""
    rows = StopRows("s1", [], [(T0 + 2 * H, "online")], light_before=True,
                    faults_before={"camera_lost": T0 - 5 * H}, status_before="offline",
                    first_seen=T0 - 6 * H)
    (d,) = daily.figures(rows, [DAY0], T0 + 4 * H)
    assert d.offline_s == pytest.approx(2 * H)
    # the light and the fault were on until the stop was seen offline: the window's start
    assert d.light_on_s == 0.0 and d.blind_s == 0.0
    rows = StopRows("s1", [], [], light_before=True, faults_before={"camera_lost": T0 - H},
                    status_before="online", first_seen=T0 - H)
    (d,) = daily.figures(rows, [DAY0], T0 + 4 * H)
    assert d.light_on_s == pytest.approx(4 * H) and d.blind_s == pytest.approx(4 * H)


def test_a_broker_outage_and_a_restart_as_the_retained_states_tell():
    """Offline 02:00-03:00 and 05:00-06:00. After the first (a broker outage) the stop's
    retained states still say light ON and camera_black: both go on, the hour away left out.
    After the second (a restart) they say OFF and []: both ended when it went offline."""
    rows = StopRows(
        "s1",
        events=[_ev("light", 1 * H, on=True),
                _ev("fault", 1 * H, fault="camera_black", active=True)],
        status=[(T0 + 2 * H, "offline"), (T0 + 3 * H, "online"),
                (T0 + 5 * H, "offline"), (T0 + 6 * H, "online")],
        light_before=False, faults_before={}, status_before="online",
        light_state=[(T0 + 3 * H + 1, "ON"), (T0 + 6 * H + 1, "OFF")],
        faults_state=[(T0 + 3 * H + 1, '["camera_black"]'), (T0 + 6 * H + 1, "[]")],
        first_seen=T0 + 1 * H)
    (d,) = daily.figures(rows, [DAY0], T0 + 8 * H)
    # 01:00-02:00 and 03:00-05:00
    assert d.light_on_s == pytest.approx(3 * H)
    assert d.faults["camera_black"].active_s == pytest.approx(3 * H)
    assert d.faults["camera_black"].raised == 1
    assert d.blind_s == pytest.approx(3 * H) and d.offline_s == pytest.approx(2 * H)


# ---------------------------------------------------------------- the store, both databases
@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    return request.getfixturevalue("pg_url")


def test_store_drops_repeated_events_and_prunes_old_samples(db_url):
    store = Store(db_url, create=True)
    assert store.version == schema.VERSION
    ev = {"stop": "s1", "seq": 1, "kind": "light", "ts": T0, "received": T0, "body": "{}"}
    old = {"stop": "s1", "leaf": "status", "at": T0 - 40 * 86400, "value": "online"}
    new = {"stop": "s1", "leaf": "status", "at": T0, "value": "online"}
    store.write(Batch(events=[ev, ev], states=[old, new],
                      tele=[{"stop": "s1", "at": T0 - 40 * 86400, "body": "{}"}]))
    store.write(Batch(events=[ev, {**ev, "seq": 2}]))
    assert store.counts() == {"events": 2, "states": 2, "tele": 1}
    assert store.seqs() == {"s1": [1, 2]}
    assert store.prune(T0 - 30 * 86400) == 2
    assert store.counts() == {"events": 2, "states": 1, "tele": 0}
    assert store.size_bytes() > 0 and all(v > 0 for v in store.table_bytes().values())
    store.close()


def test_schema_upgrades_itself_and_refuses_a_newer_one(db_url):
    old = Store(db_url, upto=1, create=True)
    assert old.version == 1
    old.write(Batch(events=[{"stop": "s1", "seq": 1, "kind": "light", "ts": T0,
                             "received": T0, "body": "{}"}]))
    old.close()
    store = Store(db_url)
    assert (store.upgraded_from, store.version) == (1, schema.VERSION)
    assert store.counts()["events"] == 1
    import sqlalchemy as sa

    indexes = {ix["name"] for ix in sa.inspect(store.engine).get_indexes("events")}
    assert "ix_events_stop_kind_ts" in indexes
    with store.engine.begin() as conn:
        conn.execute(schema.schema_version.update().values(version=schema.VERSION + 1))
    store.close()
    with pytest.raises(StoreError, match="upgrade stopsafe"):
        Store(db_url)


def test_console_shows_each_stops_faults_over_the_last_24_h(tmp_path):
    from rich.console import Console

    from fleet.history.report import recent_faults
    from fleet.view import FleetTable, SortKey, render, rows_json

    now = T0 + 30 * H
    store = Store(f"sqlite:///{tmp_path / 'h.db'}", create=True)

    def fault(seq: int, at: float, name: str, active: bool) -> dict:
        body = json.dumps({"kind": "fault", "fault": name, "active": active, "seq": seq})
        return {"stop": "s1", "seq": seq, "kind": "fault", "ts": at, "received": at,
                "body": body}

    store.write(Batch(events=[
        fault(1, now - 30 * H, "lamp_failed", True),  # before the 24 h, cleared inside them
        fault(2, now - 20 * H, "lamp_failed", False),
        fault(3, now - 2 * H, "camera_black", True),  # raised twice, 40 min in all
        fault(4, now - 2 * H + 600, "camera_black", False),
        fault(5, now - 1800, "camera_black", True)]))
    recent = recent_faults(store, ["s1", "s2"], now=now)
    store.close()
    assert recent["s2"] == {}
    assert recent["s1"]["lamp_failed"].raised == 0
    assert recent["s1"]["lamp_failed"].active_s == pytest.approx(4 * H)
    assert recent["s1"]["camera_black"].raised == 2
    assert recent["s1"]["camera_black"].active_s == pytest.approx(2400)
    table = FleetTable("stopsafe")
    for stop in ("s1", "s2"):
        table.update(f"stopsafe/{stop}/status", b"online", 1.0)
    table.set_history({k: {n: (v.raised, v.active_s) for n, v in f.items()}
                       for k, f in recent.items()})
    out = Console(width=200, record=True)
    out.print(render(table, SortKey.STOP, False, 10))
    text = out.export_text()
    assert "faults, last 24 h" in text and "camera_black 2x 40 min" in text
    assert "lamp_failed 0x 240 min" in text
    rows = {r["stop"]: r for r in rows_json(table.snapshot())}
    assert rows["s1"]["faults_24h"]["camera_black"] == {"raised": 2, "active_s": 2400.0}
    assert rows["s2"]["faults_24h"] == {}


def test_days_are_the_stop_s_local_days(tmp_path):
    """A stop two hours ahead of UTC (its telemetry says so) has its day begin at 22:00 UTC:
    a light on from 21:00 to 23:00 UTC is an hour on each of its days; a stop that never sent
    its offset keeps UTC days. The stop's own "today" is the same rule (``stop_day``)."""
    from edge.wire import stop_day, stop_local
    from fleet.history.report import build

    store = Store(f"sqlite:///{tmp_path / 'h.db'}", create=True)

    def light(stop: str, seq: int, at: float, on: bool) -> dict:
        body = json.dumps({"kind": "light", "on": on, "seq": seq})
        return {"stop": stop, "seq": seq, "kind": "light", "ts": at, "received": at,
                "body": body}

    store.write(Batch(
        events=[light(s, 1, T0 + 21 * H, True) for s in ("east", "utc")]
        + [light(s, 2, T0 + 23 * H, False) for s in ("east", "utc")],
        states=[{"stop": s, "leaf": "status", "at": T0, "value": "online"}
                for s in ("east", "utc")],
        tele=[{"stop": "east", "at": T0 + H, "body": json.dumps({"utc_offset_s": 2 * H})}]))
    now = T0 + 30 * H  # 06:00 UTC on 10 March, 08:00 at the east stop
    days = {(d.stop, d.day.isoformat()): d.light_on_s for d in build(store, 2, now=now)}
    store.close()
    assert days[("east", "2026-03-09")] == pytest.approx(1 * H)  # 23:00-24:00 local
    assert days[("east", "2026-03-10")] == pytest.approx(1 * H)  # 00:00-01:00 local
    assert days[("utc", "2026-03-09")] == pytest.approx(2 * H)
    assert days[("utc", "2026-03-10")] == 0.0
    assert stop_day(stop_local(T0 + 23 * H, 2 * H)) == date(2026, 3, 10)


def in_process(*argv: str) -> int:
    """A sub-command in this process (no interpreter start-up; ``main`` is not used, as it
    would reset SIGPIPE for the whole test run)."""
    from edge.cli import build_parser

    args = build_parser(argv).parse_args(list(argv))
    return int(args.func(args) or 0)


def test_collectors_starting_together_on_an_empty_database(db_url):
    """Several processes upgrading one empty database at once all end at the same version."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: Store(db_url, create=True), range(4)))
    assert {s.version for s in stores} == {schema.VERSION}
    for s in stores:
        s.close()
    with Store(db_url).engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.schema_version)
                            ).scalar() == 1


def test_bad_database_urls_are_config_errors(tmp_path, capsys):
    for url in ("mysql://x/y", "nonsense", f"sqlite:///{tmp_path}/no/such/dir/h.db"):
        assert in_process("history", "--db", url) == 78, url
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("stopsafe history: --db "), err


# ---------------------------------------------------------------- the fleet, end to end
HISTORY_CONF = REPO / "systemd/mosquitto/history.conf"  # the broker settings the docs ask for


def history_broker(tmp: Path) -> Broker:
    """mosquitto with ``systemd/mosquitto/history.conf`` (queues for an absent collector)."""
    folder = tmp / "broker"
    folder.mkdir()
    broker = Broker(folder, extra=HISTORY_CONF.read_text())
    broker.start()
    return broker


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=REPO,
                          capture_output=True, text=True, **kw)


@dataclass
class CollectorProc:
    client_id: str
    log: Path
    proc: subprocess.Popen | None = None
    extra: tuple[str, ...] = ()  # more options for `stopsafe collect`

    def start(self, broker: Broker, db: str) -> None:
        mark = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge.cli", "collect", "--broker", broker.address,
                 "--db", db, "--create", "--group", "history-test", "--client-id", self.client_id,
                 "--session-expiry-s", "600", *self.extra], cwd=REPO, stdout=out,
                stderr=out)
        deadline = time.monotonic() + 30
        while "collect_subscribed" not in self.log.read_text()[mark:]:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "collector did not subscribe"
            time.sleep(0.1)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> dict:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        assert self.proc.returncode == 0, self.log.read_text()[-3000:]
        last = [ln for ln in self.log.read_text().splitlines() if ln.startswith('{"collect"')]
        return json.loads(last[-1])["collect"]


def fleet_with_two_collectors(broker: Broker, db: str, tmp: Path, stops: int, duration: float,
                              kill_at: float | None, fps: float = 1.0,
                              telemetry_s: float = 60.0) -> dict:
    """fleet-sim for ``duration`` s with two collectors in one group, one killed (SIGKILL) at
    ``kill_at`` s and restarted 2 s later; every event checked against the stops' counters."""
    a = CollectorProc("collector-a", tmp / "collector-a.log")
    b = CollectorProc("collector-b", tmp / "collector-b.log")
    a.start(broker, db)
    b.start(broker, db)
    summary = tmp / "fleet-summary.json"
    t0 = time.monotonic()
    fleet = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "fleet-sim", "--stops", str(stops), "--broker",
         broker.address, "--duration", str(duration), "--fps", str(fps), "--telemetry-s",
         str(telemetry_s), "--seed", "5", "--summary", str(summary)], cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    figures: dict = {"stops": stops, "duration_s": duration, "db": db.split(":")[0]}
    store = Store(db)
    try:
        sizes: list[tuple[float, dict, dict]] = []  # (t, bytes, rows) by table, steady part
        killed = False
        while fleet.poll() is None:
            now = time.monotonic() - t0
            if kill_at is not None and not killed and now >= kill_at:
                b.kill9()
                killed = True
                dead_from = time.time()
                figures["killed_at_s"] = round(now, 1)
                time.sleep(2.0)
                b.start(broker, db)
                dead_until = time.time()
                figures["restarted_after_s"] = round(time.monotonic() - t0 - now, 1)
            if duration * 0.3 <= now <= duration * 0.95:
                sizes.append((now, store.table_bytes(), store.counts()))
            time.sleep(1.0)
        _, err = fleet.communicate(timeout=90)
        assert fleet.returncode == 0, err[-2000:]
        counters = json.loads(summary.read_text())["stops"]
        assert len(counters) == stops
        assert all(c["queued"] == 0 and c["dropped"] == 0 for c in counters), \
            [c for c in counters if c["queued"] or c["dropped"]][:5]
        expected = {c["stop"]: list(range(1, c["last_seq"] + 1)) for c in counters}
        want = sum(c["last_seq"] for c in counters)
        deadline = time.monotonic() + 60
        while store.counts()["events"] < want and time.monotonic() < deadline:
            time.sleep(0.5)
        figures["drain_s"] = round(time.monotonic() - t0 - duration, 1)
    finally:
        if fleet.poll() is None:
            os.killpg(fleet.pid, signal.SIGKILL)
        stats = [c.stop() for c in (a, b) if c.proc is not None and c.proc.poll() is None]
    got = store.seqs()
    missing = {s: sorted(set(v) - set(got.get(s, []))) for s, v in expected.items()}
    missing = {s: v for s, v in missing.items() if v}
    extra = {s: v for s, v in got.items() if v != expected.get(s, [])}
    counts = store.counts()
    assert counts["events"] == want, (missing, extra)
    assert not missing and not extra, (dict(list(missing.items())[:5]), list(extra)[:5])
    assert all(st["dropped"] == {} for st in stats), stats
    figures["events"] = want
    if kill_at is not None:
        # published while collector b was dead: its share waited in its session at the broker
        with store.engine.connect() as conn:
            import sqlalchemy as sa

            from fleet.history.schema import events

            figures["events_while_one_was_dead"] = conn.execute(
                sa.select(sa.func.count()).select_from(events)
                .where(events.c.ts >= dead_from, events.c.ts < dead_until)).scalar()
    figures["rows"] = counts
    figures["collector_rows"] = [st["rows"] for st in stats]
    figures["collector_rows_per_write_s"] = [st["rows_per_write_s"] for st in stats]
    total_rows = sum(counts.values())
    figures["ingest_rows_per_s"] = round(total_rows / duration, 1)
    if len(sizes) >= 2:
        (ta, ba, ra), (tb, bb, rb) = sizes[0], sizes[-1]
        stop_days = stops * (tb - ta) / 86400.0
        figures["steady_window_s"] = round(tb - ta, 1)
        figures["steady_rows_per_stop_day"] = {k: round((rb[k] - ra[k]) / stop_days) for k in rb}
        figures["steady_bytes_per_stop_day"] = {k: round((bb[k] - ba[k]) / stop_days)
                                                for k in bb}
    figures["db_bytes"] = store.size_bytes()
    end_bytes = store.table_bytes()
    figures["bytes_per_row"] = {k: round(end_bytes[k] / counts[k]) for k in counts if counts[k]}
    figures["db_bytes_per_stop_day_whole_run"] = round(
        figures["db_bytes"] / (stops * duration / 86400.0))
    store.close()
    print("HISTORY_FIGURES", json.dumps(figures))
    return figures


@pytest.mark.mqtt
def test_two_collectors_one_killed_none_missing(db_url, tmp_path):
    broker = history_broker(tmp_path)
    try:
        f = fleet_with_two_collectors(broker, db_url, tmp_path, stops=150, duration=20.0,
                                      kill_at=8.0, fps=2.0, telemetry_s=5.0)
    finally:
        broker.stop()
    assert f["events"] >= 30 and f["events_while_one_was_dead"] > 0  # something to lose
    assert all(n > 0 for n in f["collector_rows"])  # both members of the group wrote


def session_present(broker: Broker, client_id: str) -> bool:
    """Whether the broker still holds a session for ``client_id`` (connects and leaves it)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    got: dict = {}
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    c.on_connect = lambda _c, _u, flags, _rc, _p: got.update(present=flags.session_present)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0  # this probe leaves nothing behind
    c.connect(broker.host, broker.port, 10, clean_start=False, properties=props)
    c.loop_start()
    deadline = time.monotonic() + 10
    while "present" not in got and time.monotonic() < deadline:
        time.sleep(0.05)
    c.disconnect()
    c.loop_stop()
    return bool(got["present"])


@pytest.mark.mqtt
def test_a_retired_collector_writes_its_queue_first(tmp_path):
    """Collector b leaves (its session kept, the broker queues its share), then is retired
    with --retire: its queue is written, its session ends, and no event is missing."""
    broker = history_broker(tmp_path)
    db = f"sqlite:///{tmp_path / 'h.db'}"
    a = CollectorProc("collector-a", tmp_path / "a.log")
    b = CollectorProc("collector-b", tmp_path / "b.log")
    try:
        a.start(broker, db)
        b.start(broker, db)
        b.stop()
        summary = tmp_path / "summary.json"
        p = cli("fleet-sim", "--stops", "50", "--broker", broker.address, "--duration", "8",
                "--fps", "2", "--telemetry-s", "3", "--seed", "4", "--summary", str(summary),
                timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        p = cli("collect", "--broker", broker.address, "--db", db, "--create",
                "--group", "history-test",
                "--client-id", "collector-b", "--retire", timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        retired = json.loads([ln for ln in p.stderr.splitlines()
                              if ln.startswith('{"collect"')][-1])["collect"]
        assert retired["rows"] > 0  # b's share, queued while it was away
        assert session_present(broker, "collector-b") is False
        counters = json.loads(summary.read_text())["stops"]
        store = Store(db)
        want = sum(c["last_seq"] for c in counters)
        deadline = time.monotonic() + 30
        while store.counts()["events"] < want and time.monotonic() < deadline:
            time.sleep(0.3)
        a.stop()
        assert store.seqs() == {c["stop"]: list(range(1, c["last_seq"] + 1))
                                for c in counters if c["last_seq"]}
        store.close()
    finally:
        broker.stop()


@pytest.mark.mqtt
def test_history_of_a_20_stop_fleet_as_table_json_csv_and_chart(broker, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'h.db'}"
    c = CollectorProc("collector-h", tmp_path / "collector.log")
    c.start(broker, db)
    p = cli("fleet-sim", "--stops", "20", "--broker", broker.address, "--duration", "12",
            "--fps", "5", "--telemetry-s", "3", "--seed", "9", timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    time.sleep(1.0)
    # the console beside it: every stop with its faults over the last 24 h (none here)
    p = cli("console", "--json", "--broker", broker.address, "--db", db, "--settle", "0.5",
            timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = json.loads(p.stdout)
    assert len(rows) == 20 and all(r["faults_24h"] == {} for r in rows)
    c.stop()
    today = datetime.now(timezone.utc).date().isoformat()

    capsys.readouterr()
    assert in_process("history", "--db", db, "--days", "1", "--json") == 0
    days = json.loads(capsys.readouterr().out)
    assert sorted(d["stop"] for d in days) == [f"fleet-{i:04d}" for i in range(20)]
    assert all(d["day"] == today for d in days)
    # every stop said "stopped" at fleet-sim's clean exit: offline since then
    assert all(d["offline_s"] > 0 for d in days)
    # the figures add up to the stored events
    store = Store(db)
    with store.engine.connect() as conn:
        evs = [json.loads(b) for (b,) in conn.execute(sa.select(events.c.body))]
    store.close()
    switch_ons = sum(e["kind"] == "light" and e["on"] for e in evs)
    assert switch_ons > 0
    assert sum(d["switch_ons"] for d in days) == switch_ons
    ended = [e["duration_s"] for e in evs if e["kind"] == "waiting_ended"]
    assert sum(d["waiting_episodes"] for d in days) == len(ended)
    assert sum(d["waiting_total_s"] for d in days) == pytest.approx(sum(ended), abs=0.1 * 20)
    assert all(d["light_on_s"] > 0 for d in days if d["switch_ons"])

    assert in_process("history", "--db", db, "--days", "1", "--csv") == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(table) == 20 and {r["day"] for r in table} == {today}
    by_stop = {d["stop"]: d for d in days}
    for r in table:
        assert int(r["switch_ons"]) == by_stop[r["stop"]]["switch_ons"]
        assert int(r["waiting_episodes"]) == by_stop[r["stop"]]["waiting_episodes"]

    chart = tmp_path / "fleet.png"
    assert in_process("history", "--db", db, "--days", "3", "--chart", str(chart),
                      "--table") == 0
    out = capsys.readouterr().out
    assert "20 stops, 1 days with data" in out  # the fleet began today: no earlier rows
    assert all(f"fleet-{i:04d}" in out for i in range(20))
    import cv2

    img = cv2.imread(str(chart))
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 300
    one = tmp_path / "stop.png"
    assert in_process("history", "--db", db, "--stop", "fleet-0003", "--chart", str(one),
                      "--table") == 0
    assert "fleet-0003" in capsys.readouterr().out and cv2.imread(str(one)) is not None


@pytest.mark.load
@pytest.mark.mqtt
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_1000_stops_two_collectors_one_killed_none_missing(kind, tmp_path, request):
    broker = history_broker(tmp_path)
    db = (f"sqlite:///{tmp_path / 'history.db'}" if kind == "sqlite"
          else request.getfixturevalue("pg_url"))
    try:
        f = fleet_with_two_collectors(broker, db, tmp_path, stops=1000, duration=70.0,
                                      kill_at=30.0)
    finally:
        broker.stop()
    assert f["events"] > 500 and f["events_while_one_was_dead"] > 0  # something to lose


@pytest.mark.load
@pytest.mark.mqtt
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_ingestion_rate_from_a_backlog(kind, tmp_path, request):
    """The collector's capacity: its session queues 1,000 stops' messages for 40 s (telemetry
    every 5 s) while it is away; then it starts and drains them. Prints rows/s."""
    broker = history_broker(tmp_path)
    db = (f"sqlite:///{tmp_path / 'history.db'}" if kind == "sqlite"
          else request.getfixturevalue("pg_url"))
    c = CollectorProc("collector-backlog", tmp_path / "collector.log")
    try:
        c.start(broker, db)
        c.stop()  # its session stays at the broker, which queues the group's messages for it
        summary = tmp_path / "summary.json"
        p = cli("fleet-sim", "--stops", "1000", "--broker", broker.address, "--duration", "40",
                "--telemetry-s", "5", "--seed", "11", "--summary", str(summary), timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        counters = json.loads(summary.read_text())["stops"]
        want = sum(x["last_seq"] for x in counters)
        store = Store(db)
        base = sum(store.counts().values())
        t0 = time.monotonic()
        c.start(broker, db)  # returns once subscribed: the queued messages are flowing
        t_sub = time.monotonic()
        last, last_change = -1, time.monotonic()
        while time.monotonic() - last_change < 3.0 and time.monotonic() - t0 < 300:
            n = sum(store.counts().values())
            if n != last:
                last, last_change = n, time.monotonic()
            time.sleep(0.2)
        stats = c.stop()
    finally:
        broker.stop()
    rows = last - base
    drain_s = last_change - t_sub
    got = store.seqs()
    assert {s: v for s, v in got.items()} == {
        x["stop"]: list(range(1, x["last_seq"] + 1)) for x in counters if x["last_seq"]}
    assert store.counts()["events"] == want
    figures = {"db": kind, "backlog_rows": rows, "drain_s": round(drain_s, 1),
               "rows_per_s": round(rows / drain_s, 1), "batches": stats["batches"],
               "rows_per_write_s": stats["rows_per_write_s"],
               "start_to_subscribed_s": round(t_sub - t0, 1)}
    store.close()
    print("INGEST_FIGURES", json.dumps(figures))
    assert rows > 10000


# ---------------------------------------------------------------- only what it knows
def _light(stop: str, seq: int, at: float, on: bool) -> dict:
    return {"stop": stop, "seq": seq, "kind": "light", "ts": at, "received": at,
            "body": json.dumps({"kind": "light", "on": on, "seq": seq})}


def test_a_stop_first_seen_on_day_3_has_no_rows_for_days_1_and_2(tmp_path):
    from fleet.history import report

    store = Store(f"sqlite:///{tmp_path / 'h.db'}", create=True)
    day = 86400.0
    store.write(Batch(events=[
        _light("old", 1, T0 + 1 * H, True), _light("old", 2, T0 + 2 * H, False),
        _light("new", 1, T0 + 2 * day + 5 * H, True),  # day 3, 05:00 .. 06:00
        _light("new", 2, T0 + 2 * day + 6 * H, False)]))
    span = {"since": DAY0, "until": date(2026, 3, 12)}  # days 1..4 (UTC: no telemetry)
    rows = report.build(store, now=T0 + 3 * day + 12 * H, **span)
    assert [(r.stop, r.day.day) for r in rows] == [("new", 11), ("new", 12), ("old", 9),
                                                   ("old", 10), ("old", 11), ("old", 12)]
    assert rows[0].light_on_s == pytest.approx(H)
    # a state row counts as a record too (a stop that only said "online")
    store.write(Batch(states=[{"stop": "quiet", "leaf": "status", "at": T0 + 3 * day + H,
                               "value": "online"}]))
    assert [r.day.day for r in report.build(store, stop="quiet", now=T0 + 3 * day + 12 * H,
                                            **span)] == [12]
    # the last 4 days the same way (--days)
    assert [(r.stop, r.day.day) for r in report.build(store, 4, now=T0 + 3 * day + 12 * H)
            ][:2] == [("new", 11), ("new", 12)]
    # a stop never seen: no rows at all, not days of zeros
    assert report.build(store, stop="ghost", now=T0 + 3 * day + 12 * H, **span) == []
    store.close()


def test_unknown_stop_typo_url_and_bad_windows_are_one_line(tmp_path, capsys):
    db = tmp_path / "h.db"
    url = f"sqlite:///{db}"
    # a URL that leads to no history: refused, and nothing is created
    for bad in (url, f"sqlite:///{tmp_path}/hitsory.db"):
        assert in_process("history", "--db", bad) == 78
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "does not exist" in err and "--create" in err, err
    assert not db.exists()
    assert in_process("history", "--db", url, "--create", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [] and db.exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")  # a file, but no history in it
    assert in_process("history", "--db", f"sqlite:///{empty}") == 78
    assert "no stopsafe history there" in capsys.readouterr().err
    # a stop the database never heard of: the closest known ids
    now = time.time()
    store = Store(url)
    store.write(Batch(events=[_light(s, 1, now - 60, True) for s in
                              ("fleet-0007", "fleet-0070", "fleet-0700", "depot-1")]))
    store.close()
    assert in_process("history", "--db", url, "--stop", "fleet-007") == 66
    err = capsys.readouterr().err
    assert err.startswith("stopsafe history: no stop 'fleet-007' in the database; closest "
                          "known: ") and err.count("\n") == 1, err
    assert sorted(err.strip().split(": ")[-1].split(", ")) == [  # the most alike first
        "fleet-0007", "fleet-0070", "fleet-0700"]
    assert in_process("history", "--db", url, "--stop", "zzz") == 66
    assert "4 stops known, e.g. depot-1" in capsys.readouterr().err
    assert in_process("history", "--db", url, "--stop", "fleet-0007", "--json") == 0
    assert [d["stop"] for d in json.loads(capsys.readouterr().out)] == ["fleet-0007"]
    # windows: upside down, in the future, too long
    today = datetime.now(timezone.utc).date()
    for args, said in ((("--since", "2026-03-10", "--until", "2026-03-09"), "is after --until"),
                       (("--until", "2999-01-01"), "is after today"),
                       (("--since", "1990-01-01"), "at most 3660")):
        assert in_process("history", "--db", url, *args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, err
    with pytest.raises(SystemExit) as e:
        in_process("history", "--db", url, "--since", "03/09/2026")
    assert e.value.code == 2 and "not a day YYYY-MM-DD" in capsys.readouterr().err
    assert in_process("history", "--db", url, "--since", str(today), "--json") == 0
    assert {d["day"] for d in json.loads(capsys.readouterr().out)} == {str(today)}


def test_a_chart_draws_a_gap_for_no_data_and_labels_every_axis_and_row():
    import numpy as np

    from fleet.history import report
    from fleet.history.daily import DayFigures

    days = [DAY0, date(2026, 3, 10), date(2026, 3, 11)]
    rows = [DayFigures("s-a", DAY0, light_on_s=2 * H), DayFigures("s-a", days[2], blind_s=H),
            *(DayFigures(f"s-{i:02d}", d, offline_s=H) for i in range(60) for d in days[2:])]
    fig = report.figure(rows, days, "test")
    bars = fig.axes[0]
    heat = next(ax for ax in fig.axes if ax.images)
    line = next(ax for ax in fig.axes if ax.lines)
    lit = [p.get_height() for p in bars.patches[:3]]
    assert lit[0] == pytest.approx(2.0) and np.isnan(lit[1])  # the gap: no bar, not a 0
    assert "no data" in [t.get_text() for t in bars.texts]
    assert np.isnan(line.lines[0].get_ydata()[1])  # the waiting line breaks there
    grid = heat.images[0].get_array()
    assert grid.mask[0, 1] and not grid.mask[0, 2]  # s-00 on day 2: no data (grey)
    stops = sorted({r.stop for r in rows})
    assert [t.get_text() for t in heat.get_yticklabels()] == stops  # all 61 rows labelled
    for ax in (bars, heat):
        assert ax.get_xlabel() == "day (UTC)" and ax.get_ylabel()
    assert line.get_ylabel() == "waiting episodes"
    one = report.figure([r for r in rows if r.stop == "s-a"], days, "one stop")
    assert np.isnan(one.axes[0].patches[1].get_height()) and len(one.axes) == 2
    import matplotlib.pyplot as plt

    plt.close("all")
