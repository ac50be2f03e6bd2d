"""Commissioning while the daemon runs: the relay and the camera are the daemon's then, so the
checks go through its page (``web.enabled``) instead of opening them a second time: the relay
pulse and a model run in the frame thread (``POST /api/selftest``), the camera's rate and faults
from ``/api/state``, the picture from ``/api/frame.jpg`` (people pixelated) and the walk test on
the daemon's own pipeline (``/api/walk``)."""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from typing import Any

from edge.config import Config, is_loopback
from edge.install.commissioning import MIN_RATE, Check, Verdict
from edge.install.walk import WalkResult, WalkStatus
from edge.runtime.faults import PICTURE_FAULTS, Fault

PASSWORD_ENV = "STOPSAFE_WEB_PASSWORD"
CAMERA_FAULTS = (Fault.CAMERA_LOST, *PICTURE_FAULTS)
LAMP_FAULTS = (Fault.LAMP_FAILED, Fault.LAMP_STUCK_ON)


class PageError(Exception):
    """The page answered, but not as hoped (the message says why)."""


class DaemonPage:
    """A session on the running daemon's page (cookie and CSRF token, as the browser has)."""

    def __init__(self, base: str, timeout_s: float = 20.0) -> None:
        self.base = base
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()))
        self._csrf = ""

    @classmethod
    def find(cls, cfg: Config) -> DaemonPage | None:
        """The daemon's page when the config has one and something answers there."""
        w = cfg.web
        if not w.enabled or w.port == 0:
            return None
        host = w.host if is_loopback(w.host) else "127.0.0.1"  # any address reaches loopback
        host = f"[{host.strip('[]')}]" if ":" in host else host
        page = cls(f"http://{host}:{w.port}", timeout_s=2.0)
        try:
            status, raw = page._call("GET", "/healthz")
            if status not in (200, 503) or "ok" not in json.loads(raw):
                return None  # something else listens there
        except (OSError, ValueError, TypeError):
            return None
        page.timeout_s = 20.0
        return page

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Content-Type": "application/json", "X-CSRF-Token": self._csrf})
        try:
            with self._opener.open(req, timeout=self.timeout_s) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def _json(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, raw = self._call(method, path, body)
        try:
            out = json.loads(raw)
        except ValueError:
            raise PageError(f"{path}: answered {status} without JSON") from None
        if status >= 400:
            raise PageError(f"{path}: {status} {out.get('error', '')}".strip())
        return out

    def open_session(self) -> None:
        """A session (and its CSRF token), logged in when the page asks for a password:
        ``$STOPSAFE_WEB_PASSWORD``, else asked for on the terminal."""
        s = self._json("GET", "/api/session")
        self._csrf = s["csrf"]
        if s["logged_in"] or not s["login_required"]:
            return
        password = os.environ.get(PASSWORD_ENV)
        if password is None and sys.stdin.isatty():
            password = getpass.getpass("the stop's page password: ")
        if not password:
            raise PageError(f"the daemon's page needs its password (set ${PASSWORD_ENV})")
        self._csrf = self._json("POST", "/api/login", {"password": password})["csrf"]

    def state(self) -> dict[str, Any]:
        return self._json("GET", "/api/state")

    def selftest(self) -> dict[str, Any]:
        return self._json("POST", "/api/selftest")

    def frame_jpeg(self) -> bytes | None:
        status, raw = self._call("GET", "/api/frame.jpg")
        return raw if status == 200 else None

    def walk(self, limit_s: float, say: Any = None) -> WalkResult:
        """Run the walk test on the daemon's pipeline; ``say`` hears each new message."""
        self._json("POST", "/api/walk", {"action": "start", "limit_s": limit_s})
        deadline = time.monotonic() + limit_s + 10.0
        last = ""
        while True:
            w = self._json("GET", "/api/walk")
            if say is not None and w["message"] != last:
                say(w["message"])
                last = w["message"]
            if w["status"] != WalkStatus.RUNNING.value or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        return walk_result(w)


def walk_result(w: dict[str, Any]) -> WalkResult:
    """A walk result from its JSON (``WalkResult.as_json``)."""
    from edge.install.walk import Step

    status = WalkStatus(w["status"])
    if status is WalkStatus.RUNNING:
        status = WalkStatus.FAILED
    return WalkResult(status, {Step(k): v for k, v in w["times"].items()},
                      limit_s=w["limit_s"], note="" if w["status"] != "running"
                      else "the daemon never finished the walk")


def checks_through(cfg: Config, page: DaemonPage, seconds: float = 3.0) -> list[Check]:
    """relay, lamp, camera, model and broker, as the running daemon sees them (a daemon that
    just started is given ``seconds`` to measure its frame rate)."""
    deadline = time.monotonic() + seconds
    state = page.state()
    while not state.get("fps") and time.monotonic() < deadline:
        time.sleep(0.2)
        state = page.state()
    test = page.selftest()
    checks = [Check("daemon", Verdict.PASS, f"running: checked through its page at {page.base}"
                    + ("" if state["health"]["ok"] else
                       f" (unhealthy: {'; '.join(state['health']['reasons'])})"),
                    {"url": page.base, "health": state["health"]})]
    relay = test.get("relay", {})
    if relay.get("ok"):
        checks.append(Check("relay", Verdict.PASS, f"GPIO{cfg.light.pin} " + (
            "switched on and off again by the daemon; the pin read back on, then off"
            if relay.get("pulsed") else "is on and reads back on (not pulsed)"), relay))
    else:
        checks.append(Check("relay", Verdict.FAIL, f"GPIO{cfg.light.pin}: the pin does not "
                            f"follow ({relay})", relay))
    faults = set(state.get("faults", []))
    lamp = sorted(faults & {f.value for f in LAMP_FAULTS})
    if cfg.lamp_feedback.pin is None:
        checks.append(Check("lamp", Verdict.SKIP,
                            "no lamp feedback input configured (lamp_feedback.pin)"))
    elif lamp:
        checks.append(Check("lamp", Verdict.FAIL, f"the daemon reports {', '.join(lamp)}"))
    else:
        checks.append(Check("lamp", Verdict.PASS, "the lamp input follows the relay (no lamp "
                            "fault in the running daemon)"))
    camera = sorted(faults & {f.value for f in CAMERA_FAULTS})
    fps, want = state.get("fps", 0.0), cfg.camera.fps
    frame = state.get("frame") or {}
    data = {"fps": fps, "width": frame.get("width"), "height": frame.get("height")}
    if camera:
        checks.append(Check("camera", Verdict.FAIL, f"the daemon reports {', '.join(camera)}",
                            data))
    elif fps < MIN_RATE * want:
        checks.append(Check("camera", Verdict.FAIL, f"{fps:.1f} frames a second, below "
                            f"{MIN_RATE:.0%} of camera.fps {want:g}", data))
    else:
        checks.append(Check("camera", Verdict.PASS, f"{frame.get('width')}x"
                            f"{frame.get('height')} at {fps:.1f} frames a second", data))
    model = test.get("model", {})
    checks.append(Check("model", Verdict.PASS if model.get("ok") else Verdict.FAIL,
                        f"{cfg.detector.model} ran in the daemon in {model.get('invoke_ms')} ms: "
                        f"{model.get('people')} people" if model.get("ok")
                        else f"{cfg.detector.model}: {model.get('error', 'did not run')}",
                        model))
    if cfg.mqtt.enabled:
        # the daemon's own login; its self-test published on <root>/selftest at QoS 1
        broker = {**state.get("mqtt", {}), **test.get("broker", {})}
        where = f"{cfg.mqtt.host}:{cfg.mqtt.port}"
        if broker.get("connected") and broker.get("ok"):
            checks.append(Check("broker", Verdict.PASS, f"the daemon is logged in to {where} "
                                "as the stop; the broker acknowledged its self-test publish in "
                                f"{broker.get('rtt_ms')} ms", broker))
        else:
            checks.append(Check("broker", Verdict.FAIL, f"the daemon is "
                                f"{'connected' if broker.get('connected') else 'NOT connected'} "
                                f"to {where}; its self-test publish was "
                                f"{'acknowledged' if broker.get('ok') else 'NOT acknowledged'}",
                                broker))
    return checks
