"""Fuzzing the daemon's MQTT intake (the service's on_message, as paho calls it): any message on
a command topic is answered on result/<name>, any other is dropped and counted; nothing raises,
and only a well-formed light command reaches the pipeline."""

from __future__ import annotations

import json
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.base import DetectorResult
from edge.config import parse_config
from edge.mqtt.service import MqttService, bind_pipeline
from sim.scripted import scripted_stop
from tests.helpers import NoRunner
from tests.test_mqtt_commands import expected_mode, names, payloads

ROOT = "stopsafe/f1"


class NoFrames:
    live = False

    def read(self):
        return None

    def close(self) -> None:
        pass


def make_service():
    cfg = parse_config({"stop": {"id": "f1"}, "mqtt": {
        "enabled": True, "cmd_rate_per_s": 1000, "cmd_burst": 1000,
        "outbox": {"path": ":memory:"}}})
    svc = MqttService(cfg, runner=NoRunner())
    sent: list[tuple[str, str]] = []
    svc.link.publish = lambda topic, payload, **kw: sent.append((topic, payload))
    stop = scripted_stop(cfg, NoFrames(), lambda img: DetectorResult(), lambda: 0.0)
    bind_pipeline(svc, stop, None)
    return svc, stop.pipeline, sent


SERVICE, PIPELINE, SENT = make_service()

deep_json = st.integers(1, 5000).map(lambda n: ("[" * n + "]" * n).encode())
huge = st.integers(1, 4).map(lambda k: b"x" * (k * 70_000))
any_payload = payloads | deep_json | huge
level = st.text(max_size=12)
topics = st.one_of(
    names.map(lambda n: f"{ROOT}/cmd/{n}"),  # command topics (some unknown names)
    st.tuples(names, level).map(lambda p: f"{ROOT}/cmd/{p[0]}/{p[1]}"),  # too deep
    level.map(lambda x: f"{ROOT}/{x}"),  # below the root, but no command
    st.text(max_size=40),  # anywhere at all
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=topics, payload=any_payload, retain=st.booleans())
def test_any_message_is_answered_or_dropped_and_only_good_light_commands_act(topic, payload,
                                                                              retain):
    SENT.clear()
    with PIPELINE._lock:
        PIPELINE._pending_mode = None
    dropped = SERVICE.handler.rejected["not_a_command"]
    name = SERVICE.topics.command_name(topic)
    SERVICE.on_message(None, SimpleNamespace(topic=topic, payload=payload, properties=None,
                                             retain=retain))
    if name is None:
        assert SENT == [] and SERVICE.handler.rejected["not_a_command"] == dropped + 1
        assert PIPELINE._pending_mode is None
        return
    if retain:  # never obeyed: refused (and cleared on the broker), whatever it says
        assert PIPELINE._pending_mode is None
        if payload:
            answer = json.loads(next(p for t, p in SENT if t == f"{ROOT}/result/{name}"))
            assert answer["error"] == "retained"
            assert (topic, b"") in SENT  # the empty retained message that clears it
        else:
            assert SENT == []
        return
    if name in ("reload", "selftest"):  # answered later, from the frame thread
        return
    results = [p for t, p in SENT if t == f"{ROOT}/result/{name}"]
    assert len(results) == 1, SENT  # 'status' also re-publishes the retained topics
    assert all(t.startswith((ROOT + "/", "homeassistant/")) for t, _ in SENT)
    answer = json.loads(results[0])
    assert set(answer) >= {"ok", "id", "error"}
    want = expected_mode(name, payload) if len(payload) <= SERVICE.cfg.mqtt.cmd_max_bytes \
        else None
    if want is None:
        assert PIPELINE._pending_mode is None, (topic, payload, answer)
    else:
        assert answer["ok"] is True and PIPELINE._pending_mode[0] is want
