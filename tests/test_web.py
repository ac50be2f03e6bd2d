"""The installer's page on a real pipeline (the shared clip, the real model, the mock relay) and
a real server on 127.0.0.1: security, /healthz, /metrics with a real Prometheus, the zone
editor's save and reload, and the walk test. The browser test is tests/test_web_browser.py."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from edge.config import ConfigError, load_config, parse_config
from edge.decision.zones import Zone
from edge.web.passwords import hash_password, verify_password
from edge.web.server import WebServer
from edge.web.view import LiveView
from sim.broker import free_port
from sim.injection import FaultKind, FaultSpec
from tests.web_stop import EMPTY, Client, stop_doc, web_stop

PASSWORD = "correct horse battery"


def wait(pred, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s")


# ---------------- the section and the password ----------------

def test_password_hash_is_salted_scrypt_and_checks():
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b and a.startswith("scrypt$") and PASSWORD not in a
    assert verify_password(PASSWORD, a) and not verify_password(PASSWORD + "x", a)
    with pytest.raises(ConfigError, match="not a password hash"):
        parse_config({"web": {"password_hash": "hunter2"}})


def test_page_beyond_loopback_is_refused_without_a_password():
    from edge.install.commissioning import Verdict, check_configured
    from edge.web.server import WebRefused, start_web

    for host in ("0.0.0.0", "192.168.1.20", "stop.local", "::"):
        cfg = parse_config({"web": {"enabled": True, "host": host}})
        says = (f"web.host {host} is reachable from other machines: the page is not started "
                "without a password there; set web.password_hash")
        assert cfg.web.refusal.startswith(says)
        with pytest.raises(WebRefused, match="the page is not started without a password"):
            start_web(cfg.web, LiveView(cfg))  # refused before any socket is opened
        check = check_configured(cfg)
        assert check.status is Verdict.FAIL and says in check.message
        assert parse_config({"web": {"enabled": True, "host": host, "password_hash":
                                     hash_password(PASSWORD)}}).web.refusal is None
    for host in ("127.0.0.1", "::1", "localhost"):
        assert parse_config({"web": {"enabled": True, "host": host}}).web.refusal is None


def test_web_password_command_prints_a_hash(monkeypatch, capsys):
    import io

    from edge.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["web-password", "--stdin"]) == 0
    line = capsys.readouterr().out.strip()
    assert verify_password(PASSWORD, line)
    assert parse_config({"web": {"password_hash": line}}).web.password_hash == line


# ---------------- security (a server with a password, no pipeline needed) ----------------

@pytest.fixture
def locked(tmp_path):
    cfg = parse_config({"web": {"enabled": True, "host": "127.0.0.1", "port": 0,
                                "password_hash": hash_password(PASSWORD),
                                "login_failures": 3, "lockout_s": 1.0,
                                "max_body_bytes": 4096}})
    server = WebServer(cfg.web, LiveView(cfg)).start()
    yield server
    server.close()


def raw(server: WebServer, method: str, path: str, headers=None, body=None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {},
                     encode_chunked=body is not None and not isinstance(body, bytes))
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_unauthenticated_requests_are_refused(locked):
    c = Client(locked.url)
    for path in ("/api/state", "/api/frame.jpg", "/api/walk"):
        assert c.call("GET", path)[0] == 401, path
    status, _ = raw(locked, "GET", "/")
    assert status == 303  # to the login page
    assert c.call("GET", "/login")[0] == 200
    assert c.call("PUT", "/api/zone", {"polygon": [[0, 0], [1, 0], [1, 1]]})[0] == 401
    # what monitors need stays open: no picture, no setting in it
    assert c.call("GET", "/healthz")[0] == 503  # no pipeline: not healthy
    assert c.call("GET", "/metrics")[0] == 200


def test_failed_logins_are_limited(locked):
    c = Client(locked.url)
    c.session()
    for _ in range(3):
        assert c.write("POST", "/api/login", {"password": "wrong"})[0] == 401
    status, body = c.write("POST", "/api/login", {"password": PASSWORD})
    assert status == 429 and "too many failed logins" in body["error"]  # not even checked
    time.sleep(1.1)
    status, body = c.write("POST", "/api/login", {"password": PASSWORD})
    assert status == 200
    c.csrf = body["csrf"]
    assert c.call("GET", "/api/state")[0] == 200


def test_forged_writes_oversize_bodies_and_dot_dot_paths_are_refused(locked):
    c = Client(locked.url)
    c.session()
    status, body = c.write("POST", "/api/login", {"password": PASSWORD})
    assert status == 200
    c.csrf = body["csrf"]
    zone = {"polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}
    # forged: no token, a wrong token, a right token from another site's page
    assert c.call("PUT", "/api/zone", zone)[0] == 403
    assert c.call("PUT", "/api/zone", zone, headers={"X-CSRF-Token": "guess"})[0] == 403
    assert c.call("POST", "/api/walk", {"action": "start"},
                  headers={"X-CSRF-Token": c.csrf, "Origin": "http://evil.example"})[0] == 403
    # a GET never writes
    assert c.call("GET", "/api/zone")[0] == 405
    # oversize: announced, and sent in chunks without a length
    big = json.dumps({"polygon": [[0.5, 0.5]] * 2000}).encode()
    assert len(big) > 4096
    status, _ = c.call("PUT", "/api/zone", raw=big, headers={"X-CSRF-Token": c.csrf})
    assert status == 413
    status, _ = raw(locked, "PUT", "/api/zone", body=(big[i:i + 1000]
                                                       for i in range(0, len(big), 1000)),
                    headers={"Content-Type": "application/json", "X-CSRF-Token": c.csrf,
                             "Cookie": _cookie(c)})
    assert status == 413
    # no request path reaches the file system
    for path in ("/static/../../../../etc/passwd", "/static/..%2f..%2f..%2fetc%2fpasswd",
                 "/static/%2e%2e/%2e%2e/setup.cfg", "/../edge/web/server.py"):
        status, payload = raw(locked, "GET", path, headers={"Cookie": _cookie(c)})
        assert status == 404, path
        assert b"root:" not in payload and b"import" not in payload
    assert raw(locked, "GET", "/static/app.js")[0] in (200, 401)


def _cookie(c: Client) -> str:
    jar = next(h for h in c.opener.handlers
               if isinstance(h, urllib.request.HTTPCookieProcessor)).cookiejar
    return "; ".join(f"{k.name}={k.value}" for k in jar)


# ---------------- on the running pipeline ----------------

def test_healthz_is_200_running_and_503_with_the_reason_under_a_covered_lens(tmp_path, shared,
                                                                              models_dir):
    doc = stop_doc(health={"black_s": 1.0})
    covered = FaultSpec(kind=FaultKind.CAMERA_BLACK, at_s=16.0, for_s=200.0)
    with web_stop(tmp_path, doc, speed=4.0, faults=[covered]) as ws:
        c = Client(ws.url)
        _, body = wait(lambda: (r := c.call("GET", "/healthz"))[0] == 200 and r)
        assert body == {"ok": True, "reasons": []}
        _, body = wait(lambda: (r := c.call("GET", "/healthz"))[0] == 503 and r)
        assert "fault camera_black" in body["reasons"], body
        # and counted by kind, once
        text = c.call("GET", "/metrics")[1].decode()
        raised = {s.labels["fault"]: s.value for f in text_string_to_metric_families(text)
                  if f.name == "stopsafe_faults" for s in f.samples}
        assert raised["camera_black"] == 1 and raised["model_failed"] == 0
        curl = shutil.which("curl")
        if curl:  # as a monitor would ask
            out = subprocess.run([curl, "-s", "-w", "\n%{http_code}", f"{ws.url}/healthz"],
                                 capture_output=True, text=True, timeout=10).stdout
            assert out.endswith("\n503") and "camera_black" in out


def test_metrics_parse_and_a_real_prometheus_scrapes_them(tmp_path, shared, models_dir, broker):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is not installed (make system-packages)")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    doc = stop_doc(mqtt={"standalone": False, "enabled": True, "host": broker.host,
                         "port": broker.port, "discovery": False,
                         "outbox": {"path": str(tmp_path / "outbox.sqlite")}})
    with web_stop(tmp_path, doc, speed=4.0) as ws:
        c = Client(ws.url)
        wait(lambda: c.call("GET", "/api/state")[1].get("mqtt", {}).get("connected"))
        # someone waited: the light went on (and stayed on for a few cycles since)
        wait(lambda: c.call("GET", "/api/state")[1].get("light", {}).get("read_back"))
        time.sleep(1.0)
        status, text = c.call("GET", "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text.decode())}
        value = {f: {(s.name, tuple(sorted(s.labels.items()))): s.value
                     for s in families[f].samples} for f in families}
        stop = (("stop", "web-test-1"),)
        assert value["stopsafe_frames"][("stopsafe_frames_total", stop)] > 10
        assert value["stopsafe_model_runs"][("stopsafe_model_runs_total", stop)] > 5
        assert value["stopsafe_light_switches"][("stopsafe_light_switches_total", stop)] >= 1
        assert value["stopsafe_light_on_seconds"][("stopsafe_light_on_seconds_total", stop)] > 0
        assert value["stopsafe_mqtt_connected"][("stopsafe_mqtt_connected", stop)] == 1
        assert ("stopsafe_outbox_depth", stop) in value["stopsafe_outbox_depth"]
        assert families["stopsafe_stage_seconds"].type == "histogram"
        invoke = [s for s in families["stopsafe_stage_seconds"].samples
                  if s.name == "stopsafe_stage_seconds_count" and s.labels["stage"] == "invoke"]
        assert invoke and invoke[0].value > 5
        faults = {s.labels["fault"] for s in families["stopsafe_faults"].samples}
        assert {"camera_black", "light_readback", "model_failed"} <= faults

        port = free_port()
        conf = tmp_path / "prometheus.yml"
        conf.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
            "scrape_configs": [{"job_name": "stopsafe",
                                "static_configs": [{"targets": [f"127.0.0.1:{ws.server.port}"]}]}],
        }))
        with open(tmp_path / "prometheus.log", "w") as plog:
            proc = subprocess.Popen(
                [prometheus, f"--config.file={conf}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=plog)
        try:
            api = f"http://127.0.0.1:{port}/api/v1"

            def get(path: str):
                try:
                    with urllib.request.urlopen(api + path, timeout=5) as r:
                        return json.load(r)
                except OSError:
                    return None

            def target_up():
                t = get("/targets")
                active = t["data"]["activeTargets"] if t else []
                return active and active[0]["health"] == "up" and active[0]
            target = wait(target_up, timeout=60, every=0.5)
            assert target["scrapeUrl"] == f"http://127.0.0.1:{ws.server.port}/metrics"

            def frames():
                q = get("/query?query=stopsafe_frames_total%7Bstop%3D%22web-test-1%22%7D")
                result = q["data"]["result"] if q else []
                return result and float(result[0]["value"][1]) > 0 and result
            assert wait(frames, timeout=30, every=0.5)
            q = get("/query?query=up%7Bjob%3D%22stopsafe%22%7D")
            assert float(q["data"]["result"][0]["value"][1]) == 1.0
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_zone_save_checks_like_the_config_writes_atomically_and_reloads(tmp_path, shared,
                                                                        models_dir):
    with web_stop(tmp_path, stop_doc(), speed=2.0) as ws:
        c = Client(ws.url)
        c.session()
        before = ws.config_path.read_text()
        crossing = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
        status, body = c.write("PUT", "/api/zone", {"polygon": crossing})
        # the very message the config file gets for the same polygon
        bad = tmp_path / "bad.yaml"
        bad.write_text(before.replace("web:", f"zone:\n  polygon: {crossing}\nweb:"))
        with pytest.raises(ConfigError) as exc:
            load_config(bad)
        assert status == 400
        assert body["error"].split(": ", 1)[1] == str(exc.value).split(": ", 1)[1]
        assert "self-intersecting" in body["error"]
        assert ws.config_path.read_text() == before
        # a mask that is a line: refused too
        status, body = c.write("PUT", "/api/zone", {
            "polygon": [[0.2, 0.3], [0.9, 0.3], [0.9, 1.0]],
            "masks": [[[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]]})
        assert status == 400 and "zone.masks[0] has no area" in body["error"]
        assert c.write("PUT", "/api/zone", {"polygon": "everything"})[0] == 400

        zone = [[0.25, 0.35], [0.95, 0.35], [0.95, 1.0], [0.25, 1.0]]
        mask = [[0.3, 0.4], [0.4, 0.4], [0.4, 0.5]]
        status, body = c.write("PUT", "/api/zone", {"polygon": zone, "masks": [mask]})
        assert status == 200 and body["applied"] == ["zone"] and body["backup"] == "stop.yaml.bak"
        assert (tmp_path / "stop.yaml.bak").read_text() == before
        assert "# the installer's file" in ws.config_path.read_text()  # comments kept
        saved = load_config(ws.config_path)
        assert saved.zone.polygon == [tuple(p) for p in zone]
        assert saved.zone.masks == [[tuple(p) for p in mask]]
        core = ws.stop.controller.settings.core
        assert [list(p) for p in core.zone] == zone and [list(p) for p in core.masks[0]] == mask
        state = c.call("GET", "/api/state")[1]
        assert state["zone_in_use"]["controller"] == zone
        assert state["config"]["polygon"] == zone
        # the reload reaches every user of the zone: the detector's crop and the gate too
        bounds = Zone(zone).bounds()
        assert state["zone_in_use"]["crop"] == pytest.approx(list(bounds))
        gate = state["zone_in_use"]["gate"]
        assert gate[0] < bounds[0] and gate[1] < bounds[1]  # the zone's box and a margin


def test_walk_test_passes_on_a_visit_and_fails_on_an_empty_clip(tmp_path, shared, models_dir):
    with web_stop(tmp_path, stop_doc(), speed=8.0) as ws:
        c = Client(ws.url)
        c.session()
        status, body = c.write("POST", "/api/walk", {"action": "start", "limit_s": 60})
        assert status == 200 and body["status"] == "running"
        done = wait(lambda: (w := c.call("GET", "/api/walk")[1])["status"] != "running" and w,
                    timeout=60)
    assert done["status"] == "pass", done
    t = done["times"]
    assert t["first_seen"] <= t["waiting_began"] <= t["light_on"] < t["light_off"]
    assert done["message"].startswith("PASS: first seen at")
    (tmp_path / "empty").mkdir()
    with web_stop(tmp_path / "empty", stop_doc(EMPTY), speed=8.0) as ws:
        c = Client(ws.url)
        c.session()
        c.write("POST", "/api/walk", {"action": "start", "limit_s": 8})
        done = wait(lambda: (w := c.call("GET", "/api/walk")[1])["status"] != "running" and w,
                    timeout=30)
    assert done["status"] == "fail"
    assert done["missing"] == ["first_seen", "waiting_began", "light_on", "light_off"]
    assert done["message"] == ("FAIL: never first seen, waiting began, light on, light off "
                               "within 8 s")


def test_the_daemon_serves_the_page_and_a_saved_zone_reaches_it(tmp_path, shared, models_dir):
    """``stopsafe run`` as a process: the page comes up with the frame loop, a zone saved on it
    goes through the daemon's own reload, and SIGTERM ends both."""
    import signal

    from tests.daemon_proc import log_events, start_daemon, wait_logged

    port = free_port()
    doc = stop_doc(web={"port": port}, logging={"format": "json"})
    doc["camera"]["fps"] = 2.0
    path = tmp_path / "stop.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    log = tmp_path / "daemon.log"
    proc = start_daemon(path, log)
    try:
        started = wait_logged(log, "web_started", timeout=60, proc=proc)
        assert (started["host"], started["port"], started["login"]) == ("127.0.0.1", port, False)
        c = Client(f"http://127.0.0.1:{port}")
        wait(lambda: c.call("GET", "/healthz")[0] == 200, timeout=30)
        c.session()
        zone = [[0.3, 0.5], [0.9, 0.5], [0.9, 1.0], [0.3, 1.0]]
        status, body = c.write("PUT", "/api/zone", {"polygon": zone})
        assert status == 200 and body["applied"] == ["zone"], body
        assert c.call("GET", "/api/state")[1]["zone_in_use"]["controller"] == zone
        assert any(e["event"] == "config_reloaded" for e in log_events(log))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_slow_and_stuck_clients_never_hold_up_the_frame_loop(tmp_path, shared, models_dir):
    """Connections that send half a request and wait, and ones that ask for pictures and never
    read them: the frame loop keeps its pace (the page's work is all in the server's thread)."""
    import socket

    with web_stop(tmp_path, stop_doc(), speed=4.0) as ws:
        c = Client(ws.url)
        wait(lambda: c.call("GET", "/healthz")[0] == 200)
        port = ws.server.port
        stuck = []
        for i in range(40):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            s.sendall(b"GET /api/frame.jpg HTTP/1.1\r\nHost: x\r\n\r\n" * 50 if i % 2
                      else b"GET /api/state HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            stuck.append(s)
        try:
            frames0, t0 = ws.stop.pipeline.frames, time.monotonic()
            time.sleep(3.0)
            rate = (ws.stop.pipeline.frames - frames0) / (time.monotonic() - t0)
        finally:
            for s in stuck:
                s.close()
        # 5 frames a second of clip at 4x: 20 a second, less what a shared machine takes
        assert rate > 0.6 * 5.0 * 4.0, rate
        assert wait(lambda: c.call("GET", "/healthz")[0] == 200)
