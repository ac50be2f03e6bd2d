"""``stopsafe console``: the maintenance crew's view of every stop (a terminal UI, see
``console_tui``), a plain table (``--once``) or JSON (``--json``) for scripts, and ``send``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

EXIT_OK, EXIT_REFUSED, EXIT_NO_ANSWER = 0, 1, 2


def _open_store(args: argparse.Namespace) -> Any:
    """The history database of ``--db`` (None without it); a bad URL is a config error."""
    if not args.db:
        return None
    from edge.config import ConfigError
    from fleet.history.store import Store, StoreError

    try:
        return Store(args.db)
    except StoreError as exc:
        raise ConfigError(str(exc)) from None


def _collect_once(args: argparse.Namespace, cfg: Any, table: Any) -> None:
    """Connect, take the retained states (until no new stop showed up for ``--settle`` s, or
    ``--wait`` s in all), disconnect. A broker that is down or refuses: BrokerUnavailable."""
    from edge.mqtt.client import tool_session

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        table.update(msg.topic, msg.payload, retained=bool(msg.retain))

    start = time.monotonic()
    with tool_session(cfg, "console", table.subscriptions(), on_message,
                      args.wait) as (_client, subscribed):
        subscribed.wait(max(0.0, args.wait - (time.monotonic() - start)))
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() - start < args.wait:
            n = len(table)
            if n != seen:
                seen, quiet_since = n, time.monotonic()
            elif time.monotonic() - quiet_since >= args.settle:
                break
            time.sleep(0.05)


def cmd_console(args: argparse.Namespace) -> int:
    from edge.mqtt.client import broker_config
    from fleet.view import FleetTable, SortKey, render, rows_json

    cfg = broker_config(args)
    store = _open_store(args)
    try:
        table = FleetTable(cfg.mqtt.prefix)
        sort = SortKey(args.sort)
        if args.json or args.once or not sys.stdout.isatty():
            _collect_once(args, cfg, table)
            if store is not None:  # --db: a store exists, so the history extra is there
                from fleet.history.report import load_history

                load_history(store, table)
            if args.json:
                json.dump(rows_json(table.snapshot(sort, args.reverse)), sys.stdout, indent=1)
                sys.stdout.write("\n")
            else:
                from rich.console import Console

                Console(width=200).print(render(table, sort, args.reverse, args.rows))
            return EXIT_OK
        from fleet.console_tui import ConsoleApp

        app = ConsoleApp(cfg, table, sort=sort, reverse=args.reverse,
                         refresh_s=args.refresh_s, duration_s=args.duration, store=store)
        app.run()
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if store is not None:
            store.close()


def cmd_send(args: argparse.Namespace) -> int:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from edge.config import MqttProtocol
    from edge.mqtt.client import broker_config, tool_session
    from edge.wire import Topics, parse_json
    from fleet.view import new_correlation

    cfg = broker_config(args)
    topics = Topics(cfg.mqtt.prefix, args.stop)
    result_topic = topics.result(args.command)
    payload = (args.payload or "").encode()
    corr = new_correlation()
    ours: Any = None
    try:
        sent = json.loads(payload) if payload else None
        ours = sent.get("id") if isinstance(sent, dict) else None
    except ValueError:
        pass
    v5 = cfg.mqtt.protocol is MqttProtocol.V5
    answer: dict[str, Any] = {}
    got = threading.Event()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        their = getattr(getattr(msg, "properties", None), "CorrelationData", None)
        if their is not None and their != corr:
            return  # someone else's answer
        try:
            body = parse_json(msg.payload)
        except ValueError:
            return
        if not isinstance(body, dict) or (their is None and ours is not None
                                          and body.get("id") != ours):
            return
        answer.update(body)
        got.set()

    start = time.monotonic()
    with tool_session(cfg, "console", [(result_topic, 1)], on_message,
                      args.timeout) as (client, ready):
        if not ready.wait(max(0.0, args.timeout - (time.monotonic() - start))):
            print(f"stopsafe console send: no subscription within {args.timeout:g} s",
                  file=sys.stderr)
            return EXIT_NO_ANSWER
        props = None
        if v5:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = result_topic
            props.CorrelationData = corr
        client.publish(topics.cmd(args.command), payload, qos=1, properties=props)
        remaining = max(0.0, args.timeout - (time.monotonic() - start))
        if not got.wait(remaining):
            print(f"stopsafe console send: no answer from {args.stop} on {result_topic} "
                  f"within {args.timeout:g} s", file=sys.stderr)
            return EXIT_NO_ANSWER
        print(json.dumps(answer))
        return EXIT_OK if answer.get("ok") is True else EXIT_REFUSED


def register(p: argparse.ArgumentParser) -> None:
    from edge.mqtt.client import add_broker_args
    from fleet.view import SortKey

    add_broker_args(p)
    p.add_argument("--json", action="store_true",
                   help="print one snapshot of the table as JSON and exit")
    p.add_argument("--once", action="store_true",
                   help="print the table once as text and exit (also when not on a terminal)")
    p.add_argument("--db", metavar="URL", default=None,
                   help="history database (stopsafe collect's): show each stop's faults over "
                   "the last 24 hours beside its live state")
    p.add_argument("--sort", choices=[k.value for k in SortKey], default=SortKey.STOP.value,
                   help="--once/--json: order within each group (offline first, then faults, "
                   "then the rest); the terminal UI starts sorted by it")
    p.add_argument("--reverse", action="store_true", help="descending order")
    p.add_argument("--settle", type=float, default=1.0, metavar="S",
                   help="--once/--json: stop collecting once no new stop appeared for S seconds")
    p.add_argument("--wait", type=float, default=10.0, metavar="S",
                   help="--once/--json: collect at most S seconds")
    p.add_argument("--refresh-s", type=float, default=0.5,
                   help="terminal UI: how often the table takes in what arrived")
    p.add_argument("--rows", type=int, default=None, help="--once: rows shown (default all)")
    p.add_argument("--duration", type=float, default=None,
                   help="terminal UI: exit after S seconds")
    p.set_defaults(func=cmd_console)
    csub = p.add_subparsers(dest="console_command", metavar="ACTION")
    s = csub.add_parser("send", help="send a command to a stop and print its answer (exit 0 "
                        "ok, 1 refused, 2 no answer, 69 broker unreachable, 77 login refused)")
    add_broker_args(s, nested=True)
    s.add_argument("stop", help="stop id")
    s.add_argument("command", help="light, reload, selftest, snapshot, status")
    s.add_argument("payload", nargs="?", help="e.g. ON, or '{\"mode\": \"ON\", \"for_s\": 600}'")
    s.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    s.set_defaults(func=cmd_send, tool="console send")
