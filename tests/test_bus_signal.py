"""Telling the bus side: the waiting JSON, retained on MQTT and POSTed to a webhook from a
bounded, counted outbox, tested against a real loopback HTTP server that fails, then recovers:
every change arrives once or more, in order."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

from edge.config import parse_config
from edge.decision.controller import Tick, TickKind
from edge.mqtt.service import MqttService
from edge.runtime.assembly import build_controller
from edge.runtime.faults import Fault, FaultRegistry
from edge.runtime.pipeline import fault_reporter
from edge.signal.webhook import WebhookSink
from edge.wire import State
from tests.helpers import NoRunner, person
from tests.test_bus_live import ZONE, wait_for

P = person(0.5, 0.8)


class Receiver:
    """A loopback HTTP server taking POSTs: answers 500 while ``failing``, else 204."""

    def __init__(self) -> None:
        self.failing = True
        self.accepted: list[dict] = []
        self.refused = 0
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if rx.failing:
                    rx.refused += 1
                    self.send_response(500)
                else:
                    rx.accepted.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/waiting"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _cfg(**signal):
    return parse_config({"stop": {"id": "w1"}, "zone": {"polygon": ZONE},
                         "waiting": {"dwell_s": 0.2}, "light": {"hold_s": 0.2},
                         "tracker": {"confirm_hits": 1},
                         "mqtt": {"enabled": True, "outbox": {"path": ":memory:"}},
                         "bus_signal": {"outbox_path": ":memory:", "retry_min_s": 0.02,
                                        "retry_max_s": 0.1, **signal}})


def _records(cfg):
    """A real controller through a small day: one person, a second, a press, all leave."""
    c = build_controller(cfg, start=0.0)
    plan = ([[]] * 3 + [[P]] * 5 + [[P, person(0.3, 0.8)]] * 5 + [[P]] * 4 + [[]] * 4
            + ["press"] + [[]] * 4 + [[P]] * 5 + [[]] * 30)
    t = 0.0
    for step in plan:
        t += 0.1
        if step == "press":
            c.press(t, 1.0)
            continue
        out = c.tick(Tick(TickKind.DETECTED, t, detections=step))
        yield SimpleNamespace(state=out.state, frame=None)


def _changes(records) -> list[tuple]:
    """What the bus side must learn, worked out from the states themselves."""
    out, last = [], None
    for r in records:
        s = r.state
        key = (s.waiting > 0 or s.pressed, s.waiting, s.pressed)
        if key != last:
            out.append(key)
            last = key
    return out  # the first: what the stop says as it starts (nobody waiting)


def test_webhook_fails_then_recovers_every_change_in_order():
    rx = Receiver()
    faults = FaultRegistry()
    cfg = _cfg(webhook_url=rx.url)
    sink = WebhookSink(cfg.bus_signal, cfg.stop.id, fault_reporter(faults))
    try:
        records = list(_records(cfg))
        for r in records:
            sink.on_record(r)
        expected = _changes(records)
        assert len(expected) >= 6 and any(e[2] for e in expected)  # the press is in it
        assert wait_for(lambda: faults.is_active(Fault.WEBHOOK_FAILED), 2.0) is not None
        assert wait_for(lambda: rx.refused >= 3, 2.0) is not None  # retried, not given up
        assert rx.accepted == []
        rx.failing = False
        assert wait_for(lambda: len(sink.outbox) == 0, 5.0) is not None
        seqs = [d["seq"] for d in rx.accepted]
        distinct = list(dict.fromkeys(seqs))
        assert seqs == sorted(seqs) and distinct == sorted(set(seqs))  # in order
        docs = {d["seq"]: d for d in rx.accepted}
        got = [(docs[s]["waiting"], docs[s]["count"], docs[s]["button"]) for s in distinct]
        assert got == expected
        assert not faults.is_active(Fault.WEBHOOK_FAILED) and sink.dropped == 0
        first = docs[distinct[1]]
        assert first["source"] == "camera" and first["since"].endswith("+00:00")
        for s in distinct:  # the source follows who says so
            d = docs[s]
            assert d["source"] == {(True, False): "camera", (False, True): "button",
                                   (True, True): "both", (False, False): None}[
                (d["count"] > 0, d["button"])]
    finally:
        sink.close()
        rx.close()


def test_webhook_queue_is_bounded_and_counted():
    rx = Receiver()
    cfg = _cfg(webhook_url=rx.url, max_queue=3)
    sink = WebhookSink(cfg.bus_signal, cfg.stop.id)
    try:
        records = list(_records(cfg))
        expected = _changes(records)
        for r in records:
            sink.on_record(r)
        n = len(expected)
        assert wait_for(lambda: sink.dropped == n - 3 and len(sink.outbox) == 3, 3.0), (
            sink.dropped, len(sink.outbox))
        rx.failing = False
        assert wait_for(lambda: len(sink.outbox) == 0, 5.0) is not None
        got = [(d["waiting"], d["count"], d["button"]) for d in rx.accepted]
        assert list(dict.fromkeys(got)) == list(dict.fromkeys(expected[-3:]))
    finally:
        sink.close()
        rx.close()


def test_waiting_json_is_retained_on_mqtt():
    cfg = _cfg()
    svc = MqttService(cfg, runner=NoRunner())
    topic = svc.topics.leaf(State.WAITING_JSON)
    try:
        seen = [json.loads(svc.link.retained[topic])]
        for r in _records(cfg):
            svc.on_record(SimpleNamespace(t=r.state.t, state=r.state, frame=None, events=(),
                                          light_on=r.state.light, detected=False,
                                          switched=False, light_set=r.state.light,
                                          times_ms={}))
            svc.tick(svc.link, time.monotonic())
            doc = json.loads(svc.link.retained[topic])
            if doc != seen[-1]:
                seen.append(doc)
        assert seen[0] == {"stop_id": "w1", "waiting": False, "count": 0, "button": False,
                           "source": None, "since": None}
        assert [(d["waiting"], d["count"], d["button"]) for d in seen] == _changes(
            _records(cfg))
        waits = [d for d in seen if d["waiting"]]
        assert len({d["since"] for d in waits[:3]}) == 1  # one wait: one since
    finally:
        svc.close()


def test_telemetry_carries_the_days_bus_figures():
    from datetime import datetime

    from edge.decision.events import BusArrived

    cfg = _cfg()
    svc = MqttService(cfg, runner=NoRunner())
    r = next(iter(_records(cfg)))

    def bus(outcome: str, waiting: bool, waited: float | None) -> BusArrived:
        return BusArrived(t=1.0, route_id="R", vehicle_id="v", trip_id="t", stop_id="S",
                          outcome=outcome, approached_at=0.0, stopped_from=None,
                          stopped_until=None, left_at=None, dwell_s=None, waiting=waiting,
                          waited_s=waited, light_on=waiting)

    try:
        events = (bus("passed", True, 80.0), bus("stopped", True, 20.0),
                  bus("stopped", False, None))
        frame = SimpleNamespace(wall=datetime(2026, 1, 5, 12, 0))
        svc.on_record(SimpleNamespace(t=1.0, state=r.state, frame=frame, events=events,
                                      light_on=False, detected=False, switched=False,
                                      light_set=False, times_ms={}))
        day = svc.telemetry(time.monotonic())["buses_today"]
        assert day == {"buses": 3, "stopped": 2, "passed": 1, "unknown": 0,
                       "passed_while_waiting": 1, "median_wait_until_stopped_s": 20.0}
        # a new day starts from nothing
        svc.on_record(SimpleNamespace(t=2.0, state=r.state, frame=SimpleNamespace(
            wall=datetime(2026, 1, 6, 0, 1)), events=(), light_on=False, detected=False,
            switched=False, light_set=False, times_ms={}))
        assert svc.telemetry(time.monotonic())["buses_today"]["buses"] == 0
    finally:
        svc.close()
