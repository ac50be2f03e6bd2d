"""Issue 23: no message can stop the fleet's memory. ``stopsafe collect`` (a real process, a real
mosquitto, SQLite) while 20 stops report and one known stop sends every bad payload there is,
and strangers report too: the 20 stops' rows are all stored, each bad one is acknowledged,
counted and kept aside, the strangers counted and not stored, the collector never exits, and a
restart does not get any of them again. And a row the database itself refuses does not hold
back the rows behind it."""

from __future__ import annotations

import json
import time
import uuid

import paho.mqtt.client as paho
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from fleet.history.collector import Collector, Dropped, known_stops
from fleet.history.schema import DEAD_LETTER_KEEP_BYTES
from fleet.history.store import Store
from tests.test_history import CollectorProc, cli, history_broker

GOOD = [f"s{i:02d}" for i in range(20)]
EVENTS = 6  # per good stop
BAD = {  # what the known stop 'bad' sends on its event topic, and why each is refused
    "deep_200k": (b"[" * 200_000 + b"]" * 200_000, Dropped.TOO_LARGE),
    "deep_100k": (b"[" * 100_000 + b"]" * 100_000, Dropped.TOO_DEEP),
    "seq_2_64": (json.dumps({"seq": 2**64, "kind": "light"}).encode(), Dropped.EVENT_INVALID),
    "ten_mb": (json.dumps({"seq": 5, "kind": "light", "pad": "x" * 10_000_000}).encode(),
               Dropped.TOO_LARGE),
    "not_utf8": (b'{"seq": 6, "kind": "\xff\xfe"}', Dropped.NOT_UTF8),
    "seq_negative": (json.dumps({"seq": -3, "kind": "light"}).encode(), Dropped.EVENT_INVALID),
    "seq_float": (json.dumps({"seq": 7.5, "kind": "light"}).encode(), Dropped.EVENT_INVALID),
    "seq_text": (json.dumps({"seq": "8", "kind": "light"}).encode(), Dropped.EVENT_INVALID),
    "kind_number": (json.dumps({"seq": 9, "kind": 12}).encode(), Dropped.EVENT_INVALID),
    "not_json": (b"{seq: 10", Dropped.EVENT_NOT_JSON),
}


def publish_all(broker, messages: list[tuple[str, bytes]]) -> None:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}",
                    protocol=paho.MQTTv5)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        infos = [c.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        c.loop_stop()
        c.disconnect()


def event(seq: int) -> bytes:
    return json.dumps({"seq": seq, "kind": "light", "on": seq % 2 == 1, "reason": "waiting",
                       "ts": "2026-12-06T23:00:00.000+00:00"}).encode()


@pytest.mark.mqtt
def test_twenty_stops_stored_while_one_sends_every_bad_payload(tmp_path):
    broker = history_broker(tmp_path)
    db = f"sqlite:///{tmp_path / 'history.sqlite'}"
    col = CollectorProc("collector-h", tmp_path / "collector.log",
                        extra=("--stops", ",".join(GOOD), "--stops", "bad"))
    try:
        col.start(broker, db)
        messages: list[tuple[str, bytes]] = []
        bad = list(BAD.values())
        for seq in range(1, EVENTS + 1):  # the bad ones between the good ones, in one stream
            for stop in GOOD:
                messages.append((f"stopsafe/{stop}/event", event(seq)))
            messages += [("stopsafe/bad/event", p) for p, _ in bad[(seq - 1) * 2:seq * 2]]
            messages.append((f"stopsafe/x{seq}/event", event(seq)))  # a stranger
        messages += [("stopsafe/bad/tele", b"[" * 100_000 + b"]" * 100_000),
                     ("stopsafe/bad/status", b"on\xffline")]
        publish_all(broker, messages)
        store = Store(db)
        deadline = time.monotonic() + 60
        while store.counts()["events"] < len(GOOD) * EVENTS and time.monotonic() < deadline:
            assert col.proc.poll() is None, col.log.read_text()[-3000:]
            time.sleep(0.3)
        time.sleep(1.0)
        assert col.proc.poll() is None, "the collector must never exit"
        first = col.stop()
        kept = store.dead_letters()
        # a restart: the session resumes, and nothing refused comes again
        col.start(broker, db)
        time.sleep(3.0)
        second = col.stop()
        again = store.dead_letters()
        seqs = store.seqs()
        store.close()
    finally:
        if col.proc is not None and col.proc.poll() is None:
            col.proc.kill()
        broker.stop()
    assert {s: seqs.get(s) for s in GOOD} == {s: list(range(1, EVENTS + 1)) for s in GOOD}
    assert set(seqs) == set(GOOD), "nothing of 'bad' or the strangers is in the history"
    want: dict[str, int] = {}
    for _, reason in BAD.values():
        want[reason.value] = want.get(reason.value, 0) + 1
    want[Dropped.TOO_DEEP.value] += 1  # the tele
    want[Dropped.NOT_UTF8.value] += 1  # the status
    assert {k: v for k, v in first["dropped"].items() if k != "unknown_stop"} == want, first
    assert first["dropped"]["unknown_stop"] == EVENTS
    assert sorted(d["reason"] for d in kept) == sorted(
        r for r, n in want.items() for _ in range(n))
    assert all(d["stop"] == "bad" for d in kept)
    big = max(kept, key=lambda d: d["size"])
    assert big["size"] > 10_000_000 and big["reason"] == "too_large"
    assert second["dropped"] == {} and second["rows"] == 0, second  # nothing replayed
    assert again == kept
    print("COLLECTOR_FIGURES", json.dumps({"stored_events": sum(map(len, seqs.values())),
                                           "dropped": first["dropped"], "kept_aside": len(kept),
                                           "after_restart": second["dropped"]}))


def test_a_row_the_database_refuses_does_not_hold_back_the_rows_behind_it(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.sqlite'}", create=True)
    with store.engine.begin() as conn:  # this database refuses one value, whatever the reason
        conn.execute(sa.text("CREATE TRIGGER refuse BEFORE INSERT ON states "
                             "WHEN NEW.value = 'poison' BEGIN SELECT RAISE(ABORT, 'no'); END"))
    c = Collector(store, "127.0.0.1", 1, "stopsafe", "g", "c", 60, None,
                  known=known_stops(["a", "b"], None))
    for i, (topic, payload) in enumerate([
            ("stopsafe/a/event", event(1)), ("stopsafe/a/status", b"poison"),
            ("stopsafe/b/event", event(1)), ("stopsafe/b/status", b"online"),
            ("stopsafe/a/event", event(2))]):
        c._q.put((0, i, 0, topic, payload, 1000.0 + i))
    c._write_some(timeout=0.1)
    assert store.seqs() == {"a": [1, 2], "b": [1]}
    assert store.counts()["states"] == 1
    [dead] = store.dead_letters()
    assert (dead["stop"], dead["reason"], dead["topic"]) == ("a", "db_refused",
                                                             "stopsafe/a/status")
    assert c.dropped == {"db_refused": 1} and c.stats.retries == 0
    store.close()


def test_known_stops_refuse_ids_that_fold_together(tmp_path):
    p = cli("collect", "--broker", "127.0.0.1:1", "--db", f"sqlite:///{tmp_path}/h.sqlite",
            "--stops", "Stop-1,a", "--stops", "stop_1", timeout=60)
    assert p.returncode == 78
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "'Stop-1' and 'stop_1'" in lines[0], lines
    assert DEAD_LETTER_KEEP_BYTES < 10_000_000
