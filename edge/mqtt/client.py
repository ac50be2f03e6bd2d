"""Connecting tools (console, fleet-sim) to the broker the way the daemon does: from a config's
mqtt section (``-c CONFIG``) or from ``--broker HOST:PORT`` and the environment."""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import paho.mqtt.client as paho

from edge.config import Config, ConfigError, load_config, parse_config

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


def connect_client(cfg: Config, role: str, on_connect=None, on_message=None) -> paho.Client:
    """A paho client for a tool (its own random client id), connected (loop not started)."""
    from edge.mqtt.link import ignore_sigpipe, paho_client

    ignore_sigpipe()
    m = cfg.mqtt
    user, password = resolve_credentials(cfg, os.environ)
    client = paho_client(f"stopsafe-{role}-{uuid.uuid4().hex[:8]}", m.protocol, user, password,
                         m.tls)
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(m.host, m.port, m.keepalive_s)
    return client


def apply_credentials_and_tls(client: paho.Client, cfg: Config) -> None:
    """The config's (or the environment's) credentials and TLS settings on a tool's client."""
    from edge.mqtt.link import apply_auth

    user, password = resolve_credentials(cfg, os.environ)
    apply_auth(client, user, password, cfg.mqtt.tls)
