"""A stop's last word: why it is ending, left retained on the broker when the daemon must exit
before (or without) its MQTT service, e.g. with no usable config at all or a relay pin it
cannot claim.

Without it the broker keeps whatever the previous run left (``status`` ``stopped``,
``faults/state`` ``[]``): a dead stop that looks deliberately stopped and healthy. This leaves
``status`` ``failed``, the fault with its reason in ``faults/state`` and ``faults/detail``, and
``light/state`` ``OFF`` (the process is gone, the relay's pin is released).
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from pathlib import Path

import structlog

from edge.config import Config, ConfigError, parse_config, read_document
from edge.mqtt.client import resolve_credentials
from edge.mqtt.drain import fault_detail, fault_list
from edge.mqtt.link import paho_client
from edge.runtime.faults import ActiveFault
from edge.wire import Fault, OnOff, State, Status, Topics

log = structlog.get_logger("stopsafe.mqtt.last_word")

WAIT_S = 5.0  # for the broker, then for its acknowledgements: an exit is never held longer


def broker_config(path: Path) -> Config | None:
    """The ``stop`` and ``mqtt`` sections of a config file that fails as a whole, when those two
    are valid on their own (so the stop can still say why it is not running); else None."""
    try:
        doc = read_document(path)
    except ConfigError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("mqtt"), dict):
        return None
    try:
        return parse_config({k: doc[k] for k in ("stop", "mqtt") if k in doc}, path)
    except ConfigError:
        return None


def say_last_word(cfg: Config, fault: Fault, reason: str, config_path: Path | None = None,
                  wait_s: float = WAIT_S) -> bool:
    """Publish the retained reason for ending; True when the broker acknowledged all of it."""
    m = cfg.mqtt
    if not m.enabled:
        return False
    topics = Topics(m.prefix, cfg.stop.id)
    try:
        user, password = resolve_credentials(cfg, os.environ, config_path)
    except ConfigError:
        return False
    client = paho_client(m.client_id or f"stopsafe-{cfg.stop.id}", m.protocol, user, password,
                         m.tls)
    connected = threading.Event()
    client.on_connect = lambda _c, _u, _f, rc, _p: None if rc.is_failure else connected.set()
    try:
        client.connect(m.host, m.port, m.keepalive_s)
    except (OSError, ssl.SSLError, ValueError) as exc:
        log.warning("last_word_unsent", reason=str(exc)[:200])
        return False
    client.loop_start()
    try:
        if not connected.wait(wait_s):
            log.warning("last_word_unsent", reason="no answer from the broker")
            return False
        # the running stop's two fault payloads, made the same way
        active = {fault: ActiveFault(fault, time.time(), {"error": reason})}
        messages = ((topics.leaf(State.LIGHT), OnOff.OFF.value),
                    (topics.leaf(State.FAULTS), fault_list(active)),
                    (topics.leaf(State.FAULT_DETAIL), fault_detail(active)),
                    (topics.status, Status.FAILED.value))  # last: the others are there by then
        sent = [client.publish(topic, payload, qos=1, retain=True) for topic, payload in messages]
        for info in sent:
            info.wait_for_publish(wait_s)
        ok = all(info.is_published() for info in sent)
        log.info("last_word_sent" if ok else "last_word_unsent", fault=fault.value,
                 error=reason[:300])
        return ok
    finally:
        client.disconnect()
        client.loop_stop()
