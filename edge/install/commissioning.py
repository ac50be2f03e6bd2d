"""Commissioning checks for installers: relay, lamp, camera, picture, model, broker, clock.

Each check gives one pass/fail line that says what was measured and, on failure, what is wrong
and what to look at. The commands (`stopsafe selftest`, `snapshot`, `zone`, `commission`) are thin
wrappers around this module. Frames stay in memory; only `snapshot`/`commission` write one, to the
file they are given, and only when ``privacy.local_snapshots`` allows it.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import structlog

from detector.base import Detection
from edge.config import Config

log = structlog.get_logger("stopsafe.commissioning")

EXAMPLE_CONFIG = "stopsafe.example.yaml"  # shipped in the package, beside edge/config
# a zone covering this share of the frame is the example's whole-frame zone, not a waiting area
WHOLE_FRAME_SHARE = 0.98
EARLIEST_SANE = datetime(2025, 1, 1)  # no clock showing a time before this software is right
MIN_RATE = 0.8  # of camera.fps


class Verdict(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # not configured, or not possible because an earlier check failed
    WARN = "warn"  # works, but should be fixed (e.g. a password file others can read)


@dataclass
class Check:
    name: str
    status: Verdict
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.status.value.upper():4} {self.name}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d


@dataclass
class SelftestResult:
    checks: list[Check]
    frame: np.ndarray | None = None  # the last live frame (for the snapshot)
    detections: list[Detection] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.status is not Verdict.FAIL for c in self.checks)


# -- clock -------------------------------------------------------------------------------------

def _ntp_synchronised() -> str:
    try:
        out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    value = out.stdout.strip()
    return {"yes": "yes", "no": "no"}.get(value, "unknown")


def check_clock(now: datetime | None = None) -> Check:
    """The wall clock decides the operating hours: a Pi without a real-time clock that booted
    without network thinks it is 1970 (or its last shutdown)."""
    now = now or datetime.now().astimezone()
    t0 = time.monotonic()
    time.sleep(0.01)
    forward = time.monotonic() > t0
    ntp = _ntp_synchronised()
    data = {"now": now.isoformat(timespec="seconds"), "tz": str(now.tzname()),
            "ntp_synchronised": ntp}
    naive = now.replace(tzinfo=None)
    if not forward:
        return Check("clock", Verdict.FAIL, "the monotonic clock does not advance", data)
    if not EARLIEST_SANE <= naive < datetime(2100, 1, 1):
        return Check("clock", Verdict.FAIL, f"the clock says {now:%Y-%m-%d %H:%M}, which cannot "
                     "be right: set the time or connect NTP (the operating hours depend on it)",
                     data)
    return Check("clock", Verdict.PASS, f"{now:%Y-%m-%d %H:%M:%S} {now.tzname()}, "
                 f"NTP synchronised: {ntp}", data)


# -- relay and lamp ----------------------------------------------------------------------------

def _wait_for(read, want: bool, within_s: float) -> float | None:
    t0 = time.monotonic()
    while True:
        if read() is want:
            return time.monotonic() - t0
        if time.monotonic() - t0 >= within_s:
            return None
        time.sleep(0.01)


def check_relay(cfg: Config, pulse_s: float = 1.0) -> list[Check]:
    """Switch the relay on for ``pulse_s`` and off, reading the pin (and the lamp input) back."""
    from actuators.light import LightError
    from edge.runtime.assembly import build_feedback, build_light

    fb_cfg = cfg.lamp_feedback
    busy_hint = " (is the daemon running? sudo systemctl stop stopsafe)"
    try:
        light = build_light(cfg)
    except LightError as exc:
        lamp = Check("lamp", Verdict.SKIP, "relay not available") if fb_cfg.pin is not None else \
            Check("lamp", Verdict.SKIP, "no lamp feedback input configured (lamp_feedback.pin)")
        return [Check("relay", Verdict.FAIL, f"{exc}{busy_hint}"), lamp]
    feedback = None
    checks: list[Check] = []
    try:
        try:
            feedback = build_feedback(cfg, light)
        except LightError as exc:
            checks.append(Check("lamp", Verdict.FAIL, f"{exc}{busy_hint}"))
        read_on = light.set(True)
        lamp_on_s = _wait_for(feedback.read, True, fb_cfg.follow_s) if feedback else None
        rest = pulse_s - (lamp_on_s or 0.0)
        if rest > 0:
            time.sleep(rest)
        read_off = light.set(False)
        lamp_off_s = _wait_for(feedback.read, False, fb_cfg.follow_s) if feedback else None
        pin = f"GPIO{cfg.light.pin} ({'active-high' if cfg.light.active_high else 'active-low'})"
        data = {"pin": cfg.light.pin, "read_on": read_on, "read_off": read_off,
                "pulse_s": pulse_s}
        if read_on and not read_off:
            checks.insert(0, Check("relay", Verdict.PASS, f"{pin} switched on for {pulse_s:g} s "
                                   "and off again; the pin read back on, then off", data))
        else:
            checks.insert(0, Check("relay", Verdict.FAIL, f"{pin} read back "
                                   f"{'on' if read_on else 'off'} when switched on and "
                                   f"{'on' if read_off else 'off'} when switched off: "
                                   "the pin does not follow (wrong pin factory or a short?)",
                                   data))
        if feedback is not None:
            fdata = {"pin": fb_cfg.pin, "on_after_s": lamp_on_s, "off_after_s": lamp_off_s,
                     "follow_s": fb_cfg.follow_s}
            where = f"lamp input GPIO{fb_cfg.pin}"
            if lamp_on_s is not None and lamp_off_s is not None:
                checks.append(Check("lamp", Verdict.PASS, f"{where} followed the relay: on after "
                                    f"{lamp_on_s:.2f} s, off after {lamp_off_s:.2f} s", fdata))
            elif lamp_on_s is None:
                checks.append(Check("lamp", Verdict.FAIL, f"{where} stayed off for "
                                    f"{fb_cfg.follow_s:g} s with the relay on: the lamp does not "
                                    "light (lamp, fuse, wiring) or the sensor is not connected "
                                    "(check lamp_feedback.pin and active_high)", fdata))
            else:
                checks.append(Check("lamp", Verdict.FAIL, f"{where} stayed on for "
                                    f"{fb_cfg.follow_s:g} s after the relay went off: a welded "
                                    "relay contact, or the input's polarity is inverted "
                                    "(lamp_feedback.active_high)", fdata))
        elif fb_cfg.pin is None:
            checks.append(Check("lamp", Verdict.SKIP,
                                "no lamp feedback input configured (lamp_feedback.pin)"))
    finally:
        if feedback is not None:
            feedback.close()
        light.close()
    return checks


# -- camera ------------------------------------------------------------------------------------

@dataclass
class CameraSample:
    check: Check
    frame: np.ndarray | None


def check_camera(cfg: Config, seconds: float = 3.0) -> CameraSample:
    """Open the configured source and read it for ``seconds``: it must deliver at camera.fps,
    and the picture must be neither black nor frozen."""
    from edge.runtime.camera import open_camera
    from edge.runtime.frames import CameraError
    from edge.runtime.picture_health import FROZEN_DIFF, brightness, is_black, small_grey

    health = cfg.health

    src, fps = cfg.camera.source, cfg.camera.fps
    try:
        source = open_camera(cfg.camera)
    except CameraError as exc:
        return CameraSample(Check("camera", Verdict.FAIL, f"cannot open {src}: {exc}"), None)
    first: np.ndarray | None = None
    last: np.ndarray | None = None
    means: list[float] = []
    spreads: list[float] = []
    blacks: list[bool] = []
    diffs: list[float] = []
    times: list[float] = []
    error = None
    t_end = time.monotonic() + seconds
    try:
        while time.monotonic() < t_end:
            try:
                frame = source.read()
            except CameraError as exc:
                error = str(exc)
                break
            if frame is None:
                error = "the source ended"
                break
            times.append(time.monotonic())
            g = small_grey(frame.image).astype(np.float32)
            mean, std = brightness(g)
            means.append(mean)
            spreads.append(std)
            blacks.append(is_black(mean, std, health))  # the daemon's camera_black rule
            if first is None:
                first = g
            elif g.shape == first.shape:
                diffs.append(float(np.abs(g - first).mean()))
            else:
                diffs.append(255.0)  # the size changed: not frozen
            last = frame.image
    finally:
        source.close()
    n = len(times)
    span = times[-1] - times[0] if n > 1 else 0.0
    rate = (n - 1) / span if span > 0 else 0.0
    h, w = last.shape[:2] if last is not None else (0, 0)
    data: dict[str, Any] = {
        "source": src, "frames": n, "seconds": round(span, 2), "fps": round(rate, 2),
        "expected_fps": fps, "width": w, "height": h, "error": error}
    if n < 2:
        msg = f"{src} delivered {n} frame{'s' if n != 1 else ''} in {seconds:g} s"
        return CameraSample(Check("camera", Verdict.FAIL, f"{msg}: {error or 'no frames'}", data),
                            last)
    problems = []
    if rate < MIN_RATE * fps:
        problems.append(f"{rate:.1f} frames a second, fewer than the {fps:g} expected "
                        "(camera.fps): a slow stream, long exposure in bad light, or an "
                        "overloaded box")
    if error and span < 0.8 * seconds:
        problems.append(f"stopped after {n} frames in {span:.1f} s: {error}")
    mean, spread, moved = float(np.mean(means)), float(np.max(spreads)), max(diffs)
    data.update(mean_brightness=round(mean, 2), brightness_spread=round(spread, 1),
                max_change=round(moved, 3))
    if all(blacks):
        problems.append(f"black picture: mean brightness {mean:.1f}/255 over {n} frames "
                        f"(spread {spread:.1f}): lens covered or capped, camera in "
                        "the dark without infrared, or a dead sensor")
    elif moved < FROZEN_DIFF and span >= 1.0:
        problems.append(f"frozen picture: all {n} frames of {span:.1f} s are the same image "
                        f"(largest change {moved:.3f}/255): a hung camera driver, a stalled "
                        "stream or a still picture as the source")
    if problems:
        return CameraSample(Check("camera", Verdict.FAIL, f"{src}: " + "; ".join(problems), data),
                            last)
    return CameraSample(Check(
        "camera", Verdict.PASS, f"{src}: {w}x{h}, {n} frames in {span:.1f} s = {rate:.1f} fps "
        f"(expected {fps:g}); mean brightness {mean:.0f}/255, the picture changes (largest "
        f"change {moved:.2f}/255)", data), last)


# -- model -------------------------------------------------------------------------------------

def people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


def _scores(dets: list[Detection]) -> str:
    return ", ".join(f"{d.score:.2f}" for d in sorted(dets, key=lambda d: -d.score)[:5])


def check_model(cfg: Config, frame: np.ndarray | None, picture: Path | None = None
                ) -> tuple[list[Check], list[Detection]]:
    """Load (sha256-checked) and run the detector on the live frame, and on ``picture``."""
    from detector.models import ModelError
    from edge.runtime.assembly import build_detector

    d = cfg.detector
    name = f"{d.model} ({d.backend.value})"
    try:
        t0 = time.perf_counter()
        detector = build_detector(cfg)
        load_ms = (time.perf_counter() - t0) * 1e3
    except (ModelError, ValueError, RuntimeError, OSError) as exc:
        checks = [Check("model", Verdict.FAIL, f"{name} cannot be used: {exc}")]
        if picture is not None:
            checks.append(Check("picture", Verdict.SKIP, "no model"))
        return checks, []
    checks = []
    found: list[Detection] = []
    info = detector.runtime
    name = f"{d.model} ({info.backend} on {info.runtime}, {info.provider})"
    what = {"model": d.model, **info.as_json()}
    try:
        if frame is None:
            checks.append(Check("model", Verdict.SKIP, f"{name} loaded in {load_ms:.0f} ms; not "
                                "run: no live frame (see camera)", what))
        else:
            detector.detect(frame)  # the first call includes one-off set-up
            t0 = time.perf_counter()
            result = detector.detect(frame)
            run_ms = (time.perf_counter() - t0) * 1e3
            found = result.detections
            checks.append(Check(
                "model", Verdict.PASS, f"{name} loaded in {load_ms:.0f} ms, ran on a live frame "
                f"in {run_ms:.0f} ms: {people(len(found))}"
                + (f" (scores {_scores(found)})" if found else ""),
                {**what, "load_ms": round(load_ms, 1), "run_ms": round(run_ms, 1),
                 "people": len(found)}))
        if picture is not None:
            checks.append(_check_picture(detector, picture, d.score_threshold))
    finally:
        detector.close()
    return checks, found


def _check_picture(detector: Any, picture: Path, threshold: float) -> Check:
    image = cv2.imread(str(picture), cv2.IMREAD_COLOR)
    if image is None:
        return Check("picture", Verdict.FAIL, f"cannot read the picture {picture}")
    dets = detector.detect(image).detections
    data = {"picture": str(picture), "people": len(dets),
            "scores": [round(x.score, 3) for x in dets]}
    if dets:
        return Check("picture", Verdict.PASS, f"{people(len(dets))} found in {picture.name} "
                     f"(scores {_scores(dets)})", data)
    return Check("picture", Verdict.FAIL, f"no person found in {picture.name} (score threshold "
                 f"{threshold:g}): the model or detector.score_threshold does not suit it", data)


# -- broker ------------------------------------------------------------------------------------

def check_broker(cfg: Config, timeout_s: float = 5.0) -> Check:
    """Log in with the stop's own credentials (and TLS) and make a publish/subscribe round trip
    on the stop's own command topic, which the example ACL lets a stop read: a wrong password, a
    missing ACL line or a broker that takes the connection but delivers nothing each fail."""
    import threading
    import uuid

    from edge.mqtt.client import new_client
    from edge.wire import COMMISSION_PING, Topics

    m = cfg.mqtt
    if not m.enabled:
        if m.standalone:
            return Check("broker", Verdict.PASS, "no broker: mqtt.standalone declares a stop "
                         "that runs without MQTT")
        return Check("broker", Verdict.SKIP, "MQTT not configured (mqtt.enabled is false)")
    where = {"host": m.host, "port": m.port}
    topics = Topics(m.prefix, cfg.stop.id)
    root, topic = topics.root, topics.cmd(COMMISSION_PING)
    nonce = uuid.uuid4().hex.encode()
    got = threading.Event()
    connected: dict[str, Any] = {}
    subscribed = threading.Event()
    sub_codes: list[Any] = []

    def on_connect(client, _u, _flags, rc, _p=None) -> None:
        connected["rc"] = rc
        if not rc.is_failure:
            client.subscribe(topic, qos=1)

    def on_subscribe(_c, _u, _mid, codes, _p=None) -> None:
        sub_codes.extend(codes)
        subscribed.set()

    def on_message(_c, _u, msg) -> None:
        if msg.topic == topic and msg.payload == nonce:
            got.set()

    # a client id of its own: the daemon's (stopsafe-<id>) may be connected right now
    client = new_client(cfg, f"{cfg.stop.id}-commission", on_connect, on_message)
    client.on_subscribe = on_subscribe
    user = client.username  # the stop's own login, as resolved for the daemon
    t0 = time.perf_counter()
    try:
        client.connect(m.host, m.port, m.keepalive_s)
    except (OSError, ValueError) as exc:
        return Check("broker", Verdict.FAIL, f"cannot reach {m.host}:{m.port}: {exc} (network, "
                     "firewall, or the broker is down)", where)
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout_s
        while "rc" not in connected and time.monotonic() < deadline:
            time.sleep(0.02)
        rc = connected.get("rc")
        login = f"as {user!r}" if user else "without a user name"
        if rc is None:
            return Check("broker", Verdict.FAIL, f"{m.host}:{m.port} took the connection but "
                         f"never answered the MQTT login in {timeout_s:g} s (TLS or protocol "
                         "mismatch?)", where)
        if rc.is_failure:
            return Check("broker", Verdict.FAIL, f"{m.host}:{m.port} refused the login {login}: "
                         f"{rc} (user name, password file, or the broker's password_file)",
                         {**where, "reason": str(rc)})
        subscribed.wait(max(0.0, deadline - time.monotonic()))
        if not sub_codes or any(getattr(c, "is_failure", False) or c == 128 for c in sub_codes):
            return Check("broker", Verdict.FAIL, f"logged in {login}, but may not subscribe to "
                         f"{topic}: the broker's ACL does not let the stop read its commands",
                         where)
        client.publish(topic, nonce, qos=1)
        if not got.wait(max(0.0, deadline - time.monotonic())):
            return Check("broker", Verdict.FAIL, f"logged in {login}, published on {topic} and "
                         "never received it back: the broker's ACL does not let this login "
                         f"write and read the stop's own topics ({root}/...)", where)
    finally:
        client.loop_stop()
        client.disconnect()
    ms = (time.perf_counter() - t0) * 1e3
    return Check("broker", Verdict.PASS, f"logged in to {m.host}:{m.port} {login} and made a "
                 f"publish/subscribe round trip on {topic} in {ms:.0f} ms",
                 {**where, "round_trip_ms": round(ms, 1), "topic": topic})


# -- what an installer must set ----------------------------------------------------------------

def example_config() -> Config:
    """The example config as shipped: what a stop still has when nobody configured it."""
    from importlib import resources

    from edge.config import load_config

    with resources.as_file(resources.files("edge").joinpath(EXAMPLE_CONFIG)) as path:
        return load_config(path)


def zone_share(polygon: Any) -> float:
    """The share of the frame the zone covers."""
    return abs(float(cv2.contourArea(np.asarray(polygon, np.float32))))


def check_configured(cfg: Config) -> Check:
    """FAIL for what the example ships and every stop must change: its id and name, a zone that
    is the whole frame, and MQTT off without ``mqtt.standalone: true``; and a page that would
    listen beyond loopback without a password (the daemon runs without it)."""
    example = example_config()
    problems = []
    if cfg.stop.id == example.stop.id:
        problems.append(f"stop.id is the example's ({example.stop.id})")
    if not cfg.stop.name.strip():
        problems.append("stop.name is empty")
    elif cfg.stop.name == example.stop.name:
        problems.append(f"stop.name is the example's ({example.stop.name!r})")
    share = zone_share(cfg.zone.polygon)
    if share >= WHOLE_FRAME_SHARE:
        problems.append("zone.polygon is the whole frame: draw the waiting area (the page's "
                        "zone editor, or stopsafe zone --set)")
    if not cfg.mqtt.enabled and not cfg.mqtt.standalone:
        problems.append("mqtt.enabled is false: configure the broker, or set "
                        "mqtt.standalone: true for a stop meant to run without MQTT")
    if cfg.web.refusal is not None:
        problems.append(cfg.web.refusal)
    data = {"stop_id": cfg.stop.id, "stop_name": cfg.stop.name,
            "zone_share": round(share, 3), "mqtt": cfg.mqtt.enabled,
            "standalone": cfg.mqtt.standalone}
    if problems:
        return Check("configured", Verdict.FAIL, "; ".join(problems), data)
    return Check("configured", Verdict.PASS, f"stop {cfg.stop.id} ({cfg.stop.name}), zone "
                 f"{share:.0%} of the frame, "
                 f"{'MQTT on' if cfg.mqtt.enabled else 'standalone (no MQTT)'}", data)


# -- all of them -------------------------------------------------------------------------------

def check_permissions(cfg: Config, config_path: Path | None) -> Check:
    """The config and the password file: readable by others, or writable by anyone but root
    and the service user (this process's user: run the self-test as the service user)."""
    from edge.config.permissions import check_daemon_files

    problems = check_daemon_files(config_path, cfg.mqtt.password_file)
    if not problems:
        return Check("permissions", Verdict.PASS, "config and password file: only root and "
                     "the service user may read and write them")
    return Check("permissions", Verdict.WARN, "; ".join(p.line() for p in problems),
                 {"problems": [p.line() for p in problems]})


def run_selftest(cfg: Config, *, picture: Path | None = None, seconds: float = 3.0,
                 pulse_s: float = 1.0, config_path: Path | None = None) -> SelftestResult:
    checks = [check_clock(), check_permissions(cfg, config_path)]
    checks += check_relay(cfg, pulse_s)
    cam = check_camera(cfg, seconds)
    checks.append(cam.check)
    model_checks, dets = check_model(cfg, cam.frame, picture)
    checks += model_checks
    checks.append(check_broker(cfg))
    for c in checks:
        log.info("selftest_check", check=c.name, status=c.status.value, message=c.message)
    return SelftestResult(checks, cam.frame, dets)


def grab_frame(cfg: Config, warmup_s: float = 1.0) -> np.ndarray:
    """One live frame, taken after ``warmup_s`` (a camera's exposure settles in its first
    frames). Raises CameraError when the source gives none."""
    from edge.runtime.camera import open_camera
    from edge.runtime.frames import CameraError

    source = open_camera(cfg.camera)
    image = None
    try:
        t_end = time.monotonic() + warmup_s
        while True:
            frame = source.read()
            if frame is None:
                break
            image = frame.image
            if time.monotonic() >= t_end:
                break
    finally:
        source.close()
    if image is None:
        raise CameraError(f"{cfg.camera.source} delivered no frame")
    return image
