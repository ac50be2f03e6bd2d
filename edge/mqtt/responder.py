"""The command handler on the broker: ``cmd/<name>`` in, exactly one answer on
``result/<name>`` out.

:class:`~edge.mqtt.commands.CommandHandler` checks each message (rate, size, encoding, JSON,
schema) and acts on a :class:`~edge.runtime.control.Control`; this unit is that control for the
MQTT face: it wraps the stop's own control (``attach``; until then commands that act on the stop
are answered ``not_ready``) and adds what only the link knows: the broker's round trip and the
camera's frame age in ``selftest``, the snapshot published on ``snapshot``, and ``status``
publishing everything again. It also refuses retained commands (and clears them on the broker)
and answers MQTT 5 requests on their response topic with their correlation data. Everything here
runs in the link's thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.decision.light_rules import LightMode
from edge.mqtt.commands import CommandHandler, Pending
from edge.mqtt.link import Link
from edge.mqtt.state import now_iso
from edge.pictures import snapshot_jpeg
from edge.runtime.control import CommandFailed, Control
from edge.wire import Failure, Leaf, Rejection, SelftestResult, State, Topics

SELFTEST_WAIT_S = 5.0


class CommandResponder:
    """The MQTT face's :class:`Control` over the stop's, and the answers on the broker."""

    def __init__(self, handler: CommandHandler, link: Link, topics: Topics,
                 clock: Callable[[], float], *, frame_age_s: Callable[[float], float | None],
                 camera_stale_s: Callable[[], float], republish: Callable[[], None]) -> None:
        self.handler = handler
        self.link = link
        self.topics = topics
        self.clock = clock
        self.frame_age_s = frame_age_s
        self.camera_stale_s = camera_stale_s
        self._republish = republish
        self.control: Control | None = None  # the stop's, once attached
        self._pending: list[tuple[Pending, Any]] = []
        self._clearing: set[str] = set()  # (MQTT 3.1.1) retained commands we have cleared
        self._jobs: list[Callable[[float], bool]] = []

    def attach(self, control: Control) -> None:
        """Commands that act on the stop are refused (``not_ready``) until this."""
        self.control = control
        self.handler.control = self

    # ---------------- messages and answers ----------------
    def on_command(self, name: str, msg: Any) -> None:
        """A message on ``cmd/<name>``: answered now, or once its future is done (``tick``)."""
        props = getattr(msg, "properties", None)
        if msg.retain:
            self._refuse_retained(name, msg, props)
            return
        if msg.topic in self._clearing and not msg.payload:
            # MQTT 3.1.1 has no 'no local': the broker echoes our own clearing message to us
            self._clearing.discard(msg.topic)
            return
        result = self.handler.handle(name, bytes(msg.payload), self.clock())
        if isinstance(result, Pending):
            self._pending.append((result, props))
        else:
            self._answer(name, result, props)

    def not_a_command(self) -> None:
        """A message below the stop's root that names no command: counted, not answered."""
        self.handler.rejected[Rejection.NOT_A_COMMAND.value] += 1

    def _refuse_retained(self, name: str, msg: Any, props: Any) -> None:
        """Answer a retained command with the ``retained`` error and clear it on the broker (an
        empty retained message deletes it; the example ACL lets a stop write below its own
        root). An empty retained payload is the broker's record of such a clearing: ignored."""
        if not msg.payload:
            return
        self._answer(name, self.handler.refuse_retained(name), props)
        if not self.link.mqtt5:
            self._clearing.add(msg.topic)
        self.link.publish(msg.topic, b"", qos=1, retain=True)

    def tick(self, now: float) -> None:
        """Answer the pending commands that are done (or overdue); run the waiting jobs."""
        if self._pending:
            still = []
            for p, props in self._pending:
                ans = self.handler.finish(p, now)
                if ans is None:
                    still.append((p, props))
                else:
                    self._answer(p.name, ans, props)
            self._pending = still
        if self._jobs:
            self._jobs = [job for job in self._jobs if not job(now)]

    def _answer(self, name: str, body: dict[str, Any], props: Any) -> None:
        payload = json.dumps(body, separators=(",", ":"), default=str)
        out_props = None
        corr = getattr(props, "CorrelationData", None) if props is not None else None
        if self.link.mqtt5 and corr is not None:
            out_props = Properties(PacketTypes.PUBLISH)
            out_props.CorrelationData = corr
        topic = self.topics.result(name)
        self.link.publish(topic, payload, qos=1, properties=out_props)
        resp = getattr(props, "ResponseTopic", None) if props is not None else None
        # only below its own root: a stop never writes anywhere else (and its ACL forbids it)
        if (self.link.mqtt5 and isinstance(resp, str) and resp != topic
                and resp.startswith(self.topics.root + "/") and not set(resp) & {"+", "#"}):
            self.link.publish(resp, payload, qos=1, properties=out_props)

    # ---------------- Control (the handler's, link thread) ----------------
    def request_mode(self, mode: LightMode, for_s: float | None) -> None:
        assert self.control is not None
        self.control.request_mode(mode, for_s)

    def reload(self) -> Future[dict[str, Any]]:
        assert self.control is not None
        return self.control.reload()

    def republish(self) -> None:
        self._republish()

    def selftest(self) -> Future[dict[str, Any]]:
        """The stop's checks (relay, model) with the camera's frame age and the broker's round
        trip (a QoS 1 publish on ``selftest`` until its PUBACK)."""
        assert self.control is not None
        outer: Future[dict[str, Any]] = Future()
        outer.set_running_or_notify_cancel()
        t0 = time.monotonic()
        frame_part = self.control.selftest()
        rtt: dict[str, Any] = {}

        def acked(ok: bool) -> None:
            rtt.update(ok=ok, rtt_ms=round((time.monotonic() - t0) * 1e3, 1))

        sent = self.link.publish(self.topics.leaf(Leaf.SELFTEST),
                                 json.dumps({"ts": now_iso()}), qos=1, on_ack=acked)
        age = self.frame_age_s(self.clock())

        def job(now: float) -> bool:
            if outer.done():
                return True
            waiting = not frame_part.done() or (sent and not rtt)
            if waiting and time.monotonic() - t0 < SELFTEST_WAIT_S:
                return False
            checks: dict[str, Any] = {}
            exc = frame_part.exception() if frame_part.done() else None
            if frame_part.done() and exc is None:
                checks.update(frame_part.result()["checks"])
            elif isinstance(exc, CommandFailed) and "checks" in exc.extra:
                checks.update(exc.extra["checks"])
            else:
                checks["relay"] = {"ok": False, "error": "frame thread did not answer"}
                checks["model"] = {"ok": False, "error": "frame thread did not answer"}
            checks["camera"] = {"ok": age is not None and age <= self.camera_stale_s(),
                                "frame_age_s": None if age is None else round(age, 2)}
            checks["broker"] = rtt if rtt else {"ok": False, "error": "no PUBACK"}
            failed = [k for k, v in checks.items() if not v.get("ok")]
            self.link.set_retained(self.topics.leaf(State.SELFTEST), json.dumps({
                "result": (SelftestResult.FAILED if failed else SelftestResult.PASSED).value,
                "at": now_iso(), "failed": failed}, separators=(",", ":")))
            if failed:
                outer.set_exception(CommandFailed(Failure.SELFTEST_FAILED,
                                                  "failed: " + ", ".join(failed), checks=checks))
            else:
                outer.set_result({"checks": checks})
            return True

        self._jobs.append(job)
        return outer

    def snapshot(self) -> Future[dict[str, Any]]:
        """The stop's last frame, people blurred, published on ``snapshot`` (JPEG)."""
        assert self.control is not None
        outer: Future[dict[str, Any]] = Future()
        outer.set_running_or_notify_cancel()
        part = self.control.snapshot()

        def job(now: float) -> bool:
            if outer.done():
                return True
            if not part.done():
                return False
            exc = part.exception()
            if exc is not None:
                outer.set_exception(exc)
                return True
            shot = part.result()
            try:
                jpeg = snapshot_jpeg(shot["image"], shot["boxes"])
            except Exception as e:  # encoding problems are answered, not raised
                outer.set_exception(e)
                return True
            topic = self.topics.leaf(Leaf.SNAPSHOT)
            if not self.link.publish(topic, jpeg, qos=1):
                outer.set_exception(CommandFailed(Failure.FAILED, "not connected"))
            else:
                outer.set_result({"topic": topic, "bytes": len(jpeg),
                                  "people_blurred": len(shot["boxes"])})
            return True

        self._jobs.append(job)
        return outer
