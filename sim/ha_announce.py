"""How a fleet answers Home Assistant's ``online``: a subscriber plays Home Assistant, publishes
the birth message and counts the discovery configs that come back, a second at a time.

Run against ``stopsafe fleet-sim --discovery`` (see tests/test_ha_announce.py); also
``python -m sim.ha_announce --broker HOST:PORT --stops N --window-s 30``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.mqtt.discovery import DEVICE_COMPONENT, ha_status_topic
from edge.wire import Status


@dataclass
class AnnounceFigures:
    """What came back after one ``online``."""

    stops_expected: int
    window_s: float
    configs: int  # discovery configs received after the birth message
    stops_answered: int
    first_s: float | None  # arrival of the first / last one after the birth message
    last_s: float | None
    peak_per_s: int  # the busiest second
    mean_per_s: float  # configs / window (at least one second)
    per_s: list[int]  # configs in each second from the birth message on
    seconds_with_none: int  # seconds of the window in which nothing came


class _Counter:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lock = threading.Lock()
        self.retained: set[str] = set()
        self.live: list[tuple[float, str]] = []
        self.last_at = time.monotonic()

    def on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if parts[-1] != "config" or not msg.payload:
            return
        stop = parts[-2].removeprefix("stopsafe_") if parts[-3] == DEVICE_COMPONENT else parts[-3]
        with self.lock:
            self.last_at = time.monotonic()
            if msg.retain:
                self.retained.add(stop)
            else:
                self.live.append((self.last_at, stop))


def measure(host: str, port: int, stops: int, window_s: float, prefix: str = "homeassistant",
            ready_timeout_s: float = 60.0, tail_s: float = 3.0) -> AnnounceFigures:
    """Wait until every stop's config is on the broker, say ``online``, count what comes back
    during ``window_s + tail_s``."""
    counter = _Counter(prefix)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"ha-{uuid.uuid4().hex[:8]}",
                         protocol=paho.MQTTv5)
    client.on_message = counter.on_message
    client.connect(host, port, 30)
    client.loop_start()
    try:
        client.subscribe(f"{prefix}/#", qos=1)
        deadline = time.monotonic() + ready_timeout_s
        while True:  # every stop's config seen (retained or live) and a second of quiet
            with counter.lock:
                seen = counter.retained | {s for _, s in counter.live}
                quiet = time.monotonic() - counter.last_at
            if len(seen) >= stops and quiet > 1.0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(seen)} of {stops} stops' configs on the broker")
            time.sleep(0.1)
        with counter.lock:
            counter.live.clear()
        t0 = time.monotonic()
        client.publish(ha_status_topic(prefix), Status.ONLINE.value, qos=1).wait_for_publish(5)
        time.sleep(window_s + tail_s)
        with counter.lock:
            live = [(at - t0, s) for at, s in counter.live]
    finally:
        client.loop_stop()
        client.disconnect()
    bins = [0] * max(1, math.ceil(window_s + tail_s))
    for dt, _ in live:
        bins[min(len(bins) - 1, max(0, int(dt)))] += 1
    in_window = bins[:max(1, math.ceil(window_s))]
    return AnnounceFigures(
        stops_expected=stops, window_s=window_s, configs=len(live),
        stops_answered=len({s for _, s in live}),
        first_s=round(min(dt for dt, _ in live), 3) if live else None,
        last_s=round(max(dt for dt, _ in live), 3) if live else None,
        peak_per_s=max(bins), mean_per_s=round(len(live) / max(window_s, 1.0), 1),
        per_s=bins, seconds_with_none=sum(1 for b in in_window if b == 0),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--broker", default="localhost:1883", help="HOST:PORT")
    p.add_argument("--stops", type=int, required=True, help="stops whose configs to wait for")
    p.add_argument("--window-s", type=float, default=30.0,
                   help="the stops' mqtt.discovery_delay_max_s")
    p.add_argument("--prefix", default="homeassistant", help="discovery prefix")
    a = p.parse_args(argv)
    host, _, port = a.broker.rpartition(":")
    figures = measure(host or "localhost", int(port), a.stops, a.window_s, a.prefix)
    json.dump(asdict(figures), sys.stdout)
    print()
    return 0 if figures.stops_answered == a.stops else 1


if __name__ == "__main__":
    raise SystemExit(main())
