"""A stop against a real Home Assistant: does it make the entities, show the states, switch the
light and take the mode, with nothing logged against the stop's configs?

    .venv/bin/python tools/ha_real_check.py --hass /path/to/venv/bin/hass [--keep DIR]

Home Assistant is not a dependency of stopsafe (it needs a newer Python than the project's,
and hundreds of packages): install it in a venv of its own, e.g.
``python3.13 -m venv /tmp/ha && /tmp/ha/bin/pip install homeassistant==2025.4.4``.

The check starts a private mosquitto, one fleet-sim stop (the daemon's MQTT code and light
rules, no camera) and Home Assistant with its MQTT integration configured on that broker. A
small custom integration in Home Assistant's config folder writes every state to
``states.json`` once a second and calls the services it is sent on ``stopsafe-probe/call``:
that is how the check reads Home Assistant's entities and presses its buttons without an
account or a token. It prints one JSON object of what it saw and exits 0 when every check
passed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import DiscoveryForm, parse_config
from edge.mqtt.discovery import components
from edge.wire import Topics
from sim.broker import Broker
from sim.fleet import Fleet

PROBE_TOPIC = "stopsafe-probe/call"
PROBE_MANIFEST = {"domain": "stopsafe_probe", "name": "stopsafe probe", "version": "0.0.1",
                  "dependencies": ["mqtt"], "requirements": [], "codeowners": [],
                  "documentation": "https://example.invalid", "iot_class": "local_push"}
PROBE_CODE = f'''
"""Writes every state to states.json each second; calls the services sent on {PROBE_TOPIC}."""
import json
from datetime import timedelta

from homeassistant.components import mqtt
from homeassistant.helpers.event import async_track_time_interval

DOMAIN = "stopsafe_probe"


async def async_setup(hass, config):
    path = hass.config.path("states.json")

    def write(data):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, default=str)
        import os
        os.replace(tmp, path)

    async def dump(_now=None):
        data = {{s.entity_id: {{"state": s.state, "attributes": dict(s.attributes)}}
                for s in hass.states.async_all()}}
        await hass.async_add_executor_job(write, data)

    async def call(msg):
        body = json.loads(msg.payload)
        await hass.services.async_call(body["domain"], body["service"], body.get("data", {{}}),
                                       blocking=False)

    async def start(_event=None):
        await mqtt.async_wait_for_mqtt_client(hass)
        await mqtt.async_subscribe(hass, "{PROBE_TOPIC}", call)

    hass.async_create_task(start())
    async_track_time_interval(hass, dump, timedelta(seconds=1))
    return True
'''


def ha_config_dir(folder: Path, broker: Broker) -> None:
    (folder / "custom_components" / "stopsafe_probe").mkdir(parents=True)
    (folder / "custom_components" / "stopsafe_probe" / "manifest.json").write_text(
        json.dumps(PROBE_MANIFEST))
    (folder / "custom_components" / "stopsafe_probe" / "__init__.py").write_text(PROBE_CODE)
    (folder / "configuration.yaml").write_text(
        "homeassistant:\n  name: stopsafe check\n  time_zone: UTC\n  unit_system: metric\n"
        "logger:\n  default: warning\n  logs:\n    homeassistant.components.mqtt: info\n"
        "stopsafe_probe:\n")
    now = datetime.now(timezone.utc).isoformat()
    entry = {"entry_id": uuid.uuid4().hex, "version": 1, "minor_version": 2, "domain": "mqtt",
             "title": "mosquitto", "data": {"broker": broker.host, "port": broker.port},
             "options": {"discovery": True, "discovery_prefix": "homeassistant"},
             "pref_disable_new_entities": False, "pref_disable_polling": False,
             "source": "user", "unique_id": None, "disabled_by": None, "discovery_keys": {},
             "subentries": [], "created_at": now, "modified_at": now}
    (folder / ".storage").mkdir()
    (folder / ".storage" / "core.config_entries").write_text(json.dumps(
        {"version": 1, "minor_version": 5, "key": "core.config_entries",
         "data": {"entries": [entry]}}))


def states(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "states.json").read_text())
    except (OSError, ValueError):
        return {}


def call(broker: Broker, domain: str, service: str, data: dict[str, Any]) -> None:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:6]}")
    c.connect(broker.host, broker.port)
    c.loop_start()
    c.publish(PROBE_TOPIC, json.dumps({"domain": domain, "service": service, "data": data}),
              qos=1).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


def wait(pred, timeout: float, step: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return None


def crew_entities(broker: Broker, ha_dir: Path, mine: dict[str, Any],
                  out: dict[str, Any]) -> bool:
    """The entities of issue 27: each with the device class and unit Home Assistant took, the
    timestamps parsed, and the self-test and snapshot buttons answered through the stop."""
    names = {c.key: c.options["name"] for c in components(Topics("stopsafe", "ha-0000"), 5.0,
                                                           snapshots=True)}

    def entity(platform: str, key: str) -> str:
        """The entity id Home Assistant gave: ``default_entity_id`` where it reads it (2025.10
        on), else the one it made from the device's and the entity's names."""
        exact = f"{platform}.stopsafe_ha_0000_{key}"
        if exact in mine:
            return exact
        return next((k for k, v in mine.items() if k.startswith(platform + ".")
                     and str(v["attributes"].get("friendly_name", "")).endswith(
                         " " + names[key])), exact)

    ok = True
    seen = {}
    for platform, key in (("sensor", "selftest_result"), ("sensor", "light_on_today"),
                          ("sensor", "uptime"), ("sensor", "fault_since"),
                          ("sensor", "waiting_episodes_today"), ("sensor", "detector_rate"),
                          ("image", "snapshot"), ("button", "take_snapshot"),
                          ("binary_sensor", "in_service")):
        eid = entity(platform, key)
        st = mine.get(eid)
        ok &= st is not None
        if st is not None:
            attrs = st["attributes"]
            seen[eid] = {"state": st["state"], "device_class": attrs.get("device_class"),
                         "unit": attrs.get("unit_of_measurement"),
                         "state_class": attrs.get("state_class")}
    out["crew_entities"] = seen
    uptime = seen.get(entity("sensor", "uptime"), {}).get("state", "")
    try:
        started = datetime.fromisoformat(uptime)
        ok &= abs((datetime.now(timezone.utc) - started).total_seconds()) < 3600
    except ValueError:
        ok = False
    ok &= seen.get(entity("sensor", "fault_since"), {}).get("state") == "unknown"  # healthy
    for key in ("light_on_today", "detector_rate", "waiting_episodes_today"):
        try:
            float(seen.get(entity("sensor", key), {}).get("state", "x"))
        except ValueError:
            ok = False
    call(broker, "button", "press", {"entity_id": entity("button", "selftest")})
    result = wait(lambda: states(ha_dir).get(entity("sensor", "selftest_result"), {}).get(
        "state") in ("passed", "failed"), 20)
    last = states(ha_dir).get(entity("sensor", "selftest_result"), {})
    out["selftest_pressed"] = {"state": last.get("state"),
                               "attributes": last.get("attributes", {}).get("failed")}
    ok &= bool(result)
    before = states(ha_dir).get(entity("image", "snapshot"), {}).get("state")
    call(broker, "button", "press", {"entity_id": entity("button", "take_snapshot")})
    changed = wait(lambda: states(ha_dir).get(entity("image", "snapshot"), {}).get("state")
                   not in (None, before), 20)
    out["snapshot_pressed"] = {"before": before, "after": states(ha_dir).get(
        entity("image", "snapshot"), {}).get("state")}
    ok &= bool(changed)
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hass", required=True, help="the hass executable of a Home Assistant venv")
    p.add_argument("--form", choices=[f.value for f in DiscoveryForm],
                   default=DiscoveryForm.DEVICE.value)
    p.add_argument("--migrate-from", choices=[f.value for f in DiscoveryForm],
                   help="first run the stop with this form, then switch to --form with Home "
                   "Assistant running: the entities must stay the same ones")
    p.add_argument("--keep", type=Path, help="keep Home Assistant's config folder here")
    p.add_argument("--timeout-s", type=float, default=600.0,
                   help="for Home Assistant to start (it installs paho-mqtt on first start)")
    a = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ha-check-"))
    (work / "broker").mkdir()
    broker = Broker(work / "broker")
    broker.start()
    ha_dir = a.keep or (work / "ha")
    if ha_dir.exists():
        shutil.rmtree(ha_dir)
    ha_dir.mkdir(parents=True)
    ha_config_dir(ha_dir, broker)
    def stop_with(form: str) -> Fleet:
        cfg = parse_config({"stop": {"id": "ha-0000"}, "mqtt": {
            "enabled": True, "host": broker.host, "port": broker.port, "telemetry_s": 5,
            "discovery": True, "discovery_form": form, "discovery_delay_max_s": 2},
            "privacy": {"snapshots": True}})
        f = Fleet(cfg, 1, id_prefix="ha", fps=2.0)
        f.start()
        return f

    fleet: Fleet | None = stop_with(a.migrate_from or a.form)
    log = open(ha_dir / "hass.out", "w")  # noqa: SIM115 - closed below
    hass = subprocess.Popen([a.hass, "-c", str(ha_dir), "--log-file",
                             str(ha_dir / "home-assistant.log")], stdout=log,
                            stderr=subprocess.STDOUT)
    out: dict[str, Any] = {"form": a.form, "ha_dir": str(ha_dir)}
    ok = True
    try:
        t0 = time.monotonic()
        mine = wait(lambda: {k: v for k, v in states(ha_dir).items() if "ha_0000" in k
                             or "fleet_sim" in k} or None, a.timeout_s)
        out["entities_after_s"] = round(time.monotonic() - t0, 1)
        if not mine:
            out["error"] = "no entity of the stop appeared"
            return 1
        time.sleep(8)  # the rest of the entities and a tele message
        mine = {k: v for k, v in states(ha_dir).items() if "ha_0000" in k or "fleet_sim" in k}
        if a.migrate_from:
            before = sorted(mine)
            fleet.close()
            fleet = stop_with(a.form)
            time.sleep(12)
            mine = {k: v for k, v in states(ha_dir).items()
                    if "ha_0000" in k or "fleet_sim" in k}
            out["migrated"] = {"from": a.migrate_from, "entities_before": len(before),
                               "same_entity_ids": sorted(mine) == before,
                               "unavailable_after": sorted(k for k, v in mine.items()
                                                           if v["state"] == "unavailable")}
            ok &= sorted(mine) == before and not out["migrated"]["unavailable_after"]
            logged = (ha_dir / "home-assistant.log").read_text(errors="replace").splitlines()
            out["migration_log"] = [line[:300] for line in logged
                                    if " started for entity " in line][:12]
        out["entities"] = {k: v["state"] for k, v in sorted(mine.items())}
        by_platform = {k.split(".")[0] for k in mine}
        out["platforms"] = sorted(by_platform)
        ok &= by_platform == {"light", "select", "binary_sensor", "sensor", "event", "button",
                              "image"}
        ok &= crew_entities(broker, ha_dir, mine, out)
        light = next((k for k in mine if k.startswith("light.")), None)
        select = next((k for k in mine if k.startswith("select.")), None)
        problem = next((k for k in mine if k.startswith("binary_sensor.") and "problem" in k),
                       None)
        if problem:
            out["problem_attributes"] = mine[problem]["attributes"].get("faults")
            ok &= out["problem_attributes"] == []
        if light and select:
            def light_and_mode() -> tuple[Any, Any]:
                now = states(ha_dir)
                return now.get(light, {}).get("state"), now.get(select, {}).get("state")

            for service, want in (("turn_on", ("on", "FORCE_ON")),
                                  ("turn_off", ("off", "FORCE_OFF"))):
                call(broker, "light", service, {"entity_id": light})
                done = wait(lambda w=want: light_and_mode() == w, 15)
                got = light_and_mode()
                out[f"light_{service}"] = {"light": got[0], "mode": got[1]}
                ok &= bool(done)
            event = next((k for k in mine if k.startswith("event.")), None)
            if event:  # the light's switching (on, off or both) came as events
                got = wait(lambda: states(ha_dir).get(event, {}).get("attributes", {}).get(
                    "event_type"), 15)
                out["event"] = states(ha_dir).get(event, {}).get("attributes")
                ok &= got in ("light_on", "light_off")
            call(broker, "select", "select_option", {"entity_id": select, "option": "AUTO"})
            auto = wait(lambda: states(ha_dir).get(select, {}).get("state") == "AUTO", 15)
            out["select_auto"] = bool(auto)
            ok &= bool(auto)
        # no more 'tele' while the stop stays online: fps and inference time expire
        # (expire_after = 3 telemetry periods, 15 s here), the retained states stay
        fps = next((k for k in mine if k.startswith("sensor.") and ("fps" in k or
                                                                   "frame_rate" in k)), None)
        if fps and fleet is not None:
            svc = fleet.stops[0][1].mqtt
            svc.runner.call(lambda: setattr(svc, "_next_tele", float("inf")))
            t_quiet = time.monotonic()
            expired = wait(lambda: states(ha_dir).get(fps, {}).get("state") == "unavailable",
                           30)
            out["tele_sensor_unavailable_after_s"] = (round(time.monotonic() - t_quiet, 1)
                                                      if expired else None)
            still = states(ha_dir).get(light, {}).get("state") if light else None
            out["light_while_tele_quiet"] = still
            ok &= bool(expired) and still in ("on", "off")
        # a clean exit publishes 'stopped': every entity of the stop goes unavailable
        fleet.close()
        fleet = None
        gone = wait(lambda: all(states(ha_dir).get(k, {}).get("state") == "unavailable"
                                for k in mine), 15)
        out["unavailable_after_clean_exit"] = bool(gone)
        ok &= bool(gone)
        logged = (ha_dir / "home-assistant.log").read_text(errors="replace").splitlines()
        out["log_lines_about_the_stop"] = [
            line[:300] for line in logged if ("ha-0000" in line or "ha_0000" in line)
            and any(w in line for w in ("WARNING", "ERROR"))][:20]
        if a.migrate_from == DiscoveryForm.DEVICE.value:
            # Home Assistant's rollback ends with an empty payload on the device topic, as its
            # documentation says; it then warns that nothing was left there to clean up
            out["log_lines_about_the_stop"] = [
                line for line in out["log_lines_about_the_stop"]
                if "No device components to cleanup" not in line]
        ok &= not out["log_lines_about_the_stop"]
        out["ok"] = bool(ok)
        return 0 if ok else 1
    finally:
        print(json.dumps(out, indent=1, default=str))
        hass.terminate()
        try:
            hass.wait(30)
        except subprocess.TimeoutExpired:
            hass.kill()
        log.close()
        if fleet is not None:
            fleet.close()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)  # Home Assistant's folder stays with --keep


if __name__ == "__main__":
    sys.exit(main())
