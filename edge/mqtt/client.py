"""Connecting tools (console, fleet-sim) to the broker the way the daemon does: from a config's
mqtt section (``-c CONFIG``) or from ``--broker HOST:PORT`` and the environment.

A broker that is down, unreachable or refuses the login is a :class:`BrokerUnavailable` with
one line to print (``stopsafe``'s ``main`` prints it and exits 69, or 77 for a refused login),
never a traceback; tools that stay up (the console) show the same line and retry.
"""

from __future__ import annotations

import argparse
import os
import ssl
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from edge.config import Config, ConfigError, load_config, parse_config
from edge.mqtt.errors import EX_NOPERM, BrokerUnavailable

USERNAME_ENV = "STOPSAFE_MQTT_USERNAME"
PASSWORD_ENV = "STOPSAFE_MQTT_PASSWORD"


def resolve_credentials(cfg: Config, env: Mapping[str, str], config_path: Path | None = None
                        ) -> tuple[str | None, str | None]:
    """User name and password from the config's file or the environment (never logged)."""
    m = cfg.mqtt
    user = m.username or env.get(USERNAME_ENV) or None
    password: str | None
    if m.password_file is not None:
        try:
            lines = m.password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            where = config_path or "<config>"
            raise ConfigError(f"{where}: mqtt.password_file: cannot read {m.password_file}: "
                              f"{exc.strerror or exc}") from None
        password = lines[0] if lines else ""
    else:
        password = env.get(PASSWORD_ENV) or None
    return user, password


def add_broker_args(p: argparse.ArgumentParser, nested: bool = False) -> None:
    """The broker options; ``nested`` for a sub-command's copy (it must not reset the parent's
    values to None when it is not given there)."""
    kw: dict = {"default": argparse.SUPPRESS} if nested else {"default": None}
    p.add_argument("-c", "--config", help="take broker, prefix, TLS and credentials from this "
                   "config's mqtt section", **kw)
    p.add_argument("--broker", metavar="HOST:PORT",
                   help="broker address (overrides the config's); credentials then come from "
                   "$STOPSAFE_MQTT_USERNAME and $STOPSAFE_MQTT_PASSWORD", **kw)
    p.add_argument("--prefix", help="topic root (default: the config's, else 'stopsafe')", **kw)
    p.add_argument("--ca-file", help="connect with TLS, verifying the broker against this CA",
                   **kw)


def broker_config(args: argparse.Namespace) -> Config:
    """The effective config for a tool: the file's, then the command line's overrides."""
    cfg = load_config(Path(args.config)) if args.config else Config()
    data = cfg.model_dump(mode="python")
    m = data["mqtt"]
    if args.broker:
        host, sep, port = args.broker.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"--broker {args.broker}: expected HOST:PORT")
        m.update(host=host.strip("[]"), port=int(port))
        if not args.config:
            m.update(username=None, password_file=None)
    if args.prefix:
        m["prefix"] = args.prefix
    if args.ca_file:
        m["tls"] = {"enabled": True, "ca_file": args.ca_file}
    m["enabled"] = True
    return parse_config(data, args.config or "<command line>")


def broker_name(cfg: Config) -> str:
    return f"broker {cfg.mqtt.host}:{cfg.mqtt.port}"


def unreachable(cfg: Config, exc: BaseException) -> BrokerUnavailable:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return BrokerUnavailable(f"{broker_name(cfg)}: {reason}")


def refused(cfg: Config, reason_code: Any) -> BrokerUnavailable:
    return BrokerUnavailable(f"{broker_name(cfg)} refused the connection: {reason_code}",
                             EX_NOPERM)


def new_client(cfg: Config, role: str, on_connect=None, on_message=None) -> paho.Client:
    """A paho client for a tool (its own random client id), not connected."""
    from edge.mqtt.link import paho_client

    m = cfg.mqtt
    user, password = resolve_credentials(cfg, os.environ)
    client = paho_client(f"stopsafe-{role}-{uuid.uuid4().hex[:8]}", m.protocol, user, password,
                         m.tls)
    client.on_connect = on_connect
    client.on_message = on_message
    return client


def connect_client(cfg: Config, role: str, on_connect=None, on_message=None) -> paho.Client:
    """A paho client for a tool, connected (loop not started); a broker that cannot be
    reached is a BrokerUnavailable."""
    client = new_client(cfg, role, on_connect, on_message)
    try:
        client.connect(cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.keepalive_s)
    except (OSError, ssl.SSLError) as exc:
        raise unreachable(cfg, exc) from None
    return client


class Connected:
    """The outcome of a tool's connection (set from paho's thread): ``wait`` returns once the
    broker accepted it, or raises the one-line BrokerUnavailable."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._done = threading.Event()
        self._error: BrokerUnavailable | None = None

    def on_connect(self, rc: Any) -> bool:
        """paho's on_connect: True when accepted."""
        if rc.is_failure:
            self._error = refused(self.cfg, rc)
        self._done.set()
        return not rc.is_failure

    def wait(self, timeout: float) -> None:
        if not self._done.wait(timeout):
            raise BrokerUnavailable(f"{broker_name(self.cfg)}: no answer within {timeout:g} s")
        if self._error is not None:
            raise self._error


@contextmanager
def tool_session(cfg: Config, role: str, subscriptions: list[tuple[str, int]], on_message: Any,
                 timeout_s: float) -> Iterator[tuple[paho.Client, threading.Event]]:
    """A tool's short session: connect, subscribe to ``subscriptions`` once the broker accepts,
    and yield ``(client, subscribed)`` (``subscribed`` is set when the broker confirmed it; the
    caller decides how long to wait for that). A broker that is down, refuses or gives no answer
    within ``timeout_s`` is a BrokerUnavailable. The loop stops and the client disconnects on
    the way out."""
    connected = Connected(cfg)
    subscribed = threading.Event()

    def on_connect(client: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if connected.on_connect(rc):
            client.subscribe(subscriptions)

    client = connect_client(cfg, role, on_connect, on_message)
    client.on_subscribe = lambda *_a: subscribed.set()
    client.loop_start()
    try:
        connected.wait(timeout_s)
        yield client, subscribed
    finally:
        client.loop_stop()
        client.disconnect()


def apply_credentials_and_tls(client: paho.Client, cfg: Config) -> None:
    """The config's (or the environment's) credentials and TLS settings on a tool's client."""
    from edge.mqtt.link import apply_auth

    user, password = resolve_credentials(cfg, os.environ)
    apply_auth(client, user, password, cfg.mqtt.tls)
