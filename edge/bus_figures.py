"""The day's bus figures, from the stop's ``bus`` events (their wire payloads): the one rule the
telemetry (today, live) and the fleet history (per stop and day) both use. It reads only the
wire format (``edge.wire``), beside which it lives, so the fleet needs nothing of the stop's
decision for it.

``passed_while_waiting`` is the figure a city asks for: buses that went by while someone waited
(seen by the camera or having pressed the button). ``median_wait_until_stopped_s``: over the
buses that stopped for someone waiting, how long they had waited by then.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from edge.wire import BusOutcome, EventKind


def bus_figures(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    buses = stopped = passed = unknown = passed_waiting = 0
    waits: list[float] = []
    for e in events:
        if e.get("kind") != EventKind.BUS.value:
            continue
        buses += 1
        outcome = e.get("outcome")
        if outcome == BusOutcome.STOPPED.value:
            stopped += 1
            if e.get("waiting") and isinstance(e.get("waited_s"), (int, float)):
                waits.append(float(e["waited_s"]))
        elif outcome == BusOutcome.PASSED.value:
            passed += 1
            passed_waiting += bool(e.get("waiting"))
        else:
            unknown += 1
    return {"buses": buses, "stopped": stopped, "passed": passed, "unknown": unknown,
            "passed_while_waiting": passed_waiting,
            "median_wait_until_stopped_s": round(statistics.median(waits), 1) if waits
            else None}
